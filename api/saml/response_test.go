package saml

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenBase is the IdP's base URL in golden tests (the test server's port varies, and URLs
// are signed).
const goldenBase = "https://idp.example.com"

func withGoldenBase(c *Config) { c.BaseURL = goldenBase }

// golden compares got with testdata/name.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", name, got)
	}
}

func TestMetadata(t *testing.T) {
	g := newEnv(t, withGoldenBase)
	resp, body := g.get(g.srv.URL + PathMetadata)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("metadata = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	golden(t, "metadata.golden.xml", []byte(body))

	e := newEnv(t)
	_, body = e.get(e.srv.URL + PathMetadata)

	// samlsp reads it: the SSO endpoints and the signing certificate.
	ed, err := samlsp.ParseMetadata([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != e.srv.URL+PathMetadata || len(ed.IDPSSODescriptors) != 1 {
		t.Fatalf("entity %q", ed.EntityID)
	}
	d := ed.IDPSSODescriptors[0]
	if len(d.SingleSignOnServices) != 2 || len(d.SingleLogoutServices) != 2 || len(d.NameIDFormats) != 4 {
		t.Errorf("endpoints: %+v / %+v / %v", d.SingleSignOnServices, d.SingleLogoutServices, d.NameIDFormats)
	}

	// A tenant's metadata names the tenant's endpoints; unknown tenants have none.
	resp, body = e.get(e.srv.URL + "/t/carbon.super" + PathMetadata)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `entityID="`+e.srv.URL+`/t/carbon.super/samlsso/metadata"`) ||
		!strings.Contains(body, `Location="`+e.srv.URL+`/t/carbon.super/samlsso"`) {
		t.Errorf("tenant metadata = %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.get(e.srv.URL + "/t/nowhere" + PathMetadata); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tenant = %d", resp.StatusCode)
	}
}

// complete runs CompleteLogin directly, as api/authn does when a login ends.
func complete(t *testing.T, e *env, st loginState, v flows.View) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodPost, "/authenticationendpoint/login", nil)
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	e.h.CompleteLogin(c, v, data, "sess-1")
	return w
}

func TestResponseGolden(t *testing.T) {
	e := newEnv(t, withGoldenBase)
	s := e.newSP(withSP(func(r *store.SAMLServiceProvider) { r.Audiences = []string{"urn:extra-audience"} }))
	st := loginState{Tenant: "carbon.super", EntityID: s.reg.EntityID, RequestID: "_request-1",
		ACS: s.m.ServiceProvider.AcsURL.String(), RelayState: "relay"}
	w := complete(t, e, st, successView(flows.LoginInput{}))
	if w.Code != http.StatusOK {
		t.Fatalf("complete = %d %s", w.Code, w.Body)
	}
	_, raw := decodeResponse(t, w.Body.String())
	golden(t, "response.golden.xml", raw)
}

// TestXMLSec verifies responses with xmlsec1, an independent XML-DSig implementation, against
// the certificate of the IdP metadata.
func TestXMLSec(t *testing.T) {
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		t.Skip("xmlsec1 not installed (scripts/deps.sh installs it)")
	}
	tests := []struct {
		name                 string
		signResp, signAssert bool
		alg                  string
	}{
		{name: "response and assertion", signResp: true, signAssert: true},
		{name: "response only", signResp: true},
		{name: "assertion only", signAssert: true},
		{name: "rsa-sha512", signResp: true, signAssert: true, alg: AlgRSASHA512},
	}
	e := newEnv(t)
	_, body := e.get(e.srv.URL + PathMetadata)
	ed, err := samlsp.ParseMetadata([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	certB64 := ed.IDPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	p, err := certPEM(certB64)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, []byte(p), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := newApp(t, e, "app-"+tc.name)
			reg := store.SAMLServiceProvider{ApplicationID: app.ID, EntityID: "urn:sp:" + tc.name,
				ACS:          []store.SAMLEndpoint{{URL: "https://sp.example.com/acs", Binding: crewjam.HTTPPostBinding}},
				SignResponse: tc.signResp, SignAssertion: tc.signAssert, SignatureAlgorithm: tc.alg,
				AttributeMapping: map[string]string{claimEmail: "email"}}
			if _, err := e.st.CreateSAMLServiceProvider(t.Context(), store.NewSAMLServiceProvider{SAMLServiceProvider: reg}); err != nil {
				t.Fatal(err)
			}
			w := complete(t, e, loginState{Tenant: "carbon.super", EntityID: reg.EntityID, RequestID: "_r",
				ACS: "https://sp.example.com/acs"}, successView(flows.LoginInput{}))
			_, raw := decodeResponse(t, w.Body.String())
			file := filepath.Join(t.TempDir(), "resp.xml")
			if err := os.WriteFile(file, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := xmlsec(certFile, file); err != nil {
				t.Fatalf("xmlsec1 refused the response: %v\n%s\n%s", err, out, raw)
			}
			// A tampered assertion no longer verifies.
			bad := bytes.Replace(raw, []byte("alice@example.com"), []byte("mallory@example.com"), 1)
			if err := os.WriteFile(file, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := xmlsec(certFile, file); err == nil {
				t.Fatalf("xmlsec1 accepted a tampered response (%d):\n%s", i, out)
			}
		})
	}
}

