package saml

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

func TestSPInitiatedRedirect(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	u, id := s.redirectRequest(t, "relay-1", nil)
	resp, body := e.get(u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSO = %d %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("CSP = %q", csp)
	}
	action, _, relay := postedForm(t, body)
	if action != s.m.ServiceProvider.AcsURL.String() || relay != "relay-1" {
		t.Errorf("form action %q relay %q", action, relay)
	}
	a, err := s.parse(t, body, id)
	if err != nil {
		t.Fatalf("samlsp refused the response: %v", samlspDetail(err))
	}
	if a.Subject.NameID.Value != "alice@example.com" || a.Subject.NameID.Format != string(crewjam.EmailAddressNameIDFormat) {
		t.Errorf("NameID = %+v", a.Subject.NameID)
	}
	attrs := samlsp.Attributes{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				attrs[at.Name] = append(attrs[at.Name], v.Value)
			}
		}
	}
	if attrs.Get("email") != "alice@example.com" || attrs.Get("givenName") != "Alice" {
		t.Errorf("attributes = %v", attrs)
	}
	if got := a.AuthnStatements[0].SessionIndex; got != "sess-1" {
		t.Errorf("SessionIndex = %q", got)
	}
	in := e.logins.inputs()
	if len(in) != 1 {
		t.Fatalf("logins = %d", len(in))
	}
	if r := in[0].Request; r.Protocol != ProtocolSAML || r.ClientID != s.reg.EntityID || r.ForceAuth || r.Passive {
		t.Errorf("login request = %+v", r)
	}
	if in[0].Application.ID != e.app.ID || in[0].Application.OrgID != e.org.ID || len(in[0].Application.Steps) != 1 {
		t.Errorf("login application = %+v", in[0].Application)
	}
}

// samlspDetail unwraps samlsp's InvalidResponseError, whose message hides the cause.
func samlspDetail(err error) error {
	if ire, ok := errors.AsType[*crewjam.InvalidResponseError](err); ok {
		return ire.PrivateErr
	}
	return err
}

func TestRequestOptionsReachTheLogin(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	yes := true
	u, _ := s.redirectRequest(t, "", func(r *crewjam.AuthnRequest) {
		r.ForceAuthn, r.IsPassive = &yes, &yes
		r.RequestedAuthnContext = &crewjam.RequestedAuthnContext{Comparison: "exact",
			AuthnContextClassRefs: []string{"urn:acr:mfa", "urn:acr:pwd"}}
	})
	if resp, body := e.get(u); resp.StatusCode != http.StatusOK {
		t.Fatalf("SSO = %d %s", resp.StatusCode, body)
	}
	r := e.logins.inputs()[0].Request
	if !r.ForceAuth || !r.Passive || !slices.Equal(r.RequestedACR, []string{"urn:acr:mfa", "urn:acr:pwd"}) {
		t.Errorf("login request = %+v", r)
	}
}

func TestFailedLoginStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        *flows.FlowError
		top, inner string
	}{
		{"passive needs the user", &flows.FlowError{Kind: flows.ErrorProtocol, ErrorCode: "login_required"},
			crewjam.StatusResponder, crewjam.StatusNoPassive},
		{"script fail", &flows.FlowError{Kind: flows.ErrorProtocol, ErrorCode: "access_denied"},
			crewjam.StatusResponder, crewjam.StatusRequestDenied},
		{"authentication failed", &flows.FlowError{Kind: flows.ErrorAuthentication},
			crewjam.StatusResponder, crewjam.StatusAuthnFailed},
		{"server", &flows.FlowError{Kind: flows.ErrorServer}, crewjam.StatusResponder, ""},
	}
	e := newEnv(t)
	s := e.newSP()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.logins.view = func(flows.LoginInput) flows.View {
				return flows.View{FlowID: "f", Status: flows.StatusFailed, Error: tc.err}
			}
			u, id := s.redirectRequest(t, "", nil)
			_, body := e.get(u)
			r, _ := decodeResponse(t, body)
			if top, inner := statusOf(r); top != tc.top || inner != tc.inner || r.InResponseTo != id {
				t.Errorf("status %s / %s, InResponseTo %q", top, inner, r.InResponseTo)
			}
			if r.Assertion != nil || r.EncryptedAssertion != nil || r.Signature == nil {
				t.Error("error response carries an assertion or is unsigned")
			}
			if _, err := s.parse(t, body, id); err == nil {
				t.Error("samlsp accepted an error response")
			}
		})
	}
}

