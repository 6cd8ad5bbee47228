package oauth2

import (
	"net/http"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

// WriteAuthorizeResponse delivers an authorization response (from
// op.Provider.CompleteAuthorization, op.Provider.ErrorResponse or an
// *op.RedirectError) to the user agent: a 302 to the redirect URI for the
// query and fragment modes, or the self-submitting form of OAuth 2.0 Form
// Post Response Mode. Responses are never cached, since they carry codes
// or tokens (RFC 6749 §5.1 by analogy; Form Post §2 requires no-store).
// It is for the authorization front-end (not served by Handler yet).
func WriteAuthorizeResponse(w http.ResponseWriter, resp op.Response) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	// The redirect URI must not learn the authorization server's URL (which
	// may carry the request) from Referer.
	h.Set("Referrer-Policy", "no-referrer")
	if resp.Mode == op.ResponseModeFormPost {
		h.Set("Content-Type", "text/html;charset=UTF-8")
		h.Set("Content-Security-Policy", resp.FormPostCSP())
		h.Set("X-Frame-Options", "DENY")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(resp.FormPostHTML())
		return
	}
	h.Set("Location", resp.Location())
	w.WriteHeader(http.StatusFound)
}
