package oauth2

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

// userInfo serves OpenID Connect Core §5.3 (GET or POST). The access token
// comes from the Authorization header (RFC 6750 §2.1) or, on a form POST,
// from the access_token parameter (§2.2), never both. Any Accept is
// answered with JSON: WSO2's Android SDK sends application/scim+json and
// expects the ordinary userinfo document.
func (h *Handler) userInfo(c *gin.Context) {
	token, err := bearerToken(c)
	if err != nil {
		h.writeBearerError(c, err, true)
		return
	}
	claims, err := h.p.UserInfo(c.Request.Context(), token)
	if err != nil {
		h.writeBearerError(c, err, token != "")
		return
	}
	h.writeJSON(c, http.StatusOK, claims)
}

// bearerToken extracts the access token of a userinfo request.
func bearerToken(c *gin.Context) (string, error) {
	r := c.Request
	var header string
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", op.ErrInvalidRequest("Authorization must be a Bearer token")
		}
		header = strings.TrimSpace(tok)
	}
	var form string
	if r.Method == http.MethodPost {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				return "", op.ErrInvalidRequest("malformed or oversized form body")
			}
			if len(r.PostForm["access_token"]) > 1 {
				return "", op.ErrInvalidRequest("access_token repeated")
			}
			form = r.PostForm.Get("access_token")
		}
	}
	if header != "" && form != "" {
		return "", op.ErrInvalidRequest("more than one method of sending the access token (RFC 6750 §2)")
	}
	return header + form, nil
}

// writeBearerError renders RFC 6750 §3: the status of the error and a
// WWW-Authenticate Bearer challenge. A request that sent no token at all
// (tokenSent false) gets the challenge without an error code (§3.1).
func (h *Handler) writeBearerError(c *gin.Context, err error, tokenSent bool) {
	e := op.ToError(err)
	switch e.Code {
	case op.CodeInvalidToken, op.CodeInsufficientScope, op.CodeInvalidRequest:
	default:
		h.writeError(c, err) // server errors: no challenge
		return
	}
	challenge := `Bearer realm="oauth2"`
	if tokenSent || e.Code != op.CodeInvalidToken {
		// Descriptions are ours and never contain a double quote; replace
		// any anyway so that the header stays well formed.
		challenge += `, error="` + e.Code + `", error_description="` + strings.ReplaceAll(e.Description, `"`, `'`) + `"`
	}
	c.Header("WWW-Authenticate", challenge)
	h.log.DebugContext(c.Request.Context(), "oauth2: userinfo refused", "error", err)
	b, _ := json.Marshal(errorBody{Error: e.Code, Description: e.Description})
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Data(e.Status, "application/json;charset=UTF-8", b)
}
