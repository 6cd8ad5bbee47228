package saml

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/keyflow/keyflow/store"
)

// Limits of SP metadata documents.
const (
	// MaxMetadataBytes caps an SP metadata document (uploaded or fetched).
	MaxMetadataBytes = 1 << 20
	// DefaultMetadataFetchTimeout bounds FetchSPMetadata when the client has no timeout.
	DefaultMetadataFetchTimeout = 10 * time.Second
)

// ParseSPMetadata reads an SP's metadata document (an EntityDescriptor with an
// SPSSODescriptor, or an EntitiesDescriptor holding exactly one) into the SAML configuration
// of an application: entity id, assertion consumer services, single logout service, signing
// and encryption certificates, the first NameID format, AuthnRequestsSigned and
// WantAssertionsSigned. The caller sets ApplicationID and the IdP-side choices (attribute
// mapping, encryption, IdP-initiated) before storing it. DTDs are refused.
func ParseSPMetadata(data []byte) (store.SAMLServiceProvider, error) {
	if len(data) > MaxMetadataBytes {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: SP metadata larger than %d bytes", MaxMetadataBytes)
	}
	if err := checkXML(data); err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: SP metadata: %w", err)
	}
	ed, err := samlsp.ParseMetadata(data)
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: SP metadata: %w", err)
	}
	if len(ed.SPSSODescriptors) == 0 {
		return store.SAMLServiceProvider{}, errors.New("saml: SP metadata has no SPSSODescriptor")
	}
	sp := store.SAMLServiceProvider{EntityID: ed.EntityID, SignResponse: true, SignAssertion: true}
	d := ed.SPSSODescriptors[0]
	for _, e := range d.AssertionConsumerServices {
		sp.ACS = append(sp.ACS, store.SAMLEndpoint{URL: e.Location, Binding: e.Binding, Index: e.Index,
			Default: e.IsDefault != nil && *e.IsDefault})
	}
	// The single logout service: HTTP-POST when the SP offers it, else HTTP-Redirect, else
	// SOAP (back channel; saml-bindings §3.2).
	rank := map[string]int{store.SAMLBindingPOST: 3, store.SAMLBindingRedirect: 2, store.SAMLBindingSOAP: 1}
	for _, e := range d.SingleLogoutServices {
		var binding string
		switch e.Binding {
		case crewjam.HTTPPostBinding:
			binding = store.SAMLBindingPOST
		case crewjam.HTTPRedirectBinding:
			binding = store.SAMLBindingRedirect
		case crewjam.SOAPBinding:
			binding = store.SAMLBindingSOAP
		default:
			continue // others (HTTP-Artifact, PAOS): not used
		}
		if sp.SLOURL == "" || rank[binding] > rank[sp.SLOBinding] {
			sp.SLOURL, sp.SLOResponseURL, sp.SLOBinding = e.Location, e.ResponseLocation, binding
		}
	}
	for _, kd := range d.KeyDescriptors {
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			p, err := certPEM(c.Data)
			if err != nil {
				return store.SAMLServiceProvider{}, err
			}
			if kd.Use == "" || kd.Use == "signing" {
				sp.SigningCertificates = append(sp.SigningCertificates, p)
			}
			if (kd.Use == "" || kd.Use == "encryption") && sp.EncryptionCertificate == "" {
				sp.EncryptionCertificate = p
			}
		}
	}
	if len(d.NameIDFormats) > 0 {
		sp.NameIDFormat = string(d.NameIDFormats[0])
	}
	sp.RequireSignedRequests = d.AuthnRequestsSigned != nil && *d.AuthnRequestsSigned
	if err := ValidateServiceProvider(sp); err != nil {
		return store.SAMLServiceProvider{}, err
	}
	return sp, nil
}

// FetchSPMetadata GETs an SP's metadata from metadataURL (http or https) and parses it with
// ParseSPMetadata. The request is bounded by ctx, by client's timeout (client nil: a client
// with DefaultMetadataFetchTimeout) and by MaxMetadataBytes.
func FetchSPMetadata(ctx context.Context, client *http.Client, metadataURL string) (store.SAMLServiceProvider, error) {
	u, err := url.Parse(metadataURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: metadata URL %q is not an http(s) URL", metadataURL)
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultMetadataFetchTimeout}
	}
	if client.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultMetadataFetchTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: fetch metadata: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: fetch metadata: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: fetch metadata: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMetadataBytes+1))
	if err != nil {
		return store.SAMLServiceProvider{}, fmt.Errorf("saml: fetch metadata: %w", err)
	}
	return ParseSPMetadata(data)
}

