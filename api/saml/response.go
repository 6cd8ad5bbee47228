package saml

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

// Algorithm URIs (XML-DSig, XML-Enc) Keyflow understands in SP settings.
const (
	AlgRSASHA256 = dsig.RSASHA256SignatureMethod
	AlgRSASHA384 = dsig.RSASHA384SignatureMethod
	AlgRSASHA512 = dsig.RSASHA512SignatureMethod
	AlgRSASHA1   = dsig.RSASHA1SignatureMethod

	DigestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

	EncAES128GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	EncAES256GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	EncAES128CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	EncAES256CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"

	// KeyRSAOAEPMGF1P is XML Encryption 1.0 RSA-OAEP (MGF1 with SHA-1); KeyRSAOAEP is 1.1
	// RSA-OAEP with SHA-256 digest and MGF1.
	KeyRSAOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	KeyRSAOAEP      = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
)

// Claim URIs the NameID formats read.
const claimEmail = "http://wso2.org/claims/emailaddress"

const (
	attrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	acPasswordProtected = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	bearerConfirmation  = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	entityNameIDFormat  = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
	samlVersion         = "2.0"
)

// sigHashes and digestHashes map the algorithm URIs to their hash. goxmldsig digests with the
// signature method's hash, so a configured digest must agree with the signature method.
var (
	sigHashes = map[string]crypto.Hash{
		AlgRSASHA1: crypto.SHA1, AlgRSASHA256: crypto.SHA256, AlgRSASHA384: crypto.SHA384, AlgRSASHA512: crypto.SHA512,
	}
	digestHashes = map[string]crypto.Hash{
		DigestSHA1: crypto.SHA1, DigestSHA256: crypto.SHA256, DigestSHA384: crypto.SHA384, DigestSHA512: crypto.SHA512,
	}
)

// signingContext is the XML-DSig context for sp: exclusive C14N, RSA-SHA256 unless the SP
// asks for another RSA method; SHA-1 only with AllowSHA1.
func signingContext(sk *signingKey, sp store.SAMLServiceProvider) (*dsig.SigningContext, error) {
	method := sp.SignatureAlgorithm
	if method == "" {
		method = AlgRSASHA256
	}
	h, ok := sigHashes[method]
	if !ok {
		return nil, fmt.Errorf("saml: unsupported signature algorithm %q", method)
	}
	if h == crypto.SHA1 && !sp.AllowSHA1 {
		return nil, fmt.Errorf("saml: signature algorithm %q needs SHA-1 to be allowed", method)
	}
	if sp.DigestAlgorithm != "" && digestHashes[sp.DigestAlgorithm] != h {
		return nil, fmt.Errorf("saml: digest %q does not match signature algorithm %q", sp.DigestAlgorithm, method)
	}
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{sk.cert.Raw}, PrivateKey: sk.key, Leaf: sk.cert}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(method); err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	return ctx, nil
}

// encrypter is the XML-Enc encrypter for sp: RSA-OAEP key transport (1.0 MGF1P by default)
// and AES-256-GCM unless the SP's settings say otherwise.
func encrypter(sp store.SAMLServiceProvider) (xmlenc.Encrypter, error) {
	var e xmlenc.RSA
	switch sp.KeyTransportAlgorithm {
	case "", KeyRSAOAEPMGF1P:
		e = xmlenc.OAEP()
		if sp.AllowSHA1 {
			e.DigestMethod = &xmlenc.SHA1
		}
	case KeyRSAOAEP:
		e = xmlenc.OAEP_SHA256()
	default:
		return nil, fmt.Errorf("saml: unsupported key transport %q", sp.KeyTransportAlgorithm)
	}
	switch sp.EncryptionAlgorithm {
	case "", EncAES256GCM:
		e.BlockCipher = xmlenc.AES256GCM
	case EncAES128GCM:
		e.BlockCipher = xmlenc.AES128GCM
	case EncAES256CBC:
		e.BlockCipher = xmlenc.AES256CBC
	case EncAES128CBC:
		e.BlockCipher = xmlenc.AES128CBC
	default:
		return nil, fmt.Errorf("saml: unsupported encryption algorithm %q", sp.EncryptionAlgorithm)
	}
	return e, nil
}

