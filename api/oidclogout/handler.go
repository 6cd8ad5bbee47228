package oidclogout

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// Path is the end-session endpoint, as in WSO2.
const Path = "/oidc/logout"

// DefaultCookieName is WSO2's SSO cookie name, api/authn.SessionCookie.
const DefaultCookieName = "commonAuthId"

// csrfCookieName holds the confirmation form's double-submit token.
const csrfCookieName = "kf_logout_csrf"

// csrfLifetime bounds how long a confirmation page can be submitted.
const csrfLifetime = 10 * time.Minute

const (
	maxFormBytes = 64 << 10
	// maxCookieToken: session tokens are 43 characters; anything much longer is not ours.
	maxCookieToken = 128
	// paramResponseMode=direct selects app-native logout.
	paramResponseMode  = "response_mode"
	responseModeDirect = "direct"
)

// Provider is what the handler needs from *op.Provider.
type Provider interface {
	ValidateLogoutRequest(ctx context.Context, params op.LogoutParams) (*op.LogoutRequest, error)
	SessionClients(ctx context.Context, s store.SSOSession) ([]store.OAuth2Client, error)
	LogoutToken(ctx context.Context, c store.OAuth2Client, subject, sid string) (string, error)
	FrontChannelLogoutURL(c store.OAuth2Client, sid string) string
	RevokeSessionTokens(ctx context.Context, sid string) error
}

// Sessions is what the handler needs from *store.Store.
type Sessions interface {
	SSOSessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.SSOSession, error)
	SSOSessionByID(ctx context.Context, id string, now time.Time) (store.SSOSession, error)
	TerminateSSOSession(ctx context.Context, id, userID string, now time.Time, actor store.Actor) (store.SSOSession, error)
}

// Pages renders the pages (*ui.Renderer).
type Pages interface {
	Lang(uiLocales, acceptLanguage string) string
	LogoutConfirm(w io.Writer, d ui.LogoutConfirmPage) error
	LoggedOut(w io.Writer, d ui.LoggedOutPage) error
	Error(w io.Writer, d ui.ErrorPage) error
}

// Brandings resolves the look of a page (*branding.Handler).
type Brandings interface {
	Branding(ctx context.Context, orgID, applicationID string) ui.Branding
}

// Config configures New.
type Config struct {
	Provider Provider
	Sessions Sessions
	Pages    Pages
	// Notifier delivers back-channel logout; required (NewHTTPNotifier).
	Notifier Notifier
	// Branding gives the pages the client's organization's look; nil: Keyflow's.
	Branding Brandings
	// BaseURL is the server's absolute base URL (no trailing slash); its scheme decides the
	// cookies' Secure attribute and its path prefixes Path in forms.
	BaseURL string
	// CookieName is the SSO session cookie, default DefaultCookieName (= authn.SessionCookie).
	CookieName string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Ended, when set, is told of every session this endpoint ends, after its OIDC relying
	// parties: cmd/keyflow passes saml.Enders{samlIdP, wsfed.Cleanup{…}}, so the session's SAML
	// service providers with a back-channel (SOAP) single logout service get LogoutRequests, and
	// the URLs it returns (WS-Federation wsignoutcleanup1.0) are loaded as frames on the
	// signed-out page with the OIDC front-channel ones. App-native logout has no page: those
	// URLs are logged, not loaded.
	Ended SessionEnder
	// SAML, when set, walks the browser through the session's front-channel SAML service
	// providers after the signed-out page (each gets a signed LogoutRequest and answers), ending
	// at the post_logout_redirect_uri; *saml.Handler implements it.
	SAML FrontChannelLogouts
}

// SessionEnder follows the end of an SSO session for participants of other protocols; it
// returns URLs the browser must load in frames. saml.Enders and *saml.Handler implement it.
type SessionEnder interface {
	// SessionEnded tells the participants of ended session s that can be told without the
	// browser, and returns the front-channel URLs of the others. Failures are logged.
	SessionEnded(ctx context.Context, s store.SSOSession) []string
}

// FrontChannelLogouts prepares the browser's walk through the front-channel SAML service
// providers of an ended session; *saml.Handler implements it.
type FrontChannelLogouts interface {
	// FrontChannelLogout returns the URL the browser must visit next for session s's
	// front-channel participants, or "" when there are none; the walk ends at returnTo (a
	// registered URL) or a signed-out page.
	FrontChannelLogout(ctx context.Context, s store.SSOSession, returnTo string) (string, error)
}