// ValidateServiceProvider checks an SP configuration beyond what the store checks, for the
// management API to call before storing manual settings: ACS URLs are absolute http(s) URLs,
// at least one ACS has the HTTP-POST binding, certificates parse, and the algorithms are ones
// the response builder supports.
func ValidateServiceProvider(sp store.SAMLServiceProvider) error {
	if err := sp.Validate(); err != nil {
		return fmt.Errorf("saml: service provider: %w", err)
	}
	for _, e := range sp.ACS {
		if !httpURL(e.URL) {
			return fmt.Errorf("saml: ACS %q is not an absolute http(s) URL", e.URL)
		}
	}
	if _, ok := defaultACS(sp); !ok {
		return errors.New("saml: no HTTP-POST assertion consumer service")
	}
	if _, err := encrypter(sp); err != nil {
		return err
	}
	if m := sp.SignatureAlgorithm; m != "" {
		if h, ok := sigHashes[m]; !ok || (h == crypto.SHA1 && !sp.AllowSHA1) {
			return fmt.Errorf("saml: signature algorithm %q unsupported or SHA-1 not allowed", m)
		}
		if sp.DigestAlgorithm != "" && digestHashes[sp.DigestAlgorithm] != sigHashes[m] {
			return fmt.Errorf("saml: digest %q does not match signature algorithm %q", sp.DigestAlgorithm, m)
		}
	}
	for _, p := range sp.SigningCertificates {
		if _, err := parseCertPEM(p); err != nil {
			return err
		}
	}
	if sp.EncryptionCertificate != "" {
		if _, err := parseCertPEM(sp.EncryptionCertificate); err != nil {
			return err
		}
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Fragment == ""
}

// certPEM turns the base64 content of a ds:X509Certificate into PEM.
func certPEM(b64 string) (string, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return "", fmt.Errorf("saml: metadata certificate: %w", err)
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return "", fmt.Errorf("saml: metadata certificate: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

func parseCertPEM(p string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("saml: certificate is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("saml: certificate: %w", err)
	}
	return c, nil
}

// entityDescriptor is the SP as crewjam's IdP code sees it: the ACS list, the signing
// certificates (for AuthnRequest signatures) and whether requests must be signed. Encryption
// is decided by Keyflow's own response builder, so no encryption key is listed.
func entityDescriptor(sp store.SAMLServiceProvider) (*crewjam.EntityDescriptor, error) {
	d := crewjam.SPSSODescriptor{}
	d.ProtocolSupportEnumeration = "urn:oasis:names:tc:SAML:2.0:protocol"
	for _, e := range sp.ACS {
		isDefault := e.Default
		d.AssertionConsumerServices = append(d.AssertionConsumerServices, crewjam.IndexedEndpoint{
			Binding: e.Binding, Location: e.URL, Index: e.Index, IsDefault: &isDefault})
	}
	for _, p := range sp.SigningCertificates {
		c, err := parseCertPEM(p)
		if err != nil {
			return nil, err
		}
		d.KeyDescriptors = append(d.KeyDescriptors, crewjam.KeyDescriptor{Use: "signing",
			KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{X509Certificates: []crewjam.X509Certificate{
				{Data: base64.StdEncoding.EncodeToString(c.Raw)}}}}})
	}
	if sp.RequireSignedRequests {
		yes := true
		d.AuthnRequestsSigned = &yes
	}
	if httpURL(sp.SLOURL) {
		binding := crewjam.HTTPPostBinding
		switch sp.SLOBinding {
		case store.SAMLBindingRedirect:
			binding = crewjam.HTTPRedirectBinding
		case store.SAMLBindingSOAP:
			binding = crewjam.SOAPBinding
		}
		d.SingleLogoutServices = []crewjam.Endpoint{{Binding: binding, Location: sp.SLOURL,
			ResponseLocation: sp.SLOResponseURL}}
	}
	return &crewjam.EntityDescriptor{EntityID: sp.EntityID, SPSSODescriptors: []crewjam.SPSSODescriptor{d}}, nil
}

// acsFor picks the registered ACS a response may go to: the one with index (when given and
// registered), else the one at acsURL (when given and registered), else — when the request
// names neither — the default (saml-metadata §2.2.3). ok is false when the request names an
// ACS that is not registered.
func acsFor(sp store.SAMLServiceProvider, index, acsURL string) (store.SAMLEndpoint, bool) {
	if index != "" {
		for _, e := range sp.ACS {
			if fmt.Sprint(e.Index) == index && usableACS(e) {
				return e, true
			}
		}
	}
	if acsURL != "" {
		for _, e := range sp.ACS {
			if e.URL == acsURL && usableACS(e) {
				return e, true
			}
		}
		return store.SAMLEndpoint{}, false
	}
	if index != "" {
		return store.SAMLEndpoint{}, false
	}
	return defaultACS(sp)
}

// defaultACS is the first HTTP-POST ACS marked default, else the first HTTP-POST one.
func defaultACS(sp store.SAMLServiceProvider) (store.SAMLEndpoint, bool) {
	for _, e := range sp.ACS {
		if e.Default && usableACS(e) {
			return e, true
		}
	}
	for _, e := range sp.ACS {
		if usableACS(e) {
			return e, true
		}
	}
	return store.SAMLEndpoint{}, false
}

// usableACS: the IdP posts Responses (HTTP-POST binding) or sends artifacts (HTTP-Artifact)
// to http(s) URLs only; a stored "javascript:" location must never become a form action.
func usableACS(e store.SAMLEndpoint) bool {
	return (e.Binding == crewjam.HTTPPostBinding || e.Binding == crewjam.HTTPArtifactBinding) && httpURL(e.URL)
}
