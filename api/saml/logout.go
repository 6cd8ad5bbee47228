package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// Single logout (saml-profiles §4.4). A LogoutRequest from a service provider arrives at the
// SSO endpoint (the SingleLogoutService of the metadata) over HTTP-Redirect or HTTP-POST;
// IdP-initiated logout is a GET of PathLogout (or /samlsso?slo=true). Either way:
//
//	validate (size caps, no DTD; the SP by Issuer; its signature — required when the SP has a
//	  signing certificate or requires signed requests; Destination; age; replayed ID)
//	─► the SSO session: the browser's commonAuthId cookie, else (signed requests only)
//	   SessionIndex, which is the session id Keyflow put in the assertion; the SP must be a
//	   participant, with the NameID it was issued
//	─► TerminateSSOSession; Config.Ended logs the session's OIDC relying parties out (tokens
//	   revoked, back-channel notifications, front-channel URLs for iframes)
//	─► every other SAML participant with a SingleLogoutService, one after the other through
//	   the browser: a signed LogoutRequest posted to it, its LogoutResponse back at the SSO
//	   endpoint (InResponseTo must be the pending request's ID), the next one
//	─► a signed LogoutResponse to the initiating SP: Success, with the second-level status
//	   PartialLogout when a participant failed; or, IdP-initiated, a signed-out page.
//
// The progress is a store row (store.SAMLLogout) found by the pending request's ID; the
// browser also keeps its id in a cookie, so that an SP that never answers does not lose the
// rest: coming back to PathLogout skips it (counted as failed) and carries on.

// logoutCookie holds the id of the browser's logout in progress (path /samlsso, so that both
// PathLogout and /samlsso?slo=true see it).
const logoutCookie = "kf_saml_slo"

// statusPartialLogout is saml-core §3.2.2.2's PartialLogout second-level status.
const statusPartialLogout = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"

// paramLogout names a logout prepared by FrontChannelLogout (its store id: random, and only
// good for walking the browser through the SPs of a session that has already ended).
const paramLogout = "logout"

// paramReturnTo is where IdP-initiated logout ends (WSO2's name); it must be a registered URL
// of spEntityID.
const paramReturnTo = "returnTo"

// participantNameID is the NameID an SP was issued in a session, kept in
// store.SSOParticipant.RPSession so that a LogoutRequest to it can name the principal as it
// knows it (a transient NameID cannot be made again).
type participantNameID struct {
	Format          string `json:"f,omitempty"`
	Value           string `json:"v"`
	NameQualifier   string `json:"nq,omitempty"`
	SPNameQualifier string `json:"spnq,omitempty"`
}

// logoutState is the JSON of store.SAMLLogout.State.
type logoutState struct {
	Tenant    string `json:"tenant"`
	Prefix    string `json:"prefix,omitempty"`
	SessionID string `json:"sessionId"`
	// Initiator is the SP whose LogoutRequest started the logout; nil when IdP-initiated.
	Initiator *logoutInitiator `json:"initiator,omitempty"`
	// ReturnTo ends an IdP-initiated logout (a registered URL), or "".
	ReturnTo string         `json:"returnTo,omitempty"`
	Pending  []logoutTarget `json:"pending,omitempty"`
	// Current is the SP whose LogoutResponse is awaited.
	Current *logoutTarget `json:"current,omitempty"`
	// Failed are the SPs that did not confirm the logout.
	Failed []string `json:"failed,omitempty"`
	// Frames are OIDC front-channel logout URLs not yet shown.
	Frames []string `json:"frames,omitempty"`
}

type logoutInitiator struct {
	EntityID   string `json:"entityId"`
	RequestID  string `json:"requestId"`
	RelayState string `json:"relayState,omitempty"`
}

type logoutTarget struct {
	EntityID string            `json:"entityId"`
	NameID   participantNameID `json:"nameId"`
}

