package device

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// PathDevice is the verification page (WSO2: /authenticationendpoint/device.do), served with
// and without the /t/{tenant} prefix. oauth2.Config.DeviceVerificationURI should be its
// absolute URL.
const PathDevice = "/oauth2/device"

// ProtocolDevice is flows.LoginRequest.Protocol of the logins started here, and this
// Handler's key in authn.Config.Completers.
const ProtocolDevice = "device"

// Defaults of Config.
const (
	DefaultMaxFailures   = 10
	DefaultFailureWindow = 10 * time.Minute
)

// csrfCookie is the double-submit CSRF cookie of the verification page.
const csrfCookie = "kfdev_csrf"

// maxFormBytes bounds the form body: a code, a decision and a token.
const maxFormBytes = 8 << 10

// Provider is the token side of the grant; *op.Provider implements it.
type Provider interface {
	// DeviceRequest finds the pending request with the user code (as typed).
	DeviceRequest(ctx context.Context, userCode string) (op.DeviceRequest, error)
	// ApproveDevice records the user's approval.
	ApproveDevice(ctx context.Context, userCode string, a op.Authenticated) error
	// DenyDevice records the user's refusal.
	DenyDevice(ctx context.Context, userCode string) error
}

// Applications finds the application of an OAuth2 client; *store.Store implements it.
type Applications interface {
	// ApplicationByClientID returns the client's application or store.ErrNotFound.
	ApplicationByClientID(ctx context.Context, clientID string) (store.Application, error)
}

// BrowserLogins starts server-rendered browser logins; *authn.Handler implements it (through
// a late-bound wrapper such as saml.DeferredLogins: authn needs this Handler as a Completer).
type BrowserLogins interface {
	// BeginBrowserLogin starts the login in; state comes back to CompleteLogin as JSON.
	BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any)
}

// Config configures New.
type Config struct {
	Provider     Provider
	Applications Applications
	Logins       BrowserLogins
	// UI renders the pages. Required.
	UI *ui.Renderer
	// BaseURL is the server's public base URL; its scheme decides the cookie's Secure flag
	// and its path prefixes the form action. Required.
	BaseURL string
	// Claims loads a local user's stored claims for the tokens (authn.Config.Claims).
	Claims authn.UserClaims
	// Branding gives the pages the organization's look (authn.Config.Branding); nil: Keyflow's.
	Branding authn.Brandings
	// DefaultTenant is the tenant of paths without /t/{tenant}; default
	// store.RootOrganizationHandle.
	DefaultTenant string
	// MaxFailures wrong codes per client IP within FailureWindow, after which the form refuses
	// codes until the window ends; defaults DefaultMaxFailures, DefaultFailureWindow.
	MaxFailures   int
	FailureWindow time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards. User codes are never logged.
	Logger *slog.Logger
}

// Handler serves the verification page and completes its logins (authn.Completer).
type Handler struct {
	cfg     Config
	base    *url.URL
	log     *slog.Logger
	limiter *limiter
}

var _ authn.Completer = (*Handler)(nil)

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Provider == nil || cfg.Applications == nil || cfg.Logins == nil || cfg.UI == nil {
		return nil, errors.New("device: Config needs Provider, Applications, Logins and UI")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || !base.IsAbs() || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("device: BaseURL %q must be an absolute URL without query or fragment", cfg.BaseURL)
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = store.RootOrganizationHandle
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = DefaultFailureWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, base: base, log: cfg.Logger,
		limiter: &limiter{max: cfg.MaxFailures, window: cfg.FailureWindow, now: cfg.Now, seen: map[string]*failures{}}}, nil
}

// Register mounts GET and POST PathDevice, with and without the /t/{tenant} prefix.
func (h *Handler) Register(r gin.IRouter) {
	for _, prefix := range []string{"", "/t/:tenant"} {
		r.GET(prefix+PathDevice, h.Page)
		r.POST(prefix+PathDevice, h.Submit)
	}
}

// loginState is what the login carries back to CompleteLogin.
type loginState struct {
	UserCode string `json:"userCode"`
}

// Page serves GET PathDevice: the code form, prefilled from ?user_code=.
func (h *Handler) Page(c *gin.Context) {
	token, err := c.Cookie(csrfCookie)
	if err != nil || token == "" {
		token = rand.Text()
		http.SetCookie(c.Writer, h.cookie(c, token))
	}
	h.render(c, http.StatusOK, ui.DevicePage{Stage: ui.DeviceEnterCode, UserCode: truncate(c.Query(ui.FieldUserCode)),
		CSRFToken: token})
}

