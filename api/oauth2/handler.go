package oauth2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

// Paths served by Handler, relative to the router it is registered on.
const (
	PathDiscovery       = "/.well-known/openid-configuration"
	PathIssuerDiscovery = "/oauth2/token/.well-known/openid-configuration"
	PathServerMetadata  = "/.well-known/oauth-authorization-server"
	PathJWKS            = "/oauth2/jwks"
	PathToken           = "/oauth2/token"
	PathIntrospect      = "/oauth2/introspect"
	PathRevoke          = "/oauth2/revoke"
	PathUserInfo        = "/oauth2/userinfo"
	// PathDeviceAuthorize is WSO2's device authorization endpoint (RFC 8628 §3.1).
	PathDeviceAuthorize = "/oauth2/device_authorize"
	// PathPAR is the pushed authorization request endpoint (RFC 9126).
	PathPAR               = "/oauth2/par"
	maxFormBytes          = 64 << 10
	discoveryCacheControl = "public, max-age=300"
	// jwksCacheControl must stay well under the key rotation period, so that
	// clients see a new next key long before it signs.
	jwksCacheControl = "public, max-age=300"
)

// Provider is what the handler needs from *op.Provider.
type Provider interface {
	// Token authenticates the client and runs the grant.
	Token(ctx context.Context, cc op.ClientCredentials, req op.TokenRequest) (op.TokenResponse, error)
	// Introspect answers RFC 7662 for a confidential client.
	Introspect(ctx context.Context, cc op.ClientCredentials, token, hint string) (op.Introspection, error)
	// Revoke answers RFC 7009.
	Revoke(ctx context.Context, cc op.ClientCredentials, token, hint string) error
	// UserInfo answers OpenID Connect Core §5.3 for a bearer token.
	UserInfo(ctx context.Context, token string) (map[string]any, error)
	// Issuer is the issuer identifier.
	Issuer() string
	// SigningAlgorithms lists the JWT signing algorithms, default first.
	SigningAlgorithms() []string
	// ClaimsSupported lists the claims tokens and userinfo can carry.
	ClaimsSupported() []string
	// TokenGrantTypes lists the non-browser grants the token endpoint serves.
	TokenGrantTypes() []string
	// DeviceAuthorize answers RFC 8628 §3.1.
	DeviceAuthorize(ctx context.Context, cc op.ClientCredentials, scope, verificationURI string) (op.DeviceAuthorization, error)
	// PushAuthorization answers RFC 9126 §2.
	PushAuthorization(ctx context.Context, cc op.ClientCredentials, form url.Values) (op.PushedAuthorization, error)
	// RequirePushedAuthorizationRequests: only pushed requests are accepted.
	RequirePushedAuthorizationRequests() bool
}

// Keys is what the handler needs from *jwtkeys.Manager.
type Keys interface {
	// JWKS returns the published key set as JSON.
	JWKS(ctx context.Context) []byte
}

// Config configures New.
type Config struct {
	Provider Provider
	Keys     Keys
	// BaseURL is the absolute URL the paths above are served under (no
	// trailing slash), for the endpoint URLs in discovery.
	BaseURL string
	// AuthorizationEndpoint is the absolute URL of the authorization
	// endpoint, served by the login front-end. Empty while none is served:
	// discovery then advertises no authorization endpoint, response types or
	// browser grants, and the pushed authorization request endpoint
	// (PathPAR) is not served.
	AuthorizationEndpoint string
	// EndSessionEndpoint is the absolute URL of the OpenID Connect logout
	// endpoint (api/oidclogout, WSO2's {base}/oidc/logout). Empty while none
	// is served; when set, discovery advertises it with front- and
	// back-channel logout (with sid) supported.
	EndSessionEndpoint string
	// DeviceVerificationURI is the absolute URL of the page where users
	// enter a device's user code (RFC 8628 §3.3), served by the login
	// front-end, which calls op.Provider.DeviceRequest, then ApproveDevice or
	// DenyDevice after the login. Empty while none is served: the device
	// authorization endpoint and grant are then not offered.
	DeviceVerificationURI string
	// RegistrationEndpoint is the absolute URL of Dynamic Client Registration (api/dcr), for
	// discovery; empty while none is served.
	RegistrationEndpoint string
	// Logger; default discards.
	Logger *slog.Logger
}

// Handler serves the provider's endpoints.
type Handler struct {
	p         Provider
	keys      Keys
	log       *slog.Logger
	discovery []byte
	// deviceURI: Config.DeviceVerificationURI.
	deviceURI string
	// par: serve PathPAR (an authorization endpoint is configured).
	par bool
}

