package scripting

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/keyflow/keyflow/connectors"
)

// groupsClaim is the local claim holding a user's groups; federated users' groups come from the
// IdP attribute mapped to it.
const groupsClaim = "http://wso2.org/claims/groups"

// userArg extracts the user behind a user object argument, or nil.
func userArg(v goja.Value) *connectors.User {
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil
	}
	if ho, ok := obj.Export().(*hostObject); ok {
		if u, ok := ho.ref.(*connectors.User); ok {
			return u
		}
	}
	return nil
}

func (s *Session) stringsArg(v goja.Value) []string {
	items := listItems(v)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it != nil && !goja.IsUndefined(it) && !goja.IsNull(it) {
			out = append(out, it.String())
		}
	}
	return out
}

// userRoles returns u's roles: the ones the authenticator loaded, else a directory look-up.
// Federated users have no local roles. Errors are logged and yield no roles.
func (s *Session) userRoles(u *connectors.User) []string {
	if u == nil || u.Federated() {
		return nil
	}
	if u.Roles != nil {
		return u.Roles
	}
	if s.cfg.Directory == nil {
		s.log.Error("no user directory: role look-up returns no roles")
		return nil
	}
	var (
		roles []string
		err   error
	)
	s.blocking(func() { roles, err = s.cfg.Directory.UserRoles(s.cfg.Context, u) })
	if err != nil {
		s.log.Error("role look-up failed", "error", err)
		return nil
	}
	if roles == nil {
		roles = []string{}
	}
	u.Roles = roles // a login is short: reuse the answer for later calls
	return roles
}

// hasRole(user, roleName): the user's role list contains roleName exactly.
func (s *Session) hasRole(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil {
		s.log.Error("hasRole: first argument is not a user")
		return s.vm.ToValue(false)
	}
	return s.vm.ToValue(slices.Contains(s.userRoles(u), call.Argument(1).String()))
}

// hasAnyOfTheRoles(user, roleNames): any name is in the user's role list; false for federated
// users. Also bound as isAnyOfTheRolesAssignedToUser.
func (s *Session) hasAnyOfTheRoles(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil || u.Federated() {
		return s.vm.ToValue(false)
	}
	roles := s.userRoles(u)
	for _, r := range s.stringsArg(call.Argument(1)) {
		if slices.Contains(roles, r) {
			return s.vm.ToValue(true)
		}
	}
	return s.vm.ToValue(false)
}

// hasAnyOfTheRolesV2(context, roleNames): IS7 role model. Only roles associated with the current
// application count; the user is the context's subject and may hold a role directly or through a
// group; an "Internal/" prefix is ignored. False for federated users and on errors.
func (s *Session) hasAnyOfTheRolesV2(call goja.FunctionCall) goja.Value {
	u := s.knownSubject()
	if u == nil || u.Federated() || s.cfg.Directory == nil {
		return s.vm.ToValue(false)
	}
	var (
		roles []string
		err   error
	)
	s.blocking(func() { roles, err = s.cfg.Directory.ApplicationRoles(s.cfg.Context, s.setup.ApplicationID, u) })
	if err != nil {
		s.log.Error("application role look-up failed", "error", err)
		return s.vm.ToValue(false)
	}
	have := map[string]bool{}
	for _, r := range roles {
		have[strings.TrimPrefix(r, "Internal/")] = true
	}
	for _, r := range s.stringsArg(call.Argument(1)) {
		if have[strings.TrimPrefix(r, "Internal/")] {
			return s.vm.ToValue(true)
		}
	}
	return s.vm.ToValue(false)
}

