package saml

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/store"
)

// Request size limits: the base64 (and, for HTTP-Redirect, deflated) message plus RelayState
// and the signature parameters.
const (
	maxQueryBytes = 16 << 10
	maxFormBytes  = MaxMessageBytes*4/3 + 8<<10
	// maxRelayState is generous: saml-bindings §3.4.3 limits senders to 80 bytes, but SPs
	// exceed it and the value is only echoed.
	maxRelayState = 2048
)

// IdP-initiated SSO parameters (WSO2's names).
const (
	paramSPEntityID = "spEntityID"
	paramACS        = "acs"
	paramRelayState = "RelayState"
)

// loginState is what a SAML login carries through the login workflow (as the state of
// BeginBrowserLogin) to CompleteLogin: everything needed to answer the SP, already validated.
type loginState struct {
	Tenant string `json:"tenant"`
	// Prefix is "" or "/t/{tenant}", as the request came in (the IdP entity id depends on it).
	Prefix   string `json:"prefix,omitempty"`
	EntityID string `json:"entityId"`
	// RequestID is the AuthnRequest's ID (InResponseTo); empty for IdP-initiated SSO.
	RequestID string `json:"requestId,omitempty"`
	ACS       string `json:"acs"`
	// Binding is how the Response reaches the ACS: HTTP-POST ("") or HTTP-Artifact.
	Binding    string `json:"binding,omitempty"`
	RelayState string `json:"relayState,omitempty"`
	// ClientIP is the user agent's address when the request came in.
	ClientIP string `json:"clientIp,omitempty"`
	// NameIDFormat is the AuthnRequest's NameIDPolicy Format when it asks for a specific one
	// (it then wins over the SP's configured format, saml-core §3.4.1.1).
	NameIDFormat string `json:"nameIdFormat,omitempty"`
}

// supportedNameIDFormats are the NameID formats the IdP issues (its metadata lists them).
var supportedNameIDFormats = []string{string(crewjam.EmailAddressNameIDFormat), string(crewjam.PersistentNameIDFormat),
	string(crewjam.TransientNameIDFormat), string(crewjam.UnspecifiedNameIDFormat)}

// SSO serves GET and POST /samlsso: an AuthnRequest over HTTP-Redirect (GET with
// SAMLRequest) or HTTP-POST, or IdP-initiated SSO (GET with spEntityID). It is also the
// SingleLogoutService: a LogoutRequest (by its root element) goes to spLogout, a SAMLResponse
// (a participant's LogoutResponse) to logoutResponse, and GET ?slo=true to IdP-initiated
// logout (logout.go).
//
//	parse (size caps, no DTD) ─► crewjam Validate: version, ID, IssueInstant, Destination,
//	  the SP (by Issuer), its signature (query string or enveloped), the ACS
//	─► Keyflow: request age, replayed ID, an unregistered ACS only with a valid signature
//	─► BeginBrowserLogin(LoginInput{Protocol: "saml", ForceAuth, Passive, RequestedACR}, loginState)
//	   … CompleteLogin posts the Response to the ACS.
//
// A request that cannot be tied to a registered SP and ACS gets HTTP 400; one that can gets a
// SAML error Response posted to that ACS (saml-core §3.2.2.2 status codes).
func (h *Handler) SSO(c *gin.Context) {
	r := c.Request
	t, err := h.tenant(c)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown tenant", err)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxQueryBytes {
			h.plainError(c, http.StatusRequestURITooLong, "request too large", errors.New("query too long"))
			return
		}
		q := r.URL.Query()
		switch {
		case q.Has("SAMLResponse"):
			h.logoutResponse(c, t, q.Get("SAMLResponse"), q.Get(paramRelayState), true)
			return
		case q.Get("slo") == "true" && !q.Has("SAMLRequest"):
			h.idpLogout(c, t)
			return
		case isLogoutRequest(q.Get("SAMLRequest"), true):
			h.spLogout(c, t, q.Get("SAMLRequest"), true)
			return
		}
		if !q.Has("SAMLRequest") && q.Has(paramSPEntityID) {
			h.idpInitiated(c, t)
			return
		}
		if !q.Has("SAMLRequest") {
			h.plainError(c, http.StatusBadRequest, "invalid SAML request", errors.New("no SAMLRequest"))
			return
		}
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			h.plainError(c, http.StatusBadRequest, "invalid SAML request", fmt.Errorf("content type %q", r.Header.Get("Content-Type")))
			return
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.plainError(c, http.StatusBadRequest, "invalid SAML request", err)
			return
		}
		switch f := r.PostForm; {
		case f.Has("SAMLResponse"):
			h.logoutResponse(c, t, f.Get("SAMLResponse"), f.Get(paramRelayState), false)
			return
		case isLogoutRequest(f.Get("SAMLRequest"), false):
			h.spLogout(c, t, f.Get("SAMLRequest"), false)
			return
		}
	}
	h.spInitiated(c, t)
}

