package authn

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// CORS (wso2-wire.md §5 rule 3): browsers call /oauth2/authorize and /oauth2/authn directly
// from the app's origin. Only configured origins get the headers; others get none, so the
// browser blocks the response. Origins are echoed, never "*", because the SDKs may send
// credentials (the SSO cookie).

const (
	corsMethods = "GET, POST, OPTIONS"
	corsHeaders = "Accept, Authorization, Content-Type, X-Client-Attestation, X-Request-Id"
	corsMaxAge  = "600"
)

// cors adds the CORS headers for an allowed Origin to an actual request.
func (h *Handler) cors(c *gin.Context) {
	h.allowOrigin(c)
	c.Next()
}

// preflight answers OPTIONS: 204 with the CORS headers for an allowed origin, 403 otherwise.
func (h *Handler) preflight(c *gin.Context) {
	if !h.allowOrigin(c) {
		c.AbortWithStatus(http.StatusForbidden)
		return
	}
	c.Header("Access-Control-Allow-Methods", corsMethods)
	c.Header("Access-Control-Allow-Headers", corsHeaders)
	c.Header("Access-Control-Max-Age", corsMaxAge)
	c.AbortWithStatus(http.StatusNoContent)
}

// CORSHeaders adds the CORS headers for an allowed Origin, for an answer to an app-native
// request written before the handler runs (the rate limiter's 429), so that the browser app
// can read it.
func (h *Handler) CORSHeaders(c *gin.Context) { h.allowOrigin(c) }

func (h *Handler) allowOrigin(c *gin.Context) bool {
	c.Writer.Header().Add("Vary", "Origin")
	origin := c.GetHeader("Origin")
	if origin == "" || !h.origins[origin] {
		return false
	}
	c.Header("Access-Control-Allow-Origin", origin)
	c.Header("Access-Control-Allow-Credentials", "true")
	c.Header("Access-Control-Expose-Headers", "X-Request-Id")
	return true
}