// isMemberOfAnyOfGroups(user, groupNames). Local users: names are qualified with the user's
// store domain unless they contain "/" or the store is PRIMARY, then matched against the user's
// groups. Federated users: matched against the groups attribute (mapped local groups claim, else
// the raw "groups" attribute), split on ",".
func (s *Session) isMemberOfAnyOfGroups(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil {
		s.log.Error("isMemberOfAnyOfGroups: first argument is not a user")
		return s.vm.ToValue(false)
	}
	wanted := s.stringsArg(call.Argument(1))
	var groups []string
	if u.Federated() {
		raw, ok := u.Claims[groupsClaim]
		if !ok {
			raw = u.RemoteClaims["groups"]
		}
		for _, g := range strings.Split(raw, ",") {
			if g = strings.TrimSpace(g); g != "" {
				groups = append(groups, g)
			}
		}
	} else {
		groups = s.userGroups(u)
		domain := u.UserStoreDomain
		for i, w := range wanted {
			if !strings.Contains(w, "/") && domain != "" && !strings.EqualFold(domain, "PRIMARY") {
				wanted[i] = domain + "/" + w
			}
		}
	}
	for _, w := range wanted {
		if slices.Contains(groups, w) {
			return s.vm.ToValue(true)
		}
	}
	return s.vm.ToValue(false)
}

func (s *Session) userGroups(u *connectors.User) []string {
	if u.Groups != nil {
		return u.Groups
	}
	if s.cfg.Directory == nil {
		s.log.Error("no user directory: group look-up returns no groups")
		return nil
	}
	var (
		groups []string
		err    error
	)
	s.blocking(func() { groups, err = s.cfg.Directory.UserGroups(s.cfg.Context, u) })
	if err != nil {
		s.log.Error("group look-up failed", "error", err)
		return nil
	}
	if groups == nil {
		groups = []string{}
	}
	u.Groups = groups
	return groups
}

// getMaskedValue(value) masks every character but the first and the last, like WSO2's
// LoggerUtils.getMaskedContent (pattern (?<=.).(?=.) replaced by "*").
func (s *Session) getMaskedValue(call goja.FunctionCall) goja.Value {
	v := call.Argument(0)
	if goja.IsUndefined(v) || goja.IsNull(v) {
		return v
	}
	return s.vm.ToValue(MaskValue(v.String()))
}

// MaskValue is getMaskedValue's masking: line terminators are kept, as "." does not match them.
func MaskValue(v string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(v, "\n") {
		body := strings.TrimSuffix(line, "\n")
		r := []rune(body)
		for i := 1; i < len(r)-1; i++ {
			r[i] = '*'
		}
		b.WriteString(string(r))
		if len(body) < len(line) {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// filterAuthenticators(options, excludeName) turns context.steps[n].options into an
// authenticationOptions value without the excluded authenticator: {"0": {...}, "1": {...}},
// local options as {authenticator}, federated ones as {idp}.
func (s *Session) filterAuthenticators(call goja.FunctionCall) goja.Value {
	exclude := call.Argument(1).String()
	out := s.vm.NewObject()
	i := 0
	for _, it := range listItems(call.Argument(0)) {
		obj, ok := asObject(it)
		if !ok {
			continue
		}
		auth, idp := stringMember(obj, "authenticator"), stringMember(obj, "idp")
		if auth == exclude {
			continue
		}
		entry := s.vm.NewObject()
		if idp == "" || idp == connectors.LocalIdP {
			_ = entry.Set("authenticator", auth)
		} else {
			_ = entry.Set("idp", idp)
		}
		_ = out.Set(strconv.Itoa(i), entry)
		i++
	}
	return out
}

// getValueFromDecodedAssertion(jwt, name, isInPayload) decodes a JWS without verifying it and
// returns the named payload (true) or header (false) member as a string, objects as JSON text,
// "" when absent or undecodable.
func (s *Session) getValueFromDecodedAssertion(call goja.FunctionCall) goja.Value {
	parts := strings.Split(call.Argument(0).String(), ".")
	idx := 0
	if call.Argument(2).ToBoolean() {
		idx = 1
	}
	if len(parts) < 2 {
		return s.vm.ToValue("")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[idx], "="))
	if err != nil {
		return s.vm.ToValue("")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return s.vm.ToValue("")
	}
	v, ok := m[call.Argument(1).String()]
	if !ok {
		return s.vm.ToValue("")
	}
	var str string
	if err := json.Unmarshal(v, &str); err == nil {
		return s.vm.ToValue(str)
	}
	return s.vm.ToValue(string(v))
}