// Handler serves the end-session endpoint.
type Handler struct {
	cfg  Config
	base *url.URL
	log  *slog.Logger
}

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Provider == nil || cfg.Sessions == nil || cfg.Pages == nil || cfg.Notifier == nil {
		return nil, errors.New("oidclogout: Config.Provider, Sessions, Pages and Notifier are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || !u.IsAbs() || u.Host == "" || strings.HasSuffix(cfg.BaseURL, "/") {
		return nil, fmt.Errorf("oidclogout: Config.BaseURL %q: want an absolute URL without trailing slash", cfg.BaseURL)
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, base: u, log: cfg.Logger}, nil
}

// Register mounts GET and POST Path, with and without the /t/{tenant} prefix.
func (h *Handler) Register(r gin.IRouter) {
	for _, prefix := range []string{"", "/t/:tenant"} {
		r.GET(prefix+Path, h.serve)
		r.POST(prefix+Path, h.serve)
	}
}

// serve handles one end-session request.
func (h *Handler) serve(c *gin.Context) {
	params, err := h.params(c)
	if err != nil {
		h.errorPage(c, http.StatusBadRequest, "", err)
		return
	}
	if params.Get(paramResponseMode) == responseModeDirect {
		h.direct(c, params)
		return
	}
	ctx := c.Request.Context()
	confirmed := false
	if c.Request.Method == http.MethodPost && params.Get(ui.FieldLogoutConfirm) != "" {
		if !h.csrfOK(c, params.Get(ui.FieldCSRF)) {
			h.errorPage(c, http.StatusForbidden, params.Get("ui_locales"), errors.New("logout confirmation CSRF token missing or mismatched"))
			return
		}
		confirmed = true
	}
	req, err := h.cfg.Provider.ValidateLogoutRequest(ctx, op.ParseLogoutParams(params))
	if err != nil {
		status := http.StatusBadRequest
		if op.ToError(err).Status >= 500 {
			status = http.StatusInternalServerError
		}
		h.errorPage(c, status, params.Get("ui_locales"), err)
		return
	}
	cookieSession, hasCookie, err := h.cookieSession(c)
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, req.UILocales, err)
		return
	}
	var target store.SSOSession // the session to end; zero for none
	switch {
	case hasCookie && (confirmed || (req.Hint != nil && req.Hint.SessionID == cookieSession.ID)):
		target = cookieSession
	case hasCookie:
		// No hint, or a hint for another session: the request may not come from this user.
		h.confirm(c, req, params)
		return
	case req.Hint != nil && req.Hint.SessionID != "":
		// No cookie (another browser, an app): the hint names the session.
		s, err := h.cfg.Sessions.SSOSessionByID(ctx, req.Hint.SessionID, h.cfg.Now())
		switch {
		case err == nil && s.Subject == req.Hint.Subject:
			target = s
		case err != nil && !errors.Is(err, store.ErrNotFound):
			h.errorPage(c, http.StatusInternalServerError, req.UILocales, err)
			return
		}
	}
	ended, frames, err := h.endSession(ctx, target)
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, req.UILocales, err)
		return
	}
	h.clearCookies(c)
	next := req.PostLogoutRedirect()
	if ended.ID != "" && h.cfg.SAML != nil {
		// The front-channel SAML service providers come after the signed-out page, then the
		// post-logout redirect URI (validated as registered for the client).
		u, err := h.cfg.SAML.FrontChannelLogout(ctx, ended, next)
		if err != nil {
			h.log.ErrorContext(ctx, "oidclogout: SAML front-channel logout not started", "session", ended.ID, "error", err)
		} else if u != "" {
			next = u
		}
	}
	h.finish(c, req, frames, next)
}

// params reads the query (GET) or form (POST), refusing repeated parameters.
func (h *Handler) params(c *gin.Context) (url.Values, error) {
	r := c.Request
	v := r.URL.Query()
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("logout form content type %q", r.Header.Get("Content-Type"))
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("logout form: %w", err)
		}
		v = r.PostForm
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, fmt.Errorf("parameter %q repeated", k)
		}
	}
	return v, nil
}

