package authn

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// The browser flow (Config.UI set): an authorization request without response_mode=direct
// logs the user in through server-rendered pages on WSO2's login page path.
//
//	GET|POST /oauth2/authorize (browser)
//	  ├─ op.ValidateAuthorizeRequest: *op.Error ─► error page 400 (never a redirect, RFC 6749 §4.1.2.1)
//	  │                               *op.RedirectError ─► its response to the client
//	  └─ flows.StartLoginWithState ─► CSRF cookie, 303 GET /authenticationendpoint/login?flowId=…
//	GET  /authenticationendpoint/login?flowId=… (or sessionDataKey=…) ─► the current view
//	POST /authenticationendpoint/login (CSRF checked, 403 on mismatch)
//	  └─ flows.SubmitLogin ─► next view (200) | code to the client | sendError redirect |
//	                          protocol error to the client | error page
//
// The CSRF token is a double-submit token bound to the flow: the cookie's name is derived from
// the flowId and its value must equal the form's csrf_token. The cookie is also what ties the
// login to the browser that started it, so the login page refuses requests without it.

// PathLogin is WSO2's login page path (authenticationendpoint/login.do's stand-in).
const PathLogin = "/authenticationendpoint/login"

// ProtocolOIDC is flows.LoginRequest.Protocol for browser logins started here.
const ProtocolOIDC = "oidc"

// DefaultUIAssetsPath is ui.Config's default AssetsPath.
const DefaultUIAssetsPath = "/ui/assets"

// loginQuerySessionDataKey is WSO2's name for the flow id on the login page.
const loginQuerySessionDataKey = "sessionDataKey"

// csrfCookiePrefix starts the name of a flow's CSRF cookie.
const csrfCookiePrefix = "kf_csrf_"

// registerBrowser mounts the login page and the UI assets.
func (h *Handler) registerBrowser(r gin.IRouter) {
	if h.cfg.UI == nil {
		return
	}
	r.GET(PathLogin, h.LoginPage)
	r.POST(PathLogin, h.LoginSubmit)
	r.GET(PathCommonAuth, h.ExternalReturn)
	if h.cfg.Interactions != nil {
		r.POST(PathConsent, h.ConsentSubmit)
		r.POST(PathSelectAccount, h.SelectAccountSubmit)
	}
	assets := http.StripPrefix(h.cfg.UIAssetsPath, h.cfg.UI.Assets())
	r.GET(h.cfg.UIAssetsPath+"/*file", gin.WrapH(assets))
	r.HEAD(h.cfg.UIAssetsPath+"/*file", gin.WrapH(assets))
}

// browserAuthorize starts a browser login for a validated authorization request.
func (h *Handler) browserAuthorize(c *gin.Context, form url.Values) {
	ctx := c.Request.Context()
	req, err := h.cfg.Provider.ValidateAuthorizeRequest(ctx, op.ParseAuthorizeParams(form))
	if err != nil {
		if rerr, ok := errors.AsType[*op.RedirectError](err); ok {
			h.log.InfoContext(ctx, "authn: authorization request refused", "error", err)
			oauth2.WriteAuthorizeResponse(c.Writer, rerr.Response)
			return
		}
		// An unknown client or an unregistered redirect URI: never redirect.
		if e := op.ToError(err); e.Status >= 500 {
			h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
			return
		}
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, err)
		return
	}
	tenant := h.tenant(c)
	app, err := h.cfg.Applications.ApplicationByClientID(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, err)
		return
	}
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	in := flows.LoginInput{
		Application: LoginApplication(app, tenant),
		Request: flows.LoginRequest{
			Protocol: ProtocolOIDC, ClientID: req.ClientID, RequestedACR: req.ACRValues,
			LoginHint: req.LoginHint, Prompt: req.Prompt, MaxAge: req.MaxAge,
			ForceAuth: req.HasPrompt(op.PromptLogin), Passive: req.HasPrompt(op.PromptNone),
			HTTP: ScriptRequest(c, form),
		},
	}
	st := &LoginState{Protocol: ProtocolOIDC, OAuth2: req, OrgID: app.OrgID, ApplicationID: app.ID, RelyingParty: req.ClientID}
	if !h.beforeLogin(c, &in, st) {
		return
	}
	h.startBrowser(c, in, st)
}

