package saml

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/store"
)

// recordingEnder stands in for *oidclogout.Handler: it records the sessions it is told of and
// returns a front-channel logout URL for each OIDC participant.
type recordingEnder struct {
	mu    sync.Mutex
	ended []store.SSOSession
}

func (r *recordingEnder) SessionEnded(_ context.Context, s store.SSOSession) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, s)
	var out []string
	for _, p := range s.Participants {
		if p.Protocol == "oidc" {
			out = append(out, "https://rp.example.com/fc?sid="+s.ID)
		}
	}
	return out
}

func (r *recordingEnder) sessions() []store.SSOSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.SSOSession(nil), r.ended...)
}

// sloFixture is an IdP with two SPs (wiki and crm, both signing their logout messages) and one
// SSO session that logged into both and into an OIDC client.
type sloFixture struct {
	e        *env
	wiki     *sp
	crm      *sp
	token    string
	sess     store.SSOSession
	ender    *recordingEnder
	cookie   *http.Cookie
	sloState *http.Cookie // kf_saml_slo, as the browser keeps it
}

func newSLOFixture(t *testing.T, wikiOpts ...spOption) *sloFixture {
	t.Helper()
	return newSLOFixtureWith(t, wikiOpts, nil)
}

func newSLOFixtureWith(t *testing.T, wikiOpts, crmOpts []spOption) *sloFixture {
	t.Helper()
	f := &sloFixture{ender: &recordingEnder{}}
	f.e = newEnv(t, func(c *Config) { c.Ended = f.ender })
	e := f.e
	signLogout := withSPOptions(func(o *samlsp.Options) { o.SignLogout = true; o.SignRequest = true })
	f.wiki = e.newSP(append([]spOption{signLogout}, wikiOpts...)...)
	app2, err := e.st.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "crm"}})
	if err != nil {
		t.Fatal(err)
	}
	f.crm = e.newSP(append([]spOption{signLogout, withSPOptions(func(o *samlsp.Options) {
		u, _ := url.Parse("https://crm.example.com/app")
		o.URL = *u
	}), withSP(func(r *store.SAMLServiceProvider) { r.ApplicationID = app2.ID })}, crmOpts...)...)
	f.token, f.sess = e.newSession(t)
	f.cookie = &http.Cookie{Name: authn.SessionCookie, Value: f.token}
	e.logins.session.Store(&f.sess.ID)
	for _, s := range []*sp{f.wiki, f.crm} {
		u, id := s.redirectRequest(t, "", nil)
		resp, body := e.get(u)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login = %d %s", resp.StatusCode, body)
		}
		if _, err := s.parse(t, body, id); err != nil {
			t.Fatalf("login refused: %v", samlspDetail(err))
		}
	}
	if err := e.st.AddSSOParticipant(t.Context(), f.sess.ID, store.SSOParticipant{Protocol: "oidc", RelyingParty: "client-1"}, fixedNow); err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *env) newSession(t *testing.T) (string, store.SSOSession) {
	t.Helper()
	token := base64.RawURLEncoding.EncodeToString(randBytes(32))
	sum := sha256.Sum256([]byte(token))
	s, err := e.st.CreateSSOSession(t.Context(), sum[:], store.SSOSession{OrgID: e.org.ID, Subject: "u-alice",
		AuthTime: fixedNow, LastActiveAt: fixedNow, IdleExpiresAt: fixedNow.Add(time.Hour), ExpiresAt: fixedNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return token, s
}

// send makes a browser request with the fixture's cookies and remembers kf_saml_slo.
func (f *sloFixture) send(t *testing.T, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if f.cookie != nil {
		req.AddCookie(f.cookie)
	}
	if f.sloState != nil {
		req.AddCookie(f.sloState)
	}
	resp, err := f.e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == logoutCookie {
			if ck.MaxAge < 0 {
				f.sloState = nil
			} else {
				f.sloState = &http.Cookie{Name: ck.Name, Value: ck.Value}
			}
		}
	}
	return resp, string(b)
}

var reFormAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)