func TestSPInitiatedPostSigned(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(withSPOptions(func(o *samlsp.Options) { o.SignRequest = true }))
	if !s.reg.RequireSignedRequests {
		t.Fatal("AuthnRequestsSigned of the SP metadata not taken over")
	}
	req := s.postRequest(t, nil)
	resp, body := e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {req}, "RelayState": {"r"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSO = %d %s", resp.StatusCode, body)
	}
	if _, err := s.parse(t, body, s.lastID); err != nil {
		t.Fatalf("samlsp refused the response: %v", samlspDetail(err))
	}
}

// postRequest makes a signed (when the SP signs) AuthnRequest for the HTTP-POST binding and
// returns the base64 SAMLRequest; mutate runs before signing, tamper after.
func (s *sp) postRequest(t *testing.T, mutate func(*crewjam.AuthnRequest), tamper ...func([]byte) []byte) string {
	t.Helper()
	sp := &s.m.ServiceProvider
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(crewjam.HTTPPostBinding),
		crewjam.HTTPPostBinding, crewjam.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	req.Signature = nil
	if mutate != nil {
		mutate(req)
	}
	if sp.SignatureMethod != "" {
		if err := sp.SignAuthnRequest(req); err != nil {
			t.Fatal(err)
		}
	}
	s.lastID = req.ID
	raw := xmlBytes(t, req.Element())
	for _, f := range tamper {
		raw = f(raw)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func TestRefusedRequests(t *testing.T) {
	e := newEnv(t)
	signing := e.newSP(withSPOptions(func(o *samlsp.Options) {
		o.SignRequest = true
		u, _ := url.Parse("https://signed.example.com/app")
		o.URL = *u
	}))
	plain := e.newSP(withSP(func(r *store.SAMLServiceProvider) {
		r.ApplicationID = newApp(t, e, "plain").ID
	}), withSPOptions(func(o *samlsp.Options) {
		u, _ := url.Parse("https://plain.example.com/app")
		o.URL = *u
	}))
	evil := "https://evil.example.com/acs"
	old := func(r *crewjam.AuthnRequest) { r.IssueInstant = fixedNow.Add(-10 * time.Minute) }
	tests := []struct {
		name string
		// do sends the request and returns the answer.
		do func(t *testing.T) (*http.Response, string)
		// status 400 means an error page; otherwise a SAML Response with top/second status.
		status     int
		top, inner string
		// acs is where an error Response must go.
		acs string
	}{
		{name: "unknown SP", status: 400, do: func(t *testing.T) (*http.Response, string) {
			u, _ := plain.redirectRequest(t, "", func(r *crewjam.AuthnRequest) { r.Issuer.Value = "urn:nobody" })
			return e.get(u)
		}},
		{name: "unregistered ACS, unsigned", status: 400, do: func(t *testing.T) (*http.Response, string) {
			u, _ := plain.redirectRequest(t, "", func(r *crewjam.AuthnRequest) { r.AssertionConsumerServiceURL = evil })
			return e.get(u)
		}},
		{name: "unregistered ACS index", status: 400, do: func(t *testing.T) (*http.Response, string) {
			u, _ := plain.redirectRequest(t, "", func(r *crewjam.AuthnRequest) {
				r.AssertionConsumerServiceURL, r.AssertionConsumerServiceIndex = "", "7"
			})
			return e.get(u)
		}},
		{name: "expired", status: 200, top: crewjam.StatusRequester, inner: crewjam.StatusRequestDenied,
			acs: plain.m.ServiceProvider.AcsURL.String(), do: func(t *testing.T) (*http.Response, string) {
				u, _ := plain.redirectRequest(t, "", old)
				return e.get(u)
			}},
		{name: "issued in the future", status: 200, top: crewjam.StatusRequester, inner: crewjam.StatusRequestDenied,
			acs: plain.m.ServiceProvider.AcsURL.String(), do: func(t *testing.T) (*http.Response, string) {
				u, _ := plain.redirectRequest(t, "", func(r *crewjam.AuthnRequest) { r.IssueInstant = fixedNow.Add(time.Hour) })
				return e.get(u)
			}},
		{name: "wrong version", status: 200, top: crewjam.StatusVersionMismatch,
			acs: plain.m.ServiceProvider.AcsURL.String(), do: func(t *testing.T) (*http.Response, string) {
				u, _ := plain.redirectRequest(t, "", func(r *crewjam.AuthnRequest) { r.Version = "1.1" })
				return e.get(u)
			}},
		{name: "unsigned from a signing SP", status: 200, top: crewjam.StatusRequester, inner: crewjam.StatusRequestDenied,
			acs: signing.m.ServiceProvider.AcsURL.String(), do: func(t *testing.T) (*http.Response, string) {
				sp := signing.m.ServiceProvider
				sp.SignatureMethod = ""
				req, _ := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(crewjam.HTTPRedirectBinding),
					crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
				req.Signature = nil
				u, _ := req.Redirect("", &sp)
				return e.get(u.String())
			}},
		{name: "tampered signed POST request", status: 200, top: crewjam.StatusRequester, inner: crewjam.StatusRequestDenied,
			acs: signing.m.ServiceProvider.AcsURL.String(), do: func(t *testing.T) (*http.Response, string) {
				req := signing.postRequest(t, nil, func(b []byte) []byte {
					out := bytes.Replace(b, []byte("<samlp:AuthnRequest "), []byte(`<samlp:AuthnRequest ForceAuthn="true" `), 1)
					if bytes.Equal(out, b) {
						t.Fatal("nothing tampered")
					}
					return out
				})
				return e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {req}})
			}},
		{name: "tampered redirect signature query", status: 200, top: crewjam.StatusRequester, inner: crewjam.StatusRequestDenied,
			acs: signing.m.ServiceProvider.AcsURL.String(), do: func(t *testing.T) (*http.Response, string) {
				u, _ := signing.redirectRequest(t, "relay", nil)
				return e.get(strings.Replace(u, "RelayState=relay", "RelayState=other", 1))
			}},
		// The forged request names an ACS that only a valid signature could make acceptable.
		{name: "signature wrapping", status: 400, do: func(t *testing.T) (*http.Response, string) {
			// The validly signed request is moved into an Extensions element of a forged
			// one that names another ACS.
			signed, _ := base64.StdEncoding.DecodeString(signing.postRequest(t, nil))
			inner := bytes.Replace(signed, []byte("<samlp:AuthnRequest"), []byte("<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\""), 1)
			forged := []byte(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_forged" Version="2.0" IssueInstant="` +
				fixedNow.Format(time.RFC3339) + `" Destination="` + e.srv.URL + PathSSO + `" AssertionConsumerServiceURL="` + evil +
				`"><saml:Issuer>` + signing.reg.EntityID + `</saml:Issuer><samlp:Extensions>`)
			forged = append(forged, inner...)
			forged = append(forged, []byte(`</samlp:Extensions></samlp:AuthnRequest>`)...)
			return e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(forged)}})
		}},
		{name: "DTD", status: 400, do: func(t *testing.T) (*http.Response, string) {
			raw, _ := base64.StdEncoding.DecodeString(plain.postRequest(t, nil))
			xxe := append([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>`), raw...)
			return e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(xxe)}})
		}},
		{name: "DTD over redirect", status: 400, do: func(t *testing.T) (*http.Response, string) {
			raw, _ := base64.StdEncoding.DecodeString(plain.postRequest(t, nil))
			xxe := append([]byte(`<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>`), raw...)
			return e.get(e.srv.URL + PathSSO + "?SAMLRequest=" + url.QueryEscape(deflate64(t, xxe)))
		}},
		{name: "oversized POST", status: 400, do: func(t *testing.T) (*http.Response, string) {
			return e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {strings.Repeat("A", maxFormBytes)}})
		}},
		{name: "oversized deflated message", status: 400, do: func(t *testing.T) (*http.Response, string) {
			raw, _ := base64.StdEncoding.DecodeString(plain.postRequest(t, func(r *crewjam.AuthnRequest) {
				r.ProviderName = strings.Repeat("x", 2*MaxMessageBytes)
			}))
			return e.get(e.srv.URL + PathSSO + "?SAMLRequest=" + url.QueryEscape(deflate64(t, raw)))
		}},
		{name: "not base64", status: 400, do: func(t *testing.T) (*http.Response, string) {
			return e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {"%%%"}})
		}},
		{name: "no request", status: 400, do: func(t *testing.T) (*http.Response, string) {
			return e.get(e.srv.URL + PathSSO)
		}},
		{name: "unknown tenant", status: 404, do: func(t *testing.T) (*http.Response, string) {
			u, _ := plain.redirectRequest(t, "", nil)
			return e.get(strings.Replace(u, PathSSO, "/t/nowhere"+PathSSO, 1))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.do(t)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != http.StatusOK {
				if strings.Contains(body, "SAMLResponse") {
					t.Error("error page carries a SAML response")
				}
				return
			}
			action, _, _ := postedForm(t, body)
			r, _ := decodeResponse(t, body)
			if top, inner := statusOf(r); action != tc.acs || top != tc.top || inner != tc.inner || r.Assertion != nil || r.EncryptedAssertion != nil {
				t.Errorf("posted to %s: status %s / %s", action, top, inner)
			}
		})
	}
	if n := len(e.logins.inputs()); n != 0 {
		t.Errorf("%d refused requests started a login", n)
	}
}

func TestUnregisteredACSWithValidSignature(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(withSPOptions(func(o *samlsp.Options) { o.SignRequest = true }))
	other := "https://sp.example.com/other-acs"
	u, id := s.redirectRequest(t, "", func(r *crewjam.AuthnRequest) { r.AssertionConsumerServiceURL = other })
	resp, body := e.get(u)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSO = %d %s", resp.StatusCode, body)
	}
	action, _, _ := postedForm(t, body)
	r, _ := decodeResponse(t, body)
	if action != other || r.Destination != other || r.InResponseTo != id {
		t.Errorf("posted to %s, Destination %s", action, r.Destination)
	}
}

// TestWrappedSignedRequest: a validly signed request wrapped in a forged one that names the
// registered ACS but other options: what is used is what the signature covers, or nothing.
func TestWrappedSignedRequest(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(withSPOptions(func(o *samlsp.Options) { o.SignRequest = true }))
	signed, _ := base64.StdEncoding.DecodeString(s.postRequest(t, nil))
	inner := bytes.Replace(signed, []byte("<samlp:AuthnRequest"), []byte(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"`), 1)
	forged := `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_forged" Version="2.0" IsPassive="true" ForceAuthn="true" IssueInstant="` +
		fixedNow.Format(time.RFC3339) + `" Destination="` + e.srv.URL + PathSSO + `"><saml:Issuer>` + s.reg.EntityID +
		`</saml:Issuer><samlp:Extensions>` + string(inner) + `</samlp:Extensions></samlp:AuthnRequest>`
	resp, body := e.postForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(forged))}})
	if resp.StatusCode == http.StatusBadRequest {
		return
	}
	r, _ := decodeResponse(t, body)
	if top, _ := statusOf(r); r.InResponseTo == "_forged" && (top == crewjam.StatusSuccess || r.Assertion != nil) {
		t.Fatal("the forged request was answered with an assertion")
	}
	for _, in := range e.logins.inputs() {
		if in.Request.Passive || in.Request.ForceAuth {
			t.Errorf("forged options reached the login: %+v", in.Request)
		}
	}
}

