package op

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/url"
	"slices"
	"strings"
)

// Response is an authorization response (success or error) to deliver to
// the client's redirect URI. It is plain data; the HTTP edge renders it:
// a 302 to Location() for the query and fragment modes, or FormPostHTML()
// (with FormPostCSP()) for form_post.
type Response struct {
	// Mode is ResponseModeQuery, ResponseModeFragment or ResponseModeFormPost.
	Mode        string
	RedirectURI string
	Params      url.Values
}

// Location is the redirect URL: Params added to the redirect URI's query
// (keeping its own query, RFC 6749 §3.1.2) or put in its fragment.
func (r Response) Location() string {
	u, err := url.Parse(r.RedirectURI)
	if err != nil {
		// Validated before a Response is built; never reached.
		return r.RedirectURI
	}
	switch r.Mode {
	case ResponseModeFragment:
		u.Fragment, u.RawFragment = "", ""
		return u.String() + "#" + r.Params.Encode()
	default:
		q := u.Query()
		for k, vs := range r.Params {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
}

// formPostScript submits the form on load. It is a constant so that the
// Content-Security-Policy can allow exactly it by hash.
const formPostScript = `document.forms[0].submit();`

var formPostTemplate = template.Must(template.New("form_post").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Submit This Form</title></head>
<body><form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form><script>` + formPostScript + `</script></body></html>
`))

// FormPostHTML is the OAuth 2.0 Form Post Response Mode page: a form that
// posts Params to the redirect URI and submits itself. Values are
// HTML-escaped.
func (r Response) FormPostHTML() []byte {
	type field struct{ Name, Value string }
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var fields []field
	for _, k := range keys {
		for _, v := range r.Params[k] {
			fields = append(fields, field{k, v})
		}
	}
	var b bytes.Buffer
	// The template and its data cannot fail to execute into a buffer.
	// The action is not marked safe: html/template still neutralises a
	// javascript: URL, should a registered pattern have let one through.
	_ = formPostTemplate.Execute(&b, struct {
		Action string
		Fields []field
	}{r.RedirectURI, fields})
	return b.Bytes()
}

// FormPostCSP is the Content-Security-Policy for FormPostHTML: nothing but
// its own script, and the form may post only to the redirect URI.
func (r Response) FormPostCSP() string {
	sum := sha256.Sum256([]byte(formPostScript))
	action := r.RedirectURI
	if u, err := url.Parse(r.RedirectURI); err == nil {
		u.RawQuery, u.Fragment = "", ""
		action = u.String()
	}
	// CSP source expressions cannot contain ';' or ','; a redirect URI that
	// does falls back to allowing any form target rather than a broken policy.
	if strings.ContainsAny(action, ";, ") {
		action = "*"
	}
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action " + action + "; frame-ancestors 'none'"
}