// logoutForm reads a logout page's form: its action and the field's value.
func logoutForm(t *testing.T, body, field string) (action, value, relay string) {
	t.Helper()
	a := reFormAction.FindStringSubmatch(body)
	v := regexp.MustCompile(`name="` + field + `" value="([^"]*)"`).FindStringSubmatch(body)
	if a == nil || v == nil {
		t.Fatalf("no %s form:\n%s", field, body)
	}
	if m := reRelay.FindStringSubmatch(body); m != nil {
		relay = html.UnescapeString(m[1])
	}
	return html.UnescapeString(a[1]), html.UnescapeString(v[1]), relay
}

// receiveLogoutRequest is the SP's SLO endpoint receiving the posted LogoutRequest: crewjam
// validates it (the IdP's signature, Destination, age).
func (s *sp) receiveLogoutRequest(t *testing.T, body string) *crewjam.LogoutRequest {
	t.Helper()
	action, msg, _ := logoutForm(t, body, "SAMLRequest")
	if action != s.m.ServiceProvider.SloURL.String() {
		t.Fatalf("LogoutRequest posted to %q, want %q", action, s.m.ServiceProvider.SloURL.String())
	}
	r, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(url.Values{"SAMLRequest": {msg}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	lr, err := s.m.ServiceProvider.ValidateLogoutRequest(r)
	if err != nil {
		t.Fatalf("SP refused the LogoutRequest: %v", samlspDetail(err))
	}
	return lr
}

// logoutResponseForm is the SP's signed LogoutResponse to request id, as an HTTP-POST form.
func (s *sp) logoutResponseForm(t *testing.T, e *env, id string, status string) url.Values {
	t.Helper()
	resp, err := s.m.ServiceProvider.MakeLogoutResponseWithStatus(e.srv.URL+PathSSO, id, crewjam.Status{StatusCode: crewjam.StatusCode{Value: status}})
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(xmlBytes(t, resp.Element()))}}
}

