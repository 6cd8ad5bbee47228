package wsfed

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// Namespaces and URIs of the token response.
const (
	nsTrust   = "http://schemas.xmlsoap.org/ws/2005/02/trust" // WS-Trust 2005/02, as ADFS and WIF use
	nsUtility = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsPolicy  = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsAddr    = "http://www.w3.org/2005/08/addressing"
	nsSAML1   = "urn:oasis:names:tc:SAML:1.0:assertion"

	requestTypeIssue = "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
	keyTypeBearer    = "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey"

	cmBearer1     = "urn:oasis:names:tc:SAML:1.0:cm:bearer"
	cmBearer2     = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	amPassword    = "urn:oasis:names:tc:SAML:1.0:am:password"
	acPassword    = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	attrNameURI   = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	defaultClaims = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"

	// assertionIDAttr is SAML 1.1's id attribute, which the signature's reference names.
	assertionIDAttr = "AssertionID"
)

// NameIdentifier formats a relying party may choose (SAML 1.1 §2.4.2.2 and SAML 2.0 §8.3).
const (
	NameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	NameIDEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
)

// claimEmail is the local claim the email NameIdentifier format reads.
const claimEmail = "http://wso2.org/claims/emailaddress"

// xsDateTime is how instants are written (UTC, milliseconds, as ADFS writes them).
const xsDateTime = "2006-01-02T15:04:05.000Z"

func instant(t time.Time) string { return t.UTC().Format(xsDateTime) }

// success is what a successful login asserts.
type success struct {
	subject      connectors.User
	claims       map[string]string
	acr          string
	authnInstant time.Time
	sessionIndex string
}

// token is what the RSTR carries, already decided: the signed assertion and its facts.
type token struct {
	issuer    string
	realm     string
	tokenType string
	id        string
	now       time.Time
	until     time.Time
}

// signingContext signs enveloped, with exclusive C14N and RSA-SHA256; idAttr is the attribute
// the Reference URI points at ("ID", or "AssertionID" for SAML 1.1).
func signingContext(key *rsa.PrivateKey, cert *x509.Certificate, idAttr string) (*dsig.SigningContext, error) {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.IdAttribute = idAttr
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("wsfed: %w", err)
	}
	return ctx, nil
}

// nameID is the subject's NameIdentifier value and format for rp (default unspecified: the
// username).
func nameID(rp store.WSFedRelyingParty, s *success) (value, format string, err error) {
	format = rp.NameIDFormat
	switch format {
	case "", NameIDUnspecified:
		format = NameIDUnspecified
		value = s.subject.Username
		if s.subject.Identifier != "" {
			value = s.subject.Identifier
		}
	case NameIDEmail:
		value = s.claims[claimEmail]
		if value == "" {
			return "", "", errors.New("wsfed: emailAddress NameIdentifier needs the user's email address claim")
		}
	case NameIDTransient:
		value = "_" + hex.EncodeToString(randomBytes(16))
	default:
		return "", "", fmt.Errorf("wsfed: unsupported NameIdentifier format %q", format)
	}
	if value == "" {
		return "", "", errors.New("wsfed: the subject has no name")
	}
	return value, format, nil
}

// claim is one mapped claim: its type URI and value.
type claim struct{ typ, value string }

// mappedClaims maps the login's claims by the relying party's mapping, sorted by claim type.
func mappedClaims(mapping, claims map[string]string) []claim {
	var out []claim
	for local, typ := range mapping {
		if v := claims[local]; v != "" && typ != "" {
			out = append(out, claim{typ: typ, value: v})
		}
	}
	slices.SortFunc(out, func(a, b claim) int { return strings.Compare(a.typ, b.typ) })
	return out
}

// splitClaimType splits a claim type URI into SAML 1.1's AttributeNamespace and AttributeName
// at its last "/" (or ":" for URNs), as ADFS and WIF do.
func splitClaimType(typ string) (ns, name string) {
	if i := strings.LastIndexAny(typ, "/:"); i > 0 && i < len(typ)-1 {
		return typ[:i], typ[i+1:]
	}
	return defaultClaims, typ
}

// saml11Assertion builds the signed SAML 1.1 assertion (SAML 1.1 core §2.3.2): Conditions
// with the realm as audience, an AttributeStatement when claims map, an
// AuthenticationStatement, and the enveloped signature last.
func saml11Assertion(tk token, rp store.WSFedRelyingParty, s *success, sctx *dsig.SigningContext) (*etree.Element, error) {
	nameValue, nameFormat, err := nameID(rp, s)
	if err != nil {
		return nil, err
	}
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", nsSAML1)
	a.CreateAttr("MajorVersion", "1")
	a.CreateAttr("MinorVersion", "1")
	a.CreateAttr(assertionIDAttr, tk.id)
	a.CreateAttr("Issuer", tk.issuer)
	a.CreateAttr("IssueInstant", instant(tk.now))
	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", instant(tk.now))
	cond.CreateAttr("NotOnOrAfter", instant(tk.until))
	cond.CreateElement("saml:AudienceRestrictionCondition").CreateElement("saml:Audience").SetText(tk.realm)
	subject := func(parent *etree.Element) {
		sub := parent.CreateElement("saml:Subject")
		ni := sub.CreateElement("saml:NameIdentifier")
		ni.CreateAttr("Format", nameFormat)
		ni.SetText(nameValue)
		sub.CreateElement("saml:SubjectConfirmation").CreateElement("saml:ConfirmationMethod").SetText(cmBearer1)
	}
	if claims := mappedClaims(rp.ClaimMapping, s.claims); len(claims) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		subject(st)
		for _, cl := range claims {
			ns, name := splitClaimType(cl.typ)
			at := st.CreateElement("saml:Attribute")
			at.CreateAttr("AttributeName", name)
			at.CreateAttr("AttributeNamespace", ns)
			at.CreateElement("saml:AttributeValue").SetText(cl.value)
		}
	}
	as := a.CreateElement("saml:AuthenticationStatement")
	method := amPassword
	if s.acr != "" && s.acr != acPassword {
		method = s.acr
	}
	as.CreateAttr("AuthenticationMethod", method)
	as.CreateAttr("AuthenticationInstant", instant(s.authnInstant))
	subject(as)
	if err := signInto(sctx, a); err != nil {
		return nil, fmt.Errorf("wsfed: sign assertion: %w", err)
	}
	return a, nil
}

