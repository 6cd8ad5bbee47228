package authn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// Account selection and id_token_hint (OpenID Connect Core §3.1.2.1), decided before the login
// starts:
//
//	prompt=select_account with a live SSO session ─► "Continue as X / Use another account"
//	  POST PathSelectAccount: continue ─► the login with the session (SSO as usual)
//	                          other    ─► the login with forceAuth (every step asked)
//	id_token_hint naming another subject than the SSO session's:
//	  prompt=none ─► login_required to the client; otherwise the login with forceAuth.

// selectState is what the account chooser's answer needs to start the login.
type selectState struct {
	Input flows.LoginInput `json:"input"`
	State *LoginState      `json:"state"`
}

// beforeLogin applies id_token_hint and prompt=select_account to a login about to start. It
// returns false when it has answered the browser itself.
func (h *Handler) beforeLogin(c *gin.Context, in *flows.LoginInput, st *LoginState) bool {
	req := st.OAuth2
	if req.HintSubject == "" && !req.HasPrompt(op.PromptSelectAccount) {
		return true
	}
	session, live := h.liveSession(c, st.OrgID)
	if live {
		// The provider verified the hint; HintSubject is its sub.
		if hint := req.HintSubject; hint != "" && hint != session.Subject {
			if req.HasPrompt(op.PromptNone) {
				// The end-user the client asks about is not the one signed in (§3.1.2.6).
				oauth2.WriteAuthorizeResponse(c.Writer, h.cfg.Provider.ErrorResponse(req, &op.Error{Code: "login_required",
					Description: "The signed-in user is not the id_token_hint's subject.", Status: http.StatusBadRequest}))
				return false
			}
			in.Request.ForceAuth = true
			return true
		}
	}
	if !req.HasPrompt(op.PromptSelectAccount) || in.Request.ForceAuth || !live || h.cfg.Interactions == nil {
		return true
	}
	id, token, ok := h.newInteraction(c, interactionSelectAccount, selectState{Input: *in, State: st})
	if !ok {
		return false
	}
	page := ui.SelectAccountPage{AppName: req.ClientName, Account: accountName(session), Action: h.base.Path + PathSelectAccount,
		CSRFToken: token, Hidden: map[string]string{fieldInteraction: id}, Lang: h.lang(c, req),
		Branding: h.branding(c, st.OrgID, st.ApplicationID)}
	h.page(c, http.StatusOK, func(w io.Writer) error { return h.cfg.UI.SelectAccount(w, page) })
	return false
}

// accountName is how the chooser names the session's user: the username of its latest step.
func accountName(s store.SSOSession) string {
	var steps []flows.AuthenticatedStep
	_ = json.Unmarshal(s.Steps, &steps)
	for i := len(steps) - 1; i >= 0; i-- {
		if u := steps[i].User; u.Username != "" {
			return u.Username
		}
	}
	return s.Subject
}

// SelectAccountSubmit serves POST PathSelectAccount: the account chooser's answer.
func (h *Handler) SelectAccountSubmit(c *gin.Context) {
	var ss selectState
	form, ok := h.takeInteraction(c, interactionSelectAccount, &ss)
	if !ok {
		return
	}
	if ss.State == nil || ss.State.OAuth2 == nil {
		h.errorPage(c, http.StatusInternalServerError, ui.ErrorPage{Kind: ui.ErrorGeneric}, errors.New("account interaction without a request"))
		return
	}
	switch form.Get(ui.FieldAccount) {
	case ui.AccountContinue:
	case ui.AccountOther:
		// A fresh login: the session's steps are not used; a successful login with another
		// user starts a new session.
		ss.Input.Request.ForceAuth = true
	default:
		h.errorPage(c, http.StatusBadRequest, ui.ErrorPage{Kind: ui.ErrorInvalidRequest,
			Branding: h.branding(c, ss.State.OrgID, ss.State.ApplicationID)},
			errors.New("account form without an answer"))
		return
	}
	h.startBrowser(c, ss.Input, ss.State)
}

// Brandings resolves the branding of a page; api/branding's Resolver implements it.
type Brandings interface {
	// Branding returns the branding of applicationID in organization orgID (application over
	// organization over the default); with orgID "", the default organization's.
	Branding(ctx context.Context, orgID, applicationID string) ui.Branding
}

// brandingKey keeps, on the request, the branding of the page it renders: securityHeaders
// allows its logo's and stylesheet's origins.
const brandingKey = "authn.branding"

// branding is the branding of a page, the default look without Config.Branding.
func (h *Handler) branding(c *gin.Context, orgID, applicationID string) ui.Branding {
	if h.cfg.Branding == nil {
		return ui.Branding{}
	}
	b := h.cfg.Branding.Branding(c.Request.Context(), orgID, applicationID)
	c.Set(brandingKey, b)
	return b
}

// lang is the page language of the request: its ui_locales, then the authorization request's
// (req may be nil), then Accept-Language.
func (h *Handler) lang(c *gin.Context, req *op.AuthorizeRequest) string {
	locales := c.Query("ui_locales")
	if locales == "" && req != nil {
		locales = strings.Join(req.UILocales, " ")
	}
	return h.cfg.UI.Lang(locales, c.GetHeader("Accept-Language"))
}
