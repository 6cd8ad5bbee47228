package scripting

import (
	"sort"
	"strconv"

	"github.com/dop251/goja"

	"github.com/keyflow/keyflow/connectors"
)

// member is one property of a host object. A nil set makes it read-only: writes are ignored with
// a warning, as WSO2's wrappers do.
type member struct {
	get func() goja.Value
	set func(goja.Value)
	del func()
}

// hostObject is a goja.DynamicObject with a fixed member table, the shape of WSO2's JS wrappers
// (context, step, user): only exposed keys exist, unknown keys read as undefined.
type hostObject struct {
	s     *Session
	kind  string
	order []string
	m     map[string]member
	ref   any // the Go value behind the object (*connectors.User for users)
}

var _ goja.DynamicObject = (*hostObject)(nil)

func (o *hostObject) Get(key string) goja.Value {
	if mb, ok := o.m[key]; ok && mb.get != nil {
		return mb.get()
	}
	return nil
}

func (o *hostObject) Set(key string, v goja.Value) bool {
	mb, ok := o.m[key]
	if !ok || mb.set == nil {
		o.s.log.Warn("script wrote a read-only member; ignored", "object", o.kind, "member", key)
		return true
	}
	mb.set(v)
	return true
}

func (o *hostObject) Has(key string) bool { _, ok := o.m[key]; return ok }

func (o *hostObject) Delete(key string) bool {
	if mb, ok := o.m[key]; ok && mb.del != nil {
		mb.del()
	}
	return true
}

func (o *hostObject) Keys() []string { return o.order }

func (s *Session) newHost(kind string, ref any, members ...namedMember) *goja.Object {
	o := &hostObject{s: s, kind: kind, ref: ref, m: make(map[string]member, len(members))}
	for _, nm := range members {
		o.order = append(o.order, nm.name)
		o.m[nm.name] = nm.member
	}
	return s.vm.NewDynamicObject(o)
}

type namedMember struct {
	name string
	member
}

func ro(name string, get func() goja.Value) namedMember {
	return namedMember{name, member{get: get}}
}

func (s *Session) str(v string) func() goja.Value {
	return func() goja.Value { return s.vm.ToValue(v) }
}

// orNull returns null for an empty string, else the string.
func (s *Session) orNull(v string) goja.Value {
	if v == "" {
		return goja.Null()
	}
	return s.vm.ToValue(v)
}

// contextObject builds the `context` wrapper (WSO2's JsAuthenticationContext). It is created
// afresh for every call, as in WSO2; state lives in the Session.
func (s *Session) contextObject() *goja.Object {
	tx := &s.tx
	return s.newHost("context", tx,
		ro("steps", func() goja.Value { return s.stepsObject() }),
		ro("currentStep", func() goja.Value {
			if tx.current == 0 {
				return goja.Null()
			}
			return s.stepObject(tx.current)
		}),
		ro("currentKnownSubject", func() goja.Value { return s.userValue(s.knownSubject()) }),
		ro("lastLoginFailedUser", func() goja.Value { return s.userValue(tx.lastFailed) }),
		ro("request", func() goja.Value { return s.requestObject() }),
		ro("response", func() goja.Value { return s.responseObject() }),
		ro("serviceProviderName", s.str(s.setup.ApplicationName)),
		// contextIdentifier is WSO2's sessionDataKey: the flow id, which external pages send back.
		ro("contextIdentifier", s.str(s.setup.FlowID)),
		ro("tenantDomain", s.str(s.setup.TenantDomain)),
		ro("requestedAcr", func() goja.Value { return s.stringArray(s.setup.RequestedACR) }),
		namedMember{"selectedAcr", member{
			get: func() goja.Value {
				if tx.selectedACR == nil {
					return goja.Undefined()
				}
				return s.vm.ToValue(*tx.selectedACR)
			},
			set: func(v goja.Value) {
				// WSO2 stores String.valueOf(value); null/undefined clear it here instead of
				// becoming the string "null" in a token.
				if goja.IsUndefined(v) || goja.IsNull(v) {
					tx.selectedACR = nil
					return
				}
				str := v.String()
				tx.selectedACR = &str
			},
			del: func() { tx.selectedACR = nil },
		}},
		ro("retry", func() goja.Value { return s.vm.ToValue(false) }),
		ro("endpointParams", func() goja.Value {
			if tx.endpoint == nil {
				tx.endpoint = s.vm.NewObject()
			}
			return tx.endpoint
		}),
	)
}

