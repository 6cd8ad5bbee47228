package wsfed

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

func signInQuery(extra ...string) url.Values {
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {realm}, "wctx": {"rm=0&id=passive&ru=%2f<x>"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

// TestSignInSAML11: the default token — a signed SAML 1.1 assertion in a WS-Trust 2005/02 RSTR,
// posted to the reply URL with wctx; goxmldsig and xmlsec1 accept its signature, and not once it
// is tampered with.
func TestSignInSAML11(t *testing.T) {
	e := newEnv(t)
	e.newRP(nil)
	resp, body := e.get(PathPassiveSTS, signInQuery("wreply", "https://portal.example.com/other"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in = %d:\n%s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, postScriptHash) {
		t.Errorf("CSP = %q", csp)
	}
	action, form := postedForm(t, body)
	if action != "https://portal.example.com/other" || form.Get("wa") != "wsignin1.0" || form.Get("wctx") != "rm=0&id=passive&ru=%2f<x>" {
		t.Fatalf("form to %s: %v", action, form)
	}
	in := e.logins.last()
	if in.Request.Protocol != ProtocolWSFed || in.Request.ClientID != realm || in.Request.ForceAuth || in.Application.ID != e.app.ID {
		t.Errorf("login input = %+v", in)
	}
	wresult := form.Get("wresult")
	if strings.Contains(wresult, "InResponseTo") {
		t.Error("the token carries InResponseTo")
	}
	r := parseRSTR(t, wresult)
	checks := map[string]string{
		"t:Lifetime/wsu:Created":                          "2027-01-02T03:04:05.000Z",
		"t:Lifetime/wsu:Expires":                          "2027-01-02T03:09:05.000Z",
		"wsp:AppliesTo/wsa:EndpointReference/wsa:Address": realm,
		"t:TokenType":                                     store.WSFedTokenSAML11,
		"t:RequestType":                                   "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
		"t:KeyType":                                       "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
		"t:RequestedSecurityToken/saml:Assertion/saml:Conditions/saml:AudienceRestrictionCondition/saml:Audience": realm,
	}
	for path, want := range checks {
		if got := childText(r, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	a := r.FindElement("t:RequestedSecurityToken/saml:Assertion")
	if a.NamespaceURI() != nsSAML1 || a.SelectAttrValue("MajorVersion", "") != "1" || a.SelectAttrValue("MinorVersion", "") != "1" ||
		a.SelectAttrValue("AssertionID", "") != "_id1" || a.SelectAttrValue("Issuer", "") != e.srv.URL+PathPassiveSTS {
		t.Errorf("assertion attributes = %v", a.Attr)
	}
	cond := a.FindElement("saml:Conditions")
	if cond.SelectAttrValue("NotBefore", "") != "2027-01-02T03:04:05.000Z" || cond.SelectAttrValue("NotOnOrAfter", "") != "2027-01-02T03:09:05.000Z" {
		t.Errorf("conditions = %v", cond.Attr)
	}

	signed := verifyGo(t, e.keys.cert, a, "AssertionID")
	attrs := map[string]string{}
	for _, at := range signed.FindElements("saml:AttributeStatement/saml:Attribute") {
		attrs[at.SelectAttrValue("AttributeNamespace", "")+"/"+at.SelectAttrValue("AttributeName", "")] = childText(at, "saml:AttributeValue")
	}
	want := map[string]string{typeEmail: "alice@example.com", typeGiven: "Alice", typeCountry: "NZ"}
	if len(attrs) != len(want) {
		t.Errorf("attributes = %v, want %v", attrs, want)
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	for _, st := range []string{"saml:AttributeStatement", "saml:AuthenticationStatement"} {
		if got := childText(signed, st+"/saml:Subject/saml:NameIdentifier"); got != "alice" {
			t.Errorf("%s NameIdentifier = %q", st, got)
		}
		if got := childText(signed, st+"/saml:Subject/saml:SubjectConfirmation/saml:ConfirmationMethod"); got != cmBearer1 {
			t.Errorf("%s confirmation = %q", st, got)
		}
	}
	as := signed.FindElement("saml:AuthenticationStatement")
	if as.SelectAttrValue("AuthenticationMethod", "") != amPassword || as.SelectAttrValue("AuthenticationInstant", "") != "2027-01-02T03:04:04.000Z" {
		t.Errorf("authentication statement = %v", as.Attr)
	}
	if last := a.ChildElements()[len(a.ChildElements())-1]; last.Tag != "Signature" {
		t.Errorf("the signature is not the assertion's last child (SAML 1.1 schema): %s", last.Tag)
	}

	if err := verifyXMLSec(t, e.keys.cert, wresult, true); err != nil {
		t.Fatalf("xmlsec1 refused the token: %v\n%s", err, wresult)
	}
	bad := strings.Replace(wresult, "alice@example.com", "mallory@example.com", 1)
	if err := verifyXMLSec(t, e.keys.cert, bad, true); err == nil {
		t.Error("xmlsec1 accepted a tampered token")
	}
	tampered := parseRSTR(t, bad).FindElement("t:RequestedSecurityToken/saml:Assertion")
	if err := validateGo(e.keys.cert, tampered, "AssertionID"); err == nil {
		t.Error("goxmldsig accepted a tampered token")
	}
}

// TestSignInSAML20: a relying party asking for SAML 2.0 tokens gets a signed SAML 2.0
// assertion: bearer subject without InResponseTo, the realm as audience, URI-named attributes.
func TestSignInSAML20(t *testing.T) {
	e := newEnv(t)
	e.newRP(func(rp *store.WSFedRelyingParty) {
		rp.TokenType = store.WSFedTokenSAML20
		rp.NameIDFormat = NameIDEmail
	})
	resp, body := e.get(PathPassiveSTS, signInQuery())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in = %d:\n%s", resp.StatusCode, body)
	}
	action, form := postedForm(t, body)
	if action != reply {
		t.Errorf("posted to %s, want the default reply", action)
	}
	wresult := form.Get("wresult")
	r := parseRSTR(t, wresult)
	if got := childText(r, "t:TokenType"); got != store.WSFedTokenSAML20 {
		t.Errorf("TokenType = %q", got)
	}
	a := r.FindElement("t:RequestedSecurityToken/saml:Assertion")
	if a == nil || a.NamespaceURI() != "urn:oasis:names:tc:SAML:2.0:assertion" || a.SelectAttrValue("Version", "") != "2.0" {
		t.Fatalf("not a SAML 2.0 assertion:\n%s", wresult)
	}
	signed := verifyGo(t, e.keys.cert, a, "ID")
	if got := childText(signed, "saml:Conditions/saml:AudienceRestriction/saml:Audience"); got != realm {
		t.Errorf("audience = %q", got)
	}
	if got := childText(signed, "saml:Issuer"); got != e.srv.URL+PathPassiveSTS {
		t.Errorf("issuer = %q", got)
	}
	ni := signed.FindElement("saml:Subject/saml:NameID")
	if ni == nil || ni.Text() != "alice@example.com" || ni.SelectAttrValue("Format", "") != NameIDEmail {
		t.Errorf("NameID = %v", ni)
	}
	scd := signed.FindElement("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData")
	if scd == nil || scd.SelectAttr("InResponseTo") != nil || scd.SelectAttrValue("Recipient", "") != reply {
		t.Errorf("SubjectConfirmationData = %v", scd)
	}
	var got []string
	for _, at := range signed.FindElements("saml:AttributeStatement/saml:Attribute") {
		got = append(got, at.SelectAttrValue("Name", "")+"="+childText(at, "saml:AttributeValue"))
	}
	if want := []string{typeCountry + "=NZ", typeEmail + "=alice@example.com", typeGiven + "=Alice"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("attributes = %v, want %v", got, want)
	}
	if got := childText(signed, "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"); got != acPassword {
		t.Errorf("AuthnContextClassRef = %q", got)
	}
	if err := verifyXMLSec(t, e.keys.cert, wresult, false); err != nil {
		t.Fatalf("xmlsec1 refused the token: %v\n%s", err, wresult)
	}
}

// TestSignInFreshness: wfresh=0 forces authentication, a positive wfresh is a maximum age in
// minutes.
func TestSignInFreshness(t *testing.T) {
	e := newEnv(t)
	e.newRP(nil)
	if resp, body := e.get(PathPassiveSTS, signInQuery("wfresh", "0", "whr", "urn:ignored")); resp.StatusCode != http.StatusOK {
		t.Fatalf("wfresh=0: %d %s", resp.StatusCode, body)
	}
	if in := e.logins.last(); !in.Request.ForceAuth || in.Request.MaxAge != nil {
		t.Errorf("wfresh=0: %+v", in.Request)
	}
	if resp, body := e.get(PathPassiveSTS, signInQuery("wfresh", "5")); resp.StatusCode != http.StatusOK {
		t.Fatalf("wfresh=5: %d %s", resp.StatusCode, body)
	}
	if in := e.logins.last(); in.Request.ForceAuth || in.Request.MaxAge == nil || *in.Request.MaxAge != 300 {
		t.Errorf("wfresh=5: %+v", in.Request)
	}
}

// TestSignInRefused: requests that cannot be tied to a registered relying party and reply URL
// end here with an error page, never a redirect or a token.
func TestSignInRefused(t *testing.T) {
	e := newEnv(t)
	e.newRP(nil)
	tests := []struct {
		name   string
		path   string
		query  string
		status int
	}{
		{"unknown realm", PathPassiveSTS, signInQuery("wtrealm", "urn:nobody").Encode(), http.StatusBadRequest},
		{"unregistered wreply", PathPassiveSTS, signInQuery("wreply", "https://evil.example.com/").Encode(), http.StatusBadRequest},
		{"wreply prefix of a registered one", PathPassiveSTS, signInQuery("wreply", "https://portal.example.com/sign").Encode(), http.StatusBadRequest},
		{"no wtrealm", PathPassiveSTS, "wa=wsignin1.0&wreply=" + url.QueryEscape(reply), http.StatusBadRequest},
		{"no wa", PathPassiveSTS, "wtrealm=" + realm, http.StatusBadRequest},
		{"unknown wa", PathPassiveSTS, "wa=wattr1.0&wtrealm=" + realm, http.StatusBadRequest},
		{"repeated wtrealm", PathPassiveSTS, signInQuery().Encode() + "&wtrealm=urn:other", http.StatusBadRequest},
		{"bad wfresh", PathPassiveSTS, signInQuery("wfresh", "-1").Encode(), http.StatusBadRequest},
		{"oversized wctx", PathPassiveSTS, signInQuery("wctx", strings.Repeat("x", maxContext+1)).Encode(), http.StatusBadRequest},
		{"oversized query", PathPassiveSTS, signInQuery("junk", strings.Repeat("x", maxQueryBytes)).Encode(), http.StatusBadRequest},
		{"not UTF-8", PathPassiveSTS, signInQuery().Encode() + "&wctx=%ff", http.StatusBadRequest},
		{"malformed query", PathPassiveSTS, "wa=wsignin1.0&wtrealm=%zz", http.StatusBadRequest},
		{"unknown tenant", "/t/nowhere" + PathPassiveSTS, signInQuery().Encode(), http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+tc.path+"?"+tc.query, nil)
			resp, body := e.do(req)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != "" || strings.Contains(body, "wresult") {
				t.Errorf("= %d (Location %q):\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
	}
	// POST takes the form, and only a form.
	resp, _ := e.do(postRequest(t, e.srv.URL+PathPassiveSTS, "application/json", "{}"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON POST = %d", resp.StatusCode)
	}
	resp, body := e.do(postRequest(t, e.srv.URL+PathPassiveSTS, "application/x-www-form-urlencoded", signInQuery().Encode()))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "wresult") {
		t.Errorf("form POST = %d:\n%s", resp.StatusCode, body)
	}
	resp, _ = e.do(postRequest(t, e.srv.URL+PathPassiveSTS, "application/x-www-form-urlencoded",
		signInQuery("wctx", strings.Repeat("y", maxFormBytes)).Encode()))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oversized form = %d", resp.StatusCode)
	}
}

func postRequest(t *testing.T, u, contentType, body string) *http.Request {
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return req
}

// TestSignInFailed: a failed login ends on an error page (WS-Federation has no error
// response); a script's sendError redirect is followed.
func TestSignInFailed(t *testing.T) {
	e := newEnv(t)
	e.newRP(nil)
	e.logins.view = func(flows.LoginInput) flows.View {
		return flows.View{FlowID: "f", Status: flows.StatusFailed, Error: &flows.FlowError{Kind: flows.ErrorAuthentication}}
	}
	resp, body := e.get(PathPassiveSTS, signInQuery())
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "wresult") {
		t.Errorf("failed login = %d:\n%s", resp.StatusCode, body)
	}
	e.logins.view = func(flows.LoginInput) flows.View {
		return flows.View{FlowID: "f", Status: flows.StatusFailed, Error: &flows.FlowError{Kind: flows.ErrorSendError,
			RedirectURL: "https://portal.example.com/denied", Params: map[string]string{"code": "blocked"}}}
	}
	resp, _ = e.get(PathPassiveSTS, signInQuery())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://portal.example.com/denied?code=blocked" {
		t.Errorf("sendError = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestSignOut: wsignout1.0 and wsignoutcleanup1.0 end the cookie's SSO session, clear the
// cookie and redirect only to a registered reply URL.
func TestSignOut(t *testing.T) {
	e := newEnv(t)
	e.newRP(nil)
	tests := []struct {
		name     string
		query    url.Values
		status   int
		location string
		ended    bool
	}{
		{"registered logout reply", url.Values{"wa": {"wsignout1.0"}, "wreply": {"https://portal.example.com/bye"}}, http.StatusSeeOther, "https://portal.example.com/bye", true},
		{"reply of the realm", url.Values{"wa": {"wsignout1.0"}, "wtrealm": {realm}, "wreply": {reply}}, http.StatusSeeOther, reply, true},
		{"cleanup without reply", url.Values{"wa": {"wsignoutcleanup1.0"}}, http.StatusOK, "", true},
		{"unregistered reply", url.Values{"wa": {"wsignout1.0"}, "wreply": {"https://evil.example.com/"}}, http.StatusBadRequest, "", false},
		{"reply of no such realm", url.Values{"wa": {"wsignout1.0"}, "wtrealm": {"urn:nobody"}, "wreply": {reply}}, http.StatusBadRequest, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token, s := e.newSession(t)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+PathPassiveSTS+"?"+tc.query.Encode(), nil)
			req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: token})
			resp, body := e.do(req)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("= %d (Location %q):\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			_, err := e.st.SSOSessionByID(t.Context(), s.ID, fixedNow)
			if ended := errors.Is(err, store.ErrNotFound); ended != tc.ended {
				t.Errorf("session ended = %v (%v), want %v", ended, err, tc.ended)
			}
			cleared := false
			for _, ck := range resp.Cookies() {
				if ck.Name == authn.SessionCookie && ck.MaxAge < 0 {
					cleared = true
				}
			}
			if cleared != tc.ended {
				t.Errorf("cookie cleared = %v", cleared)
			}
		})
	}
}

// TestMetadataGolden: the federation metadata, signed, with a fixed key, clock and id; xmlsec1
// and goxmldsig verify its signature.
func TestMetadataGolden(t *testing.T) {
	e := newEnv(t)
	h, err := New(Config{Store: e.st, Keys: e.keys, Logins: e.logins, BaseURL: "https://id.example.com",
		Now: func() time.Time { return fixedNow }, NewID: func() string { return "_metadata1" }})
	if err != nil {
		t.Fatal(err)
	}
	g := newEngine(h)
	for _, path := range []string{PathMetadata, "/t/carbon.super" + PathMetadata} {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != metadataType {
			t.Fatalf("%s = %d %s", path, rec.Code, rec.Body)
		}
		if path != PathMetadata {
			if !strings.Contains(rec.Body.String(), "https://id.example.com/t/carbon.super/passivests") {
				t.Errorf("tenant metadata does not name the tenant's endpoint:\n%s", rec.Body)
			}
			continue
		}
		golden(t, "testdata/metadata.golden.xml", rec.Body.Bytes())
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
		if first := doc.Root().ChildElements()[0]; first.Tag != "Signature" {
			t.Errorf("first child is %s, want the Signature", first.Tag)
		}
		verifyGo(t, e.keys.cert, doc.Root(), "ID")
		if err := verifyXMLSecMetadata(t, e.keys.cert, rec.Body.String()); err != nil {
			t.Errorf("xmlsec1 refused the metadata: %v", err)
		}
	}
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/t/nowhere"+PathMetadata, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown tenant metadata = %d", rec.Code)
	}
}