// New validates cfg and renders the discovery document.
func New(cfg Config) (*Handler, error) {
	if cfg.Provider == nil || cfg.Keys == nil {
		return nil, errors.New("oauth2: Config.Provider and Config.Keys are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(cfg.BaseURL, "/") {
		return nil, fmt.Errorf("oauth2: Config.BaseURL %q: want an absolute URL without query, fragment or trailing slash", cfg.BaseURL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthorizationEndpoint != "" {
		if u, err := url.Parse(cfg.AuthorizationEndpoint); err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, fmt.Errorf("oauth2: Config.AuthorizationEndpoint %q: want an absolute URL without fragment", cfg.AuthorizationEndpoint)
		}
	}
	md := NewMetadata(cfg.Provider, cfg.BaseURL, cfg.AuthorizationEndpoint)
	if cfg.EndSessionEndpoint != "" {
		if u, err := url.Parse(cfg.EndSessionEndpoint); err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, fmt.Errorf("oauth2: Config.EndSessionEndpoint %q: want an absolute URL without fragment", cfg.EndSessionEndpoint)
		}
		md.EndSessionEndpoint = cfg.EndSessionEndpoint
		md.BackchannelLogoutSupported, md.BackchannelLogoutSessionSupported = true, true
		md.FrontchannelLogoutSupported, md.FrontchannelLogoutSessionSupported = true, true
	}
	if cfg.DeviceVerificationURI != "" {
		if u, err := url.Parse(cfg.DeviceVerificationURI); err != nil || !u.IsAbs() || u.Fragment != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("oauth2: Config.DeviceVerificationURI %q: want an absolute URL without query or fragment", cfg.DeviceVerificationURI)
		}
		md.DeviceAuthorizationEndpoint = cfg.BaseURL + PathDeviceAuthorize
		md.GrantTypesSupported = append(md.GrantTypesSupported, op.GrantDeviceCode)
	}
	if cfg.RegistrationEndpoint != "" {
		if u, err := url.Parse(cfg.RegistrationEndpoint); err != nil || !u.IsAbs() || u.Fragment != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("oauth2: Config.RegistrationEndpoint %q: want an absolute URL without query or fragment", cfg.RegistrationEndpoint)
		}
		md.RegistrationEndpoint = cfg.RegistrationEndpoint
	}
	doc, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("oauth2: render discovery: %w", err)
	}
	return &Handler{p: cfg.Provider, keys: cfg.Keys, log: cfg.Logger, discovery: doc,
		deviceURI: cfg.DeviceVerificationURI, par: cfg.AuthorizationEndpoint != ""}, nil
}

// Register mounts the endpoints on r.
func (h *Handler) Register(r gin.IRouter) {
	r.GET(PathDiscovery, h.serveDiscovery)
	r.GET(PathIssuerDiscovery, h.serveDiscovery)
	r.GET(PathServerMetadata, h.serveDiscovery)
	r.GET(PathJWKS, h.serveJWKS)
	r.POST(PathToken, h.token)
	r.POST(PathIntrospect, h.introspect)
	r.POST(PathRevoke, h.revoke)
	r.GET(PathUserInfo, h.userInfo)
	r.POST(PathUserInfo, h.userInfo)
	if h.deviceURI != "" {
		r.POST(PathDeviceAuthorize, h.deviceAuthorize)
	}
	if h.par {
		r.POST(PathPAR, h.pushAuthorization)
	}
}

