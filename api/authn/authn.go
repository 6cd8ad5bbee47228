package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// Paths served, relative to the router (and under /t/{tenant} for tenants).
const (
	PathAuthorize = "/oauth2/authorize"
	PathAuthn     = "/oauth2/authn"
)

// ResponseModeDirect is the response_mode that selects app-native authentication.
const ResponseModeDirect = "direct"

// ProtocolAppNative is flows.LoginRequest.Protocol for logins started here.
const ProtocolAppNative = "app-native"

// Body limits: an AuthRequest carries a few short values (a passkey assertion is the largest).
const (
	maxBodyBytes = 64 << 10
	maxFormBytes = 64 << 10
)

// Applications finds the application of an OAuth2 client; *store.Store implements it.
type Applications interface {
	// ApplicationByClientID returns the client's application or store.ErrNotFound.
	ApplicationByClientID(ctx context.Context, clientID string) (store.Application, error)
}

// Provider is the OAuth2 side of the login; *op.Provider implements it.
type Provider interface {
	// AuthenticateClient authenticates the client of a request (public clients by id only).
	AuthenticateClient(ctx context.Context, cc op.ClientCredentials) (store.OAuth2Client, error)
	// ValidateAuthorizeRequest validates the authorization request (client, redirect URI,
	// scopes, PKCE…).
	ValidateAuthorizeRequest(ctx context.Context, p op.AuthorizeParams) (*op.AuthorizeRequest, error)
	// CompleteAuthorization issues the code for the authenticated user.
	CompleteAuthorization(ctx context.Context, req *op.AuthorizeRequest, a op.Authenticated) (op.Response, error)
	// ErrorResponse builds the error response to the client of a validated request (browser
	// flow: fail(), login_required).
	ErrorResponse(req *op.AuthorizeRequest, err error) op.Response
}

// Logins runs login workflows; Temporal implements it over a Temporal client.
type Logins interface {
	// Start starts login flowID and returns its first view; state is kept for State.
	Start(ctx context.Context, in flows.LoginInput, flowID string, state *LoginState) (flows.View, error)
	// View returns the current view of a running login (flows.ErrLoginNotFound if none).
	View(ctx context.Context, flowID string) (flows.View, error)
	// Submit answers the view sub.Seq and returns the next one.
	Submit(ctx context.Context, flowID string, sub flows.Submission) (flows.View, error)
	// State returns the state Start kept.
	State(ctx context.Context, flowID string) (*LoginState, error)
}

// LoginState is what a front-end keeps with a login (in the workflow's memo, encrypted by the
// payload codec) to answer its relying party when the login ends.
type LoginState struct {
	// Protocol is flows.LoginRequest.Protocol: ProtocolOIDC and app-native logins carry OAuth2;
	// any other protocol is answered by its Config.Completers entry with Data.
	Protocol string `json:"protocol"`
	// OAuth2 is the validated authorization request of an OIDC or app-native login.
	OAuth2 *op.AuthorizeRequest `json:"oauth2,omitempty"`
	// Data is another front-end's own state (BeginBrowserLogin's state, as JSON).
	Data json.RawMessage `json:"data,omitempty"`
	// OrgID and ApplicationID name the application logged into (for the SSO session).
	OrgID         string `json:"orgId,omitempty"`
	ApplicationID string `json:"applicationId,omitempty"`
	// RelyingParty is the client id, SP entity id or realm (an SSO session participant).
	RelyingParty string `json:"relyingParty,omitempty"`
}

// Completer answers the relying party of a finished browser login of one protocol (SAML,
// WS-Federation); OIDC is built in.
type Completer interface {
	// CompleteLogin writes the protocol response for the final view v (SUCCESS_COMPLETED or
	// FAIL_COMPLETED) of a login started by BeginBrowserLogin; state is the JSON of the state
	// value given there, and sessionID the SSO session the login belongs to ('' if none).
	CompleteLogin(c *gin.Context, v flows.View, state json.RawMessage, sessionID string)
}