// checkLogoutResponse validates the IdP's LogoutResponse as the initiating SP does (signature,
// Destination, InResponseTo = requestID) and with xmlsec1, and returns its status codes.
func (s *sp) checkLogoutResponse(t *testing.T, body, wantRelay, requestID string) (string, string) {
	t.Helper()
	action, msg, relay := logoutForm(t, body, "SAMLResponse")
	if action != s.m.ServiceProvider.SloURL.String() || relay != wantRelay {
		t.Errorf("LogoutResponse posted to %q (relay %q)", action, relay)
	}
	r, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(url.Values{"SAMLResponse": {msg}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := s.m.ServiceProvider.ParseLogoutResponse(r, []string{requestID}); err != nil {
		// An error status is reported as ErrBadStatus once everything else has been checked.
		var bad crewjam.ErrBadStatus
		if !errors.As(samlspDetail(err), &bad) {
			t.Errorf("SP refused the LogoutResponse: %v", samlspDetail(err))
		}
	}
	raw, _ := base64.StdEncoding.DecodeString(msg)
	verifyXMLSecLogout(t, raw)
	var lr crewjam.LogoutResponse
	if err := xmlUnmarshal(raw, &lr); err != nil {
		t.Fatal(err)
	}
	second := ""
	if lr.Status.StatusCode.StatusCode != nil {
		second = lr.Status.StatusCode.StatusCode.Value
	}
	return lr.Status.StatusCode.Value, second
}

// redirectRequestID is the ID of the LogoutRequest in an HTTP-Redirect URL.
func redirectRequestID(t *testing.T, u *url.URL) string {
	t.Helper()
	msg, err := decodeMessage(u.Query().Get("SAMLRequest"), true)
	if err != nil {
		t.Fatal(err)
	}
	var lr crewjam.LogoutRequest
	if err := xmlUnmarshal(msg, &lr); err != nil {
		t.Fatal(err)
	}
	return lr.ID
}

func verifyXMLSecLogout(t *testing.T, raw []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "logout.xml")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmlsec1", "--verify", "--pubkey-cert-pem", "testdata/idp.crt",
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse", file).CombinedOutput()
	if err != nil {
		t.Errorf("xmlsec1 refused the LogoutResponse: %v\n%s\n%s", err, out, raw)
	}
}

func (f *sloFixture) sessionEnded(t *testing.T) bool {
	t.Helper()
	_, err := f.e.st.SSOSessionByID(t.Context(), f.sess.ID, fixedNow)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err != nil
}

// TestSPInitiatedLogout: wiki's signed LogoutRequest (HTTP-Redirect or HTTP-POST) ends the
// session; crm receives a signed LogoutRequest naming alice and the session; the OIDC client's
// front-channel iframe is on the page and Ended was told; crm's LogoutResponse brings the
// browser back, and wiki receives a signed Success LogoutResponse with its RelayState.
func TestSPInitiatedLogout(t *testing.T) {
	for _, binding := range []string{crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding} {
		t.Run(binding[strings.LastIndex(binding, ":")+1:], func(t *testing.T) {
			f := newSLOFixture(t)
			e := f.e
			wiki := &f.wiki.m.ServiceProvider
			var resp *http.Response
			var body, reqID string
			if binding == crewjam.HTTPRedirectBinding {
				u, err := wiki.MakeRedirectLogoutRequest("alice@example.com", "relay-slo", crewjam.WithSessionIndex(f.sess.ID))
				if err != nil {
					t.Fatal(err)
				}
				reqID = redirectRequestID(t, u)
				resp, body = f.send(t, http.MethodGet, u.String(), nil)
			} else {
				lr, err := wiki.MakeLogoutRequest(e.srv.URL+PathSSO, "alice@example.com", crewjam.WithSessionIndex(f.sess.ID))
				if err != nil {
					t.Fatal(err)
				}
				reqID = lr.ID
				resp, body = f.send(t, http.MethodPost, e.srv.URL+PathSSO, url.Values{"RelayState": {"relay-slo"},
					"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlBytes(t, lr.Element()))}})
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("SLO = %d %s", resp.StatusCode, body)
			}
			if !f.sessionEnded(t) {
				t.Error("session still live")
			}
			if !strings.Contains(body, `<iframe src="https://rp.example.com/fc?sid=`+f.sess.ID+`"`) ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-src https://rp.example.com") {
				t.Errorf("no OIDC front-channel frame (CSP %q):\n%s", resp.Header.Get("Content-Security-Policy"), body)
			}
			if got := f.ender.sessions(); len(got) != 1 || got[0].ID != f.sess.ID {
				t.Errorf("Ended told of %+v", got)
			}
			lr := f.crm.receiveLogoutRequest(t, body)
			if lr.NameID.Value != "alice@example.com" || lr.SessionIndex == nil || lr.SessionIndex.Value != f.sess.ID {
				t.Errorf("LogoutRequest to crm names %+v / %+v", lr.NameID, lr.SessionIndex)
			}
			// crm answers with the binding it was asked with: HTTP-Redirect (query-string
			// signature) for one, HTTP-POST (enveloped) for the other.
			answer := f.crm.logoutResponseForm(t, e, lr.ID, crewjam.StatusSuccess)
			if binding == crewjam.HTTPRedirectBinding {
				u, err := f.crm.m.ServiceProvider.MakeRedirectLogoutResponse(lr.ID, "")
				if err != nil {
					t.Fatal(err)
				}
				if u.Query().Get("Signature") == "" {
					t.Fatalf("unsigned redirect %s", u)
				}
				resp, body = f.send(t, http.MethodGet, u.String(), nil)
			} else {
				resp, body = f.send(t, http.MethodPost, e.srv.URL+PathSSO, answer)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("LogoutResponse = %d %s", resp.StatusCode, body)
			}
			if top, second := f.wiki.checkLogoutResponse(t, body, "relay-slo", reqID); top != crewjam.StatusSuccess || second != "" {
				t.Errorf("status %s / %s", top, second)
			}
			if f.sloState != nil {
				t.Error("logout cookie not cleared")
			}
			// The same LogoutResponse again: no logout waits for it.
			if resp, body := f.send(t, http.MethodPost, e.srv.URL+PathSSO, answer); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("replayed LogoutResponse = %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestLogoutRefused: logout messages that must not end the session.
func TestLogoutRefused(t *testing.T) {
	f := newSLOFixture(t)
	e := f.e
	wiki := &f.wiki.m.ServiceProvider
	unsigned := func(mutate func(*crewjam.LogoutRequest)) url.Values {
		lr := &crewjam.LogoutRequest{ID: "_unsigned", Version: "2.0", IssueInstant: fixedNow,
			Destination: e.srv.URL + PathSSO, Issuer: &crewjam.Issuer{Value: f.wiki.reg.EntityID},
			NameID: &crewjam.NameID{Value: "alice@example.com"}, SessionIndex: &crewjam.SessionIndex{Value: f.sess.ID}}
		if mutate != nil {
			mutate(lr)
		}
		return url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlBytes(t, lr.Element()))}}
	}
	signed, err := wiki.MakeLogoutRequest(e.srv.URL+PathSSO, "alice@example.com", crewjam.WithSessionIndex(f.sess.ID))
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(xmlBytes(t, signed.Element())), f.sess.ID, "00000000-0000-0000-0000-000000000000", 1)
	tests := []struct {
		name string
		form url.Values
		id   string
	}{
		{"unsigned, the SP has a signing certificate", unsigned(nil), "_unsigned"},
		{"tampered after signing", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(tampered))}}, signed.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.send(t, http.MethodPost, e.srv.URL+PathSSO, tc.form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("= %d %s", resp.StatusCode, body)
			}
			if top, second := f.wiki.checkLogoutResponse(t, body, "", tc.id); top != crewjam.StatusRequester || second != crewjam.StatusRequestDenied {
				t.Errorf("status %s / %s", top, second)
			}
			if f.sessionEnded(t) {
				t.Fatal("session ended")
			}
		})
	}
	t.Run("unknown SP", func(t *testing.T) {
		resp, _ := f.send(t, http.MethodPost, e.srv.URL+PathSSO, unsigned(func(lr *crewjam.LogoutRequest) { lr.Issuer.Value = "https://nobody.example.com" }))
		if resp.StatusCode != http.StatusBadRequest || f.sessionEnded(t) {
			t.Errorf("= %d, ended %v", resp.StatusCode, f.sessionEnded(t))
		}
	})
	t.Run("replayed ID", func(t *testing.T) {
		u, err := wiki.MakeRedirectLogoutRequest("alice@example.com", "", crewjam.WithSessionIndex(f.sess.ID))
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := f.send(t, http.MethodGet, u.String(), nil); resp.StatusCode != http.StatusOK || !f.sessionEnded(t) {
			t.Fatalf("first = %d (ended %v) %s", resp.StatusCode, f.sessionEnded(t), body)
		}
		resp, body := f.send(t, http.MethodGet, u.String(), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("replay = %d %s", resp.StatusCode, body)
		}
		if top, second := f.wiki.checkLogoutResponse(t, body, "", redirectRequestID(t, u)); top != crewjam.StatusRequester || second != crewjam.StatusRequestDenied {
			t.Errorf("replay status %s / %s", top, second)
		}
	})
}

