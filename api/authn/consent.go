package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// Consent (WSO2's OIDC user consent, Keycloak's consentRequired). After a successful browser
// login for an OAuth2 client without SkipConsent, the user is asked to approve the requested
// scopes unless an earlier grant covers them all (openid alone needs no consent) — or always
// with prompt=consent. prompt=none cannot ask: it answers consent_required. App-native logins
// never ask, as in WSO2. The login workflow has ended by then, so what issuing needs (the
// request, the authenticated user) waits in a browser interaction until the form comes back:
//
//	finished login ─► issue ─► needConsent? ─no─► CompleteAuthorization ─► client
//	                                  │yes
//	                                  ├─ prompt=none ─► consent_required to the client
//	                                  └─ interaction + CSRF cookie ─► consent page (200)
//	POST PathConsent {sessionDataKeyConsent, csrf_token, consent}
//	  ├─ approve ─► GrantConsent (union) ─► CompleteAuthorization ─► client
//	  └─ deny    ─► access_denied to the client (with state)

// PathConsent is where the consent page posts its answer.
const PathConsent = "/authenticationendpoint/consent"

// PathSelectAccount is where the account chooser posts its answer.
const PathSelectAccount = "/authenticationendpoint/select-account"

// fieldInteraction carries a browser interaction's id (WSO2's name on its consent page).
const fieldInteraction = "sessionDataKeyConsent"

// Interaction kinds.
const (
	interactionConsent       = "consent"
	interactionSelectAccount = "select_account"
)

// DefaultInteractionTimeout bounds how long a consent page or account chooser waits.
const DefaultInteractionTimeout = 10 * time.Minute

// Consents keeps per-user consent; *store.Store implements it.
type Consents interface {
	// Consent returns what subject granted clientID, or store.ErrNotFound.
	Consent(ctx context.Context, orgID, subject, clientID string) (store.Consent, error)
	// GrantConsent widens the grant of c.Subject to c.ClientID by c.Scopes.
	GrantConsent(ctx context.Context, c store.Consent, now time.Time) (store.Consent, error)
}

// Interactions keeps the browser pages waiting for an answer; *store.Store implements it.
type Interactions interface {
	// CreateBrowserInteraction stores i and returns its id.
	CreateBrowserInteraction(ctx context.Context, i store.BrowserInteraction) (string, error)
	// TakeBrowserInteraction returns and deletes a live interaction (store.ErrNotFound if none).
	TakeBrowserInteraction(ctx context.Context, id, kind string, now time.Time) (store.BrowserInteraction, error)
}

// consentState is what the consent page's answer needs.
type consentState struct {
	Request       *op.AuthorizeRequest `json:"request"`
	Authenticated op.Authenticated     `json:"authenticated"`
	// UserID is the local user ("" for a federated subject).
	UserID        string `json:"userId,omitempty"`
	OrgID         string `json:"orgId,omitempty"`
	ApplicationID string `json:"applicationId,omitempty"`
}

// consentScopes are the scopes a user is asked about: the granted ones but openid, which
// signing in implies.
func consentScopes(req *op.AuthorizeRequest) []string {
	return slices.DeleteFunc(slices.Clone(req.Scopes), func(s string) bool { return s == op.ScopeOpenID })
}

// needConsent reports whether the user must be asked before the client gets its response.
func (h *Handler) needConsent(ctx context.Context, req *op.AuthorizeRequest, subject string) (bool, error) {
	if h.cfg.Consents == nil || req.SkipConsent {
		return false, nil
	}
	if req.HasPrompt(op.PromptConsent) {
		return true, nil
	}
	want := consentScopes(req)
	if len(want) == 0 {
		return false, nil
	}
	g, err := h.cfg.Consents.Consent(ctx, req.OrgID, subject, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("consent of %s: %w", req.ClientID, err)
	}
	for _, s := range want {
		if !slices.Contains(g.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// authorizeOrAsk issues the response to the client, or first shows the consent page.
func (h *Handler) authorizeOrAsk(c *gin.Context, cs consentState) {
	ctx := c.Request.Context()
	req := cs.Request
	need, err := h.needConsent(ctx, req, cs.Authenticated.Subject)
	if err != nil {
		h.log.ErrorContext(ctx, "authn: reading the consent failed", "error", err)
		oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req, err))
		return
	}
	if !need {
		h.authorize(c, req, cs.Authenticated)
		return
	}
	if req.HasPrompt(op.PromptNone) {
		// OpenID Connect Core §3.1.2.6.
		oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req,
			&op.Error{Code: "consent_required", Description: "The user has not consented to the requested scopes.", Status: http.StatusBadRequest}))
		return
	}
	id, token, ok := h.newInteraction(c, interactionConsent, cs)
	if !ok {
		return
	}
	page := ui.ConsentPage{AppName: req.ClientName, Scopes: req.Scopes, Action: h.base.Path + PathConsent,
		CSRFToken: token, Hidden: map[string]string{fieldInteraction: id}, Lang: h.lang(c, req),
		Branding: h.branding(c, cs.OrgID, cs.ApplicationID)}
	h.page(c, http.StatusOK, func(w io.Writer) error { return h.cfg.UI.Consent(w, page) })
}

