package saml

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

	crewjam "github.com/crewjam/saml"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

var _ authn.Completer = (*Handler)(nil)

// CompleteLogin answers the SP of a finished SAML login (authn.Completer): v is the final
// view (SUCCESS_COMPLETED or FAIL_COMPLETED) and state the JSON of the loginState given to
// BeginBrowserLogin, and sessionID the SSO session (” if none), which becomes the
// assertion's SessionIndex (the flow id when there is no session). Success posts a Response with the assertion to the ACS; failure posts a
// Response with a Responder status (NoPassive for a passive request that needed the user,
// AuthnFailed otherwise) or, for a script's sendError with a URL, redirects there.
func (h *Handler) CompleteLogin(c *gin.Context, v flows.View, state json.RawMessage, sessionID string) {
	ctx := c.Request.Context()
	var st loginState
	if err := json.Unmarshal(state, &st); err != nil || st.EntityID == "" || st.ACS == "" {
		h.plainError(c, http.StatusInternalServerError, "internal error", fmt.Errorf("saml: login %s state: %w", v.FlowID, err))
		return
	}
	t, err := h.tenantByDomain(ctx, st.Tenant, st.Prefix)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, st.EntityID)
	if errors.Is(err, store.ErrNotFound) {
		// Removed while the user was logging in.
		h.plainError(c, http.StatusBadRequest, "unknown service provider", err)
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	switch v.Status {
	case flows.StatusSuccess:
		s, err := successOf(v, sessionID, h.cfg.Now().UTC())
		if err != nil {
			h.sendStatus(c, t, sp, st, crewjam.StatusResponder, "", "")
			h.log.ErrorContext(ctx, "saml: login result unusable", "error", err)
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
		sk, err := h.keys.get(ctx, t.org.ID, h.entityID(t))
		if err != nil {
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
		doc, err := h.buildResponse(t, sk, sp, st, s, crewjam.StatusSuccess, "", "")
		if errors.Is(err, errNameIDUnavailable) {
			h.log.InfoContext(ctx, "saml: no NameID in the format required", "sp", sp.EntityID, "error", err)
			h.sendStatus(c, t, sp, st, crewjam.StatusResponder, crewjam.StatusInvalidNameIDPolicy, "")
			return
		}
		if err != nil {
			h.log.ErrorContext(ctx, "saml: building the response failed", "sp", sp.EntityID, "error", err)
			h.sendStatus(c, t, sp, st, crewjam.StatusResponder, "", "")
			return
		}
		h.recordParticipant(ctx, sessionID, sp, s)
		h.post(c, t, st, doc)
	case flows.StatusFailed:
		fe := v.Error
		if fe == nil && v.Result != nil {
			fe = v.Result.Error
		}
		if fe != nil && fe.Kind == flows.ErrorSendError && fe.RedirectURL != "" {
			h.sendErrorRedirect(c, fe)
			return
		}
		top, second, msg := failureStatus(fe)
		h.sendStatus(c, t, sp, st, top, second, msg)
	default:
		h.plainError(c, http.StatusInternalServerError, "internal error", fmt.Errorf("saml: login %s is not final (%s)", v.FlowID, v.Status))
	}
}

// failureStatus maps a failed login to SAML status codes (saml-core §3.2.2.2).
func failureStatus(fe *flows.FlowError) (top, second, message string) {
	if fe == nil {
		return crewjam.StatusResponder, crewjam.StatusAuthnFailed, ""
	}
	switch {
	case fe.Kind == flows.ErrorProtocol && (fe.ErrorCode == "login_required" || fe.ErrorCode == "interaction_required"):
		return crewjam.StatusResponder, crewjam.StatusNoPassive, fe.ErrorMessage
	case fe.Kind == flows.ErrorProtocol:
		return crewjam.StatusResponder, crewjam.StatusRequestDenied, fe.ErrorMessage
	case fe.Kind == flows.ErrorServer:
		return crewjam.StatusResponder, "", ""
	default:
		return crewjam.StatusResponder, crewjam.StatusAuthnFailed, ""
	}
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

// sendStatus posts a signed error Response to the ACS in st.
func (h *Handler) sendStatus(c *gin.Context, t tenant, sp store.SAMLServiceProvider, st loginState, top, second, msg string) {
	ctx := c.Request.Context()
	sk, err := h.keys.get(ctx, t.org.ID, h.entityID(t))
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	doc, err := h.buildResponse(t, sk, sp, st, nil, top, second, msg)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	h.post(c, t, st, doc)
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
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
<script>` + postScript + `</script>
</body></html>
`))
)

// post sends the Response doc to the ACS: with the HTTP-POST binding (saml-bindings §3.5.4),
// an auto-submitting form carrying the base64 Response and the RelayState; with
// HTTP-Artifact (§3.6), a redirect carrying an artifact the SP resolves at
// PathArtifactResolve.
func (h *Handler) post(c *gin.Context, t tenant, st loginState, doc []byte) {
	if st.Binding == crewjam.HTTPArtifactBinding {
		h.sendArtifact(c, t, st, doc)
		return
	}
	var b strings.Builder
	err := postForm.Execute(&b, map[string]string{"URL": st.ACS,
		"SAMLResponse": base64.StdEncoding.EncodeToString(doc), "RelayState": st.RelayState})
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	securityHeaders(c)
	c.Header("Content-Security-Policy", "default-src 'none'; script-src "+postScriptHash+"; frame-ancestors 'none'")
	c.Header("X-Frame-Options", "DENY")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(b.String()))
}
