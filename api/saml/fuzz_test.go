package saml

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const seedAuthnRequest = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" IssueInstant="2027-01-02T03:04:00Z" AssertionConsumerServiceURL="https://sp.example.com/saml/acs" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>https://sp.example.com/saml/metadata</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/></samlp:AuthnRequest>`

const seedLogoutRequest = `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="2027-01-02T03:04:00Z"><saml:Issuer>https://sp.example.com/saml/metadata</saml:Issuer><saml:NameID>alice@example.com</saml:NameID><samlp:SessionIndex>sess-1</samlp:SessionIndex></samlp:LogoutRequest>`

// FuzzParseAuthnRequest sends arbitrary AuthnRequests through the SSO endpoint over both
// bindings: every answer is an error page (400) or an HTTP-POST form, never a panic or a 5xx.
func FuzzParseAuthnRequest(f *testing.F) {
	for _, s := range []string{
		seedAuthnRequest,
		strings.Replace(seedAuthnRequest, `Version="2.0"`, `Version="1.0"`, 1),
		strings.Replace(seedAuthnRequest, "https://sp.example.com/saml/acs", "https://evil.example.com/", 1),
		`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + seedAuthnRequest,
		`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><x:y xmlns:x="a">`,
		"", "<", `<?xml version="1.0" encoding="UTF-16"?><a/>`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	e := newEnv(f)
	e.newSP()
	client := e.client()
	f.Fuzz(func(t *testing.T, data []byte, redirect bool) {
		var (
			resp *http.Response
			err  error
		)
		if redirect {
			resp, err = client.Get(e.srv.URL + PathSSO + "?SAMLRequest=" + url.QueryEscape(deflate64(t, data)))
		} else {
			resp, err = client.PostForm(e.srv.URL+PathSSO, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(data)}})
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		body := string(b)
		switch resp.StatusCode {
		case http.StatusOK:
			postedForm(t, body)
		case http.StatusBadRequest, http.StatusRequestURITooLong:
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

// FuzzParseLogoutRequest checks that LogoutRequest decoding and parsing never panic and accept
// only well-formed requests without DTDs.
func FuzzParseLogoutRequest(f *testing.F) {
	for _, s := range []string{
		seedLogoutRequest,
		strings.Replace(seedLogoutRequest, `<saml:NameID>alice@example.com</saml:NameID>`, "", 1),
		`<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>` + seedLogoutRequest,
		strings.Replace(seedLogoutRequest, `IssueInstant="2027-01-02T03:04:00Z"`, `IssueInstant="1999-01-01T00:00:00Z"`, 1),
		"", "<samlp:LogoutRequest", "\x00\xff",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, deflated bool) {
		param := base64.StdEncoding.EncodeToString(data)
		if deflated {
			param = deflate64(t, data)
		}
		msg, err := decodeMessage(param, deflated)
		if err != nil {
			return
		}
		lr, err := parseLogoutRequest(msg, fixedNow, 90*time.Second, 3*time.Minute)
		if err != nil {
			if strings.Contains(string(msg), "<!DOCTYPE") && !errors.Is(err, errDTD) && checkXML(msg) == nil {
				t.Fatalf("DTD accepted: %v", err)
			}
			return
		}
		if lr.ID == "" || lr.Issuer == nil || lr.Version != "2.0" || strings.Contains(string(msg), "<!") {
			t.Fatalf("accepted %+v from %q", lr, msg)
		}
	})
}

func TestParseLogoutRequest(t *testing.T) {
	msg, err := decodeMessage(deflate64(t, []byte(seedLogoutRequest)), true)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := parseLogoutRequest(msg, fixedNow, 90*time.Second, 3*time.Minute)
	if err != nil || lr.NameID.Value != "alice@example.com" {
		t.Fatalf("%+v, %v", lr, err)
	}
	if _, err := parseLogoutRequest(msg, fixedNow.Add(time.Hour), 90*time.Second, 3*time.Minute); err == nil {
		t.Error("expired LogoutRequest accepted")
	}
	if _, err := parseLogoutRequest([]byte(`<!DOCTYPE x>`+seedLogoutRequest), fixedNow, time.Minute, time.Minute); !errors.Is(err, errDTD) {
		t.Errorf("DTD: %v", err)
	}
}

// FuzzLogoutEndpoint sends arbitrary LogoutRequests and LogoutResponses through the SSO
// endpoint (the SingleLogoutService) over both bindings, with a live session cookie: every
// answer is an error (400) or a logout page, never a panic or a 5xx, and nothing unsigned
// ends the session of an SP that signs.
func FuzzLogoutEndpoint(f *testing.F) {
	seedResponse := `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" InResponseTo="_id1" Version="2.0" IssueInstant="2027-01-02T03:04:00Z"><saml:Issuer>https://sp.example.com/app/saml/metadata</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`
	spRequest := strings.Replace(seedLogoutRequest, "https://sp.example.com/saml/metadata", "https://sp.example.com/app/saml/metadata", 1)
	for _, s := range []string{
		seedLogoutRequest, spRequest,
		strings.Replace(spRequest, `<samlp:SessionIndex>sess-1</samlp:SessionIndex>`, "", 1),
		`<!DOCTYPE x [<!ENTITY a "aaaa">]>` + spRequest,
		seedResponse, strings.Replace(seedResponse, `InResponseTo="_id1"`, "", 1),
		"<samlp:LogoutRequest", "\x00",
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, false)
		f.Add([]byte(s), false, true)
	}
	e := newEnv(f)
	e.newSP()
	client := e.client()
	f.Fuzz(func(t *testing.T, data []byte, redirect, response bool) {
		param := "SAMLRequest"
		if response {
			param = "SAMLResponse"
		}
		var req *http.Request
		if redirect {
			req, _ = http.NewRequest(http.MethodGet, e.srv.URL+PathSSO+"?"+param+"="+url.QueryEscape(deflate64(t, data)), nil)
		} else {
			req, _ = http.NewRequest(http.MethodPost, e.srv.URL+PathSSO,
				strings.NewReader(url.Values{param: {base64.StdEncoding.EncodeToString(data)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			if !strings.Contains(string(b), "<form") && !strings.Contains(string(b), "signed out") {
				t.Fatalf("200 without a form: %s", b)
			}
		case http.StatusBadRequest, http.StatusRequestURITooLong:
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	})
}