// Config configures New.
type Config struct {
	Applications Applications
	Provider     Provider
	Logins       Logins
	// BaseURL is the server's public base URL (https://id.example.com), from which the
	// absolute links[0].href is built. Required.
	BaseURL string
	// AllowedOrigins may call the API from a browser (CORS). Exact origins
	// ("https://app.example.com"); "*" is refused because responses carry credentials.
	AllowedOrigins []string
	// MountAuthorize makes Register serve POST and GET /oauth2/authorize itself. Leave it off
	// when another front-end owns that path; it then calls Authorize for requests where
	// IsDirect is true.
	MountAuthorize bool
	// DefaultTenant is the tenant of paths without /t/{tenant}; default
	// store.RootOrganizationHandle.
	DefaultTenant string
	// NewFlowID makes flow ids; default random UUIDs.
	NewFlowID func() string
	// Logger; default discards. Params (passwords, codes) are never logged.
	Logger *slog.Logger
	// UI renders the browser flow's pages (browser.go). Optional: when nil, authorization
	// requests without response_mode=direct are refused as before and no login page is served.
	UI *ui.Renderer
	// UIAssetsPath is where the UI's assets are mounted; it must equal the renderer's
	// ui.Config.AssetsPath. Default DefaultUIAssetsPath.
	UIAssetsPath string
	// Completers answer the relying parties of browser logins started with BeginBrowserLogin,
	// keyed by flows.LoginRequest.Protocol ("saml", "wsfed").
	Completers map[string]Completer
	// Sessions keeps SSO sessions (sso.go); nil disables SSO: every browser login authenticates.
	Sessions Sessions
	// SessionIdleTimeout and SessionLifetime bound an SSO session (defaults
	// DefaultSessionIdleTimeout, DefaultSessionLifetime).
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Claims loads a local user's stored claims for the tokens; nil leaves only the claims the
	// login itself produced.
	Claims UserClaims
	// Consents keeps per-user consent (consent.go): browser logins for clients without
	// SkipConsent then ask the user to approve the scopes. Nil: no consent page. Needs
	// Interactions and UI.
	Consents Consents
	// Interactions keeps the consent page and the account chooser (prompt=select_account)
	// between requests; nil: prompt=select_account is a normal login.
	Interactions Interactions
	// Branding resolves the look of the login, consent, account and error pages; nil: the
	// default look.
	Branding Brandings
}

// UserClaims reads a user's claims by local claim URI; *store.Store implements it.
type UserClaims interface {
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
}