// signInto appends el's enveloped signature to el. goxmldsig canonicalizes the element it
// signs in place (exclusive C14N drops namespace declarations no element or attribute name
// uses, such as the one behind xsi:type="fed:…"), so it signs a copy and el keeps its
// declarations.
func signInto(sctx *dsig.SigningContext, el *etree.Element) error {
	sig, err := sctx.ConstructSignature(el.Copy(), true)
	if err != nil {
		return err
	}
	el.AddChild(sig)
	return nil
}

// saml20Assertion builds the signed SAML 2.0 assertion: a bearer subject without InResponseTo
// (WS-Federation has no request id), the realm as audience, the mapped claims as URI-named
// attributes, an AuthnStatement; the signature follows the Issuer (saml-core §2.3.3).
func saml20Assertion(tk token, rp store.WSFedRelyingParty, s *success, reply string, sctx *dsig.SigningContext) (*etree.Element, error) {
	nameValue, nameFormat, err := nameID(rp, s)
	if err != nil {
		return nil, err
	}
	acr := s.acr
	if acr == "" {
		acr = acPassword
	}
	a := &crewjam.Assertion{
		ID: tk.id, IssueInstant: tk.now, Version: "2.0",
		Issuer: crewjam.Issuer{Value: tk.issuer},
		Subject: &crewjam.Subject{NameID: &crewjam.NameID{Format: nameFormat, Value: nameValue},
			SubjectConfirmations: []crewjam.SubjectConfirmation{{Method: cmBearer2,
				SubjectConfirmationData: &crewjam.SubjectConfirmationData{NotOnOrAfter: tk.until, Recipient: reply}}}},
		Conditions: &crewjam.Conditions{NotBefore: tk.now, NotOnOrAfter: tk.until,
			AudienceRestrictions: []crewjam.AudienceRestriction{{Audience: crewjam.Audience{Value: tk.realm}}}},
		AuthnStatements: []crewjam.AuthnStatement{{AuthnInstant: s.authnInstant, SessionIndex: s.sessionIndex,
			AuthnContext: crewjam.AuthnContext{AuthnContextClassRef: &crewjam.AuthnContextClassRef{Value: acr}}}},
	}
	if claims := mappedClaims(rp.ClaimMapping, s.claims); len(claims) > 0 {
		var attrs []crewjam.Attribute
		for _, cl := range claims {
			attrs = append(attrs, crewjam.Attribute{Name: cl.typ, NameFormat: attrNameURI,
				Values: []crewjam.AttributeValue{{Value: cl.value}}})
		}
		a.AttributeStatements = []crewjam.AttributeStatement{{Attributes: attrs}}
	}
	signed, err := sctx.SignEnveloped(a.Element())
	if err != nil {
		return nil, fmt.Errorf("wsfed: sign assertion: %w", err)
	}
	a.Signature = signed.ChildElements()[len(signed.ChildElements())-1]
	return a.Element(), nil
}

// rstr wraps the signed assertion in a WS-Trust 2005/02 RequestSecurityTokenResponse, the
// wresult of WS-Federation 1.2 §13.2.3, shaped as ADFS sends it.
func rstr(tk token, assertion *etree.Element) ([]byte, error) {
	r := etree.NewElement("t:RequestSecurityTokenResponse")
	r.CreateAttr("xmlns:t", nsTrust)
	lt := r.CreateElement("t:Lifetime")
	for _, p := range []struct {
		tag string
		at  time.Time
	}{{"wsu:Created", tk.now}, {"wsu:Expires", tk.until}} {
		el := lt.CreateElement(p.tag)
		el.CreateAttr("xmlns:wsu", nsUtility)
		el.SetText(instant(p.at))
	}
	applies := r.CreateElement("wsp:AppliesTo")
	applies.CreateAttr("xmlns:wsp", nsPolicy)
	epr := applies.CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", nsAddr)
	epr.CreateElement("wsa:Address").SetText(tk.realm)
	r.CreateElement("t:RequestedSecurityToken").AddChild(assertion)
	r.CreateElement("t:TokenType").SetText(tk.tokenType)
	r.CreateElement("t:RequestType").SetText(requestTypeIssue)
	r.CreateElement("t:KeyType").SetText(keyTypeBearer)
	doc := etree.NewDocument()
	doc.SetRoot(r)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("wsfed: serialize RSTR: %w", err)
	}
	return out, nil
}