// BeginBrowserLogin starts a browser login for another protocol front-end (SAML, WS-Federation):
// in.Request.Protocol must name one of Config.Completers, which answers the relying party when
// the login ends, with the JSON of state. It looks up the browser's SSO session, starts the
// login, sets the CSRF cookie and sends the browser to the login page — or, when the first view
// is already final (every step satisfied by the SSO session, a passive request that needs
// interaction), calls the Completer at once. in.Request.ClientID should name the relying party
// (client id, SP entity id, realm): it becomes an SSO session participant.
func (h *Handler) BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any) {
	if h.cfg.UI == nil {
		h.log.ErrorContext(c.Request.Context(), "authn: a browser login needs Config.UI")
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	if _, ok := h.cfg.Completers[in.Request.Protocol]; !ok {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
			fmt.Errorf("no Completer for protocol %q", in.Request.Protocol))
		return
	}
	data, err := json.Marshal(state)
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	h.startBrowser(c, in, &LoginState{Protocol: in.Request.Protocol, Data: data, OrgID: in.Application.OrgID,
		ApplicationID: in.Application.ID, RelyingParty: in.Request.ClientID})
}

// startBrowser starts a browser login with the browser's SSO session.
func (h *Handler) startBrowser(c *gin.Context, in flows.LoginInput, st *LoginState) {
	ctx := c.Request.Context()
	in.Session = h.ssoSession(c, st.OrgID)
	flowID := h.cfg.NewFlowID()
	v, err := h.cfg.Logins.Start(ctx, in, flowID, st)
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	h.applyResponse(c, v.Response)
	if v.Status.Final() {
		// SSO or prompt=none: nothing to show, answer the relying party now.
		h.finishWith(c, v, st)
		return
	}
	token := rand.Text()
	http.SetCookie(c.Writer, h.csrfCookie(flowID, token, int(flows.LoginExecutionTimeout.Seconds())))
	h.securityHeaders(c)
	c.Redirect(http.StatusSeeOther, h.loginURL(flowID))
}

// LoginPage serves GET /authenticationendpoint/login: the login's current view.
func (h *Handler) LoginPage(c *gin.Context) {
	flowID := c.Query(ui.FieldFlowID)
	if flowID == "" {
		flowID = c.Query(loginQuerySessionDataKey)
	}
	token, ok := h.csrfFromCookie(c, flowID)
	if flowID == "" || !ok {
		h.errorPage(c, http.StatusForbidden, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			errors.New("login page without flowId or its CSRF cookie"))
		return
	}
	if mlt := c.Query(paramMagicLinkToken); mlt != "" {
		h.magicLink(c, flowID, token, mlt)
		return
	}
	h.showCurrent(c, flowID, token)
}

// paramMagicLinkToken is the magic link's token parameter (MagicLinkAuthenticator's "mlt").
const paramMagicLinkToken = "mlt"

// magicLink answers a login waiting for a magic link with the link's token. The link only works
// in the browser that started the login (its CSRF cookie was checked), so a mailed link cannot
// complete somebody else's login in another browser.
func (h *Handler) magicLink(c *gin.Context, flowID, token, mlt string) {
	v, err := h.cfg.Logins.View(c.Request.Context(), flowID)
	if err != nil || v.Step == nil || len(v.Step.Authenticators) != 1 ||
		!slices.Contains(v.Step.Authenticators[0].RequiredParams, paramMagicLinkToken) {
		h.showCurrent(c, flowID, token)
		return
	}
	req := ScriptRequest(c, nil)
	h.submit(c, flowID, token, flows.Submission{Seq: v.Seq, Params: map[string]string{paramMagicLinkToken: mlt}, Request: &req})
}