// cookieSession returns the browser's live SSO session; hasCookie is false when there is none.
func (h *Handler) cookieSession(c *gin.Context) (s store.SSOSession, hasCookie bool, err error) {
	token, err := c.Cookie(h.cfg.CookieName)
	if err != nil || token == "" || len(token) > maxCookieToken {
		return store.SSOSession{}, false, nil
	}
	sum := sha256.Sum256([]byte(token))
	s, err = h.cfg.Sessions.SSOSessionByToken(c.Request.Context(), sum[:], h.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.SSOSession{}, false, nil
	}
	if err != nil {
		return store.SSOSession{}, false, fmt.Errorf("oidclogout: session look-up: %w", err)
	}
	return s, true, nil
}

// endSession terminates session target (when not zero) and tells its relying parties
// (SessionEnded, then Config.Ended); it returns the ended session (zero when none) and the
// front-channel URLs. A session that ended meanwhile has nothing left to do.
func (h *Handler) endSession(ctx context.Context, target store.SSOSession) (store.SSOSession, []string, error) {
	if target.ID == "" {
		return store.SSOSession{}, nil, nil
	}
	var actor store.Actor // the system, for a federated subject without a local user
	if target.UserID != "" {
		actor = store.Actor{Type: store.ActorUser, ID: target.UserID}
	}
	s, err := h.cfg.Sessions.TerminateSSOSession(ctx, target.ID, "", h.cfg.Now(), actor)
	if errors.Is(err, store.ErrNotFound) {
		return store.SSOSession{}, nil, nil
	}
	if err != nil {
		return store.SSOSession{}, nil, fmt.Errorf("oidclogout: terminate session: %w", err)
	}
	frames := h.SessionEnded(ctx, s)
	if h.cfg.Ended != nil {
		frames = append(frames, h.cfg.Ended.SessionEnded(ctx, s)...)
	}
	return s, frames, nil
}

// SessionEnded is Ender.SessionEnded with the handler's provider and notifier.
func (h *Handler) SessionEnded(ctx context.Context, s store.SSOSession) []string {
	return Ender{Provider: h.cfg.Provider, Notifier: h.cfg.Notifier, Logger: h.log}.SessionEnded(ctx, s)
}

// EnderProvider is what Ender needs from *op.Provider.
type EnderProvider interface {
	SessionClients(ctx context.Context, s store.SSOSession) ([]store.OAuth2Client, error)
	LogoutToken(ctx context.Context, c store.OAuth2Client, subject, sid string) (string, error)
	FrontChannelLogoutURL(c store.OAuth2Client, sid string) string
	RevokeSessionTokens(ctx context.Context, sid string) error
}

// Ender logs the OIDC relying parties of an ended SSO session out. It is used wherever a
// session ends: logout, the session API, scripts' terminateUserSession.
type Ender struct {
	Provider EnderProvider
	// Notifier delivers back-channel logout (durably: backchannel.Starter).
	Notifier Notifier
	// Logger; nil discards.
	Logger *slog.Logger
}

// SessionEnded is what follows the end of SSO session s, however it ended (logout, an
// administrator, the user in My Account, a script): the session's tokens are revoked, its OIDC
// relying parties with a back-channel logout URI are sent a logout token through the Notifier,
// and the front-channel logout URLs are returned for a page the browser may still show.
// Failures are logged: the session is over either way.
func (e Ender) SessionEnded(ctx context.Context, s store.SSOSession) []string {
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := e.Provider.RevokeSessionTokens(ctx, s.ID); err != nil {
		// Tokens stay valid until they expire. Logged, not fatal.
		log.ErrorContext(ctx, "oidclogout: revoking the session's tokens failed", "session", s.ID, "error", err)
	}
	clients, err := e.Provider.SessionClients(ctx, s)
	if err != nil {
		log.ErrorContext(ctx, "oidclogout: session participants unreadable", "session", s.ID, "error", err)
		return nil
	}
	var msgs []Message
	var frames []string
	for _, cl := range clients {
		if cl.BackchannelLogoutURI != "" {
			tok, err := e.Provider.LogoutToken(ctx, cl, s.Subject, s.ID)
			if err != nil {
				log.ErrorContext(ctx, "oidclogout: signing a logout token failed", "client", cl.ClientID, "error", err)
			} else {
				msgs = append(msgs, Message{RelyingParty: cl.ClientID, URL: cl.BackchannelLogoutURI,
					ContentType: "application/x-www-form-urlencoded",
					Body:        []byte(url.Values{"logout_token": {tok}}.Encode())})
			}
		}
		if u := e.Provider.FrontChannelLogoutURL(cl, s.ID); u != "" {
			frames = append(frames, u)
		}
	}
	if len(msgs) > 0 {
		e.Notifier.Notify(ctx, msgs)
	}
	log.InfoContext(ctx, "oidclogout: session ended", "session", s.ID, "backchannel", len(msgs), "frontchannel", len(frames))
	return frames
}