// recordParticipant keeps the NameID issued to sp in session sessionID's participant row.
// Failures are logged: the login has succeeded, only a later logout of that SP is affected.
func (h *Handler) recordParticipant(ctx context.Context, sessionID string, sp store.SAMLServiceProvider, s *success) {
	if sessionID == "" || s.issued == nil {
		return
	}
	b, err := json.Marshal(participantNameID{Format: s.issued.Format, Value: s.issued.Value,
		NameQualifier: s.issued.NameQualifier, SPNameQualifier: s.issued.SPNameQualifier})
	if err == nil {
		err = h.cfg.Store.AddSSOParticipant(ctx, sessionID, store.SSOParticipant{Protocol: ProtocolSAML,
			RelyingParty: sp.EntityID, ApplicationID: sp.ApplicationID, RPSession: string(b)}, h.cfg.Now())
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.ErrorContext(ctx, "saml: recording the session participant failed", "sp", sp.EntityID, "error", err)
	}
}

// isLogoutRequest reports whether the SAMLRequest parameter holds a LogoutRequest (rather
// than an AuthnRequest): its root element, read without parsing the rest.
func isLogoutRequest(param string, deflated bool) bool {
	if param == "" {
		return false
	}
	msg, err := decodeMessage(param, deflated)
	if err != nil {
		return false
	}
	d := xml.NewDecoder(bytes.NewReader(msg))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local == "LogoutRequest"
		}
	}
}

// errUnsignedLogout: the SP must sign its logout messages.
var errUnsignedLogout = errors.New("saml: logout message must be signed")

