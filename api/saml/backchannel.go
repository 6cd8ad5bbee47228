package saml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/beevik/etree"

	"github.com/keyflow/keyflow/flows/backchannel"
	"github.com/keyflow/keyflow/store"
)

// Back-channel single logout (saml-bindings §3.2, SOAP binding; WSO2's logoutMethod
// BACKCHANNEL, its default). A participant whose single logout service takes SOAP
// (store.SAMLBindingSOAP) is not visited by the browser: its signed LogoutRequest — the same
// message the browser would post, enveloped signature by the tenant's key — goes in a SOAP 1.1
// envelope to Config.BackChannel, which delivers it durably (backchannel.Starter: a Temporal
// workflow, retries with backoff, the SP's LogoutResponse status and signature checked, the
// outcome recorded in the workflow result and logged).
//
// The logout does not wait for those deliveries: the browser (and an initiating SP waiting for
// its LogoutResponse) would wait on the slowest SP's retries. So a back-channel participant
// counts as logged out once its message is handed over; PartialLogout reports only what is
// known at once — a participant whose NameID was not recorded, a message that could not be
// built or signed, or no BackChannel configured. A delivery that fails later is in the
// workflow's Result.Failed and the worker's log, not in the initiator's status. (WSO2 sends
// SOAP requests synchronously before answering; Keyflow trades that for durability and a
// browser that never waits on a slow SP.)

// BackChannel delivers back-channel logout messages without waiting for them; ctx carries
// request values only. *backchannel.Starter implements it (as it implements
// oidclogout.Notifier).
type BackChannel interface {
	Notify(ctx context.Context, msgs []backchannel.Message)
}

// SessionEnded implements the SessionEnder of api/wsfed (and of this package): SSO session s
// has ended some other way than SAML single logout (WS-Federation wsignout1.0), and its SAML
// participants with a back-channel (SOAP) single logout service are sent LogoutRequests.
// Front-channel participants need the browser to visit each: FrontChannelLogout prepares that.
// It returns no front-channel URLs. Failures are logged.
func (h *Handler) SessionEnded(ctx context.Context, s store.SSOSession) []string {
	targets := participantTargets(ctx, h, s)
	if len(targets) == 0 {
		return nil
	}
	t, err := h.sessionTenant(ctx, s)
	if err != nil {
		h.log.ErrorContext(ctx, "saml: back-channel logout failed", "session", s.ID, "error", err)
		return nil
	}
	front, failed := h.backChannelLogout(ctx, t, s.ID, targets)
	if len(front) > 0 {
		// Only a browser can reach them: FrontChannelLogout when one is present (OIDC and
		// WS-Federation logout); not at all from the session API or a script (as in WSO2).
		h.log.InfoContext(ctx, "saml: front-channel participants left to the browser", "session", s.ID, "participants", len(front))
	}
	if len(failed) > 0 {
		h.log.InfoContext(ctx, "saml: back-channel logout not sent to every participant", "session", s.ID, "failed", failed)
	}
	return nil
}

// FrontChannelLogout prepares the browser's walk through the front-channel SAML participants
// of session s, which ended some other way (WS-Federation wsignout1.0): it returns the URL the
// browser must visit next — PathLogout?logout={id}, whence each SP gets its signed LogoutRequest
// and answers, as in IdP-initiated single logout — or "" when there is no one to visit. The walk
// ends at returnTo (which the caller has checked is registered), or a signed-out page.
// Back-channel participants are not included: SessionEnded tells them.
func (h *Handler) FrontChannelLogout(ctx context.Context, s store.SSOSession, returnTo string) (string, error) {
	targets := participantTargets(ctx, h, s)
	if len(targets) == 0 {
		return "", nil
	}
	t, err := h.sessionTenant(ctx, s)
	if err != nil {
		return "", err
	}
	var front []logoutTarget
	for _, tgt := range targets {
		sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, tgt.EntityID)
		if err != nil || sp.SLOBinding == store.SAMLBindingSOAP || !httpURL(sp.SLOURL) {
			continue // removed, back channel, or no single logout service (nextLogoutStep logs look-up failures)
		}
		front = append(front, tgt)
	}
	if len(front) == 0 {
		return "", nil
	}
	l, err := h.saveLogout(ctx, store.SAMLLogout{OrgID: t.org.ID},
		&logoutState{Tenant: t.domain, Prefix: t.prefix, SessionID: s.ID, ReturnTo: returnTo, Pending: front}, "")
	if err != nil {
		return "", err
	}
	return h.base.String() + t.prefix + PathLogout + "?" + paramLogout + "=" + url.QueryEscape(l.ID), nil
}