// success is what a successful login asserts.
type success struct {
	subject      connectors.User
	claims       map[string]string
	acr          string
	authnInstant time.Time
	sessionIndex string
	// issued is the NameID the assertion carried, set by buildResponse (single logout names
	// the principal with it).
	issued *crewjam.NameID
}

// buildResponse makes the Response for st: a Success carrying the assertion about s, or, with
// s nil, an error status (top, second, message). It is signed and encrypted per sp.
func (h *Handler) buildResponse(t tenant, sk *signingKey, sp store.SAMLServiceProvider, st loginState,
	s *success, top, second, message string) ([]byte, error) {
	now := h.cfg.Now().UTC()
	issuer := h.entityID(t)
	resp := &crewjam.Response{
		ID: h.cfg.NewID(), InResponseTo: st.RequestID, Version: samlVersion, IssueInstant: now,
		Destination: st.ACS, Issuer: &crewjam.Issuer{Format: entityNameIDFormat, Value: issuer},
		Status: crewjam.Status{StatusCode: crewjam.StatusCode{Value: top}},
	}
	if second != "" {
		resp.Status.StatusCode.StatusCode = &crewjam.StatusCode{Value: second}
	}
	if message != "" {
		resp.Status.StatusMessage = &crewjam.StatusMessage{Value: message}
	}
	ctx, err := signingContext(sk, sp)
	if err != nil {
		return nil, err
	}
	var assertionEl *etree.Element
	if s != nil {
		assertion, err := h.assertion(t, sp, st, s, now)
		if err != nil {
			return nil, err
		}
		assertionEl = assertion.Element()
		if sp.SignAssertion || !sp.SignResponse {
			// The signature must follow the Issuer (saml-core §2.3.3 schema): sign, then
			// render again with the Signature in its place.
			signed, err := ctx.SignEnveloped(assertionEl)
			if err != nil {
				return nil, fmt.Errorf("saml: sign assertion: %w", err)
			}
			assertion.Signature = signed.ChildElements()[len(signed.ChildElements())-1]
			assertionEl = assertion.Element()
		}
		if sp.EncryptAssertion {
			if assertionEl, err = encryptAssertion(sp, assertionEl); err != nil {
				return nil, err
			}
		}
	}
	el := resp.Element()
	if assertionEl != nil {
		el.AddChild(assertionEl)
	}
	// Error responses are always signed: they carry no assertion to sign instead.
	if sp.SignResponse || s == nil {
		signed, err := ctx.SignEnveloped(el)
		if err != nil {
			return nil, fmt.Errorf("saml: sign response: %w", err)
		}
		resp.Signature = signed.ChildElements()[len(signed.ChildElements())-1]
		el = resp.Element()
		if assertionEl != nil {
			el.AddChild(assertionEl)
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return doc.WriteToBytes()
}

func encryptAssertion(sp store.SAMLServiceProvider, assertionEl *etree.Element) (*etree.Element, error) {
	cert, err := parseCertPEM(sp.EncryptionCertificate)
	if err != nil {
		return nil, err
	}
	enc, err := encrypter(sp)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.SetRoot(assertionEl)
	plain, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("saml: serialize assertion: %w", err)
	}
	data, err := enc.Encrypt(cert, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("saml: encrypt assertion: %w", err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	out := etree.NewElement("saml:EncryptedAssertion")
	out.AddChild(data)
	return out, nil
}

// assertion builds the (unsigned) assertion of a successful login.
func (h *Handler) assertion(t tenant, sp store.SAMLServiceProvider, st loginState, s *success, now time.Time) (*crewjam.Assertion, error) {
	nameID, err := h.nameID(t, sp, st, s)
	if err != nil {
		return nil, err
	}
	s.issued = nameID
	until := now.Add(h.cfg.AssertionLifetime)
	audiences := []crewjam.Audience{{Value: sp.EntityID}}
	for _, a := range sp.Audiences {
		if a != sp.EntityID {
			audiences = append(audiences, crewjam.Audience{Value: a})
		}
	}
	acr := s.acr
	if acr == "" {
		acr = acPasswordProtected
	}
	a := &crewjam.Assertion{
		ID: h.cfg.NewID(), IssueInstant: now, Version: samlVersion,
		Issuer: crewjam.Issuer{Format: entityNameIDFormat, Value: h.entityID(t)},
		Subject: &crewjam.Subject{NameID: nameID, SubjectConfirmations: []crewjam.SubjectConfirmation{{
			Method: bearerConfirmation,
			SubjectConfirmationData: &crewjam.SubjectConfirmationData{
				InResponseTo: st.RequestID, NotOnOrAfter: until, Recipient: st.ACS},
		}}},
		Conditions: &crewjam.Conditions{NotBefore: now, NotOnOrAfter: until,
			AudienceRestrictions: []crewjam.AudienceRestriction{{Audience: audiences[0], AdditionalAudiences: audiences[1:]}}},
		AuthnStatements: []crewjam.AuthnStatement{{
			AuthnInstant: s.authnInstant, SessionIndex: s.sessionIndex,
			AuthnContext: crewjam.AuthnContext{AuthnContextClassRef: &crewjam.AuthnContextClassRef{Value: acr}},
		}},
	}
	if attrs := attributes(sp.AttributeMapping, s.claims); len(attrs) > 0 {
		a.AttributeStatements = []crewjam.AttributeStatement{{Attributes: attrs}}
	}
	return a, nil
}

// attributes maps the login's claims to SAML attributes by the SP's mapping (one xs:string
// value each, as the claim holds it), sorted by attribute name.
func attributes(mapping map[string]string, claims map[string]string) []crewjam.Attribute {
	var out []crewjam.Attribute
	for claim, name := range mapping {
		v, ok := claims[claim]
		if !ok || v == "" || name == "" {
			continue
		}
		out = append(out, crewjam.Attribute{Name: name, NameFormat: attrNameFormatBasic,
			Values: []crewjam.AttributeValue{{Type: "xs:string", Value: v}}})
	}
	slices.SortFunc(out, func(a, b crewjam.Attribute) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// errNameIDUnavailable: the user has nothing to put in the NameID format asked for.
var errNameIDUnavailable = errors.New("saml: NameID format unavailable for this user")

// nameID is the Subject's NameID in the format the request asked for, else the SP's (default
// unspecified: the username).
func (h *Handler) nameID(t tenant, sp store.SAMLServiceProvider, st loginState, s *success) (*crewjam.NameID, error) {
	format := st.NameIDFormat
	if format == "" {
		format = sp.NameIDFormat
	}
	if format == "" {
		format = string(crewjam.UnspecifiedNameIDFormat)
	}
	id := &crewjam.NameID{Format: format}
	switch crewjam.NameIDFormat(format) {
	case crewjam.EmailAddressNameIDFormat:
		id.Value = s.claims[claimEmail]
		if id.Value == "" {
			id.Value = s.subject.Claims[claimEmail]
		}
		if id.Value == "" {
			return nil, fmt.Errorf("%w: emailAddress needs the user's email address claim", errNameIDUnavailable)
		}
	case crewjam.PersistentNameIDFormat:
		// Stable per user and SP, unlinkable across SPs (saml-core §8.3.7).
		m := hmac.New(sha256.New, h.cfg.PersistentIDKey)
		m.Write([]byte(t.org.ID + "\x00" + sp.EntityID + "\x00" + userKey(s.subject)))
		id.Value = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		id.NameQualifier, id.SPNameQualifier = h.entityID(t), sp.EntityID
	case crewjam.TransientNameIDFormat:
		id.Value = "_" + hex.EncodeToString(randBytes(16))
		id.NameQualifier, id.SPNameQualifier = h.entityID(t), sp.EntityID
	default:
		id.Value = s.subject.Username
		if s.subject.Identifier != "" {
			id.Value = s.subject.Identifier
		}
	}
	return id, nil
}

// userKey is the immutable identity of a user for persistent NameIDs.
func userKey(u connectors.User) string {
	if u.ID != "" {
		return u.IdP + "\x00" + u.ID
	}
	return u.IdP + "\x00" + u.UserStoreDomain + "/" + u.Username
}

// successOf extracts what a successful final view asserts.
func successOf(v flows.View, sessionID string, now time.Time) (*success, error) {
	if v.Result == nil || v.Result.Subject == nil {
		return nil, fmt.Errorf("flow %s succeeded without a subject", v.FlowID)
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
	return &success{subject: *v.Result.Subject, claims: claims, acr: v.Result.ACR,
		authnInstant: authnInstant(v.Result, now), sessionIndex: sessionID}, nil
}