// spLogout handles a LogoutRequest (param as received, deflated for HTTP-Redirect).
func (h *Handler) spLogout(c *gin.Context, t tenant, param string, redirect bool) {
	ctx := c.Request.Context()
	now := h.cfg.Now().UTC()
	msg, err := decodeMessage(param, redirect)
	if err != nil {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", err)
		return
	}
	lr, err := parseLogoutRequest(msg, now, h.cfg.MaxRequestAge, h.cfg.ClockSkew)
	if err != nil {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", err)
		return
	}
	relay := c.Request.Form.Get(paramRelayState)
	if redirect {
		relay = c.Request.URL.Query().Get(paramRelayState)
	}
	if len(relay) > maxRelayState {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", errors.New("RelayState too long"))
		return
	}
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, lr.Issuer.Value)
	if errors.Is(err, store.ErrNotFound) {
		h.plainError(c, http.StatusBadRequest, "unknown service provider", err)
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	from := &logoutInitiator{EntityID: sp.EntityID, RequestID: lr.ID, RelayState: relay}
	signed := logoutSigned(c, lr, redirect)
	if signed || sp.RequireSignedRequests || len(sp.SigningCertificates) > 0 {
		// crewjam checks the signature (query string or enveloped) with the SP's certificates,
		// the Destination and the age, and reads the request again from what is signed.
		idp, _, err := h.idp(ctx, t, now)
		if err != nil {
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
		req, err := crewjam.NewIdpLogoutRequest(idp, c.Request)
		if err == nil {
			err = req.Validate()
		}
		if err == nil && !signed {
			err = errUnsignedLogout
		}
		if err != nil {
			h.logoutRefused(c, t, sp, from, fmt.Errorf("%w: %w", errUnsignedLogout, err))
			return
		}
		lr = &req.Request
	} else if lr.Destination != "" && lr.Destination != h.ssoURL(t) {
		h.logoutRefused(c, t, sp, from, fmt.Errorf("destination %q", lr.Destination))
		return
	}
	err = h.cfg.Store.ConsumeSAMLRequestID(ctx, t.org.ID+" "+sp.EntityID, lr.ID,
		lr.IssueInstant.Add(h.cfg.MaxRequestAge+2*h.cfg.ClockSkew))
	if errors.Is(err, store.ErrConflict) {
		h.logoutRefused(c, t, sp, from, fmt.Errorf("logout request %q: %w", lr.ID, errReplay))
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	target, err := h.logoutSession(c, t, sp, lr, signed)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	st := &logoutState{Tenant: t.domain, Prefix: t.prefix, Initiator: from}
	h.endAndPropagate(c, t, target, st)
}

// logoutSigned reports whether the logout message carries a signature: in the query string
// (HTTP-Redirect), in the form (SimpleSign) or enveloped.
func logoutSigned(c *gin.Context, lr *crewjam.LogoutRequest, redirect bool) bool {
	if lr.Signature != nil {
		return true
	}
	if redirect {
		return c.Request.URL.Query().Has("Signature")
	}
	return c.Request.PostForm.Has("Signature")
}

// logoutSession finds the session a LogoutRequest ends: the browser's cookie session, or —
// for a signed request only, as the browser may not be the user's — the session its
// SessionIndex names. Either way sp must be a participant, issued the request's NameID. The
// zero session means none.
func (h *Handler) logoutSession(c *gin.Context, t tenant, sp store.SAMLServiceProvider, lr *crewjam.LogoutRequest, signed bool) (store.SSOSession, error) {
	ctx := c.Request.Context()
	now := h.cfg.Now()
	var indexes []string
	for _, si := range lr.AllSessionIndexes() {
		indexes = append(indexes, si.Value)
	}
	nameID := ""
	if lr.NameID != nil {
		nameID = lr.NameID.Value
	}
	matches := func(s store.SSOSession) bool {
		if s.OrgID != t.org.ID || (len(indexes) > 0 && !slices.Contains(indexes, s.ID)) {
			return false
		}
		for _, p := range s.Participants {
			if p.Protocol != ProtocolSAML || p.RelyingParty != sp.EntityID {
				continue
			}
			var issued participantNameID
			if p.RPSession == "" || json.Unmarshal([]byte(p.RPSession), &issued) != nil {
				return true // logged in before NameIDs were recorded
			}
			return issued.Value == nameID
		}
		return false
	}
	cookie, ok, err := h.cookieSession(c, t)
	if err != nil {
		return store.SSOSession{}, err
	}
	if ok && matches(cookie) {
		return cookie, nil
	}
	if !signed {
		return store.SSOSession{}, nil
	}
	for _, id := range indexes {
		s, err := h.cfg.Store.SSOSessionByID(ctx, id, now)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.SSOSession{}, fmt.Errorf("saml: session look-up: %w", err)
		}
		if matches(s) {
			return s, nil
		}
	}
	return store.SSOSession{}, nil
}

// cookieSession returns the browser's live SSO session in t, with its participants.
func (h *Handler) cookieSession(c *gin.Context, t tenant) (store.SSOSession, bool, error) {
	ctx := c.Request.Context()
	token, err := c.Cookie(h.cfg.CookieName)
	if err != nil || token == "" || len(token) > 128 {
		return store.SSOSession{}, false, nil
	}
	sum := sha256.Sum256([]byte(token))
	s, err := h.cfg.Store.SSOSessionByToken(ctx, sum[:], h.cfg.Now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.OrgID != t.org.ID) {
		return store.SSOSession{}, false, nil
	}
	if err == nil {
		s, err = h.cfg.Store.SSOSessionByID(ctx, s.ID, h.cfg.Now())
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.SSOSession{}, false, nil
	}
	if err != nil {
		return store.SSOSession{}, false, fmt.Errorf("saml: session look-up: %w", err)
	}
	return s, true, nil
}

// endAndPropagate ends target (zero: no session), then starts propagating the logout to the
// session's other participants as st describes.
func (h *Handler) endAndPropagate(c *gin.Context, t tenant, target store.SSOSession, st *logoutState) {
	ctx := c.Request.Context()
	if cs, ok, _ := h.cookieSession(c, t); ok && (target.ID == "" || cs.ID == target.ID) {
		h.clearSessionCookie(c)
	}
	if target.ID == "" {
		h.finishLogout(c, t, store.SAMLLogout{}, st)
		return
	}
	var actor store.Actor // the system, for a federated subject without a local user
	if target.UserID != "" {
		actor = store.Actor{Type: store.ActorUser, ID: target.UserID}
	}
	s, err := h.cfg.Store.TerminateSSOSession(ctx, target.ID, "", h.cfg.Now(), actor)
	if errors.Is(err, store.ErrNotFound) {
		h.finishLogout(c, t, store.SAMLLogout{}, st)
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	h.log.InfoContext(ctx, "saml: session ended by single logout", "session", s.ID)
	st.SessionID = s.ID
	if h.cfg.Ended != nil {
		st.Frames = h.cfg.Ended.SessionEnded(ctx, s)
	}
	for _, p := range s.Participants {
		if p.Protocol != ProtocolSAML || (st.Initiator != nil && p.RelyingParty == st.Initiator.EntityID) {
			continue
		}
		var issued participantNameID
		if p.RPSession == "" || json.Unmarshal([]byte(p.RPSession), &issued) != nil || issued.Value == "" {
			// The NameID it knows is not recorded: it cannot be named in a LogoutRequest.
			st.Failed = append(st.Failed, p.RelyingParty)
			continue
		}
		st.Pending = append(st.Pending, logoutTarget{EntityID: p.RelyingParty, NameID: issued})
	}
	// Back-channel (SOAP) participants are told at once, through Config.BackChannel; the
	// browser visits the others.
	var failed []string
	st.Pending, failed = h.backChannelLogout(ctx, t, st.SessionID, st.Pending)
	st.Failed = append(st.Failed, failed...)
	h.nextLogoutStep(c, t, store.SAMLLogout{OrgID: t.org.ID}, st)
}

// nextLogoutStep sends the browser to the next pending participant with a signed
// LogoutRequest, or finishes the logout. l is the store row (ID empty until saved).
func (h *Handler) nextLogoutStep(c *gin.Context, t tenant, l store.SAMLLogout, st *logoutState) {
	ctx := c.Request.Context()
	for len(st.Pending) > 0 {
		tgt := st.Pending[0]
		st.Pending = st.Pending[1:]
		sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, tgt.EntityID)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed since: no one to tell
		}
		if err != nil {
			h.log.ErrorContext(ctx, "saml: logout participant look-up failed", "sp", tgt.EntityID, "error", err)
			st.Failed = append(st.Failed, tgt.EntityID)
			continue
		}
		if !httpURL(sp.SLOURL) {
			continue // no single logout service: nothing to propagate to
		}
		if sp.SLOBinding == store.SAMLBindingSOAP {
			// Switched to the back channel while this logout was under way.
			_, failed := h.backChannelLogout(ctx, t, st.SessionID, []logoutTarget{tgt})
			st.Failed = append(st.Failed, failed...)
			continue
		}
		id := h.cfg.NewID()
		lr := h.logoutRequest(t, sp, tgt, id, st.SessionID)
		msg, err := h.logoutMessage(ctx, t, sp, sp.SLOURL, "SAMLRequest", "",
			func() *etree.Element { return lr.Element() }, func(sig *etree.Element) { lr.Signature = sig })
		if err != nil {
			h.log.ErrorContext(ctx, "saml: building a LogoutRequest failed", "sp", sp.EntityID, "error", err)
			st.Failed = append(st.Failed, tgt.EntityID)
			continue
		}
		st.Current = &tgt
		frames := st.Frames
		st.Frames = nil
		if l, err = h.saveLogout(ctx, l, st, id); err != nil {
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
		http.SetCookie(c.Writer, &http.Cookie{Name: logoutCookie, Value: l.ID, Path: h.base.Path + t.prefix + PathSSO,
			MaxAge: int(h.cfg.LogoutLifetime.Seconds()), HttpOnly: true, Secure: h.base.Scheme == "https", SameSite: http.SameSiteLaxMode})
		h.deliver(c, msg, frames)
		return
	}
	h.finishLogout(c, t, l, st)
}

func (h *Handler) saveLogout(ctx context.Context, l store.SAMLLogout, st *logoutState, pending string) (store.SAMLLogout, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return l, fmt.Errorf("saml: encode logout state: %w", err)
	}
	l.State, l.PendingRequestID = b, pending
	if l.ID == "" {
		l.ExpiresAt = h.cfg.Now().Add(h.cfg.LogoutLifetime)
	}
	return h.cfg.Store.SaveSAMLLogout(ctx, l)
}