// finish sends the browser on: a page with the front-channel frames, a redirect to next (the
// post-logout redirect URI, or the SAML front-channel logout), or the signed-out page.
func (h *Handler) finish(c *gin.Context, req *op.LogoutRequest, frames []string, next string) {
	if len(frames) == 0 && next != "" {
		h.noStore(c)
		c.Header("Referrer-Policy", "no-referrer")
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	lang := h.cfg.Pages.Lang(req.UILocales, c.GetHeader("Accept-Language"))
	b := h.branding(c, req)
	h.page(c, http.StatusOK, frameCSP(b, frames), func(w io.Writer) error {
		return h.cfg.Pages.LoggedOut(w, ui.LoggedOutPage{Frames: frames, RedirectURL: next, Lang: lang, Branding: b})
	})
}

// confirm asks the user to confirm the logout, with a new CSRF token.
func (h *Handler) confirm(c *gin.Context, req *op.LogoutRequest, params url.Values) {
	token := rand.Text()
	http.SetCookie(c.Writer, &http.Cookie{Name: csrfCookieName, Value: token, Path: "/", MaxAge: int(csrfLifetime.Seconds()),
		HttpOnly: true, Secure: h.base.Scheme == "https", SameSite: http.SameSiteLaxMode})
	hidden := map[string]string{}
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint"} {
		if v := params.Get(k); v != "" {
			hidden[k] = v
		}
	}
	var appName string
	if req.Client != nil {
		appName = req.Client.Name
	}
	action := h.base.Path + Path
	if t := c.Param("tenant"); t != "" {
		action = h.base.Path + "/t/" + url.PathEscape(t) + Path
	}
	lang := h.cfg.Pages.Lang(req.UILocales, c.GetHeader("Accept-Language"))
	b := h.branding(c, req)
	h.page(c, http.StatusOK, ui.PageCSP(b), func(w io.Writer) error {
		return h.cfg.Pages.LogoutConfirm(w, ui.LogoutConfirmPage{AppName: appName, Action: action,
			CSRFToken: token, Hidden: hidden, Lang: lang, Branding: b})
	})
}

// branding is the look of the pages of req: its client's organization's, else the default one.
func (h *Handler) branding(c *gin.Context, req *op.LogoutRequest) ui.Branding {
	if h.cfg.Branding == nil {
		return ui.Branding{}
	}
	orgID := ""
	if req != nil && req.Client != nil {
		orgID = req.Client.OrgID
	}
	return h.cfg.Branding.Branding(c.Request.Context(), orgID, "")
}

func (h *Handler) csrfOK(c *gin.Context, sent string) bool {
	want, err := c.Cookie(csrfCookieName)
	return err == nil && want != "" && sent != "" && subtle.ConstantTimeCompare([]byte(want), []byte(sent)) == 1
}

