package wsfed

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/beevik/etree"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// Metadata namespaces (WS-Federation 1.2 §3.1, saml-metadata-2.0).
const (
	nsMetadata   = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsFed        = "http://docs.oasis-open.org/wsfed/federation/200706"
	nsXSI        = "http://www.w3.org/2001/XMLSchema-instance"
	nsDSig       = "http://www.w3.org/2000/09/xmldsig#"
	protocolFed  = "http://docs.oasis-open.org/wsfed/federation/200706"
	metadataType = "application/samlmetadata+xml"
)

// Metadata serves GET /passivests/FederationMetadata/2007-06/FederationMetadata.xml: the
// tenant's WS-Federation metadata (a RoleDescriptor of fed:SecurityTokenServiceType with the
// token signing certificate, the token types offered and the passive requestor endpoint),
// signed with the same key as the tokens.
func (h *Handler) Metadata(c *gin.Context) {
	t, err := h.tenant(c)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown tenant", err)
		return
	}
	doc, err := h.metadata(c.Request.Context(), t)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	c.Header("Cache-Control", metadataCacheControl)
	c.Data(http.StatusOK, metadataType, doc)
}

// metadata renders and signs the metadata of t.
func (h *Handler) metadata(ctx context.Context, t tenant) ([]byte, error) {
	key, cert, err := h.cfg.Keys.SigningKey(ctx, t.org.ID, t.domain)
	if err != nil {
		return nil, err
	}
	sts := h.stsURL(t)
	ed := etree.NewElement("EntityDescriptor")
	ed.CreateAttr("xmlns", nsMetadata)
	ed.CreateAttr("ID", h.cfg.NewID())
	ed.CreateAttr("entityID", sts)
	rd := ed.CreateElement("RoleDescriptor")
	rd.CreateAttr("xmlns:xsi", nsXSI)
	rd.CreateAttr("xmlns:fed", nsFed)
	rd.CreateAttr("xsi:type", "fed:SecurityTokenServiceType")
	rd.CreateAttr("protocolSupportEnumeration", protocolFed)
	kd := rd.CreateElement("KeyDescriptor")
	kd.CreateAttr("use", "signing")
	ki := kd.CreateElement("KeyInfo")
	ki.CreateAttr("xmlns", nsDSig)
	ki.CreateElement("X509Data").CreateElement("X509Certificate").SetText(base64.StdEncoding.EncodeToString(cert.Raw))
	tto := rd.CreateElement("fed:TokenTypesOffered")
	for _, tt := range []string{store.WSFedTokenSAML11, store.WSFedTokenSAML20} {
		tto.CreateElement("fed:TokenType").CreateAttr("Uri", tt)
	}
	for _, tag := range []string{"fed:SecurityTokenServiceEndpoint", "fed:PassiveRequestorEndpoint"} {
		epr := rd.CreateElement(tag).CreateElement("wsa:EndpointReference")
		epr.CreateAttr("xmlns:wsa", nsAddr)
		epr.CreateElement("wsa:Address").SetText(sts)
	}
	// Indented before signing: whitespace is part of what the signature covers.
	unsigned := etree.NewDocument()
	unsigned.SetRoot(ed)
	unsigned.Indent(2)
	sctx, err := signingContext(key, cert, "ID")
	if err != nil {
		return nil, err
	}
	if err := signInto(sctx, ed); err != nil {
		return nil, fmt.Errorf("wsfed: sign metadata: %w", err)
	}
	// The schema wants the Signature first; the enveloped-signature transform makes its place
	// irrelevant to the digest.
	ed.InsertChildAt(0, ed.ChildElements()[len(ed.ChildElements())-1])
	doc := etree.NewDocument()
	doc.SetRoot(ed)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("wsfed: serialize metadata: %w", err)
	}
	return append(append([]byte(xml.Header), out...), '\n'), nil
}