// TestLogoutResponseInResponseTo: a LogoutResponse whose InResponseTo is not the pending
// request is refused and changes nothing; the right one then finishes the logout.
func TestLogoutResponseInResponseTo(t *testing.T) {
	f := newSLOFixture(t)
	e := f.e
	u, err := f.wiki.m.ServiceProvider.MakeRedirectLogoutRequest("alice@example.com", "", crewjam.WithSessionIndex(f.sess.ID))
	if err != nil {
		t.Fatal(err)
	}
	_, body := f.send(t, http.MethodGet, u.String(), nil)
	lr := f.crm.receiveLogoutRequest(t, body)
	for _, id := range []string{"_not-sent", "", lr.ID + "x"} {
		if resp, body := f.send(t, http.MethodPost, e.srv.URL+PathSSO, f.crm.logoutResponseForm(t, e, id, crewjam.StatusSuccess)); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("InResponseTo %q = %d %s", id, resp.StatusCode, body)
		}
	}
	// A failed participant makes the answer PartialLogout.
	resp, body := f.send(t, http.MethodPost, e.srv.URL+PathSSO, f.crm.logoutResponseForm(t, e, lr.ID, crewjam.StatusResponder))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d %s", resp.StatusCode, body)
	}
	if top, second := f.wiki.checkLogoutResponse(t, body, "", redirectRequestID(t, u)); top != crewjam.StatusSuccess || second != statusPartialLogout {
		t.Errorf("status %s / %s", top, second)
	}
}

