package scripting

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/dop251/goja"
)

// Host function names of the cookie functions.
const (
	FnSetCookie      = "setCookie"
	FnGetCookieValue = "getCookieValue"
)

// cookieEnvelope is WSO2's stored cookie value before base64: {"value": …, "signature": …}.
type cookieEnvelope struct {
	Value     string  `json:"value"`
	Signature *string `json:"signature"`
}

// EncodeCookie returns WSO2's stored cookie value: base64(JSON {"value": value, "signature":
// signature or null}). value is the plain or encrypted value; signature the base64 signature
// ("" for none).
func EncodeCookie(value, signature string) string {
	env := cookieEnvelope{Value: value}
	if signature != "" {
		env.Signature = &signature
	}
	raw, _ := json.Marshal(env) // a struct of strings always marshals
	return base64.StdEncoding.EncodeToString(raw)
}

// DecodeCookie reverses EncodeCookie. ok is false for a cookie setCookie did not create (WSO2's
// getCookieValue then returns null); signature is "" when the envelope has none.
func DecodeCookie(stored string) (value, signature string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(stored))
	if err != nil {
		return "", "", false
	}
	var env cookieEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", "", false
	}
	if env.Signature != nil {
		signature = *env.Signature
	}
	return env.Value, signature, true
}

// responseObject is context.response (WSO2's JsServletResponse): headers[name] = value writes a
// response header. It is also setCookie's first argument.
func (s *Session) responseObject() *goja.Object {
	return s.newHost("response", &s.tx.response,
		ro("headers", func() goja.Value {
			if s.tx.response.Headers == nil {
				s.tx.response.Headers = map[string]string{}
			}
			return s.vm.NewDynamicObject(&mapObject{s: s, m: s.tx.response.Headers})
		}),
	)
}

// TakeResponse returns the headers and cookies the script set on context.response since the
// last call, or nil when it set none. The driver attaches them to the view it publishes next.
//
//workflowcheck:ignore
func (s *Session) TakeResponse() *Response {
	r := s.tx.response
	if len(r.Headers) == 0 && len(r.Cookies) == 0 {
		return nil
	}
	s.tx.response = Response{}
	return &r
}

// setCookie(response, name, value[, properties]) adds a Set-Cookie to context.response. The value
// is stored as EncodeCookie describes: encrypted with encrypt: true, signed with sign: true (both
// need Config.Cookies). Properties: domain, path, comment (strings), max-age, version (integers),
// httpOnly, secure (booleans), sameSite (NONE, LAX or STRICT, as a Java enum name). Calls with
// other than one or two arguments after the name are ignored, as in WSO2.
func (s *Session) setCookie(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) < 3 || len(call.Arguments) > 4 {
		s.log.Debug("setCookie: ignored: wrong number of arguments", "arguments", len(call.Arguments))
		return goja.Undefined()
	}
	if obj, ok := call.Argument(0).(*goja.Object); !ok || !isHost(obj, "response") {
		s.log.Error("setCookie: first argument is not context.response; ignored")
		return goja.Undefined()
	}
	c := SetCookie{Name: call.Argument(1).String()}
	value := call.Argument(2).String()
	var sign, encrypt bool
	if props, ok := asObject(call.Argument(3)); ok {
		sign, encrypt = boolMember(props, "sign"), boolMember(props, "encrypt")
		c.Domain, c.Path, c.Comment = stringMember(props, "domain"), stringMember(props, "path"), stringMember(props, "comment")
		if v := props.Get("max-age"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
			age := int(v.ToInteger())
			c.MaxAge = &age
		}
		if v := props.Get("version"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
			c.Version = int(v.ToInteger())
		}
		c.HTTPOnly = boolMember(props, "httpOnly")
		c.Secure = boolMember(props, "secure")
		if ss := stringMember(props, "sameSite"); ss != "" {
			switch ss {
			case "NONE", "LAX", "STRICT":
				c.SameSite = ss
			default:
				// Java's SameSiteCookie.valueOf throws for anything else.
				s.throw("setCookie: No enum constant SameSiteCookie.%s", ss)
			}
		}
	}
	if !sign && !encrypt {
		c.Value = EncodeCookie(value, "")
	} else {
		if s.cfg.Cookies == nil {
			s.log.Error("setCookie: no cookie key configured: cookie not set", "cookie", c.Name)
			return goja.Undefined()
		}
		var err error
		s.blocking(func() { c.Value, err = s.cfg.Cookies.Seal(s.cfg.Context, value, sign, encrypt) })
		if err != nil {
			s.log.Error("setCookie: sealing the value failed: cookie not set", "cookie", c.Name, "error", err)
			return goja.Undefined()
		}
	}
	s.tx.response.Cookies = append(s.tx.response.Cookies, c)
	return goja.Undefined()
}

// getCookieValue(request, name[, {decrypt, validateSignature}]) returns the value of a cookie
// setCookie created, or null: for a missing or plain cookie, an undecryptable value, or (with
// validateSignature) a missing or wrong signature.
func (s *Session) getCookieValue(call goja.FunctionCall) goja.Value {
	name := call.Argument(1).String()
	c, ok := s.tx.request.Cookies[name]
	if !ok {
		return goja.Null()
	}
	var decrypt, validate bool
	if props, ok := asObject(call.Argument(2)); ok {
		decrypt, validate = boolMember(props, "decrypt"), boolMember(props, "validateSignature")
	}
	if !decrypt && !validate {
		v, _, ok := DecodeCookie(c.Value)
		if !ok {
			s.log.Debug("getCookieValue: not a cookie created by setCookie", "cookie", name)
			return goja.Null()
		}
		return s.vm.ToValue(v)
	}
	if s.cfg.Cookies == nil {
		s.log.Error("getCookieValue: no cookie key configured", "cookie", name)
		return goja.Null()
	}
	var (
		v   string
		err error
	)
	s.blocking(func() { v, ok, err = s.cfg.Cookies.Open(s.cfg.Context, c.Value, decrypt, validate) })
	if err != nil {
		s.log.Error("getCookieValue: opening the value failed", "cookie", name, "error", err)
		return goja.Null()
	}
	if !ok {
		return goja.Null()
	}
	return s.vm.ToValue(v)
}

// boolMember reads a boolean property; strings "true"/"false" count too.
func boolMember(obj *goja.Object, key string) bool {
	v := obj.Get(key)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return false
	}
	if str, ok := v.Export().(string); ok {
		return strings.EqualFold(str, "true")
	}
	return v.ToBoolean()
}

// isHost reports whether obj is a host object of the given kind.
func isHost(obj *goja.Object, kind string) bool {
	ho, ok := obj.Export().(*hostObject)
	return ok && ho.kind == kind
}