// stepsObject is context.steps: indexable by configured step number.
func (s *Session) stepsObject() *goja.Object {
	o := &stepsObject{s: s}
	return s.vm.NewDynamicObject(o)
}

type stepsObject struct{ s *Session }

func (o *stepsObject) Get(key string) goja.Value {
	n, err := strconv.Atoi(key)
	if err != nil || n < 1 || n > len(o.s.setup.Steps) {
		return nil
	}
	if o.s.tx.results[n] == nil {
		o.s.log.Debug("script read a step that has not run", "step", n)
	}
	return o.s.stepObject(n)
}
func (o *stepsObject) Set(string, goja.Value) bool { return true }
func (o *stepsObject) Has(key string) bool         { return o.Get(key) != nil }
func (o *stepsObject) Delete(string) bool          { return true }
func (o *stepsObject) Keys() []string {
	keys := make([]string, 0, len(o.s.tx.results))
	for n := range o.s.tx.results {
		keys = append(keys, strconv.Itoa(n))
	}
	sort.Strings(keys)
	return keys
}

// stepObject is WSO2's JsStep: subject, idp, authenticator and options of configured step n.
// A step that has not run has a null subject and idp.
func (s *Session) stepObject(n int) *goja.Object {
	rec := s.tx.results[n]
	return s.newHost("step", n,
		ro("subject", func() goja.Value {
			if rec == nil || !rec.succeeded {
				return goja.Null()
			}
			return s.userValue(rec.user)
		}),
		ro("idp", func() goja.Value {
			if rec == nil {
				return goja.Null()
			}
			return s.orNull(rec.idp)
		}),
		ro("authenticator", func() goja.Value {
			if rec == nil {
				return goja.Null()
			}
			return s.orNull(rec.authenticator)
		}),
		ro("options", func() goja.Value {
			opts := s.setup.Steps[n-1].Options
			items := make([]any, len(opts))
			for i, o := range opts {
				obj := s.vm.NewObject()
				_ = obj.Set("idp", o.IdP)
				_ = obj.Set("authenticator", o.Authenticator)
				items[i] = obj
			}
			return s.vm.NewArray(items...)
		}),
	)
}

func (s *Session) userValue(u *connectors.User) goja.Value {
	if u == nil {
		return goja.Null()
	}
	return s.userObject(u)
}

// userObject is WSO2's JsAuthenticatedUser over u. Writes to username and userStoreDomain change
// the authenticated user; localClaims writes persist through the Directory.
func (s *Session) userObject(u *connectors.User) *goja.Object {
	return s.newHost("user", u,
		namedMember{"username", member{
			get: func() goja.Value { return s.vm.ToValue(u.Username) },
			set: func(v goja.Value) { u.Username = v.String() },
		}},
		namedMember{"userStoreDomain", member{
			get: func() goja.Value { return s.orNull(u.UserStoreDomain) },
			set: func(v goja.Value) { u.UserStoreDomain = v.String() },
		}},
		ro("tenantDomain", func() goja.Value { return s.orNull(u.TenantDomain) }),
		ro("identifier", func() goja.Value { return s.vm.ToValue(u.SubjectIdentifier()) }),
		ro("uniqueId", func() goja.Value { return s.orNull(u.ID) }),
		ro("roles", func() goja.Value { return s.stringArray(s.userRoles(u)) }),
		ro("localClaims", func() goja.Value { return s.vm.NewDynamicObject(&localClaims{s: s, u: u}) }),
		ro("remoteClaims", func() goja.Value {
			if u.RemoteClaims == nil {
				u.RemoteClaims = map[string]string{}
			}
			return s.vm.NewDynamicObject(&mapObject{s: s, m: u.RemoteClaims})
		}),
		ro("claims", func() goja.Value {
			key := userKey(u)
			if s.tx.runtimeClaims[key] == nil {
				s.tx.runtimeClaims[key] = map[string]string{}
			}
			return s.vm.NewDynamicObject(&mapObject{s: s, m: s.tx.runtimeClaims[key]})
		}),
	)
}

// userKey identifies a user across the step results, which may hold different copies of the
// same user (step 1's and step 2's outcome).
func userKey(u *connectors.User) string {
	if u.ID != "" {
		return u.IdP + "|id|" + u.ID
	}
	return u.IdP + "|" + u.UserStoreDomain + "/" + u.Username
}