// participantTargets are session s's SAML participants with the NameID they were issued; one
// without (logged in before NameIDs were recorded) cannot be named in a LogoutRequest.
func participantTargets(ctx context.Context, h *Handler, s store.SSOSession) []logoutTarget {
	var targets []logoutTarget
	for _, p := range s.Participants {
		if p.Protocol != ProtocolSAML {
			continue
		}
		var issued participantNameID
		if p.RPSession == "" || json.Unmarshal([]byte(p.RPSession), &issued) != nil || issued.Value == "" {
			h.log.InfoContext(ctx, "saml: participant cannot be logged out: NameID not recorded", "sp", p.RelyingParty)
			continue
		}
		targets = append(targets, logoutTarget{EntityID: p.RelyingParty, NameID: issued})
	}
	return targets
}

// sessionTenant is the tenant of session s: the default tenant's paths have no /t/ prefix.
func (h *Handler) sessionTenant(ctx context.Context, s store.SSOSession) (tenant, error) {
	org, err := h.cfg.Store.OrganizationByID(ctx, s.OrgID)
	if err != nil {
		return tenant{}, fmt.Errorf("saml: organization of session %s: %w", s.ID, err)
	}
	t := tenant{domain: org.Handle, org: org}
	if org.Handle != h.cfg.DefaultTenant {
		t.prefix = "/t/" + url.PathEscape(org.Handle)
	}
	return t, nil
}

// backChannelLogout sends the back-channel (SOAP) participants among targets their signed
// LogoutRequests in one batch, and returns the participants left for the browser (in order)
// and those that cannot be told (message not built, no BackChannel). An SP removed since, or
// without a single logout service, needs nothing.
func (h *Handler) backChannelLogout(ctx context.Context, t tenant, sessionID string, targets []logoutTarget) (front []logoutTarget, failed []string) {
	var msgs []backchannel.Message
	for _, tgt := range targets {
		sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, tgt.EntityID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			h.log.ErrorContext(ctx, "saml: logout participant look-up failed", "sp", tgt.EntityID, "error", err)
			failed = append(failed, tgt.EntityID)
			continue
		}
		if sp.SLOBinding != store.SAMLBindingSOAP {
			front = append(front, tgt)
			continue
		}
		if !httpURL(sp.SLOURL) {
			continue
		}
		if h.cfg.BackChannel == nil {
			h.log.WarnContext(ctx, "saml: back-channel logout not configured", "sp", sp.EntityID)
			failed = append(failed, sp.EntityID)
			continue
		}
		m, err := h.soapLogoutRequest(ctx, t, sp, tgt, sessionID)
		if err != nil {
			h.log.ErrorContext(ctx, "saml: building a SOAP LogoutRequest failed", "sp", sp.EntityID, "error", err)
			failed = append(failed, sp.EntityID)
			continue
		}
		msgs = append(msgs, m)
	}
	if len(msgs) > 0 {
		h.cfg.BackChannel.Notify(ctx, msgs)
	}
	return front, failed
}

// soapLogoutRequest is the signed LogoutRequest to participant tgt in a SOAP envelope, with
// what its LogoutResponse must be: in response to it, from the SP, signed when the SP has
// signing certificates.
func (h *Handler) soapLogoutRequest(ctx context.Context, t tenant, sp store.SAMLServiceProvider, tgt logoutTarget, sessionID string) (backchannel.Message, error) {
	id := h.cfg.NewID()
	lr := h.logoutRequest(t, sp, tgt, id, sessionID)
	doc, err := h.signMessage(ctx, t, sp, func() *etree.Element { return lr.Element() }, func(sig *etree.Element) { lr.Signature = sig })
	if err != nil {
		return backchannel.Message{}, err
	}
	body, err := backchannel.SOAPEnvelope(doc)
	if err != nil {
		return backchannel.Message{}, fmt.Errorf("saml: %w", err)
	}
	return backchannel.Message{RelyingParty: sp.EntityID, URL: sp.SLOURL, ContentType: backchannel.SOAPContentType,
		Body: body, Kind: backchannel.KindSAMLSOAP, SAML: &backchannel.SAMLExpect{RequestID: id, Issuer: sp.EntityID,
			Certificates: sp.SigningCertificates, AllowSHA1: sp.AllowSHA1}}, nil
}

// Enders is several SessionEnders told in turn, their front-channel URLs concatenated: the
// OIDC relying parties (*oidclogout.Handler), the WS-Federation relying parties
// (wsfed.Cleanup) and, for api/wsfed, this package's back-channel participants (*Handler).
type Enders []SessionEnder

// SessionEnded implements SessionEnder.
func (e Enders) SessionEnded(ctx context.Context, s store.SSOSession) []string {
	var out []string
	for _, x := range e {
		if x != nil {
			out = append(out, x.SessionEnded(ctx, s)...)
		}
	}
	return out
}