// spInitiated handles an AuthnRequest.
func (h *Handler) spInitiated(c *gin.Context, t tenant) {
	ctx := c.Request.Context()
	now := h.cfg.Now().UTC()
	idp, look, err := h.idp(ctx, t, now)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	req, err := crewjam.NewIdpAuthnRequest(idp, c.Request)
	if err != nil {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", err)
		return
	}
	if len(req.RequestBuffer) > MaxMessageBytes {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", errors.New("message too large"))
		return
	}
	if err := checkXML(req.RequestBuffer); err != nil {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", err)
		return
	}
	if len(req.RelayState) > maxRelayState {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", errors.New("RelayState too long"))
		return
	}
	err = req.Validate()
	if err != nil && errors.Is(err, crewjam.ErrUnknownAssertionConsumerService) && look.found != nil &&
		requestSigned(req) && req.Request.AssertionConsumerServiceIndex == "" && httpURL(req.Request.AssertionConsumerServiceURL) {
		// An ACS that is not registered is honoured when the request's signature, made with
		// the SP's registered key, covers it (crewjam checked the signature before the ACS).
		err = nil
		req.ACSEndpoint = &crewjam.IndexedEndpoint{Binding: crewjam.HTTPPostBinding, Location: req.Request.AssertionConsumerServiceURL}
	}
	if err == nil && req.Request.IssueInstant.Add(h.cfg.MaxRequestAge+h.cfg.ClockSkew).Before(now) {
		err = fmt.Errorf("request issued at %s: %w", req.Request.IssueInstant, crewjam.ErrExpired)
	}
	binding := ""
	if err == nil && req.ACSEndpoint != nil && (req.ACSEndpoint.Binding == crewjam.HTTPArtifactBinding ||
		req.Request.ProtocolBinding == crewjam.HTTPArtifactBinding) {
		// The SP asked for the artifact binding, or its ACS there is an artifact endpoint.
		binding = crewjam.HTTPArtifactBinding
	}
	if err == nil && (req.ACSEndpoint == nil || (req.ACSEndpoint.Binding != crewjam.HTTPPostBinding && binding == "")) {
		err = fmt.Errorf("ACS binding: %w", errUnsupportedBinding)
	}
	if err == nil {
		err = h.cfg.Store.ConsumeSAMLRequestID(ctx, t.org.ID+" "+req.Request.Issuer.Value, req.Request.ID,
			req.Request.IssueInstant.Add(h.cfg.MaxRequestAge+2*h.cfg.ClockSkew))
		switch {
		case errors.Is(err, store.ErrConflict):
			err = fmt.Errorf("request %q: %w", req.Request.ID, errReplay)
		case err != nil:
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
	}
	if err != nil {
		h.refuse(c, t, req, look.found, err)
		return
	}
	sp := *look.found
	app, err := h.cfg.Store.Application(ctx, sp.ApplicationID)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	st := loginState{Tenant: t.domain, Prefix: t.prefix, EntityID: sp.EntityID, RequestID: req.Request.ID,
		ACS: req.ACSEndpoint.Location, Binding: binding, RelayState: req.RelayState, ClientIP: c.ClientIP()}
	if p := req.Request.NameIDPolicy; p != nil && p.Format != nil && *p.Format != "" &&
		*p.Format != string(crewjam.UnspecifiedNameIDFormat) {
		if !slices.Contains(supportedNameIDFormats, *p.Format) {
			h.log.InfoContext(ctx, "saml: NameIDPolicy format not supported", "sp", sp.EntityID, "format", *p.Format)
			h.sendStatus(c, t, sp, st, crewjam.StatusRequester, crewjam.StatusInvalidNameIDPolicy, "")
			return
		}
		st.NameIDFormat = *p.Format
	}
	lr := flows.LoginRequest{Protocol: ProtocolSAML, ClientID: sp.EntityID, HTTP: scriptRequest(c)}
	if v := req.Request.ForceAuthn; v != nil && *v {
		lr.ForceAuth = true
	}
	if v := req.Request.IsPassive; v != nil && *v {
		lr.Passive = true
	}
	if rac := req.Request.RequestedAuthnContext; rac != nil {
		lr.RequestedACR = slices.Clone(rac.AuthnContextClassRefs)
	}
	if s := req.Request.Subject; s != nil && s.NameID != nil {
		lr.LoginHint = s.NameID.Value
	}
	h.cfg.Logins.BeginBrowserLogin(c, flows.LoginInput{Application: authn.LoginApplication(app, t.domain), Request: lr}, st)
}

// idpInitiated handles GET /samlsso?spEntityID=…[&acs=…][&RelayState=…]: an unsolicited
// Response to a registered ACS of an SP that allows IdP-initiated SSO.
func (h *Handler) idpInitiated(c *gin.Context, t tenant) {
	ctx := c.Request.Context()
	q := c.Request.URL.Query()
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, q.Get(paramSPEntityID))
	if errors.Is(err, store.ErrNotFound) {
		h.plainError(c, http.StatusBadRequest, "unknown service provider", err)
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	if !sp.IdPInitiated {
		h.plainError(c, http.StatusBadRequest, "IdP-initiated SSO not enabled", fmt.Errorf("service provider %s", sp.EntityID))
		return
	}
	acs, ok := acsFor(sp, "", q.Get(paramACS))
	if !ok {
		h.plainError(c, http.StatusBadRequest, "unregistered assertion consumer service", fmt.Errorf("acs %q", q.Get(paramACS)))
		return
	}
	relay := q.Get(paramRelayState)
	if len(relay) > maxRelayState {
		h.plainError(c, http.StatusBadRequest, "invalid request", errors.New("RelayState too long"))
		return
	}
	app, err := h.cfg.Store.Application(ctx, sp.ApplicationID)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	st := loginState{Tenant: t.domain, Prefix: t.prefix, EntityID: sp.EntityID, ACS: acs.URL,
		Binding: postOrArtifact(acs.Binding), RelayState: relay, ClientIP: c.ClientIP()}
	lr := flows.LoginRequest{Protocol: ProtocolSAML, ClientID: sp.EntityID, HTTP: scriptRequest(c)}
	h.cfg.Logins.BeginBrowserLogin(c, flows.LoginInput{Application: authn.LoginApplication(app, t.domain), Request: lr}, st)
}

// Errors found by Keyflow on top of crewjam's validation.
var (
	errReplay             = errors.New("saml: request id already used")
	errUnsupportedBinding = errors.New("saml: unsupported binding")
)

// refuse answers an invalid AuthnRequest: a SAML error Response to the SP's registered ACS
// when the request names a known SP and a registered ACS (or none), HTTP 400 otherwise.
func (h *Handler) refuse(c *gin.Context, t tenant, req *crewjam.IdpAuthnRequest, sp *store.SAMLServiceProvider, cause error) {
	ctx := c.Request.Context()
	if errors.Is(cause, crewjam.ErrMalformedMessage) || req.Request.ID == "" || req.Request.Issuer == nil {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", cause)
		return
	}
	if sp == nil {
		found, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, req.Request.Issuer.Value)
		if err != nil {
			h.plainError(c, http.StatusBadRequest, "invalid SAML request", errors.Join(cause, err))
			return
		}
		sp = &found
	}
	acs, ok := acsFor(*sp, req.Request.AssertionConsumerServiceIndex, req.Request.AssertionConsumerServiceURL)
	if !ok {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", cause)
		return
	}
	h.log.InfoContext(ctx, "saml: AuthnRequest refused", "sp", sp.EntityID, "error", cause)
	second := crewjam.StatusRequestDenied
	top := crewjam.StatusRequester
	switch {
	case errors.Is(cause, errUnsupportedBinding):
		second = crewjam.StatusUnsupportedBinding
	case req.Request.Version != samlVersion:
		top, second = crewjam.StatusVersionMismatch, ""
	case errors.Is(cause, crewjam.ErrUnsupported):
		second = crewjam.StatusRequestUnsupported
	}
	st := loginState{Tenant: t.domain, Prefix: t.prefix, EntityID: sp.EntityID, RequestID: req.Request.ID,
		ACS: acs.URL, Binding: postOrArtifact(acs.Binding), RelayState: req.RelayState}
	h.sendStatus(c, t, *sp, st, top, second, "")
}