// localClaims is user.localClaims: live reads and persistent writes for local users, the mapped
// IdP attributes (session only) for federated ones. Values are strings; missing claims are null.
type localClaims struct {
	s *Session
	u *connectors.User
}

func (c *localClaims) Get(uri string) goja.Value {
	if c.u.Federated() {
		if v, ok := c.u.Claims[uri]; ok {
			return c.s.vm.ToValue(v)
		}
		return goja.Null()
	}
	if c.s.cfg.Directory == nil {
		c.s.log.Error("no user directory: localClaims read returns null", "claim", uri)
		return goja.Null()
	}
	var (
		vals map[string]string
		err  error
	)
	c.s.blocking(func() { vals, err = c.s.cfg.Directory.ReadClaims(c.s.cfg.Context, c.u, []string{uri}) })
	if err != nil {
		c.s.log.Error("reading a local claim failed", "claim", uri, "error", err)
		return goja.Null()
	}
	if v, ok := vals[uri]; ok {
		return c.s.vm.ToValue(v)
	}
	return goja.Null()
}

func (c *localClaims) Set(uri string, v goja.Value) bool {
	val := v.String()
	if c.u.Federated() {
		if c.u.Claims == nil {
			c.u.Claims = map[string]string{}
		}
		c.u.Claims[uri] = val
		return true
	}
	if c.s.cfg.Directory == nil {
		c.s.log.Error("no user directory: localClaims write ignored", "claim", uri)
		return true
	}
	var err error
	c.s.blocking(func() { err = c.s.cfg.Directory.WriteClaims(c.s.cfg.Context, c.u, map[string]string{uri: val}) })
	if err != nil {
		c.s.log.Error("writing a local claim failed", "claim", uri, "error", err)
		return true
	}
	if _, loaded := c.u.Claims[uri]; loaded {
		c.u.Claims[uri] = val
	}
	return true
}

func (c *localClaims) Has(uri string) bool { return !goja.IsNull(c.Get(uri)) }
func (c *localClaims) Delete(string) bool  { return true }
func (c *localClaims) Keys() []string      { return sortedKeys(c.u.Claims) }

// mapObject exposes a string map (remoteClaims, runtime claims) read/write.
type mapObject struct {
	s *Session
	m map[string]string
}

func (o *mapObject) Get(k string) goja.Value {
	if v, ok := o.m[k]; ok {
		return o.s.vm.ToValue(v)
	}
	return goja.Null()
}
func (o *mapObject) Set(k string, v goja.Value) bool { o.m[k] = v.String(); return true }
func (o *mapObject) Has(k string) bool               { _, ok := o.m[k]; return ok }
func (o *mapObject) Delete(k string) bool            { delete(o.m, k); return true }
func (o *mapObject) Keys() []string                  { return sortedKeys(o.m) }

// requestObject is context.request as plain JS data: ip, headers (lower-case names), params
// (arrays of strings) and cookies (objects). Built once per request.
func (s *Session) requestObject() goja.Value {
	if s.tx.requestObj != nil {
		return s.tx.requestObj
	}
	r := s.tx.request
	vm := s.vm
	obj := vm.NewObject()
	_ = obj.Set("ip", r.IP)
	headers := vm.NewObject()
	for _, k := range sortedKeys(r.Headers) {
		_ = headers.Set(k, r.Headers[k])
	}
	_ = obj.Set("headers", headers)
	params := vm.NewObject()
	for _, k := range sortedKeys(r.Params) {
		_ = params.Set(k, s.stringArray(r.Params[k]))
	}
	_ = obj.Set("params", params)
	cookies := vm.NewObject()
	for _, k := range sortedKeys(r.Cookies) {
		c := r.Cookies[k]
		co := vm.NewObject()
		_ = co.Set("name", c.Name)
		_ = co.Set("value", c.Value)
		_ = co.Set("domain", c.Domain)
		_ = co.Set("path", c.Path)
		_ = co.Set("max-age", c.MaxAge)
		_ = co.Set("secure", c.Secure)
		_ = co.Set("httpOnly", c.HTTPOnly)
		_ = co.Set("version", c.Version)
		_ = co.Set("comment", c.Comment)
		_ = co.Set("sameSite", c.SameSite)
		_ = cookies.Set(k, co)
	}
	_ = obj.Set("cookies", cookies)
	s.tx.requestObj = obj
	return obj
}

func (s *Session) stringArray(items []string) *goja.Object {
	vals := make([]any, len(items))
	for i, v := range items {
		vals[i] = v
	}
	return s.vm.NewArray(vals...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