// finishLogout answers the initiating SP with a signed LogoutResponse, or ends an
// IdP-initiated logout at returnTo or on a signed-out page, showing the OIDC front-channel
// frames not shown yet.
func (h *Handler) finishLogout(c *gin.Context, t tenant, l store.SAMLLogout, st *logoutState) {
	ctx := c.Request.Context()
	if l.ID != "" {
		if err := h.cfg.Store.DeleteSAMLLogout(ctx, l.ID); err != nil {
			h.log.ErrorContext(ctx, "saml: removing a finished logout failed", "error", err)
		}
		http.SetCookie(c.Writer, &http.Cookie{Name: logoutCookie, Value: "", Path: h.base.Path + t.prefix + PathSSO,
			MaxAge: -1, HttpOnly: true, Secure: h.base.Scheme == "https", SameSite: http.SameSiteLaxMode})
	}
	if len(st.Failed) > 0 {
		h.log.InfoContext(ctx, "saml: single logout partial", "session", st.SessionID, "failed", st.Failed)
	}
	if st.Initiator == nil {
		h.logoutPage(c, logoutPage{Next: st.ReturnTo, Frames: st.Frames})
		return
	}
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, st.Initiator.EntityID)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown service provider", err)
		return
	}
	second := ""
	if len(st.Failed) > 0 {
		second = statusPartialLogout
	}
	h.sendLogoutResponse(c, t, sp, st.Initiator, crewjam.StatusSuccess, second, st.Frames)
}