// LoginSubmit serves POST /authenticationendpoint/login: the CSRF check, then the submission.
func (h *Handler) LoginSubmit(c *gin.Context) {
	r := c.Request
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			fmt.Errorf("login form content type %q", r.Header.Get("Content-Type")))
		return
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, err)
		return
	}
	form := r.PostForm
	flowID := form.Get(ui.FieldFlowID)
	token, ok := h.csrfFromCookie(c, flowID)
	sent := form.Get(ui.FieldCSRF)
	if flowID == "" || !ok || sent == "" || subtle.ConstantTimeCompare([]byte(token), []byte(sent)) != 1 {
		h.errorPage(c, http.StatusForbidden, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			errors.New("login form CSRF token missing or mismatched"))
		return
	}
	seq, err := strconv.Atoi(form.Get(ui.FieldSeq))
	if err != nil {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, fmt.Errorf("login form seq: %w", err))
		return
	}
	h.submit(c, flowID, token, submission(form, seq, ScriptRequest(c, nil)))
}

// submit answers the current view with sub and shows what follows.
func (h *Handler) submit(c *gin.Context, flowID, token string, sub flows.Submission) {
	v, err := h.cfg.Logins.Submit(c.Request.Context(), flowID, sub)
	switch {
	case errors.Is(err, flows.ErrStale), errors.Is(err, flows.ErrConcurrent):
		// A double click or a back-button form: show what is current now.
		h.showCurrent(c, flowID, token)
		return
	case errors.Is(err, flows.ErrLoginNotFound), errors.Is(err, flows.ErrEnded):
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorTimeout}, err)
		return
	case errors.Is(err, flows.ErrInvalidSubmission):
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, err)
		return
	case err != nil:
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	h.finish(c, v, token)
}

// submission maps the login form to a flows.Submission: every field that is not one of the
// page's own is an authenticator or prompt param.
func submission(form url.Values, seq int, req scripting.Request) flows.Submission {
	sub := flows.Submission{Seq: seq, AuthenticatorID: form.Get(ui.FieldAuthenticatorID),
		Action: form.Get(ui.FieldAction), Abort: form.Get(ui.FieldAbort) == "1"}
	for k, vs := range form {
		switch k {
		case ui.FieldFlowID, ui.FieldSeq, ui.FieldCSRF, ui.FieldAuthenticatorID, ui.FieldAction, ui.FieldAbort:
			continue
		}
		if len(vs) == 0 {
			continue
		}
		if sub.Params == nil {
			sub.Params = map[string]string{}
		}
		sub.Params[k] = vs[0]
	}
	sub.Request = &req
	return sub
}

// showCurrent renders the login's current view.
func (h *Handler) showCurrent(c *gin.Context, flowID, token string) {
	v, err := h.cfg.Logins.View(c.Request.Context(), flowID)
	if errors.Is(err, flows.ErrLoginNotFound) {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorTimeout}, err)
		return
	}
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return
	}
	h.finish(c, v, token)
}

// finish answers a view in the browser: a step to show, or the end of the login.
func (h *Handler) finish(c *gin.Context, v flows.View, token string) {
	h.applyResponse(c, v.Response)
	switch v.Status {
	case flows.StatusIncomplete, flows.StatusFailIncomplete:
		h.showView(c, v, token)
	case flows.StatusSuccess, flows.StatusFailed:
		h.clearCSRF(c, v.FlowID)
		st, err := h.cfg.Logins.State(c.Request.Context(), v.FlowID)
		if err != nil {
			h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
			return
		}
		h.finishWith(c, v, st)
	default:
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
			fmt.Errorf("unknown flow status %q", v.Status))
	}
}

// finishWith answers the relying party of an ended login whose front-end state is st.
func (h *Handler) finishWith(c *gin.Context, v flows.View, st *LoginState) {
	completer := h.cfg.Completers[st.Protocol]
	if v.Status != flows.StatusSuccess {
		h.failed(c, v, st, completer)
		return
	}
	if v.Result == nil || v.Result.Subject == nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
			fmt.Errorf("flow %s succeeded without a subject", v.FlowID))
		return
	}
	sessionID := h.saveSession(c, v, st)
	if completer != nil {
		completer.CompleteLogin(c, v, st.Data, sessionID)
		return
	}
	h.issue(c, v, st, sessionID)
}

