package saml

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // saml-bindings §3.6.4 defines the SourceID as a SHA-1 hash
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// The HTTP-Artifact binding (saml-bindings §3.6): instead of posting the Response, the IdP
// redirects the browser to the ACS with a type 0x0004 artifact (SAMLart); the SP resolves it
// over SOAP at PathArtifactResolve (ArtifactResolve → ArtifactResponse, signed). The Response
// waits in the store (store.SAMLArtifact, sealed with the first KEK), for Config.ArtifactLifetime,
// and is handed out once, to the SP it was issued to only.

const (
	artifactTypeCode = 0x0004
	// artifactEndpointIndex is the index of the (only) ArtifactResolutionService.
	artifactEndpointIndex = 0
	artifactLength        = 44
	// artifactSealVersion binds sealed artifacts to their purpose (and not a signing key).
	artifactSealVersion = "keyflow.samlartifact.v1"
	soapEnvelopeNS      = "http://schemas.xmlsoap.org/soap/envelope/"
	protocolNS          = "urn:oasis:names:tc:SAML:2.0:protocol"
)

// makeArtifact encodes a type 0x0004 artifact: TypeCode, EndpointIndex, SourceID (the SHA-1 of
// the IdP's entity id) and the message handle (saml-bindings §3.6.4).
func makeArtifact(entityID string, handle []byte) string {
	b := make([]byte, 0, artifactLength)
	b = binary.BigEndian.AppendUint16(b, artifactTypeCode)
	b = binary.BigEndian.AppendUint16(b, artifactEndpointIndex)
	src := sha1.Sum([]byte(entityID)) //nolint:gosec // the SourceID is defined as SHA-1
	b = append(b, src[:]...)
	b = append(b, handle...)
	return base64.StdEncoding.EncodeToString(b)
}

// parseArtifact returns the message handle of an artifact of this IdP (entityID), or an error.
func parseArtifact(entityID, art string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(art)
	if err != nil || len(b) != artifactLength {
		return nil, errors.New("artifact is not 44 bytes of base64")
	}
	if binary.BigEndian.Uint16(b) != artifactTypeCode {
		return nil, fmt.Errorf("artifact type %#04x: %w", binary.BigEndian.Uint16(b), crewjam.ErrUnsupported)
	}
	src := sha1.Sum([]byte(entityID)) //nolint:gosec // the SourceID is defined as SHA-1
	if !bytes.Equal(b[4:24], src[:]) {
		return nil, errors.New("artifact of another issuer")
	}
	return b[24:], nil
}

func artifactAAD(orgID string, handle []byte) []byte {
	return []byte(artifactSealVersion + "\x00" + orgID + "\x00" + hex.EncodeToString(handle))
}

// sealArtifact seals msg with the first KEK: kekID ‖ 0 ‖ nonce ‖ AES-256-GCM(msg) ‖ tag.
func sealArtifact(kek jwtkeys.KEK, orgID string, handle, msg []byte) ([]byte, error) {
	aead, err := newAEAD(kek.Key)
	if err != nil {
		return nil, err
	}
	out := append([]byte(kek.ID), 0)
	nonce := randBytes(aead.NonceSize())
	out = append(out, nonce...)
	return aead.Seal(out, nonce, msg, artifactAAD(orgID, handle)), nil
}

// openArtifact reverses sealArtifact with the KEK it names.
func openArtifact(keks []jwtkeys.KEK, orgID string, handle, sealed []byte) ([]byte, error) {
	id, rest, ok := bytes.Cut(sealed, []byte{0})
	if !ok {
		return nil, errors.New("saml: sealed artifact malformed")
	}
	for _, k := range keks {
		if k.ID != string(id) {
			continue
		}
		aead, err := newAEAD(k.Key)
		if err != nil {
			return nil, err
		}
		if len(rest) < aead.NonceSize()+aead.Overhead() {
			return nil, errors.New("saml: sealed artifact too short")
		}
		pt, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], artifactAAD(orgID, handle))
		if err != nil {
			return nil, fmt.Errorf("saml: unseal artifact with KEK %s: authentication failed", k.ID)
		}
		return pt, nil
	}
	return nil, fmt.Errorf("saml: sealed artifact needs unknown KEK %q", id)
}