// TestIdPInitiatedLogout: GET /samlsso/logout ends the cookie's session and sends a
// LogoutRequest to each SP in turn; an SP that never answers is skipped when the browser comes
// back; the last page follows the registered returnTo.
func TestIdPInitiatedLogout(t *testing.T) {
	f := newSLOFixture(t)
	e := f.e
	if resp, _ := f.send(t, http.MethodGet, e.srv.URL+PathLogout+"?spEntityID="+url.QueryEscape(f.wiki.reg.EntityID)+
		"&returnTo="+url.QueryEscape("https://evil.example.com/"), nil); resp.StatusCode != http.StatusBadRequest || f.sessionEnded(t) {
		t.Fatalf("unregistered returnTo = %d", resp.StatusCode)
	}
	returnTo := f.wiki.m.ServiceProvider.SloURL.String()
	resp, body := f.send(t, http.MethodGet, e.srv.URL+PathSSO+"?slo=true&spEntityID="+url.QueryEscape(f.wiki.reg.EntityID)+
		"&returnTo="+url.QueryEscape(returnTo), nil)
	if resp.StatusCode != http.StatusOK || !f.sessionEnded(t) {
		t.Fatalf("= %d (ended %v) %s", resp.StatusCode, f.sessionEnded(t), body)
	}
	if !strings.Contains(body, `<iframe src="https://rp.example.com/fc?sid=`) {
		t.Errorf("no OIDC frame:\n%s", body)
	}
	// Participants go in order of login, then entity id: crm sorts first.
	lr := f.crm.receiveLogoutRequest(t, body)
	if lr.NameID.Value != "alice@example.com" {
		t.Errorf("NameID %+v", lr.NameID)
	}
	// crm never answers; the browser comes back to the logout endpoint.
	resp, body = f.send(t, http.MethodGet, e.srv.URL+PathLogout, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("resume = %d %s", resp.StatusCode, body)
	}
	lr = f.wiki.receiveLogoutRequest(t, body)
	resp, body = f.send(t, http.MethodPost, e.srv.URL+PathSSO, f.wiki.logoutResponseForm(t, e, lr.ID, crewjam.StatusSuccess))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<a id="next" href="`+returnTo+`">`) ||
		strings.Contains(body, "<form") {
		t.Fatalf("final page = %d %s", resp.StatusCode, body)
	}
	if f.sloState != nil {
		t.Error("logout cookie not cleared")
	}
	// Nothing left: a second IdP-initiated logout just shows the page.
	if resp, body := f.send(t, http.MethodGet, e.srv.URL+PathLogout, nil); resp.StatusCode != http.StatusOK || strings.Contains(body, "<form") {
		t.Errorf("second logout = %d %s", resp.StatusCode, body)
	}
}

// TestArtifactBinding: an AuthnRequest asking for HTTP-Artifact gets a redirect with SAMLart;
// the SP resolves it once over SOAP (signed ArtifactResolve, signed ArtifactResponse); another
// SP, a second resolution and an unsigned resolution get nothing.
func TestArtifactBinding(t *testing.T) {
	e := newEnv(t)
	sign := withSPOptions(func(o *samlsp.Options) { o.SignRequest = true })
	wiki := e.newSP(sign)
	app2, err := e.st.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "crm"}})
	if err != nil {
		t.Fatal(err)
	}
	crm := e.newSP(sign, withSPOptions(func(o *samlsp.Options) {
		u, _ := url.Parse("https://crm.example.com/app")
		o.URL = *u
	}), withSP(func(r *store.SAMLServiceProvider) { r.ApplicationID = app2.ID }))

	u, reqID := wiki.redirectRequest(t, "relay-art", func(r *crewjam.AuthnRequest) { r.ProtocolBinding = crewjam.HTTPArtifactBinding })
	resp, body := e.get(u)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("SSO = %d %s", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	art := loc.Query().Get("SAMLart")
	if loc.Query().Get("RelayState") != "relay-art" || art == "" {
		t.Fatalf("redirect to %s", loc)
	}
	raw, _ := base64.StdEncoding.DecodeString(art)
	src := sha1.Sum([]byte(e.srv.URL + PathMetadata))
	if len(raw) != 44 || raw[0] != 0 || raw[1] != 4 || string(raw[4:24]) != string(src[:]) {
		t.Fatalf("artifact %x", raw)
	}
	resolve := func(s *sp, signed bool) (*crewjam.Assertion, string, error) {
		t.Helper()
		sp := s.m.ServiceProvider
		if !signed {
			sp.SignatureMethod = ""
		}
		ar, err := sp.MakeArtifactResolveRequest(art)
		if err != nil {
			t.Fatal(err)
		}
		doc := etree.NewDocument()
		doc.SetRoot(ar.SoapRequest())
		b, _ := doc.WriteToBytes()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+PathArtifactResolve, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "text/xml")
		resp, body := e.do(req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resolve = %d %s", resp.StatusCode, body)
		}
		a, err := sp.ParseXMLArtifactResponse([]byte(body), []string{reqID}, ar.ID, sp.AcsURL)
		return a, body, err
	}
	if _, body, err := resolve(crm, true); err == nil || strings.Contains(body, "Assertion") {
		t.Errorf("another SP resolved the artifact: %v\n%s", err, body)
	}
	if _, body, err := resolve(wiki, false); err == nil || !strings.Contains(body, crewjam.StatusRequestDenied) {
		t.Errorf("unsigned ArtifactResolve: %v\n%s", err, body)
	}
	a, _, err := resolve(wiki, true)
	if err != nil {
		t.Fatalf("resolve: %v", samlspDetail(err))
	}
	if a.Subject.NameID.Value != "alice@example.com" {
		t.Errorf("NameID %+v", a.Subject.NameID)
	}
	if _, body, err := resolve(wiki, true); err == nil || strings.Contains(body, "Assertion") {
		t.Errorf("artifact resolved twice: %v", err)
	}
	// Not SOAP at all.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+PathArtifactResolve, strings.NewReader("<x/>"))
	if resp, body := e.do(req); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "Client") {
		t.Errorf("not SOAP = %d %s", resp.StatusCode, body)
	}
}

func (e *env) do(req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestLogoutResponseForgedSignature: a participant's HTTP-Redirect LogoutResponse whose
// query-string signature was made over another message does not count: the logout goes on
// with that participant failed (PartialLogout).
func TestLogoutResponseForgedSignature(t *testing.T) {
	f := newSLOFixture(t)
	e := f.e
	u, err := f.wiki.m.ServiceProvider.MakeRedirectLogoutRequest("alice@example.com", "", crewjam.WithSessionIndex(f.sess.ID))
	if err != nil {
		t.Fatal(err)
	}
	_, body := f.send(t, http.MethodGet, u.String(), nil)
	lr := f.crm.receiveLogoutRequest(t, body)
	answer, err := f.crm.m.ServiceProvider.MakeRedirectLogoutResponse(lr.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	// Same InResponseTo, another ID: the signature no longer matches the message.
	other := &crewjam.LogoutResponse{ID: "_forged", InResponseTo: lr.ID, Version: "2.0", IssueInstant: fixedNow,
		Destination: e.srv.URL + PathSSO, Issuer: &crewjam.Issuer{Value: f.crm.reg.EntityID},
		Status: crewjam.Status{StatusCode: crewjam.StatusCode{Value: crewjam.StatusSuccess}}}
	raw := answer.RawQuery
	old := answer.Query().Get("SAMLResponse")
	raw = strings.Replace(raw, url.QueryEscape(old), url.QueryEscape(deflate64(t, xmlBytes(t, other.Element()))), 1)
	resp, body := f.send(t, http.MethodGet, e.srv.URL+PathSSO+"?"+raw, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("= %d %s", resp.StatusCode, body)
	}
	if top, second := f.wiki.checkLogoutResponse(t, body, "", redirectRequestID(t, u)); top != crewjam.StatusSuccess || second != statusPartialLogout {
		t.Errorf("status %s / %s", top, second)
	}
}

// TestUnsignedLogout: an SP without a signing certificate may send unsigned LogoutRequests,
// but they end only the session of the browser that brings them (its cookie), never one named
// by SessionIndex alone.
func TestUnsignedLogout(t *testing.T) {
	e := newEnv(t)
	wiki := e.newSP(withSP(func(r *store.SAMLServiceProvider) { r.SigningCertificates, r.RequireSignedRequests = nil, false }))
	token, sess := e.newSession(t)
	e.logins.session.Store(&sess.ID)
	u, id := wiki.redirectRequest(t, "", nil)
	if _, body := e.get(u); !strings.Contains(body, "SAMLResponse") {
		t.Fatalf("login: %s", body)
	} else if _, err := wiki.parse(t, body, id); err != nil {
		t.Fatalf("login refused: %v", samlspDetail(err))
	}
	f := &sloFixture{e: e, sess: sess}
	lr := &crewjam.LogoutRequest{ID: "_u1", Version: "2.0", IssueInstant: fixedNow, Destination: e.srv.URL + PathSSO,
		Issuer: &crewjam.Issuer{Value: wiki.reg.EntityID}, NameID: &crewjam.NameID{Value: "alice@example.com"},
		SessionIndex: &crewjam.SessionIndex{Value: sess.ID}}
	form := func() url.Values {
		return url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlBytes(t, lr.Element()))}}
	}
	tests := []struct {
		name   string
		cookie string
		ended  bool
	}{
		{"no cookie", "", false},
		{"another browser's cookie", "not-a-session", false},
		{"the session's browser", token, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lr.ID = "_u" + string(rune('a'+i))
			f.cookie = nil
			if tc.cookie != "" {
				f.cookie = &http.Cookie{Name: authn.SessionCookie, Value: tc.cookie}
			}
			resp, body := f.send(t, http.MethodPost, e.srv.URL+PathSSO, form())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("= %d %s", resp.StatusCode, body)
			}
			if top, second := wiki.checkLogoutResponse(t, body, "", lr.ID); top != crewjam.StatusSuccess || second != "" {
				t.Errorf("status %s / %s", top, second)
			}
			if f.sessionEnded(t) != tc.ended {
				t.Errorf("ended = %v", f.sessionEnded(t))
			}
		})
	}
}

// TestLogoutOverRedirectBinding: a participant whose single logout service takes HTTP-Redirect
// only gets its LogoutRequest as a redirect, DEFLATEd with a query-string signature that its SP
// library (crewjam) verifies, after the OIDC front-channel frames; its LogoutResponse over the
// same binding completes the logout.
func TestLogoutOverRedirectBinding(t *testing.T) {
	f := newSLOFixtureWith(t, nil, []spOption{withSP(func(r *store.SAMLServiceProvider) { r.SLOBinding = store.SAMLBindingRedirect })})
	e := f.e
	wiki := &f.wiki.m.ServiceProvider
	lrWiki, err := wiki.MakeLogoutRequest(e.srv.URL+PathSSO, "alice@example.com", crewjam.WithSessionIndex(f.sess.ID))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.send(t, http.MethodPost, e.srv.URL+PathSSO, url.Values{"RelayState": {"relay-r"},
		"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlBytes(t, lrWiki.Element()))}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SLO = %d %s", resp.StatusCode, body)
	}
	// The OIDC frame first, then the link onwards: the redirect to crm.
	m := regexp.MustCompile(`<a id="next" href="([^"]*)"`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `<iframe src="https://rp.example.com/fc?sid=`) {
		t.Fatalf("no frame and link onwards:\n%s", body)
	}
	next, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := next.Query()
	if next.Scheme+"://"+next.Host+next.Path != f.crm.m.ServiceProvider.SloURL.String() || q.Get("SAMLRequest") == "" ||
		q.Get("SigAlg") != AlgRSASHA256 || q.Get("Signature") == "" {
		t.Fatalf("redirect %s", next)
	}
	r, _ := http.NewRequest(http.MethodGet, next.String(), nil)
	lr, err := f.crm.m.ServiceProvider.ValidateLogoutRequest(r)
	if err != nil {
		t.Fatalf("crm refused the redirected LogoutRequest: %v", samlspDetail(err))
	}
	if lr.NameID == nil || lr.NameID.Value != "alice@example.com" || lr.SessionIndex == nil || lr.SessionIndex.Value != f.sess.ID {
		t.Errorf("LogoutRequest names %+v / %+v", lr.NameID, lr.SessionIndex)
	}
	// A tampered query fails the check.
	bad := *next
	bq := next.Query()
	bq.Set("RelayState", "forged")
	bad.RawQuery = bq.Encode()
	if _, err := f.crm.m.ServiceProvider.ValidateLogoutRequest(&http.Request{Method: http.MethodGet, URL: &bad}); err == nil {
		t.Error("a tampered redirect verified")
	}
	u, err := f.crm.m.ServiceProvider.MakeRedirectLogoutResponse(lr.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, body = f.send(t, http.MethodGet, u.String(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("LogoutResponse = %d %s", resp.StatusCode, body)
	}
	if top, second := f.wiki.checkLogoutResponse(t, body, "relay-r", lrWiki.ID); top != crewjam.StatusSuccess || second != "" {
		t.Errorf("status %s / %s", top, second)
	}
	if !f.sessionEnded(t) {
		t.Error("session still live")
	}
}