// Handler serves the app-native authentication API.
type Handler struct {
	cfg     Config
	base    *url.URL
	origins map[string]bool
	log     *slog.Logger
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Applications == nil || cfg.Provider == nil || cfg.Logins == nil {
		return nil, errors.New("authn: Config needs Applications, Provider and Logins")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || !base.IsAbs() || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("authn: BaseURL %q must be an absolute URL without query or fragment", cfg.BaseURL)
	}
	origins := map[string]bool{}
	for _, o := range cfg.AllowedOrigins {
		u, err := url.Parse(o)
		if o == "*" || err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return nil, fmt.Errorf("authn: allowed origin %q must be scheme://host[:port]", o)
		}
		origins[o] = true
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = store.RootOrganizationHandle
	}
	if cfg.SessionIdleTimeout <= 0 {
		cfg.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for p, c := range cfg.Completers {
		if c == nil || p == "" || p == ProtocolOIDC || p == ProtocolAppNative {
			return nil, fmt.Errorf("authn: Completers[%q] is not usable", p)
		}
	}
	if cfg.Consents != nil && (cfg.Interactions == nil || cfg.UI == nil) {
		return nil, errors.New("authn: Config.Consents needs Interactions and UI")
	}
	if cfg.NewFlowID == nil {
		cfg.NewFlowID = func() string { return uuid.NewString() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UIAssetsPath == "" {
		cfg.UIAssetsPath = DefaultUIAssetsPath
	}
	cfg.UIAssetsPath = strings.TrimRight(cfg.UIAssetsPath, "/")
	if !strings.HasPrefix(cfg.UIAssetsPath, "/") || strings.HasPrefix(cfg.UIAssetsPath, "//") {
		return nil, fmt.Errorf("authn: UIAssetsPath %q must be root-relative", cfg.UIAssetsPath)
	}
	return &Handler{cfg: cfg, base: base, origins: origins, log: cfg.Logger}, nil
}

// Register mounts /oauth2/authn (and /oauth2/authorize with MountAuthorize), with and without
// the /t/{tenant} prefix, plus their CORS preflights; with Config.UI, also the login page
// (PathLogin) and the UI assets.
func (h *Handler) Register(r gin.IRouter) {
	for _, prefix := range []string{"", "/t/:tenant"} {
		r.POST(prefix+PathAuthn, h.cors, h.Authenticate)
		r.OPTIONS(prefix+PathAuthn, h.preflight)
		if h.cfg.MountAuthorize {
			r.POST(prefix+PathAuthorize, h.cors, h.Authorize)
			r.GET(prefix+PathAuthorize, h.cors, h.Authorize)
			r.OPTIONS(prefix+PathAuthorize, h.preflight)
		}
	}
	h.registerBrowser(r)
}

// IsDirect reports whether an authorization request asks for app-native authentication
// (response_mode=direct in the query or the form body).
func IsDirect(r *http.Request) bool {
	if r.URL.Query().Get("response_mode") == ResponseModeDirect {
		return true
	}
	if r.Method != http.MethodPost {
		return false
	}
	if err := r.ParseForm(); err != nil {
		return false
	}
	return r.PostForm.Get("response_mode") == ResponseModeDirect
}

func (h *Handler) tenant(c *gin.Context) string {
	if t := c.Param("tenant"); t != "" {
		return t
	}
	return h.cfg.DefaultTenant
}

// authnURL is the absolute, tenant-qualified URL of /oauth2/authn (links[0].href).
func (h *Handler) authnURL(c *gin.Context) string {
	if t := c.Param("tenant"); t != "" {
		return h.base.String() + "/t/" + url.PathEscape(t) + PathAuthn
	}
	return h.base.String() + PathAuthn
}

// Authorize serves POST/GET /oauth2/authorize with response_mode=direct (wso2-wire.md §1.2).
func (h *Handler) Authorize(c *gin.Context) {
	ctx := c.Request.Context()
	form, cc, err := authorizeForm(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if form.Get("response_mode") != ResponseModeDirect {
		if h.cfg.UI != nil {
			h.browserAuthorize(c, form)
			return
		}
		h.fail(c, ErrInvalidRequest("response_mode must be direct"))
		return
	}
	tenant := h.tenant(c)
	clientID := form.Get("client_id")
	if clientID == "" {
		h.fail(c, ErrInvalidRequest("client_id is required"))
		return
	}
	app, err := h.cfg.Applications.ApplicationByClientID(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, ErrApplicationNotFound(clientID, tenant).withCause(err))
		return
	}
	if err != nil {
		h.fail(c, ErrServer(err))
		return
	}
	if _, err := h.cfg.Provider.AuthenticateClient(ctx, cc); err != nil {
		if e := op.ToError(err); e.Code == "invalid_client" {
			h.fail(c, ErrUnauthorized(err))
			return
		}
		h.fail(c, ErrServer(err))
		return
	}
	if form.Get("response_type") != op.ResponseTypeCode {
		h.fail(c, ErrInvalidRequest("App native authentication is only supported with code response type."))
		return
	}
	if !app.APIBasedAuthentication {
		h.fail(c, ErrAPIAuthNotEnabled(app.ID))
		return
	}
	params := op.ParseAuthorizeParams(form)
	// The provider knows the browser response modes only; direct is this package's.
	params.ResponseMode = ""
	req, err := h.cfg.Provider.ValidateAuthorizeRequest(ctx, params)
	if err != nil {
		e := op.ToError(err)
		desc := e.Code
		if e.Description != "" {
			desc += " - " + e.Description
		}
		h.fail(c, ErrInvalidRequest(desc).withCause(err))
		return
	}
	in := flows.LoginInput{
		Application: LoginApplication(app, tenant),
		Request: flows.LoginRequest{
			Protocol: ProtocolAppNative, ClientID: req.ClientID, RequestedACR: req.ACRValues,
			LoginHint: req.LoginHint, Prompt: req.Prompt, MaxAge: req.MaxAge,
			ForceAuth: req.HasPrompt(op.PromptLogin), Passive: req.HasPrompt(op.PromptNone),
			HTTP: ScriptRequest(c, form),
		},
	}
	flowID := h.cfg.NewFlowID()
	v, err := h.cfg.Logins.Start(ctx, in, flowID, &LoginState{Protocol: ProtocolAppNative, OAuth2: req,
		OrgID: app.OrgID, ApplicationID: app.ID, RelyingParty: req.ClientID})
	if err != nil {
		h.fail(c, toError(err))
		return
	}
	h.render(c, v)
}

// Authenticate serves POST /oauth2/authn (wso2-wire.md §1.5).
func (h *Handler) Authenticate(c *gin.Context) {
	ctx := c.Request.Context()
	var req AuthRequest
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		h.fail(c, ErrInvalidRequest("Error occurred while parsing the authentication request.").withCause(err))
		return
	}
	if req.FlowID == "" {
		h.fail(c, ErrInvalidFlow())
		return
	}
	if req.SelectedAuthenticator == nil || req.SelectedAuthenticator.AuthenticatorID == "" {
		h.fail(c, ErrInvalidAuthenticatorID(""))
		return
	}
	id := req.SelectedAuthenticator.AuthenticatorID
	if _, _, ok := flows.DecodeAuthenticatorID(id); !ok {
		h.fail(c, ErrInvalidAuthenticatorID(id))
		return
	}
	// The protocol carries no view number: answer the current view (one Update; the workflow
	// rejects a request racing another of the same flow as concurrent, without effect).
	v, err := h.cfg.Logins.Submit(ctx, req.FlowID, flows.Submission{
		Seq: flows.CurrentView, AuthenticatorID: id, Params: stepParams(req.SelectedAuthenticator.Params),
		Request: ptr(ScriptRequest(c, nil)),
	})
	if err != nil {
		h.fail(c, toError(err))
		return
	}
	h.render(c, v)
}

func ptr[T any](v T) *T { return &v }

// render answers a view: a step (200), the authorization data (200), or the failure.
func (h *Handler) render(c *gin.Context, v flows.View) {
	h.applyResponse(c, v.Response)
	switch v.Status {
	case flows.StatusIncomplete, flows.StatusFailIncomplete:
		resp, err := stepResponse(v, h.authnURL(c))
		if err != nil {
			h.fail(c, err)
			return
		}
		h.writeJSON(c, http.StatusOK, resp)
	case flows.StatusSuccess:
		data, err := h.complete(c.Request.Context(), v)
		if err != nil {
			h.fail(c, err)
			return
		}
		h.writeJSON(c, http.StatusOK, AuthResponse{FlowStatus: flows.StatusSuccess, AuthData: data})
	case flows.StatusFailed:
		h.fail(c, flowError(v.Error))
	default:
		h.fail(c, ErrServer(fmt.Errorf("unknown flow status %q", v.Status)))
	}
}

// authenticated is what the OAuth2 provider learns of a successful login (Authenticated with
// Config.Claims).
func (h *Handler) authenticated(ctx context.Context, r *flows.Result, sessionID string) (op.Authenticated, error) {
	return Authenticated(ctx, h.cfg.Claims, r, sessionID)
}

// Authenticated is what the OAuth2 provider learns of a successful login r: the subject, its
// claims and authentication facts. A local subject's stored claims (from users; nil for none)
// come first (the authenticators load few), the login's own claims (attribute step, script
// runtime claims) override them. auth_time is the latest authentication among the steps (an
// SSO-satisfied step keeps its original time); sessionID is the ID token's sid. Completers of
// OAuth2-based front-ends (the device grant) use it too.
func Authenticated(ctx context.Context, users UserClaims, r *flows.Result, sessionID string) (op.Authenticated, error) {
	sub := r.Subject.ID
	if sub == "" {
		sub = r.Subject.Username
	}
	claims := r.Claims
	if users != nil && !r.Subject.Federated() && r.Subject.ID != "" {
		stored, err := users.UserClaims(ctx, r.Subject.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return op.Authenticated{}, fmt.Errorf("claims of %s: %w", r.Subject.ID, err)
		}
		if len(stored) > 0 {
			claims = make(map[string]string, len(stored)+len(r.Claims))
			maps.Copy(claims, stored)
			maps.Copy(claims, r.Claims)
		}
	}
	var at time.Time
	for _, s := range r.AuthenticatedSteps {
		if s.At.After(at) {
			at = s.At
		}
	}
	return op.Authenticated{Subject: sub, Claims: claims, ACR: r.ACR, AMR: r.AMR, AuthTime: at, SessionID: sessionID}, nil
}

// complete issues the authorization code for a successful login (wso2-wire.md §1.8): authData
// holds code, state (if sent) and session_state, which the Android SDK requires.
func (h *Handler) complete(ctx context.Context, v flows.View) (map[string]string, error) {
	if v.Result == nil || v.Result.Subject == nil {
		return nil, ErrServer(fmt.Errorf("flow %s succeeded without a subject", v.FlowID))
	}
	st, err := h.cfg.Logins.State(ctx, v.FlowID)
	if err != nil {
		return nil, ErrServer(err)
	}
	req := st.OAuth2
	if req == nil {
		return nil, ErrServer(fmt.Errorf("flow %s: login state holds no authorization request", v.FlowID))
	}
	a, err := h.authenticated(ctx, v.Result, v.FlowID)
	if err != nil {
		return nil, ErrServer(err)
	}
	resp, err := h.cfg.Provider.CompleteAuthorization(ctx, req, a)
	if err != nil {
		var rerr *op.RedirectError
		if errors.As(err, &rerr) || errors.As(err, new(*op.Error)) {
			e := op.ToError(err)
			return nil, ErrInvalidRequest(e.Code + " - " + e.Description).withCause(err)
		}
		return nil, ErrServer(err)
	}
	code := resp.Params.Get("code")
	if code == "" {
		return nil, ErrServer(errors.New("authorization response without code"))
	}
	data := map[string]string{"code": code, "session_state": sessionState(req.ClientID, req.RedirectURI, v.FlowID)}
	if s := resp.Params.Get("state"); s != "" {
		data["state"] = s
	}
	return data, nil
}

// sessionState is OpenID Connect Session Management 1.0 §3's session_state: a hash of client
// id, the redirect URI's origin and the session, with a salt, then "." and the salt. The login
// (flowId) stands for the browser session: app-native clients have no cookie.
func sessionState(clientID, redirectURI, session string) string {
	origin := redirectURI
	if u, err := url.Parse(redirectURI); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	salt := uuid.NewString()[:8]
	sum := sha256.Sum256([]byte(clientID + " " + origin + " " + session + " " + salt))
	return hex.EncodeToString(sum[:]) + "." + salt
}

// LoginApplication turns the stored application into the login's: its steps (subject and
// attribute flags from the step ids) and script.
func LoginApplication(app store.Application, tenant string) flows.Application {
	seq := app.Sequence
	out := flows.Application{ID: app.ID, OrgID: app.OrgID, Name: app.Name, TenantDomain: tenant, Script: seq.Script}
	if len(seq.Steps) == 0 {
		// DEFAULT sequence: WSO2's default is basic authentication.
		seq.Steps = []store.AuthenticationStep{{ID: 1, Options: []store.AuthenticationOption{
			{IdP: store.LocalIdP, Authenticator: connectors.BasicAuthenticator}}}}
	}
	steps := slices.Clone(seq.Steps)
	slices.SortFunc(steps, func(a, b store.AuthenticationStep) int { return a.ID - b.ID })
	for _, st := range steps {
		s := scripting.Step{SubjectIdentifier: st.ID == seq.SubjectStep(), SubjectAttribute: st.ID == seq.AttributeStep()}
		for _, o := range st.Options {
			s.Options = append(s.Options, scripting.Option{Authenticator: o.Authenticator, IdP: o.IdP})
		}
		out.Steps = append(out.Steps, s)
	}
	return out
}

// ScriptRequest is the HTTP request as scripts see it (context.request). Credentials never go
// in: params are the form's non-secret OAuth2 parameters only.
func ScriptRequest(c *gin.Context, form url.Values) scripting.Request {
	r := scripting.Request{IP: c.ClientIP(), Headers: map[string]string{}}
	for _, k := range []string{"User-Agent", "Accept-Language", "Origin"} {
		if v := c.GetHeader(k); v != "" {
			r.Headers[strings.ToLower(k)] = v
		}
	}
	if len(form) > 0 {
		r.Params = map[string][]string{}
		for _, k := range []string{"client_id", "scope", "redirect_uri", "response_type", "acr_values", "login_hint", "prompt", "ui_locales"} {
			if v, ok := form[k]; ok {
				r.Params[k] = v
			}
		}
	}
	return r
}

// authorizeForm reads the authorization request (query, plus the form body of a POST) and
// the client credentials presented.
func authorizeForm(c *gin.Context) (url.Values, op.ClientCredentials, error) {
	r := c.Request
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, op.ClientCredentials{}, ErrInvalidRequest("content type must be application/x-www-form-urlencoded")
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		return nil, op.ClientCredentials{}, ErrInvalidRequest("malformed or oversized request").withCause(err)
	}
	form := r.Form
	id, secret := form.Get("client_id"), form.Get("client_secret")
	cc := op.ClientCredentials{ClientID: id, Method: op.AuthNone}
	if secret != "" {
		cc = op.ClientCredentials{ClientID: id, Secret: secret, Method: op.AuthSecretPost}
	}
	if r.Header.Get("Authorization") != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, op.ClientCredentials{}, ErrUnauthorized(errors.New("unsupported authentication scheme"))
		}
		uid, err1 := url.QueryUnescape(user)
		pw, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || secret != "" || (id != "" && id != uid) {
			return nil, op.ClientCredentials{}, ErrUnauthorized(errors.New("malformed or conflicting client credentials"))
		}
		cc = op.ClientCredentials{ClientID: uid, Secret: pw, Method: op.AuthSecretBasic}
		if id == "" {
			form.Set("client_id", uid)
		}
	}
	return form, cc, nil
}

func (h *Handler) writeJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.fail(c, ErrServer(err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Data(status, "application/json", b)
}

// fail answers err's ABA body; the private cause is logged, never sent.
func (h *Handler) fail(c *gin.Context, err error) {
	e := toError(err)
	ctx := c.Request.Context()
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(ctx, level, "authn: request failed", "path", c.FullPath(), "code", e.Code, "error", e)
	if e.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="keyflow"`)
	}
	h.writeJSON(c, e.Status, ErrorBody{Code: e.Code, Message: e.Message, Description: e.Description,
		TraceID: api.RequestID(ctx)})
}