// sendArtifact stores the Response doc and redirects the browser to the ACS with its artifact
// and the RelayState (saml-bindings §3.6.3).
func (h *Handler) sendArtifact(c *gin.Context, t tenant, st loginState, doc []byte) {
	ctx := c.Request.Context()
	handle := randBytes(20)
	sealed, err := sealArtifact(h.cfg.KEKs[0], t.org.ID, handle, doc)
	if err == nil {
		err = h.cfg.Store.CreateSAMLArtifact(ctx, store.SAMLArtifact{Handle: handle, OrgID: t.org.ID,
			SPEntityID: st.EntityID, Message: sealed, ExpiresAt: h.cfg.Now().Add(h.cfg.ArtifactLifetime)})
	}
	u, perr := url.Parse(st.ACS)
	if err != nil || perr != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", errors.Join(err, perr))
		return
	}
	q := u.Query()
	q.Set("SAMLart", makeArtifact(h.entityID(t), handle))
	if st.RelayState != "" {
		q.Set(paramRelayState, st.RelayState)
	}
	u.RawQuery = q.Encode()
	securityHeaders(c)
	c.Redirect(http.StatusFound, u.String())
}

// soapArtifactResolve is the SOAP 1.1 envelope of an ArtifactResolve.
type soapArtifactResolve struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    struct {
		Resolve *crewjam.ArtifactResolve `xml:"urn:oasis:names:tc:SAML:2.0:protocol ArtifactResolve"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// ResolveArtifact serves POST PathArtifactResolve: an ArtifactResolve in a SOAP envelope
// (saml-bindings §3.2, saml-core §3.5). The requester must be the SP the artifact was issued to:
// its Issuer must name it and, when that SP has a signing certificate or requires signed
// requests, the ArtifactResolve must carry its valid signature. The answer is a signed
// ArtifactResponse: Success with the Response, Success without a message when the artifact is
// unknown, used, expired or not the requester's (saml-core §3.5.2), Requester/RequestDenied
// for an unauthenticated requester. Messages that are not SAML get a SOAP fault.
func (h *Handler) ResolveArtifact(c *gin.Context) {
	ctx := c.Request.Context()
	t, err := h.tenant(c)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown tenant", err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxMessageBytes))
	if err == nil {
		err = checkXML(body)
	}
	var env soapArtifactResolve
	if err == nil {
		err = xml.Unmarshal(body, &env)
	}
	doc := etree.NewDocument()
	if err == nil {
		err = doc.ReadFromBytes(body)
	}
	var el *etree.Element
	if err == nil {
		el = doc.FindElement("./Envelope/Body/ArtifactResolve")
	}
	ar := env.Body.Resolve
	if err != nil || ar == nil || el == nil || el.NamespaceURI() != protocolNS {
		h.soapFault(c, fmt.Errorf("not an ArtifactResolve: %w", err))
		return
	}
	now := h.cfg.Now().UTC()
	deny := func(cause error) {
		h.log.InfoContext(ctx, "saml: ArtifactResolve refused", "error", cause)
		h.artifactResponse(c, t, store.SAMLServiceProvider{}, ar.ID, crewjam.StatusRequester, crewjam.StatusRequestDenied, nil)
	}
	switch {
	case ar.Version != samlVersion:
		h.artifactResponse(c, t, store.SAMLServiceProvider{}, ar.ID, crewjam.StatusVersionMismatch, "", nil)
		return
	case ar.ID == "" || ar.Issuer == nil || ar.Issuer.Value == "" || ar.Artifact == "":
		deny(errors.New("ID, Issuer or Artifact missing"))
		return
	case ar.IssueInstant.Add(h.cfg.MaxRequestAge+h.cfg.ClockSkew).Before(now) || ar.IssueInstant.Add(-h.cfg.ClockSkew).After(now):
		deny(fmt.Errorf("issued at %s", ar.IssueInstant))
		return
	}
	sp, err := h.cfg.Store.SAMLServiceProviderByEntityID(ctx, t.org.ID, ar.Issuer.Value)
	if errors.Is(err, store.ErrNotFound) {
		deny(fmt.Errorf("unknown service provider %q", ar.Issuer.Value))
		return
	}
	if err != nil {
		h.soapServerError(c, err)
		return
	}
	if el.FindElement("./Signature") != nil || sp.RequireSignedRequests || len(sp.SigningCertificates) > 0 {
		certs, err := spCertificates(sp)
		if err == nil {
			var signed *etree.Element
			signed, err = verifyEnvelopedElement(el, certs, sp.AllowSHA1)
			if err == nil && (signed.FindElement("./Artifact") == nil || signed.FindElement("./Artifact").Text() != ar.Artifact ||
				signed.FindElement("./Issuer") == nil || signed.FindElement("./Issuer").Text() != ar.Issuer.Value) {
				err = errors.New("the signature does not cover the Issuer and Artifact")
			}
		}
		if err != nil {
			deny(fmt.Errorf("service provider %s: %w", sp.EntityID, err))
			return
		}
	}
	err = h.cfg.Store.ConsumeSAMLRequestID(ctx, t.org.ID+" "+sp.EntityID, ar.ID, ar.IssueInstant.Add(h.cfg.MaxRequestAge+2*h.cfg.ClockSkew))
	if errors.Is(err, store.ErrConflict) {
		deny(fmt.Errorf("ArtifactResolve %q: %w", ar.ID, errReplay))
		return
	}
	if err != nil {
		h.soapServerError(c, err)
		return
	}
	var msg *etree.Element
	handle, err := parseArtifact(h.entityID(t), ar.Artifact)
	if err == nil {
		msg, err = h.takeArtifact(ctx, t, sp, handle, now)
	}
	if err != nil {
		// saml-core §3.5.2: no message, but not an error status.
		h.log.InfoContext(ctx, "saml: artifact not resolved", "sp", sp.EntityID, "error", err)
	}
	h.artifactResponse(c, t, sp, ar.ID, crewjam.StatusSuccess, "", msg)
}

// takeArtifact removes the artifact's message from the store and parses it.
func (h *Handler) takeArtifact(ctx context.Context, t tenant, sp store.SAMLServiceProvider, handle []byte, now time.Time) (*etree.Element, error) {
	a, err := h.cfg.Store.TakeSAMLArtifact(ctx, handle, t.org.ID, sp.EntityID, now)
	if err != nil {
		return nil, err
	}
	pt, err := openArtifact(h.cfg.KEKs, t.org.ID, handle, a.Message)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(pt); err != nil || doc.Root() == nil {
		return nil, fmt.Errorf("saml: stored artifact message unreadable: %w", err)
	}
	return doc.Root(), nil
}

// artifactResponse writes a signed ArtifactResponse carrying msg (nil: none) in a SOAP
// envelope.
func (h *Handler) artifactResponse(c *gin.Context, t tenant, sp store.SAMLServiceProvider, inResponseTo, top, second string, msg *etree.Element) {
	ctx := c.Request.Context()
	id, now := h.cfg.NewID(), h.cfg.Now().UTC()
	status := crewjam.Status{StatusCode: crewjam.StatusCode{Value: top}}
	if second != "" {
		status.StatusCode.StatusCode = &crewjam.StatusCode{Value: second}
	}
	issuer := crewjam.Issuer{Format: entityNameIDFormat, Value: h.entityID(t)}
	var sig *etree.Element
	render := func() *etree.Element {
		el := etree.NewElement("samlp:ArtifactResponse")
		el.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
		el.CreateAttr("xmlns:samlp", protocolNS)
		el.CreateAttr("ID", id)
		if inResponseTo != "" {
			el.CreateAttr("InResponseTo", inResponseTo)
		}
		el.CreateAttr("Version", samlVersion)
		el.CreateAttr("IssueInstant", now.Format(time.RFC3339Nano))
		el.AddChild(issuer.Element())
		if sig != nil {
			el.AddChild(sig)
		}
		el.AddChild(status.Element())
		if msg != nil {
			el.AddChild(msg.Copy())
		}
		return el
	}
	signed, err := h.signMessage(ctx, t, sp, render, func(s *etree.Element) { sig = s })
	if err != nil {
		h.soapServerError(c, err)
		return
	}
	inner := etree.NewDocument()
	if err := inner.ReadFromBytes(signed); err != nil {
		h.soapServerError(c, err)
		return
	}
	env := etree.NewElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", soapEnvelopeNS)
	env.CreateElement("soapenv:Body").AddChild(inner.Root())
	out := etree.NewDocument()
	out.SetRoot(env)
	b, err := out.WriteToBytes()
	if err != nil {
		h.soapServerError(c, err)
		return
	}
	securityHeaders(c)
	c.Data(http.StatusOK, "text/xml; charset=utf-8", b)
}

// soapFault answers a message that is not an ArtifactResolve (SOAP 1.1 §4.4: HTTP 500 with a
// Client fault).
func (h *Handler) soapFault(c *gin.Context, cause error) {
	h.log.InfoContext(c.Request.Context(), "saml: SOAP request refused", "error", cause)
	h.writeFault(c, "soapenv:Client", "invalid request")
}

func (h *Handler) soapServerError(c *gin.Context, cause error) {
	h.log.ErrorContext(c.Request.Context(), "saml: artifact resolution failed", "error", cause)
	h.writeFault(c, "soapenv:Server", "internal error")
}

func (h *Handler) writeFault(c *gin.Context, code, msg string) {
	env := etree.NewElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", soapEnvelopeNS)
	f := env.CreateElement("soapenv:Body").CreateElement("soapenv:Fault")
	f.CreateElement("faultcode").SetText(code)
	f.CreateElement("faultstring").SetText(msg)
	doc := etree.NewDocument()
	doc.SetRoot(env)
	b, _ := doc.WriteToBytes()
	securityHeaders(c)
	c.Data(http.StatusInternalServerError, "text/xml; charset=utf-8", b)
}