// clearCookies expires the SSO cookie (with the attributes authn sets it with) and the CSRF
// cookie.
func (h *Handler) clearCookies(c *gin.Context) {
	secure := h.base.Scheme == "https"
	ss := http.SameSiteLaxMode
	if secure {
		ss = http.SameSiteNoneMode
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: h.cfg.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: ss})
	if _, err := c.Cookie(csrfCookieName); err == nil {
		http.SetCookie(c.Writer, &http.Cookie{Name: csrfCookieName, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	}
}

// direct serves app-native logout (response_mode=direct): a valid id_token_hint is required;
// its session ends; 200 with an empty body.
func (h *Handler) direct(c *gin.Context, params url.Values) {
	ctx := c.Request.Context()
	if c.Request.Method != http.MethodPost || params.Get("id_token_hint") == "" {
		h.directError(c, http.StatusBadRequest, errors.New("app-native logout needs a POST with id_token_hint"))
		return
	}
	req, err := h.cfg.Provider.ValidateLogoutRequest(ctx, op.ParseLogoutParams(params))
	if err != nil {
		status := http.StatusBadRequest
		if op.ToError(err).Status >= 500 {
			status = http.StatusInternalServerError
		}
		h.directError(c, status, err)
		return
	}
	var target store.SSOSession
	if req.Hint.SessionID != "" {
		s, err := h.cfg.Sessions.SSOSessionByID(ctx, req.Hint.SessionID, h.cfg.Now())
		switch {
		case err == nil && s.Subject == req.Hint.Subject:
			target = s
		case err != nil && !errors.Is(err, store.ErrNotFound):
			h.directError(c, http.StatusInternalServerError, err)
			return
		}
	}
	ended, frames, err := h.endSession(ctx, target)
	if err != nil {
		h.directError(c, http.StatusInternalServerError, err)
		return
	}
	if len(frames) > 0 {
		// No browser page: front-channel participants (OIDC front-channel, WS-Federation, SAML
		// without a back channel) cannot be reached, as in WSO2.
		h.log.InfoContext(ctx, "oidclogout: app-native logout cannot reach front-channel participants",
			"session", ended.ID, "frontchannel", len(frames))
	}
	if cs, ok, _ := h.cookieSession(c); !ok || cs.ID == target.ID {
		h.clearCookies(c)
	}
	h.noStore(c)
	c.Status(http.StatusOK)
}

// directError is the app-native error shape (wso2-wire.md §1.10): ABA-60010 for a bad request,
// ABA-65005 for a server failure.
func (h *Handler) directError(c *gin.Context, status int, cause error) {
	body := map[string]string{"code": "ABA-60010", "message": "Invalid logout request.",
		"description": "Received logout request is invalid.", "traceId": api.RequestID(c.Request.Context())}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		body["code"], body["message"] = "ABA-65005", "Unable to proceed with logout."
		body["description"] = "Server encountered an error while processing the logout request."
	}
	h.log.Log(c.Request.Context(), level, "oidclogout: app-native logout failed", "status", status, "error", cause)
	b, _ := json.Marshal(body)
	h.noStore(c)
	c.Data(status, "application/json", b)
}

// errorPage renders the error page; the cause is logged, never shown.
func (h *Handler) errorPage(c *gin.Context, status int, uiLocales string, cause error) {
	ctx := c.Request.Context()
	level := slog.LevelInfo
	kind := ui.ErrorInvalidRequest
	if status >= 500 {
		level, kind = slog.LevelError, ui.ErrorGeneric
	}
	h.log.Log(ctx, level, "oidclogout: logout request failed", "status", status, "error", cause)
	p := ui.ErrorPage{Kind: kind, Lang: h.cfg.Pages.Lang(uiLocales, c.GetHeader("Accept-Language")), TraceID: api.RequestID(ctx)}
	p.Branding = h.branding(c, nil)
	h.page(c, status, ui.PageCSP(p.Branding), func(w io.Writer) error { return h.cfg.Pages.Error(w, p) })
}

// page writes a rendered page with the security headers and the given CSP.
func (h *Handler) page(c *gin.Context, status int, csp string, render func(io.Writer) error) {
	var buf bytes.Buffer
	h.noStore(c)
	hd := c.Writer.Header()
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if err := render(&buf); err != nil {
		h.log.ErrorContext(c.Request.Context(), "oidclogout: render page", "error", err)
		hd.Set("Content-Security-Policy", ui.PageCSP(ui.Branding{}))
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
		return
	}
	hd.Set("Content-Security-Policy", csp)
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (h *Handler) noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

// frameCSP is the page policy with frame-src allowing the frames' origins (and nothing when
// there are none).
func frameCSP(b ui.Branding, frames []string) string {
	var origins []string
	for _, f := range frames {
		u, err := url.Parse(f)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		o := u.Scheme + "://" + u.Host
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		return ui.PageCSP(b) + "; frame-src 'none'"
	}
	return ui.PageCSP(b) + "; frame-src " + strings.Join(origins, " ")
}