// TestTenantSSO: the SP of a tenant uses the tenant's endpoints and entity id.
func TestTenantSSO(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get(e.srv.URL + "/t/carbon.super" + PathMetadata)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	s := e.newSP()
	meta, err := samlsp.ParseMetadata([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	s.m.ServiceProvider.IDPMetadata = meta
	u, id := s.redirectRequest(t, "", nil)
	if !strings.Contains(u, "/t/carbon.super/samlsso?") {
		t.Fatalf("request URL %s", u)
	}
	_, body = e.get(u)
	a, err := s.parse(t, body, id)
	if err != nil {
		t.Fatalf("samlsp refused: %v", samlspDetail(err))
	}
	if a.Issuer.Value != e.srv.URL+"/t/carbon.super"+PathMetadata {
		t.Errorf("issuer %q", a.Issuer.Value)
	}
}

func TestReplayedRequest(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	u, _ := s.redirectRequest(t, "", nil)
	if _, body := e.get(u); !strings.Contains(body, "SAMLResponse") {
		t.Fatalf("first: %s", body)
	}
	_, body := e.get(u)
	r, _ := decodeResponse(t, body)
	if top, inner := statusOf(r); top != crewjam.StatusRequester || inner != crewjam.StatusRequestDenied {
		t.Errorf("replay answered %s / %s", top, inner)
	}
	if n := len(e.logins.inputs()); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

func TestIdPInitiated(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(withSP(func(r *store.SAMLServiceProvider) { r.IdPInitiated = true }),
		withSPOptions(func(o *samlsp.Options) { o.AllowIDPInitiated = true }))
	acs := s.m.ServiceProvider.AcsURL.String()
	q := url.Values{"spEntityID": {s.reg.EntityID}, "acs": {acs}, "RelayState": {"/home"}}
	resp, body := e.get(e.srv.URL + PathSSO + "?" + q.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("IdP-initiated = %d %s", resp.StatusCode, body)
	}
	a, err := s.parse(t, body)
	if err != nil {
		t.Fatalf("samlsp refused: %v", samlspDetail(err))
	}
	if a.Subject.NameID.Value != "alice@example.com" {
		t.Errorf("NameID %+v", a.Subject.NameID)
	}
	r, _ := decodeResponse(t, body)
	if r.InResponseTo != "" {
		t.Errorf("unsolicited response has InResponseTo %q", r.InResponseTo)
	}

	for name, q := range map[string]url.Values{
		"unregistered acs": {"spEntityID": {s.reg.EntityID}, "acs": {"https://evil.example.com/acs"}},
		"unknown sp":       {"spEntityID": {"urn:nobody"}},
	} {
		if resp, body := e.get(e.srv.URL + PathSSO + "?" + q.Encode()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	// Not enabled for the SP.
	e2 := newEnv(t)
	s2 := e2.newSP()
	if resp, _ := e2.get(e2.srv.URL + PathSSO + "?spEntityID=" + url.QueryEscape(s2.reg.EntityID)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("IdP-initiated without permission = %d", resp.StatusCode)
	}
}

func newApp(t *testing.T, e *env, name string) store.Application {
	t.Helper()
	app, err := e.st.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func deflate64(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// TestSHA1SignedRequests: a request signed with RSA-SHA1 is refused unless the SP allows SHA-1.
func TestSHA1SignedRequests(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allow), func(t *testing.T) {
			e := newEnv(t)
			s := e.newSP(withSPOptions(func(o *samlsp.Options) { o.SignRequest = true }),
				withSP(func(r *store.SAMLServiceProvider) { r.AllowSHA1 = allow }))
			s.m.ServiceProvider.SignatureMethod = dsig.RSASHA1SignatureMethod
			u, id := s.redirectRequest(t, "", nil)
			_, body := e.get(u)
			r, _ := decodeResponse(t, body)
			top, _ := statusOf(r)
			if (top == crewjam.StatusSuccess) != allow || r.InResponseTo != id {
				t.Errorf("status %s", top)
			}
		})
	}
}

// TestNameIDPolicy: a requested NameID format wins over the SP's configured one; a format the
// IdP does not issue is answered with InvalidNameIDPolicy (saml-core §3.4.1.1).
func TestNameIDPolicy(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	policy := func(format string) func(*crewjam.AuthnRequest) {
		return func(r *crewjam.AuthnRequest) { r.NameIDPolicy = &crewjam.NameIDPolicy{Format: &format} }
	}
	u, id := s.redirectRequest(t, "", policy(string(crewjam.PersistentNameIDFormat)))
	_, body := e.get(u)
	a, err := s.parse(t, body, id)
	if err != nil {
		t.Fatalf("samlsp refused the response: %v", samlspDetail(err))
	}
	if a.Subject.NameID.Format != string(crewjam.PersistentNameIDFormat) || a.Subject.NameID.Value == "alice@example.com" {
		t.Errorf("NameID = %+v, want a persistent one", a.Subject.NameID)
	}

	u, id = s.redirectRequest(t, "", policy("urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"))
	_, body = e.get(u)
	r, _ := decodeResponse(t, body)
	if top, inner := statusOf(r); top != crewjam.StatusRequester || inner != crewjam.StatusInvalidNameIDPolicy || r.InResponseTo != id {
		t.Errorf("unsupported format: status %s / %s, InResponseTo %q", top, inner, r.InResponseTo)
	}
	if r.Assertion != nil || r.EncryptedAssertion != nil {
		t.Error("an InvalidNameIDPolicy response carries an assertion")
	}
}