func xmlsec(certFile, file string) ([]byte, error) {
	return exec.Command("xmlsec1", "--verify", "--pubkey-cert-pem", certFile,
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", file).CombinedOutput()
}

func TestSPAcceptsEachConfiguration(t *testing.T) {
	spCert := func() string {
		_, c := readKeyPair(t, "sp")
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}()
	tests := []struct {
		name string
		set  func(*store.SAMLServiceProvider)
	}{
		{"response signed only", func(r *store.SAMLServiceProvider) { r.SignAssertion = false }},
		{"assertion signed only", func(r *store.SAMLServiceProvider) { r.SignResponse = false }},
		{"encrypted AES-256-GCM", func(r *store.SAMLServiceProvider) {
			r.EncryptAssertion, r.EncryptionCertificate = true, spCert
		}},
		{"encrypted AES-128-CBC, RSA-OAEP 1.1", func(r *store.SAMLServiceProvider) {
			r.EncryptAssertion, r.EncryptionCertificate = true, spCert
			r.EncryptionAlgorithm, r.KeyTransportAlgorithm = EncAES128CBC, KeyRSAOAEP
		}},
		{"persistent", func(r *store.SAMLServiceProvider) { r.NameIDFormat = string(crewjam.PersistentNameIDFormat) }},
		{"transient", func(r *store.SAMLServiceProvider) { r.NameIDFormat = string(crewjam.TransientNameIDFormat) }},
		{"unspecified", func(r *store.SAMLServiceProvider) { r.NameIDFormat = string(crewjam.UnspecifiedNameIDFormat) }},
		{"rsa-sha1 allowed", func(r *store.SAMLServiceProvider) { r.SignatureAlgorithm, r.AllowSHA1 = AlgRSASHA1, true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.newSP(withSP(tc.set))
			u, id := s.redirectRequest(t, "", nil)
			_, body := e.get(u)
			a, err := s.parse(t, body, id)
			if err != nil {
				t.Fatalf("samlsp refused: %v", samlspDetail(err))
			}
			if a.Subject.NameID.Format != s.reg.NameIDFormat || a.Subject.NameID.Value == "" {
				t.Errorf("NameID %+v", a.Subject.NameID)
			}
			r, _ := decodeResponse(t, body)
			if s.reg.EncryptAssertion != (r.EncryptedAssertion != nil) {
				t.Errorf("encrypted: %v", r.EncryptedAssertion != nil)
			}
		})
	}
}

func TestNameIDs(t *testing.T) {
	e := newEnv(t)
	persistent := func(r *store.SAMLServiceProvider) { r.NameIDFormat = string(crewjam.PersistentNameIDFormat) }
	s1 := e.newSP(withSP(persistent))
	s2 := e.newSP(withSP(persistent), withSP(func(r *store.SAMLServiceProvider) {
		r.EntityID, r.ApplicationID = "urn:second-sp", newApp(t, e, "second").ID
	}))
	nameID := func(s *sp) string {
		st := loginState{Tenant: "carbon.super", EntityID: s.reg.EntityID, RequestID: "_r", ACS: s.reg.ACS[0].URL}
		_, raw := decodeResponse(t, complete(t, e, st, successView(flows.LoginInput{})).Body.String())
		var r crewjam.Response
		if err := xmlUnmarshal(raw, &r); err != nil || r.Assertion == nil {
			t.Fatalf("%v %s", err, raw)
		}
		return r.Assertion.Subject.NameID.Value
	}
	a, b, c := nameID(s1), nameID(s1), nameID(s2)
	if a != b || a == c || strings.Contains(a, "alice") {
		t.Errorf("persistent NameIDs: %q %q (same SP), %q (other SP)", a, b, c)
	}
}

func TestSHA1RefusedUnlessAllowed(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(withSP(func(r *store.SAMLServiceProvider) { r.SignatureAlgorithm = AlgRSASHA1 }))
	st := loginState{Tenant: "carbon.super", EntityID: s.reg.EntityID, RequestID: "_r", ACS: s.reg.ACS[0].URL}
	w := complete(t, e, st, successView(flows.LoginInput{}))
	if strings.Contains(w.Body.String(), "SAMLResponse") || w.Code != http.StatusInternalServerError {
		t.Errorf("SHA-1 response made without AllowSHA1: %d", w.Code)
	}
}