// logoutRefused answers an invalid LogoutRequest of a known SP: a signed LogoutResponse with
// Requester/RequestDenied to its registered single logout service, or HTTP 400 without one.
// Nothing is ended.
func (h *Handler) logoutRefused(c *gin.Context, t tenant, sp store.SAMLServiceProvider, from *logoutInitiator, cause error) {
	h.log.InfoContext(c.Request.Context(), "saml: LogoutRequest refused", "sp", sp.EntityID, "error", cause)
	if !httpURL(sp.SLOURL) {
		h.plainError(c, http.StatusBadRequest, "invalid SAML request", cause)
		return
	}
	h.sendLogoutResponse(c, t, sp, from, crewjam.StatusRequester, crewjam.StatusRequestDenied, nil)
}

// sendLogoutResponse posts a signed LogoutResponse to sp's single logout service.
func (h *Handler) sendLogoutResponse(c *gin.Context, t tenant, sp store.SAMLServiceProvider, to *logoutInitiator, top, second string, frames []string) {
	ctx := c.Request.Context()
	dest := sp.SLOResponseURL
	if !httpURL(dest) {
		dest = sp.SLOURL
	}
	if !httpURL(dest) {
		h.plainError(c, http.StatusBadRequest, "service provider has no single logout service", fmt.Errorf("sp %s", sp.EntityID))
		return
	}
	resp := &crewjam.LogoutResponse{ID: h.cfg.NewID(), InResponseTo: to.RequestID, Version: samlVersion,
		IssueInstant: h.cfg.Now().UTC(), Destination: dest,
		Issuer: &crewjam.Issuer{Format: entityNameIDFormat, Value: h.entityID(t)},
		Status: crewjam.Status{StatusCode: crewjam.StatusCode{Value: top}}}
	if second != "" {
		resp.Status.StatusCode.StatusCode = &crewjam.StatusCode{Value: second}
	}
	msg, err := h.logoutMessage(ctx, t, sp, dest, "SAMLResponse", to.RelayState,
		func() *etree.Element { return resp.Element() }, func(sig *etree.Element) { resp.Signature = sig })
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	h.deliver(c, msg, frames)
}

// outgoingLogout is a signed logout message ready for sp's binding: a form to post (page.URL
// set) or a URL to redirect to.
type outgoingLogout struct {
	page     logoutPage
	redirect string
}