// failed answers a failed login: sendError's redirect, the relying party for protocol errors
// (RFC 6749 §4.1.2.1; a Completer for other protocols), the error page otherwise.
func (h *Handler) failed(c *gin.Context, v flows.View, st *LoginState, completer Completer) {
	fe := v.Error
	if fe == nil && v.Result != nil {
		fe = v.Result.Error
	}
	switch {
	case fe == nil:
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
			fmt.Errorf("flow %s failed without an error", v.FlowID))
	case fe.Kind == flows.ErrorSendError && fe.RedirectURL != "":
		u, err := url.Parse(fe.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http" && !(u.Scheme == "" && u.Host == "")) {
			h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
				fmt.Errorf("sendError redirect URL %q unusable", fe.RedirectURL))
			return
		}
		q := u.Query()
		for k, val := range fe.Params {
			q.Set(k, val)
		}
		u.RawQuery = q.Encode()
		h.securityHeaders(c)
		c.Redirect(http.StatusFound, u.String())
	case fe.Kind == flows.ErrorProtocol && completer != nil:
		completer.CompleteLogin(c, v, st.Data, "")
	case fe.Kind == flows.ErrorProtocol && st.OAuth2 != nil:
		code := fe.ErrorCode
		if code == "" {
			code = "access_denied"
		}
		oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(st.OAuth2,
			&op.Error{Code: code, Description: fe.ErrorMessage, Status: http.StatusBadRequest}))
	default:
		status := http.StatusBadRequest
		if fe.Kind == flows.ErrorServer {
			status = http.StatusInternalServerError
		}
		p := ui.ErrorPageFor(fe)
		p.Branding = h.branding(c, st.OrgID, st.ApplicationID)
		h.errorPage(c, status, p, fmt.Errorf("login %s failed: %s %s", v.FlowID, fe.Kind, fe.Code))
	}
}

// issue answers the client of a successful OIDC login with its authorization response.
func (h *Handler) issue(c *gin.Context, v flows.View, st *LoginState, sessionID string) {
	ctx := c.Request.Context()
	req := st.OAuth2
	if req == nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
			fmt.Errorf("flow %s: login state holds no authorization request", v.FlowID))
		return
	}
	if sessionID == "" {
		sessionID = v.FlowID
	}
	a, err := h.authenticated(ctx, v.Result, sessionID)
	if err != nil {
		h.log.ErrorContext(ctx, "authn: loading the subject's claims failed", "error", err)
		oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req, err))
		return
	}
	cs := consentState{Request: req, Authenticated: a, OrgID: st.OrgID, ApplicationID: st.ApplicationID}
	if !v.Result.Subject.Federated() {
		cs.UserID = v.Result.Subject.ID
	}
	h.authorizeOrAsk(c, cs)
}

// PathCommonAuth is where an external page sends the browser back after a script's
// externalRedirect prompt (WSO2's /commonauth), with sessionDataKey and its own parameters.
const PathCommonAuth = "/commonauth"

// promptExternalRedirect is the prompt template that sends the browser to data.redirectURL.
const promptExternalRedirect = "externalRedirect"

// ExternalReturn serves GET /commonauth?sessionDataKey=…&…: the browser comes back from the page
// of an externalRedirect prompt. Its query parameters answer the prompt (onSuccess, or on<Action>
// for action.<name>; the script reads them in context.request.params). Only the browser that
// started the login may come back (its CSRF cookie), and only to a login waiting on such a prompt.
func (h *Handler) ExternalReturn(c *gin.Context) {
	q := c.Request.URL.Query()
	flowID := q.Get(loginQuerySessionDataKey)
	token, ok := h.csrfFromCookie(c, flowID)
	if !ok {
		h.errorPage(c, http.StatusForbidden, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			errors.New("external return without sessionDataKey or its CSRF cookie"))
		return
	}
	v, err := h.cfg.Logins.View(c.Request.Context(), flowID)
	if err != nil || v.Prompt == nil || v.Prompt.Template != promptExternalRedirect {
		h.showCurrent(c, flowID, token)
		return
	}
	sub := flows.Submission{Seq: v.Seq}
	for k, vs := range q {
		if k == loginQuerySessionDataKey || len(vs) == 0 {
			continue
		}
		if name, ok := strings.CutPrefix(k, "action."); ok && sub.Action == "" {
			sub.Action = name
			continue
		}
		if sub.Params == nil {
			sub.Params = map[string]string{}
		}
		sub.Params[k] = vs[0]
	}
	req := ScriptRequest(c, q)
	sub.Request = &req
	h.submit(c, flowID, token, sub)
}