// Submit serves POST PathDevice: the CSRF check, then the code (confirmation page) or the
// decision.
func (h *Handler) Submit(c *gin.Context) {
	ctx := c.Request.Context()
	r := c.Request
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, fmt.Errorf("device form content type %q", r.Header.Get("Content-Type")))
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, err)
		return
	}
	form := r.PostForm
	token, err := c.Cookie(csrfCookie)
	sent := form.Get(ui.FieldCSRF)
	if err != nil || token == "" || sent == "" || subtle.ConstantTimeCompare([]byte(token), []byte(sent)) != 1 {
		h.errorPage(c, http.StatusForbidden, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, errors.New("device form CSRF token missing or mismatched"))
		return
	}
	code := truncate(form.Get(ui.FieldUserCode))
	ip := c.ClientIP()
	if h.limiter.blocked(ip) {
		h.log.WarnContext(ctx, "device: too many wrong user codes", "ip", ip)
		h.render(c, http.StatusTooManyRequests, ui.DevicePage{Stage: ui.DeviceEnterCode, UserCode: code,
			Throttled: true, CSRFToken: token})
		return
	}
	req, err := h.cfg.Provider.DeviceRequest(ctx, code)
	if err != nil {
		if op.ToError(err).Status >= 500 {
			h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
			return
		}
		h.limiter.fail(ip)
		h.log.InfoContext(ctx, "device: wrong user code", "ip", ip)
		h.render(c, http.StatusBadRequest, ui.DevicePage{Stage: ui.DeviceEnterCode, UserCode: code, Invalid: true,
			CSRFToken: token})
		return
	}
	shown := displayCode(code)
	switch form.Get(ui.FieldDeviceDecision) {
	case "":
		h.render(c, http.StatusOK, ui.DevicePage{Stage: ui.DeviceConfirm, UserCode: shown, AppName: req.ClientName,
			Scopes: req.Scopes, CSRFToken: token})
	case ui.ConsentDeny:
		if err := h.cfg.Provider.DenyDevice(ctx, code); err != nil {
			h.decisionError(c, err)
			return
		}
		h.log.InfoContext(ctx, "device: request denied", "client_id", req.ClientID)
		h.render(c, http.StatusOK, ui.DevicePage{Stage: ui.DeviceDenied})
	case ui.ConsentApprove:
		h.approve(c, req, shown)
	default:
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, errors.New("unknown device decision"))
	}
}

// approve starts the login for the client's application; CompleteLogin approves after it.
func (h *Handler) approve(c *gin.Context, req op.DeviceRequest, userCode string) {
	ctx := c.Request.Context()
	app, err := h.cfg.Applications.ApplicationByClientID(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, fmt.Errorf("client %s has no application: %w", req.ClientID, err))
		return
	}
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	tenant := c.Param("tenant")
	if tenant == "" {
		tenant = h.cfg.DefaultTenant
	}
	in := flows.LoginInput{
		Application: authn.LoginApplication(app, tenant),
		Request: flows.LoginRequest{Protocol: ProtocolDevice, ClientID: req.ClientID,
			HTTP: authn.ScriptRequest(c, url.Values{"client_id": {req.ClientID}, "scope": {strings.Join(req.Scopes, " ")}})},
	}
	h.cfg.Logins.BeginBrowserLogin(c, in, loginState{UserCode: userCode})
}

// CompleteLogin approves the device request of a successful login with the user it
// authenticated (authn.Completer). A failed login leaves the request pending: only Deny
// refuses it.
func (h *Handler) CompleteLogin(c *gin.Context, v flows.View, state json.RawMessage, sessionID string) {
	ctx := c.Request.Context()
	var st loginState
	if err := json.Unmarshal(state, &st); err != nil || st.UserCode == "" {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, fmt.Errorf("device login %s: bad state: %w",
			v.FlowID, cmp.Or(err, errors.New("no user code"))))
		return
	}
	if v.Status != flows.StatusSuccess || v.Result == nil || v.Result.Subject == nil {
		fe := v.Error
		if fe == nil && v.Result != nil {
			fe = v.Result.Error
		}
		status := http.StatusBadRequest
		if fe != nil && fe.Kind == flows.ErrorServer {
			status = http.StatusInternalServerError
		}
		h.errorPage(c, status, ui.ErrorPageFor(fe), fmt.Errorf("device login %s did not succeed", v.FlowID))
		return
	}
	if sessionID == "" {
		sessionID = v.FlowID
	}
	a, err := authn.Authenticated(ctx, h.cfg.Claims, v.Result, sessionID)
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	if err := h.cfg.Provider.ApproveDevice(ctx, st.UserCode, a); err != nil {
		h.decisionError(c, err)
		return
	}
	h.log.InfoContext(ctx, "device: request approved", "flow", v.FlowID)
	h.render(c, http.StatusOK, ui.DevicePage{Stage: ui.DeviceApproved})
}