// postOrArtifact is loginState.Binding for an ACS binding.
func postOrArtifact(binding string) string {
	if binding == crewjam.HTTPArtifactBinding {
		return binding
	}
	return ""
}

// requestSigned reports whether the AuthnRequest carried a signature (enveloped, or in the
// HTTP-Redirect query). Validate has verified it by the time this matters.
func requestSigned(req *crewjam.IdpAuthnRequest) bool {
	if req.Request.Signature != nil {
		return true
	}
	r := req.HTTPRequest
	return r.Method == http.MethodGet && r.URL.Query().Get("Signature") != ""
}

// scriptRequest is the HTTP request as scripts see it (context.request): the client address,
// a few headers and the non-secret parameters (RelayState, spEntityID; never the message).
func scriptRequest(c *gin.Context) scripting.Request {
	r := scripting.Request{IP: c.ClientIP(), Headers: map[string]string{}}
	for _, k := range []string{"User-Agent", "Accept-Language", "Origin"} {
		if v := c.GetHeader(k); v != "" {
			r.Headers[strings.ToLower(k)] = v
		}
	}
	q := c.Request.URL.Query()
	for _, k := range []string{paramSPEntityID, paramRelayState} {
		if v := q.Get(k); v != "" {
			if r.Params == nil {
				r.Params = map[string][]string{}
			}
			r.Params[k] = []string{v}
		}
	}
	return r
}

// authnInstant is when the user last authenticated in this login: the latest step time, or
// now when the result has none.
func authnInstant(res *flows.Result, now time.Time) time.Time {
	var at time.Time
	for _, s := range res.AuthenticatedSteps {
		if s.At.After(at) {
			at = s.At
		}
	}
	if at.IsZero() || at.After(now) {
		return now
	}
	return at.UTC()
}
