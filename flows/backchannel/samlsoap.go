package backchannel

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// SAML single logout over the SOAP binding (saml-bindings §3.2, saml-profiles §4.4): the IdP
// posts a signed LogoutRequest in a SOAP 1.1 envelope to the SP's single logout service, and
// the SP answers in the HTTP response with a LogoutResponse, also in an envelope.

// Kinds of Message: how its answer is judged.
const (
	// KindHTTP (the zero value) is an OIDC Back-Channel Logout 1.0 POST: a 2xx answer is
	// success.
	KindHTTP = ""
	// KindSAMLSOAP is a SAML LogoutRequest in a SOAP envelope: success is a 2xx answer whose
	// envelope holds a LogoutResponse to it (Message.SAML) with a Success top-level status.
	KindSAMLSOAP = "saml-soap"
)

// SOAP 1.1 over HTTP (saml-bindings §3.2.3).
const (
	// SOAPContentType is the Content-Type of a SOAP 1.1 message (SOAP 1.1 §6.1.1).
	SOAPContentType = "text/xml; charset=utf-8"
	// SOAPAction is the SOAPAction header saml-bindings §3.2.3.1 suggests.
	SOAPAction = "http://www.oasis-open.org/committees/security"
	// SOAPEnvelopeNS is the SOAP 1.1 envelope namespace.
	SOAPEnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	// MaxSOAPResponseBytes caps the SP's answer that is read.
	MaxSOAPResponseBytes = 256 << 10
)

const (
	samlStatusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	samlProtocolNS    = "urn:oasis:names:tc:SAML:2.0:protocol"
)

// SAMLExpect is what the answer to a KindSAMLSOAP message must be.
type SAMLExpect struct {
	// RequestID is the LogoutRequest's ID, which the LogoutResponse's InResponseTo must be.
	RequestID string
	// Issuer is the SP's entity id; the LogoutResponse's Issuer, when present, must be it.
	Issuer string
	// Certificates are the SP's signing certificates (PEM). When there are any, the
	// LogoutResponse must carry an enveloped signature by one of them (saml-profiles
	// §4.4.4.2); without, it is not checked (the SP is authenticated by nothing but its URL).
	Certificates []string `json:",omitempty"`
	// AllowSHA1 accepts SHA-1 signatures.
	AllowSHA1 bool `json:",omitempty"`
}

// SOAPEnvelope wraps a SAML protocol message (its serialized element, without an XML
// declaration) in a SOAP 1.1 envelope, as the SOAP binding sends it. The message's
// signature, over exclusive canonicalization, survives the wrapping.
func SOAPEnvelope(message []byte) ([]byte, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(message); err != nil || doc.Root() == nil {
		return nil, fmt.Errorf("backchannel: SOAP envelope: message unreadable: %w", err)
	}
	env := etree.NewElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", SOAPEnvelopeNS)
	env.CreateElement("soapenv:Body").AddChild(doc.Root())
	out := etree.NewDocument()
	out.SetRoot(env)
	b, err := out.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("backchannel: SOAP envelope: %w", err)
	}
	return b, nil
}

// errSOAPFault marks a SOAP Fault answer.
var errSOAPFault = errors.New("SOAP fault")

// checkSAMLSOAPResponse judges the body of a 2xx (or SOAP Fault) answer to a KindSAMLSOAP
// message: nil when it is a LogoutResponse to exp.RequestID with a Success status (signed
// when exp.Certificates are set). Every failure is final: the SP answered, and asking again
// would get the same answer.
func checkSAMLSOAPResponse(body []byte, exp SAMLExpect) error {
	if bytes.Contains(body, []byte("<!DOCTYPE")) {
		return errors.New("answer has a DTD")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil || doc.Root() == nil {
		return fmt.Errorf("answer is not XML: %w", err)
	}
	env := doc.Root()
	if env.Tag != "Envelope" || env.NamespaceURI() != SOAPEnvelopeNS {
		return errors.New("answer is not a SOAP 1.1 envelope")
	}
	b := env.SelectElement("Body")
	if b == nil || b.NamespaceURI() != SOAPEnvelopeNS || len(b.ChildElements()) != 1 {
		return errors.New("SOAP Body missing or not one element")
	}
	el := b.ChildElements()[0]
	if el.Tag == "Fault" && el.NamespaceURI() == SOAPEnvelopeNS {
		fs := ""
		if s := el.SelectElement("faultstring"); s != nil {
			fs = s.Text()
		}
		return fmt.Errorf("%w: %.200q", errSOAPFault, fs)
	}
	if el.Tag != "LogoutResponse" || el.NamespaceURI() != samlProtocolNS {
		return fmt.Errorf("SOAP Body holds %s, not a LogoutResponse", el.Tag)
	}
	// Keep the element with its inherited namespace declarations for the signature check.
	resp := el.Copy()
	for _, a := range append(slices.Clone(b.Attr), env.Attr...) {
		if (a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns")) && resp.SelectAttr(a.FullKey()) == nil {
			resp.CreateAttr(a.FullKey(), a.Value)
		}
	}
	if len(exp.Certificates) > 0 {
		signed, err := verifySAMLSignature(resp, exp.Certificates, exp.AllowSHA1)
		if err != nil {
			return err
		}
		resp = signed
	}
	if got := resp.SelectAttrValue("InResponseTo", ""); got != exp.RequestID {
		return fmt.Errorf("LogoutResponse InResponseTo %q, want %q", got, exp.RequestID)
	}
	if is := resp.SelectElement("Issuer"); is != nil && exp.Issuer != "" && strings.TrimSpace(is.Text()) != exp.Issuer {
		return fmt.Errorf("LogoutResponse Issuer %q, want %q", is.Text(), exp.Issuer)
	}
	code := ""
	if st := resp.SelectElement("Status"); st != nil {
		if sc := st.SelectElement("StatusCode"); sc != nil {
			code = sc.SelectAttrValue("Value", "")
		}
	}
	if code != samlStatusSuccess {
		return fmt.Errorf("LogoutResponse status %q", code)
	}
	return nil
}

// verifySAMLSignature checks el's enveloped signature with one of the PEM certificates and
// returns what it covers. Certificates distributed in metadata are trusted as such: their
// validity period is not checked.
func verifySAMLSignature(el *etree.Element, pems []string, allowSHA1 bool) (*etree.Element, error) {
	sig := el.SelectElement("Signature")
	if sig == nil {
		return nil, errors.New("LogoutResponse is not signed")
	}
	if m := sig.FindElement("./SignedInfo/SignatureMethod"); m != nil && !allowSHA1 &&
		strings.HasSuffix(m.SelectAttrValue("Algorithm", ""), "sha1") {
		return nil, errors.New("LogoutResponse signed with SHA-1")
	}
	var lastErr error
	for _, p := range pems {
		blk, _ := pem.Decode([]byte(p))
		if blk == nil {
			lastErr = errors.New("certificate is not PEM")
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			lastErr = err
			continue
		}
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		vc.Clock = dsig.NewFakeClockAt(c.NotBefore.Add(time.Second))
		signed, err := vc.Validate(el.Copy())
		if err == nil {
			return signed, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("LogoutResponse signature: %w", lastErr)
}