// externalRedirect sends the browser to an externalRedirect prompt's redirectURL.
func (h *Handler) externalRedirect(c *gin.Context, v flows.View) {
	var data struct {
		RedirectURL string `json:"redirectURL"`
	}
	_ = json.Unmarshal(v.Prompt.Data, &data)
	u, err := url.Parse(data.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric},
			fmt.Errorf("login %s: externalRedirect prompt without an absolute http(s) redirectURL", v.FlowID))
		return
	}
	h.securityHeaders(c)
	c.Redirect(http.StatusSeeOther, u.String())
}

// showView renders a step or prompt.
func (h *Handler) showView(c *gin.Context, v flows.View, token string) {
	if v.Prompt != nil && v.Prompt.Template == promptExternalRedirect {
		h.externalRedirect(c, v)
		return
	}
	ctx := c.Request.Context()
	lang := h.cfg.UI.Lang(c.Query("ui_locales"), c.GetHeader("Accept-Language"))
	page := ui.LoginPage{View: v, Action: h.base.Path + PathLogin, CSRFToken: token, Lang: lang,
		SwitchURL: h.loginURL(v.FlowID)}
	if st, err := h.cfg.Logins.State(ctx, v.FlowID); err == nil {
		if st.OAuth2 != nil {
			page.AppName = st.OAuth2.ClientName
		}
		page.Branding = h.branding(c, st.OrgID, st.ApplicationID)
	}
	h.page(c, http.StatusOK, func(w io.Writer) error { return h.cfg.UI.Login(w, page) })
}

// errorPage renders the error page; cause is logged, never shown.
func (h *Handler) errorPage(c *gin.Context, status int, p ui.ErrorPage, cause error) {
	ctx := c.Request.Context()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(ctx, level, "authn: browser request failed", "path", c.FullPath(), "status", status, "error", cause)
	p.Lang = h.lang(c, nil)
	if p.Branding == (ui.Branding{}) {
		p.Branding = h.branding(c, "", "")
	}
	p.TraceID = api.RequestID(ctx)
	h.page(c, status, func(w io.Writer) error { return h.cfg.UI.Error(w, p) })
}

// page writes a rendered page with the security headers.
func (h *Handler) page(c *gin.Context, status int, render func(io.Writer) error) {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		h.log.ErrorContext(c.Request.Context(), "authn: render page", "error", err)
		h.securityHeaders(c)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
		return
	}
	h.securityHeaders(c)
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

func (h *Handler) securityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	// Our own assets only (no inline script, no framing: clickjacking of the login form), plus
	// the origins of the page's branding logo and stylesheet.
	b, _ := c.Get(brandingKey)
	brand, _ := b.(ui.Branding)
	hd.Set("Content-Security-Policy", ui.PageCSP(brand))
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
}

// loginURL is the login page of flowID.
func (h *Handler) loginURL(flowID string) string {
	return h.base.Path + PathLogin + "?" + url.Values{ui.FieldFlowID: {flowID}}.Encode()
}

// csrfCookieName derives a cookie name from the flowId (whatever characters it has), so
// logins in several tabs keep their own tokens.
func csrfCookieName(flowID string) string {
	sum := sha256.Sum256([]byte(flowID))
	return csrfCookiePrefix + hex.EncodeToString(sum[:12])
}

func (h *Handler) csrfCookie(flowID, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: csrfCookieName(flowID), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.base.Scheme == "https", SameSite: http.SameSiteLaxMode}
}

func (h *Handler) csrfFromCookie(c *gin.Context, flowID string) (string, bool) {
	if flowID == "" {
		return "", false
	}
	v, err := c.Cookie(csrfCookieName(flowID))
	return v, err == nil && v != ""
}

// clearCSRF drops the cookie of an ended login.
func (h *Handler) clearCSRF(c *gin.Context, flowID string) {
	http.SetCookie(c.Writer, h.csrfCookie(flowID, "", -1))
}