// decisionError answers a refused decision: the request expired or was decided meanwhile.
func (h *Handler) decisionError(c *gin.Context, err error) {
	if op.ToError(err).Status >= 500 {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorTimeout}, err)
}

// render writes a device page; Action, Lang and SwitchURL are filled in here.
func (h *Handler) render(c *gin.Context, status int, p ui.DevicePage) {
	p.Action = h.action(c)
	p.Lang = h.lang(c)
	if p.Stage == ui.DeviceEnterCode {
		p.SwitchURL = p.Action
	}
	p.Branding = h.branding(c)
	h.page(c, status, p.Branding, func(w io.Writer) error { return h.cfg.UI.Device(w, p) })
}

// errorPage renders the error page p; cause is logged, never shown.
func (h *Handler) errorPage(c *gin.Context, status int, p ui.ErrorPage, cause error) {
	ctx := c.Request.Context()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(ctx, level, "device: request failed", "status", status, "error", cause)
	p.Lang = h.lang(c)
	p.TraceID = api.RequestID(ctx)
	p.Branding = h.branding(c)
	h.page(c, status, p.Branding, func(w io.Writer) error { return h.cfg.UI.Error(w, p) })
}

// branding is the look of the pages: the default organization's (the page serves every
// client, and which one is known only once a code is entered).
func (h *Handler) branding(c *gin.Context) ui.Branding {
	if h.cfg.Branding == nil {
		return ui.Branding{}
	}
	return h.cfg.Branding.Branding(c.Request.Context(), "", "")
}

func (h *Handler) page(c *gin.Context, status int, b ui.Branding, render func(io.Writer) error) {
	var buf bytes.Buffer
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Content-Security-Policy", ui.PageCSP(b))
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if err := render(&buf); err != nil {
		h.log.ErrorContext(c.Request.Context(), "device: render page", "error", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (h *Handler) lang(c *gin.Context) string {
	return h.cfg.UI.Lang(c.Query("ui_locales"), c.GetHeader("Accept-Language"))
}

// action is the page's own root-relative path (tenant-qualified).
func (h *Handler) action(c *gin.Context) string {
	p := h.base.Path + PathDevice
	if t := c.Param("tenant"); t != "" {
		p = h.base.Path + "/t/" + url.PathEscape(t) + PathDevice
	}
	return p
}

func (h *Handler) cookie(c *gin.Context, value string) *http.Cookie {
	return &http.Cookie{Name: csrfCookie, Value: value, Path: h.action(c), MaxAge: int(op.DeviceCodeLifetime.Seconds()) * 3,
		HttpOnly: true, Secure: h.base.Scheme == "https", SameSite: http.SameSiteLaxMode}
}

// truncate bounds what is echoed back into the form.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32]
	}
	return s
}

// displayCode shows a valid code as the device does: XXXX-XXXX.
func displayCode(typed string) string {
	n := op.NormalizeUserCode(typed)
	if len(n) == 8 {
		return n[:4] + "-" + n[4:]
	}
	return n
}

// limiter counts wrong codes per client IP in fixed windows.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	seen   map[string]*failures
}

type failures struct {
	count int
	since time.Time
}

// blocked reports whether ip used up its wrong codes in the current window.
func (l *limiter) blocked(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.seen[ip]
	if !ok {
		return false
	}
	if l.now().Sub(f.since) >= l.window {
		delete(l.seen, ip)
		return false
	}
	return f.count >= l.max
}

// fail counts a wrong code of ip; expired windows of other addresses are swept as it goes.
func (l *limiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.seen) > 1024 {
		for k, f := range l.seen {
			if now.Sub(f.since) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	f, ok := l.seen[ip]
	if !ok || now.Sub(f.since) >= l.window {
		f = &failures{since: now}
		l.seen[ip] = f
	}
	f.count++
}
