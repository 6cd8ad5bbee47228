package wsfed

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

var _ authn.Completer = (*Handler)(nil)

// CompleteLogin answers the relying party of a finished WS-Federation login (authn.Completer):
// v is the final view, state the JSON of the loginState given to BeginBrowserLogin, sessionID
// the SSO session (” if none, then the flow id stands in for the SessionIndex). Success posts
// wa=wsignin1.0, wresult (the RSTR with the signed token) and wctx to the reply URL with an
// auto-submitting form. WS-Federation has no error response: a failed login ends on an error
// page here, or follows a script's sendError redirect.
func (h *Handler) CompleteLogin(c *gin.Context, v flows.View, state json.RawMessage, sessionID string) {
	ctx := c.Request.Context()
	var st loginState
	if err := json.Unmarshal(state, &st); err != nil || st.Realm == "" || st.Reply == "" {
		h.plainError(c, http.StatusInternalServerError, "internal error", fmt.Errorf("wsfed: login %s state unusable (%w)", v.FlowID, err))
		return
	}
	t, err := h.tenantByDomain(ctx, st.Tenant, st.Prefix)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	rp, err := h.cfg.Store.WSFedRelyingPartyByRealm(ctx, t.org.ID, st.Realm)
	if errors.Is(err, store.ErrNotFound) {
		// Removed while the user was logging in.
		h.plainError(c, http.StatusBadRequest, "unknown relying party", err)
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	if !registered(rp, st.Reply) {
		// The reply URL was unregistered while the user was logging in.
		h.plainError(c, http.StatusBadRequest, "unregistered reply URL", fmt.Errorf("realm %q: reply %q", rp.Realm, st.Reply))
		return
	}
	switch v.Status {
	case flows.StatusSuccess:
	case flows.StatusFailed:
		fe := v.Error
		if fe == nil && v.Result != nil {
			fe = v.Result.Error
		}
		if fe != nil && fe.Kind == flows.ErrorSendError && fe.RedirectURL != "" {
			h.sendErrorRedirect(c, fe)
			return
		}
		h.plainError(c, http.StatusForbidden, "sign-in failed", fmt.Errorf("login %s failed: %+v", v.FlowID, fe))
		return
	default:
		h.plainError(c, http.StatusInternalServerError, "internal error", fmt.Errorf("wsfed: login %s is not final (%s)", v.FlowID, v.Status))
		return
	}
	now := h.cfg.Now().UTC()
	s, err := successOf(v, sessionID, now)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	if u := s.subject; !u.Federated() && u.ID != "" {
		// A local user's stored claims, under what the login set (runtime claims win).
		stored, err := h.cfg.Store.UserClaims(ctx, u.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
		for k, val := range stored {
			if _, ok := s.claims[k]; !ok {
				s.claims[k] = val
			}
		}
	}
	doc, err := h.response(c, t, rp, st, s, now)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	h.post(c, st, doc)
}

// response builds the wresult for a successful login: the RSTR with the signed token of the
// relying party's type.
func (h *Handler) response(c *gin.Context, t tenant, rp store.WSFedRelyingParty, st loginState, s *success, now time.Time) ([]byte, error) {
	key, cert, err := h.cfg.Keys.SigningKey(c.Request.Context(), t.org.ID, t.domain)
	if err != nil {
		return nil, err
	}
	tk := token{issuer: h.stsURL(t), realm: rp.Realm, tokenType: rp.TokenType, id: h.cfg.NewID(),
		now: now, until: now.Add(h.cfg.TokenLifetime)}
	var assertion *etree.Element
	switch rp.TokenType {
	case store.WSFedTokenSAML20:
		sctx, err := signingContext(key, cert, "ID")
		if err != nil {
			return nil, err
		}
		assertion, err = saml20Assertion(tk, rp, s, st.Reply, sctx)
		if err != nil {
			return nil, err
		}
	default:
		tk.tokenType = store.WSFedTokenSAML11
		sctx, err := signingContext(key, cert, assertionIDAttr)
		if err != nil {
			return nil, err
		}
		assertion, err = saml11Assertion(tk, rp, s, sctx)
		if err != nil {
			return nil, err
		}
	}
	return rstr(tk, assertion)
}

// successOf extracts what a successful final view asserts.
func successOf(v flows.View, sessionID string, now time.Time) (*success, error) {
	if v.Result == nil || v.Result.Subject == nil {
		return nil, fmt.Errorf("wsfed: flow %s succeeded without a subject", v.FlowID)
	}
	claims := map[string]string{}
	for k, val := range v.Result.Subject.Claims {
		claims[k] = val
	}
	for k, val := range v.Result.Claims {
		claims[k] = val
	}
	if sessionID == "" {
		sessionID = v.FlowID
	}
	var at time.Time
	for _, st := range v.Result.AuthenticatedSteps {
		if st.At.After(at) {
			at = st.At
		}
	}
	if at.IsZero() || at.After(now) {
		at = now
	}
	return &success{subject: *v.Result.Subject, claims: claims, acr: v.Result.ACR,
		authnInstant: at.UTC(), sessionIndex: sessionID}, nil
}

// sendErrorRedirect follows a script's sendError(url, params).
func (h *Handler) sendErrorRedirect(c *gin.Context, fe *flows.FlowError) {
	u, err := url.Parse(fe.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && !(u.Scheme == "" && u.Host == "")) {
		h.plainError(c, http.StatusInternalServerError, "internal error", fmt.Errorf("sendError redirect URL %q unusable", fe.RedirectURL))
		return
	}
	q := u.Query()
	for k, val := range fe.Params {
		q.Set(k, val)
	}
	u.RawQuery = q.Encode()
	securityHeaders(c)
	c.Redirect(http.StatusFound, u.String())
}

// postScript submits the form; the page's CSP allows exactly this script by its hash.
const postScript = `document.forms[0].submit();`

var (
	postScriptHash = func() string {
		sum := sha256.Sum256([]byte(postScript))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
	postForm = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Continue</title></head>
<body>
<form method="post" action="{{.URL}}">
<input type="hidden" name="wa" value="wsignin1.0">
<input type="hidden" name="wresult" value="{{.Result}}">
{{if .Context}}<input type="hidden" name="wctx" value="{{.Context}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
<script>` + postScript + `</script>
</body></html>
`))
)

// post writes the auto-submitting form of WS-Federation 1.2 §13.2.3 to the reply URL.
func (h *Handler) post(c *gin.Context, st loginState, doc []byte) {
	var b strings.Builder
	err := postForm.Execute(&b, map[string]string{"URL": st.Reply, "Result": string(doc), "Context": st.Context})
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	securityHeaders(c)
	c.Header("Content-Security-Policy", "default-src 'none'; script-src "+postScriptHash+"; frame-ancestors 'none'")
	c.Header("X-Frame-Options", "DENY")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(b.String()))
}
