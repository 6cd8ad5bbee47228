package saml

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/store"
)

// Signature checks of messages Keyflow receives outside crewjam's request types: participants'
// LogoutResponses and ArtifactResolve.

// spCertificates are sp's registered signing certificates; none is an error.
func spCertificates(sp store.SAMLServiceProvider) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, p := range sp.SigningCertificates {
		c, err := parseCertPEM(p)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no signing certificate registered", crewjam.ErrInvalidSignature)
	}
	return certs, nil
}

// verifyEnvelopedElement checks the enveloped signature of el (which must carry one) with one
// of certs and returns what the signature covers. SHA-1 signatures are refused unless
// allowSHA1.
func verifyEnvelopedElement(el *etree.Element, certs []*x509.Certificate, allowSHA1 bool) (*etree.Element, error) {
	sig := el.FindElement("./Signature")
	if sig == nil {
		return nil, fmt.Errorf("%w: not signed", crewjam.ErrInvalidSignature)
	}
	if m := sig.FindElement("./SignedInfo/SignatureMethod"); m != nil && !allowSHA1 &&
		strings.HasSuffix(m.SelectAttrValue("Algorithm", ""), "sha1") {
		return nil, fmt.Errorf("%w: SHA-1 signature", crewjam.ErrInvalidSignature)
	}
	var lastErr error
	for _, c := range certs {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		// Keys distributed in metadata are trusted as such: their validity period is not
		// checked (as crewjam does for requests), so goxmldsig's clock is set inside it.
		vc.Clock = dsig.NewFakeClockAt(c.NotBefore.Add(time.Second))
		signed, err := vc.Validate(el.Copy())
		if err == nil {
			return signed, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w: %w", crewjam.ErrInvalidSignature, lastErr)
}

// verifyEnveloped checks the enveloped signature of the document msg.
func verifyEnveloped(msg []byte, certs []*x509.Certificate, allowSHA1 bool) error {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(msg); err != nil || doc.Root() == nil {
		return fmt.Errorf("%w: unreadable", crewjam.ErrMalformedMessage)
	}
	_, err := verifyEnvelopedElement(doc.Root(), certs, allowSHA1)
	return err
}

// redirectSigAlgs are the query-string signature algorithms (saml-bindings §3.4.4.1).
var redirectSigAlgs = map[string]crypto.Hash{
	AlgRSASHA1: crypto.SHA1, AlgRSASHA256: crypto.SHA256, AlgRSASHA384: crypto.SHA384, AlgRSASHA512: crypto.SHA512,
}

// verifyRedirectSignature checks the HTTP-Redirect binding signature of rawQuery
// (saml-bindings §3.4.4.1): RSA over "param=…&RelayState=…&SigAlg=…" exactly as received.
func verifyRedirectSignature(rawQuery, param string, certs []*x509.Certificate, allowSHA1 bool) error {
	raw := map[string]string{}
	for _, kv := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := raw[k]; dup {
			return fmt.Errorf("%w: parameter %q repeated", crewjam.ErrInvalidSignature, k)
		}
		raw[k] = v
	}
	if raw[param] == "" || raw["SigAlg"] == "" || raw["Signature"] == "" {
		return fmt.Errorf("%w: not signed", crewjam.ErrInvalidSignature)
	}
	content := param + "=" + raw[param]
	if r, ok := raw["RelayState"]; ok {
		content += "&RelayState=" + r
	}
	content += "&SigAlg=" + raw["SigAlg"]
	alg, err := url.QueryUnescape(raw["SigAlg"])
	if err != nil {
		return fmt.Errorf("%w: SigAlg", crewjam.ErrInvalidSignature)
	}
	hash, ok := redirectSigAlgs[alg]
	if !ok || (hash == crypto.SHA1 && !allowSHA1) {
		return fmt.Errorf("%w: signature algorithm %q", crewjam.ErrInvalidSignature, alg)
	}
	s, err := url.QueryUnescape(raw["Signature"])
	if err != nil {
		return fmt.Errorf("%w: Signature", crewjam.ErrInvalidSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%w: Signature is not base64", crewjam.ErrInvalidSignature)
	}
	h := hash.New()
	h.Write([]byte(content))
	sum := h.Sum(nil)
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, hash, sum, sig) == nil {
			return nil
		}
	}
	return errors.Join(crewjam.ErrInvalidSignature, errors.New("no registered certificate verifies the signature"))
}
