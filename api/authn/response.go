package authn

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/scripting"
)

// reservedHeaders are response headers a script may not set: they belong to the protocol
// response (redirects, bodies) or to the connection.
var reservedHeaders = map[string]bool{
	"Content-Length": true, "Content-Type": true, "Location": true, "Set-Cookie": true,
	"Transfer-Encoding": true, "Connection": true, "Content-Security-Policy": true,
}

// applyResponse adds what the script put on context.response (headers, setCookie) to the HTTP
// response. Headers and cookies that would interfere with Keyflow's own (the SSO and CSRF
// cookies, redirects) are skipped with a log line.
func (h *Handler) applyResponse(c *gin.Context, r *scripting.Response) {
	if r == nil {
		return
	}
	for name, v := range r.Headers {
		canon := http.CanonicalHeaderKey(name)
		if reservedHeaders[canon] || strings.ContainsAny(v, "\r\n") {
			h.log.WarnContext(c.Request.Context(), "authn: script response header skipped", "header", canon)
			continue
		}
		c.Header(canon, v)
	}
	for _, sc := range r.Cookies {
		if sc.Name == SessionCookie || strings.HasPrefix(sc.Name, csrfCookiePrefix) {
			h.log.WarnContext(c.Request.Context(), "authn: script cookie skipped", "cookie", sc.Name)
			continue
		}
		ck := &http.Cookie{Name: sc.Name, Value: sc.Value, Domain: sc.Domain, Path: sc.Path,
			HttpOnly: sc.HTTPOnly, Secure: sc.Secure}
		if ck.Path == "" {
			ck.Path = "/"
		}
		if sc.MaxAge != nil {
			ck.MaxAge = *sc.MaxAge
			if ck.MaxAge == 0 {
				ck.MaxAge = -1 // max-age 0 deletes the cookie, as in the Servlet API
			}
		}
		switch strings.ToUpper(sc.SameSite) {
		case "NONE":
			ck.SameSite = http.SameSiteNoneMode
		case "LAX":
			ck.SameSite = http.SameSiteLaxMode
		case "STRICT":
			ck.SameSite = http.SameSiteStrictMode
		}
		if ck.Valid() != nil {
			h.log.WarnContext(c.Request.Context(), "authn: script cookie invalid", "cookie", sc.Name)
			continue
		}
		http.SetCookie(c.Writer, ck)
	}
}
