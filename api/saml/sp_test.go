package saml

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/keyflow/keyflow/store"
)

func spMetadata(t *testing.T) string {
	t.Helper()
	_, cert := readKeyPair(t, "sp")
	c := base64.StdEncoding.EncodeToString(cert.Raw)
	return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.org/shibboleth">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + c + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + c + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.org/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs/post" index="1"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs/default" index="2" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`
}

func TestParseSPMetadata(t *testing.T) {
	sp, err := ParseSPMetadata([]byte(spMetadata(t)))
	if err != nil {
		t.Fatal(err)
	}
	if sp.EntityID != "https://sp.example.org/shibboleth" || len(sp.ACS) != 2 || !sp.ACS[1].Default ||
		sp.ACS[0].Index != 1 || sp.SLOURL != "https://sp.example.org/slo" ||
		sp.NameIDFormat != string(crewjam.PersistentNameIDFormat) || !sp.RequireSignedRequests ||
		len(sp.SigningCertificates) != 1 || sp.EncryptionCertificate == "" || !sp.SignResponse || !sp.SignAssertion {
		t.Errorf("parsed %+v", sp)
	}
	if acs, ok := defaultACS(sp); !ok || acs.URL != "https://sp.example.org/acs/default" {
		t.Errorf("default ACS = %+v", acs)
	}
	// Single logout services: a browser binding is preferred; SOAP alone means the back
	// channel, which the SP's descriptor then lists.
	redirect := `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.org/slo"/>`
	soap := `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example.org/soap"/>`
	for _, c := range []struct{ name, services, url, binding string }{
		{"redirect", redirect, "https://sp.example.org/slo", store.SAMLBindingRedirect},
		{"SOAP then redirect", soap + redirect, "https://sp.example.org/slo", store.SAMLBindingRedirect},
		{"SOAP only", soap, "https://sp.example.org/soap", store.SAMLBindingSOAP},
	} {
		got, err := ParseSPMetadata([]byte(strings.Replace(spMetadata(t), redirect, c.services, 1)))
		if err != nil || got.SLOURL != c.url || got.SLOBinding != c.binding {
			t.Errorf("%s: SLO %q %q, %v", c.name, got.SLOURL, got.SLOBinding, err)
			continue
		}
		ed, err := entityDescriptor(got)
		if err != nil || len(ed.SPSSODescriptors[0].SingleLogoutServices) != 1 ||
			(c.binding == store.SAMLBindingSOAP) != (ed.SPSSODescriptors[0].SingleLogoutServices[0].Binding == crewjam.SOAPBinding) {
			t.Errorf("%s: descriptor %+v, %v", c.name, ed, err)
		}
	}

	bad := []struct{ name, doc string }{
		{"DTD", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + strings.TrimPrefix(spMetadata(t), `<?xml version="1.0" encoding="UTF-8"?>`)},
		{"no SP descriptor", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`},
		{"no ACS", strings.ReplaceAll(spMetadata(t), "md:AssertionConsumerService", "md:ManageNameIDService")},
		{"javascript ACS", strings.ReplaceAll(spMetadata(t), "https://sp.example.org/acs/post", "javascript:alert(1)")},
		{"relative ACS", strings.ReplaceAll(spMetadata(t), "https://sp.example.org/acs/post", "/acs")},
		{"bad certificate", strings.Replace(spMetadata(t), "<ds:X509Certificate>", "<ds:X509Certificate>AAAA", 1)},
		{"oversized", strings.Repeat(" ", MaxMetadataBytes+1)},
		{"not XML", "{}"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseSPMetadata([]byte(tc.doc)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestFetchSPMetadata(t *testing.T) {
	doc := spMetadata(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(doc))
		case "/huge":
			_, _ = w.Write([]byte(strings.Repeat(" ", MaxMetadataBytes+10)))
		case "/hang":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx := t.Context()
	if sp, err := FetchSPMetadata(ctx, nil, srv.URL+"/ok"); err != nil || sp.EntityID != "https://sp.example.org/shibboleth" {
		t.Errorf("fetch = %+v, %v", sp, err)
	}
	for _, path := range []string{"/huge", "/missing"} {
		if _, err := FetchSPMetadata(ctx, nil, srv.URL+path); err == nil {
			t.Errorf("%s accepted", path)
		}
	}
	// A server that never answers is given up on (here: the caller's deadline).
	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := FetchSPMetadata(dctx, &http.Client{}, srv.URL+"/hang"); err == nil {
		t.Error("hanging server accepted")
	}
	if _, err := FetchSPMetadata(ctx, nil, "file:///etc/passwd"); err == nil {
		t.Error("file URL fetched")
	}
}