// logoutMessage signs the message render builds for dest over sp's single logout binding:
// enveloped for HTTP-POST; over the query string (saml-bindings §3.4.4.1) for HTTP-Redirect,
// whose message is DEFLATEd and carries no XML signature.
func (h *Handler) logoutMessage(ctx context.Context, t tenant, sp store.SAMLServiceProvider, dest, field, relay string,
	render func() *etree.Element, setSig func(*etree.Element)) (outgoingLogout, error) {
	if sp.SLOBinding != store.SAMLBindingRedirect {
		doc, err := h.signMessage(ctx, t, sp, render, setSig)
		if err != nil {
			return outgoingLogout{}, err
		}
		return outgoingLogout{page: logoutPage{URL: dest, Field: field, Message: base64.StdEncoding.EncodeToString(doc),
			RelayState: relay}}, nil
	}
	doc := etree.NewDocument()
	doc.SetRoot(render())
	raw, err := doc.WriteToBytes()
	if err != nil {
		return outgoingLogout{}, fmt.Errorf("saml: render logout message: %w", err)
	}
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return outgoingLogout{}, fmt.Errorf("saml: deflate: %w", err)
	}
	if _, err := fw.Write(raw); err != nil {
		return outgoingLogout{}, fmt.Errorf("saml: deflate: %w", err)
	}
	if err := fw.Close(); err != nil {
		return outgoingLogout{}, fmt.Errorf("saml: deflate: %w", err)
	}
	alg := sp.SignatureAlgorithm
	if alg == "" {
		alg = AlgRSASHA256
	}
	hash, ok := redirectSigAlgs[alg]
	if !ok || (hash == crypto.SHA1 && !sp.AllowSHA1) {
		return outgoingLogout{}, fmt.Errorf("saml: signature algorithm %q for the HTTP-Redirect binding", alg)
	}
	q := field + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	q += "&SigAlg=" + url.QueryEscape(alg)
	sk, err := h.keys.get(ctx, t.org.ID, h.entityID(t))
	if err != nil {
		return outgoingLogout{}, err
	}
	hh := hash.New()
	hh.Write([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sk.key, hash, hh.Sum(nil))
	if err != nil {
		return outgoingLogout{}, fmt.Errorf("saml: sign: %w", err)
	}
	q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	sep := "?"
	if strings.Contains(dest, "?") {
		sep = "&"
	}
	return outgoingLogout{redirect: dest + sep + q}, nil
}

// deliver sends the browser on with msg, after the OIDC front-channel frames when there are
// any: a redirect goes through the page's link then.
func (h *Handler) deliver(c *gin.Context, msg outgoingLogout, frames []string) {
	if msg.redirect == "" {
		msg.page.Frames = frames
		h.logoutPage(c, msg.page)
		return
	}
	if len(frames) == 0 {
		securityHeaders(c)
		c.Redirect(http.StatusFound, msg.redirect)
		return
	}
	h.logoutPage(c, logoutPage{Next: msg.redirect, Frames: frames})
}

// logoutRequest builds the LogoutRequest to participant tgt (logoutMessage signs it).
func (h *Handler) logoutRequest(t tenant, sp store.SAMLServiceProvider, tgt logoutTarget, id, sessionID string) *crewjam.LogoutRequest {
	now := h.cfg.Now().UTC()
	notAfter := now.Add(h.cfg.LogoutLifetime)
	lr := &crewjam.LogoutRequest{ID: id, Version: samlVersion, IssueInstant: now, NotOnOrAfter: &notAfter,
		Destination: sp.SLOURL, Issuer: &crewjam.Issuer{Format: entityNameIDFormat, Value: h.entityID(t)},
		NameID: &crewjam.NameID{Format: tgt.NameID.Format, Value: tgt.NameID.Value,
			NameQualifier: tgt.NameID.NameQualifier, SPNameQualifier: tgt.NameID.SPNameQualifier},
		SessionIndex: &crewjam.SessionIndex{Value: sessionID}}
	return lr
}

// signMessage signs a protocol message enveloped (per sp's algorithm settings) and returns
// the document. The Signature must follow the Issuer (saml-core §3.2.1 schema): sign, then
// render again with the Signature set in its place.
func (h *Handler) signMessage(ctx context.Context, t tenant, sp store.SAMLServiceProvider, render func() *etree.Element, setSig func(*etree.Element)) ([]byte, error) {
	sk, err := h.keys.get(ctx, t.org.ID, h.entityID(t))
	if err != nil {
		return nil, err
	}
	sc, err := signingContext(sk, sp)
	if err != nil {
		return nil, err
	}
	signed, err := sc.SignEnveloped(render())
	if err != nil {
		return nil, fmt.Errorf("saml: sign: %w", err)
	}
	setSig(signed.ChildElements()[len(signed.ChildElements())-1])
	doc := etree.NewDocument()
	doc.SetRoot(render())
	return doc.WriteToBytes()
}