// pushAuthorization serves RFC 9126 §2: 201 with the request_uri.
func (h *Handler) pushAuthorization(c *gin.Context) {
	form, cc, err := parseRequest(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	resp, err := h.p.PushAuthorization(c.Request.Context(), cc, form)
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.writeJSON(c, http.StatusCreated, resp)
}

// deviceAuthorize serves RFC 8628 §3.1.
func (h *Handler) deviceAuthorize(c *gin.Context) {
	form, cc, err := parseRequest(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	resp, err := h.p.DeviceAuthorize(c.Request.Context(), cc, form.Get("scope"), h.deviceURI)
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.writeJSON(c, http.StatusOK, resp)
}

func (h *Handler) serveDiscovery(c *gin.Context) {
	c.Header("Cache-Control", discoveryCacheControl)
	c.Data(http.StatusOK, "application/json", h.discovery)
}

func (h *Handler) serveJWKS(c *gin.Context) {
	c.Header("Cache-Control", jwksCacheControl)
	c.Data(http.StatusOK, "application/jwk-set+json", h.keys.JWKS(c.Request.Context()))
}

// token serves RFC 6749 §3.2.
func (h *Handler) token(c *gin.Context) {
	form, cc, err := parseRequest(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	resp, err := h.p.Token(c.Request.Context(), cc, op.TokenRequest{
		GrantType:    form.Get("grant_type"),
		Scope:        form.Get("scope"),
		Code:         form.Get("code"),
		RedirectURI:  form.Get("redirect_uri"),
		CodeVerifier: form.Get("code_verifier"),
		RefreshToken: form.Get("refresh_token"),
		Username:     form.Get("username"),
		Password:     form.Get("password"),
		Assertion:    form.Get("assertion"),
		// Token exchange.
		SubjectToken:       form.Get("subject_token"),
		SubjectTokenType:   form.Get("subject_token_type"),
		ActorToken:         form.Get("actor_token"),
		ActorTokenType:     form.Get("actor_token_type"),
		RequestedTokenType: form.Get("requested_token_type"),
		Audience:           form.Get("audience"),
		Resource:           form.Get("resource"),
		DeviceCode:         form.Get("device_code"),
	})
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.writeJSON(c, http.StatusOK, resp)
}

// introspect serves RFC 7662 §2.
func (h *Handler) introspect(c *gin.Context) {
	form, cc, err := parseRequest(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	resp, err := h.p.Introspect(c.Request.Context(), cc, form.Get("token"), form.Get("token_type_hint"))
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.writeJSON(c, http.StatusOK, resp)
}

// revoke serves RFC 7009 §2.
func (h *Handler) revoke(c *gin.Context) {
	form, cc, err := parseRequest(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if err := h.p.Revoke(c.Request.Context(), cc, form.Get("token"), form.Get("token_type_hint")); err != nil {
		h.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
}

// parseRequest reads a form POST and the client credentials in it.
func parseRequest(c *gin.Context) (url.Values, op.ClientCredentials, error) {
	r := c.Request
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, op.ClientCredentials{}, op.ErrInvalidRequest("content type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, op.ClientCredentials{}, op.ErrInvalidRequest("malformed or oversized form body")
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 {
			return nil, op.ClientCredentials{}, op.ErrInvalidRequest("parameter %q repeated (RFC 6749 §3.2)", k)
		}
	}
	cc, err := clientCredentials(r, form)
	return form, cc, err
}

// clientCredentials extracts client authentication (RFC 6749 §2.3.1, RFC
// 7523 §2.2). A client must not use more than one method.
func clientCredentials(r *http.Request, form url.Values) (op.ClientCredentials, error) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	if assertion != "" || assertionType != "" {
		switch {
		case assertionType != op.ClientAssertionTypeJWT:
			return op.ClientCredentials{}, op.ErrInvalidClient("unsupported client_assertion_type")
		case assertion == "":
			return op.ClientCredentials{}, op.ErrInvalidRequest("client_assertion is required with client_assertion_type")
		case formSecret != "" || r.Header.Get("Authorization") != "":
			return op.ClientCredentials{}, op.ErrInvalidRequest("more than one client authentication method")
		}
		return op.ClientCredentials{ClientID: formID, Assertion: assertion, Method: op.AuthClientAssertion}, nil
	}
	if r.Header.Get("Authorization") == "" {
		if formSecret != "" {
			return op.ClientCredentials{ClientID: formID, Secret: formSecret, Method: op.AuthSecretPost}, nil
		}
		return op.ClientCredentials{ClientID: formID, Method: op.AuthNone}, nil
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return op.ClientCredentials{}, op.ErrInvalidClient("unsupported authentication scheme")
	}
	// The id and secret are form-urlencoded before Basic encoding.
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	switch {
	case err1 != nil || err2 != nil:
		return op.ClientCredentials{}, op.ErrInvalidClient("malformed Basic credentials")
	case formSecret != "":
		return op.ClientCredentials{}, op.ErrInvalidRequest("more than one client authentication method")
	case formID != "" && formID != id:
		return op.ClientCredentials{}, op.ErrInvalidRequest("client_id does not match the authenticated client")
	}
	return op.ClientCredentials{ClientID: id, Secret: secret, Method: op.AuthSecretBasic}, nil
}

// writeJSON writes a response that must not be cached (RFC 6749 §5.1).
func (h *Handler) writeJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.writeError(c, op.ErrServer(err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Data(status, "application/json;charset=UTF-8", b)
}

// errorBody is the RFC 6749 §5.2 error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError renders any error as an OAuth 2.0 error response.
func (h *Handler) writeError(c *gin.Context, err error) {
	e := op.ToError(err)
	if e.Status >= 500 {
		h.log.ErrorContext(c.Request.Context(), "oauth2: request failed", "path", c.FullPath(), "error", err)
	} else {
		// Causes of client errors (wrong secret, unknown client) are not
		// secrets and help debugging; they stay at debug level.
		h.log.DebugContext(c.Request.Context(), "oauth2: request refused", "path", c.FullPath(), "error", err)
	}
	if e.Code == op.CodeInvalidClient {
		c.Header("WWW-Authenticate", `Basic realm="oauth2", charset="UTF-8"`)
	}
	b, _ := json.Marshal(errorBody{Error: e.Code, Description: e.Description})
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Data(e.Status, "application/json;charset=UTF-8", b)
}