// authorize issues the authorization response for the authenticated user.
func (h *Handler) authorize(c *gin.Context, req *op.AuthorizeRequest, a op.Authenticated) {
	ctx := c.Request.Context()
	resp, err := h.cfg.Provider.CompleteAuthorization(ctx, req, a)
	if err != nil {
		if rerr, ok := errors.AsType[*op.RedirectError](err); ok {
			oauth2.WriteAuthorizeResponse(c.Writer, rerr.Response)
			return
		}
		h.log.ErrorContext(ctx, "authn: issuing the code failed", "error", err)
		oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req, err))
		return
	}
	oauth2.WriteAuthorizeResponse(c.Writer, resp)
}

// ConsentSubmit serves POST PathConsent: the consent page's answer.
func (h *Handler) ConsentSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	var cs consentState
	form, ok := h.takeInteraction(c, interactionConsent, &cs)
	if !ok {
		return
	}
	req := cs.Request
	if req == nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, errors.New("consent interaction without a request"))
		return
	}
	switch form.Get(ui.FieldConsent) {
	case ui.ConsentApprove:
		if _, err := h.cfg.Consents.GrantConsent(ctx, store.Consent{OrgID: req.OrgID, Subject: cs.Authenticated.Subject,
			UserID: cs.UserID, ClientID: req.ClientID, Scopes: req.Scopes}, h.cfg.Now()); err != nil {
			h.log.ErrorContext(ctx, "authn: storing the consent failed", "error", err)
			oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req, err))
			return
		}
		h.authorize(c, req, cs.Authenticated)
	case ui.ConsentDeny:
		oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req,
			&op.Error{Code: "access_denied", Description: "The user denied the request.", Status: http.StatusBadRequest}))
	default:
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest, Branding: h.branding(c, cs.OrgID, cs.ApplicationID)},
			errors.New("consent form without an answer"))
	}
}

// newInteraction stores data for a page that waits for an answer and sets its CSRF cookie; it
// returns the interaction id and the token the form must repeat. On failure it has answered.
func (h *Handler) newInteraction(c *gin.Context, kind string, data any) (id, token string, ok bool) {
	ctx := c.Request.Context()
	raw, err := json.Marshal(data)
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return "", "", false
	}
	token = rand.Text()
	sum := sha256.Sum256([]byte(token))
	id, err = h.cfg.Interactions.CreateBrowserInteraction(ctx, store.BrowserInteraction{Kind: kind, CSRFHash: sum[:],
		Data: raw, ExpiresAt: h.cfg.Now().Add(DefaultInteractionTimeout)})
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return "", "", false
	}
	http.SetCookie(c.Writer, h.csrfCookie(id, token, int(DefaultInteractionTimeout.Seconds())))
	return id, token, true
}

// takeInteraction checks a posted answer (content type, double-submit CSRF token bound to the
// interaction) and returns its form, with the interaction's data in ptr. The interaction is
// used up. On failure it has answered.
func (h *Handler) takeInteraction(c *gin.Context, kind string, ptr any) (url.Values, bool) {
	r := c.Request
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			fmt.Errorf("%s form content type %q", kind, r.Header.Get("Content-Type")))
		return nil, false
	}
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest}, err)
		return nil, false
	}
	form := r.PostForm
	id := form.Get(fieldInteraction)
	token, ok := h.csrfFromCookie(c, id)
	sent := form.Get(ui.FieldCSRF)
	if id == "" || !ok || sent == "" || subtle.ConstantTimeCompare([]byte(token), []byte(sent)) != 1 {
		h.errorPage(c, http.StatusForbidden, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			fmt.Errorf("%s form CSRF token missing or mismatched", kind))
		return nil, false
	}
	it, err := h.cfg.Interactions.TakeBrowserInteraction(c.Request.Context(), id, kind, h.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorTimeout}, err)
		return nil, false
	}
	if err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return nil, false
	}
	h.clearCSRF(c, id)
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], it.CSRFHash) != 1 {
		h.errorPage(c, http.StatusForbidden, ui.ErrorPage{Kind: ui.ErrorInvalidRequest},
			fmt.Errorf("%s form CSRF token not the interaction's", kind))
		return nil, false
	}
	if err := json.Unmarshal(it.Data, ptr); err != nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, err)
		return nil, false
	}
	return form, true
}