// logoutResponse handles a LogoutResponse from a participant: the logout waiting for its
// InResponseTo moves on to the next participant. A response nobody waits for (unknown,
// answered already, expired) is refused with HTTP 400.
func (h *Handler) logoutResponse(c *gin.Context, t tenant, param, relay string, redirect bool) {
	ctx := c.Request.Context()
	now := h.cfg.Now().UTC()
	msg, err := decodeMessage(param, redirect)
	if err == nil {
		err = checkXML(msg)
	}
	var resp crewjam.LogoutResponse
	if err == nil {
		err = xml.Unmarshal(msg, &resp)
	}
	if err != nil || resp.InResponseTo == "" || resp.Issuer == nil {
		h.plainError(c, http.StatusBadRequest, "invalid SAML response", fmt.Errorf("LogoutResponse unreadable: %w", errors.Join(err, crewjam.ErrMalformedMessage)))
		return
	}
	l, err := h.cfg.Store.TakeSAMLLogoutByRequest(ctx, resp.InResponseTo, now)
	if errors.Is(err, store.ErrNotFound) || (err == nil && l.OrgID != t.org.ID) {
		h.plainError(c, http.StatusBadRequest, "invalid SAML response", fmt.Errorf("LogoutResponse InResponseTo %q: no logout waits for it", resp.InResponseTo))
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	var st logoutState
	if err := json.Unmarshal(l.State, &st); err != nil || st.Current == nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", fmt.Errorf("saml: logout %s state: %w", l.ID, err))
		return
	}
	cur := st.Current
	st.Current = nil
	if err := h.checkLogoutResponse(c, t, cur.EntityID, &resp, msg, redirect); err != nil {
		h.log.InfoContext(ctx, "saml: LogoutResponse not accepted", "sp", cur.EntityID, "error", err)
		st.Failed = append(st.Failed, cur.EntityID)
	}
	h.nextLogoutStep(c, t, l, &st)
}

// checkLogoutResponse checks a participant's LogoutResponse: from the SP asked, Success, and
// signed (query string or enveloped) when the SP has signing certificates.
func (h *Handler) checkLogoutResponse(c *gin.Context, t tenant, entityID string, resp *crewjam.LogoutResponse, msg []byte, redirect bool) error {
	ctx := c.Request.Context()
	if resp.Issuer.Value != entityID {
		return fmt.Errorf("issuer %q, want %q", resp.Issuer.Value, entityID)
	}
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, entityID)
	if err != nil {
		return err
	}
	if len(sp.SigningCertificates) > 0 || sp.RequireSignedRequests {
		certs, err := spCertificates(sp)
		if err != nil {
			return err
		}
		if redirect && c.Request.URL.Query().Has("Signature") {
			err = verifyRedirectSignature(c.Request.URL.RawQuery, "SAMLResponse", certs, sp.AllowSHA1)
		} else {
			err = verifyEnveloped(msg, certs, sp.AllowSHA1)
		}
		if err != nil {
			return err
		}
	}
	if resp.Status.StatusCode.Value != crewjam.StatusSuccess {
		return fmt.Errorf("status %q", resp.Status.StatusCode.Value)
	}
	return nil
}

// Logout serves GET PathLogout (and /samlsso?slo=true): IdP-initiated single logout of the
// browser's session, to every SAML participant and the OIDC relying parties, ending at
// returnTo (a registered URL of spEntityID) or a signed-out page. A browser coming back with
// a logout still in progress (an SP that never answered) resumes it, that SP counted as failed.
func (h *Handler) Logout(c *gin.Context) {
	t, err := h.tenant(c)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown tenant", err)
		return
	}
	h.idpLogout(c, t)
}

func (h *Handler) idpLogout(c *gin.Context, t tenant) {
	ctx := c.Request.Context()
	id, err := c.Cookie(logoutCookie)
	if p := c.Query(paramLogout); p != "" {
		// A logout another protocol prepared (FrontChannelLogout) starts here.
		id, err = p, nil
	}
	if err == nil && id != "" {
		l, err := h.cfg.Store.TakeSAMLLogout(ctx, id, t.org.ID, h.cfg.Now())
		switch {
		case err == nil:
			var st logoutState
			if err := json.Unmarshal(l.State, &st); err != nil {
				h.plainError(c, http.StatusInternalServerError, "internal error", err)
				return
			}
			if st.Current != nil {
				h.log.InfoContext(ctx, "saml: logout participant did not answer", "sp", st.Current.EntityID)
				st.Failed = append(st.Failed, st.Current.EntityID)
				st.Current = nil
			}
			h.nextLogoutStep(c, t, l, &st)
			return
		case !errors.Is(err, store.ErrNotFound):
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
	}
	q := c.Request.URL.Query()
	returnTo := q.Get(paramReturnTo)
	if returnTo != "" {
		ok, err := h.registeredReturn(ctx, t, q.Get(paramSPEntityID), returnTo)
		if err != nil {
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
		if !ok {
			h.plainError(c, http.StatusBadRequest, "unregistered returnTo", fmt.Errorf("returnTo %q of %q", returnTo, q.Get(paramSPEntityID)))
			return
		}
	}
	target, _, err := h.cookieSession(c, t)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	h.endAndPropagate(c, t, target, &logoutState{Tenant: t.domain, Prefix: t.prefix, ReturnTo: returnTo})
}

// registeredReturn reports whether u is a single logout or assertion consumer URL of SP
// entityID.
func (h *Handler) registeredReturn(ctx context.Context, t tenant, entityID, u string) (bool, error) {
	if entityID == "" || !httpURL(u) {
		return false, nil
	}
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, entityID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u == sp.SLOURL || u == sp.SLOResponseURL {
		return true, nil
	}
	return slices.ContainsFunc(sp.ACS, func(e store.SAMLEndpoint) bool { return e.URL == u }), nil
}

// clearSessionCookie expires the SSO cookie with the attributes api/authn sets it with.
func (h *Handler) clearSessionCookie(c *gin.Context) {
	ck := &http.Cookie{Name: h.cfg.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if h.base.Scheme == "https" || h.base.Hostname() == "localhost" {
		ck.Secure, ck.SameSite = true, http.SameSiteNoneMode
	}
	http.SetCookie(c.Writer, ck)
}

// logoutPage is one page of a logout: OIDC front-channel iframes, then either an
// auto-submitting form (a LogoutRequest or LogoutResponse, HTTP-POST binding) or the
// signed-out text with an optional link onwards (Next), followed once the frames loaded (at
// most a few seconds).
type logoutPage struct {
	URL, Field, Message, RelayState string
	Next                            string
	Frames                          []string
}

// logoutScript submits the form, or follows the link, once the frames have loaded (or after
// 3 s); the page's CSP allows exactly this script by its hash.
const logoutScript = `(function(){var f=document.querySelectorAll("iframe"),n=f.length,d=false;` +
	`function go(){if(d)return;d=true;var m=document.forms[0];if(m){m.submit();return}` +
	`var a=document.getElementById("next");if(a)location.replace(a.href)}` +
	`if(!n){go();return}f.forEach(function(i){i.addEventListener("load",function(){if(--n<=0)go()})});` +
	`setTimeout(go,3000)})();`

var (
	logoutScriptHash = func() string {
		sum := sha256.Sum256([]byte(logoutScript))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
	logoutTemplate = template.Must(template.New("logout").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing out</title></head>
<body>
{{range .Frames}}<iframe src="{{.}}" hidden></iframe>
{{end}}{{if .URL}}<form method="post" action="{{.URL}}">
<input type="hidden" name="{{.Field}}" value="{{.Message}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
{{else}}<p>You have been signed out.</p>
{{if .Next}}<p><a id="next" href="{{.Next}}">Continue</a></p>
{{end}}{{end}}<script>` + logoutScript + `</script>
</body></html>
`))
)

func (h *Handler) logoutPage(c *gin.Context, p logoutPage) {
	var b strings.Builder
	if err := logoutTemplate.Execute(&b, p); err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	securityHeaders(c)
	c.Header("Content-Security-Policy", "default-src 'none'; script-src "+logoutScriptHash+"; frame-src "+
		frameSources(p.Frames)+"; frame-ancestors 'none'")
	c.Header("X-Frame-Options", "DENY")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(b.String()))
}

// frameSources are the origins of the frames for the CSP's frame-src, 'none' without any.
func frameSources(frames []string) string {
	var origins []string
	for _, f := range frames {
		u, err := url.Parse(f)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		return "'none'"
	}
	return strings.Join(origins, " ")
}
