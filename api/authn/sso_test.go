package authn_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

// idClaims redeems the code of a redirect to the client and returns the ID token's claims.
func (e *env) idClaims(t *testing.T, p page, clientID string, pk pkce) map[string]any {
	t.Helper()
	if p.status != http.StatusFound {
		t.Fatalf("status %d at %s, want 302 to the client:\n%s", p.status, p.url, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %q without a code", p.header.Get("Location"))
	}
	tok := e.exchange(t, clientID, loc.Query().Get("code"), pk.verifier)
	idt, _ := tok.body["id_token"].(string)
	parts := strings.Split(idt, ".")
	if tok.status != http.StatusOK || len(parts) != 3 {
		t.Fatalf("token exchange: %d %s", tok.status, tok.raw)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// sessionCookie returns the browser's SSO cookie for the server.
func (e *env) sessionCookie(b *browser) *http.Cookie {
	u, _ := url.Parse(e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == authn.SessionCookie {
			return c
		}
	}
	return nil
}

// TestBrowserSSO: a browser login leaves an SSO session; later logins from that browser skip
// the steps it satisfied (across applications of the organization), and prompt=login, max_age,
// another browser and a terminated session each bring the login page back.
func TestBrowserSSO(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	e.app(t, "web2", false, []string{connectors.BasicAuthenticator}, []string{connectors.TOTPAuthenticator})
	b := newBrowser(t)

	// First login: the password page, then the client with a code.
	pk := newPKCE()
	f := parseLoginForm(t, e.startBrowserLogin(t, b, "web", pk))
	f.values.Set("username", "johnd")
	f.values.Set("password", alicePW)
	resp := b.post(f.action, f.values)
	var setCookie *http.Cookie
	for _, c := range (&http.Response{Header: resp.header}).Cookies() {
		if c.Name == authn.SessionCookie {
			setCookie = c
		}
	}
	if setCookie == nil || len(setCookie.Value) < 40 || !setCookie.HttpOnly || setCookie.Path != "/" ||
		setCookie.SameSite != http.SameSiteLaxMode || setCookie.MaxAge != 0 {
		t.Fatalf("SSO cookie %+v, want a random HttpOnly session cookie on / (Lax over http)", setCookie)
	}
	first := e.idClaims(t, resp, "web", pk)
	sid, _ := first["sid"].(string)
	if sid == "" {
		t.Fatalf("ID token without sid: %v", first)
	}

	// Second login to the same application: no page at all.
	pk = newPKCE()
	second := e.idClaims(t, b.get(e.authorizeURL("web", pk, nil)), "web", pk)
	if second["sid"] != sid || second["sub"] != first["sub"] || second["auth_time"] != first["auth_time"] {
		t.Errorf("SSO login claims %v, want sid, sub and auth_time of the first login %v", second, first)
	}

	// prompt=login and max_age=0 ask for the password again.
	for _, change := range []func(url.Values){
		func(q url.Values) { q.Set("prompt", "login") },
		func(q url.Values) { q.Set("max_age", "0") },
	} {
		pg := b.get(e.authorizeURL("web", newPKCE(), change))
		if pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
			t.Errorf("forced re-authentication led to %d %s, want the login page", pg.status, pg.url)
		}
	}

	// Another application of the organization: step 1 is satisfied, step 2 (TOTP) is asked.
	pk = newPKCE()
	pg := b.get(e.authorizeURL("web2", pk, nil))
	if pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
		t.Fatalf("web2 login: %d %s", pg.status, pg.url)
	}
	f = parseLoginForm(t, pg)
	if _, asksPassword := f.values["password"]; asksPassword {
		t.Fatalf("web2 asked for the password again: %v", f.values)
	}
	f.values.Set("token", e.code(t, time.Now()))
	third := e.idClaims(t, b.post(f.action, f.values), "web2", pk)
	if third["sid"] != sid {
		t.Errorf("web2 sid %v, want the same session %s", third["sid"], sid)
	}
	// Now both steps are in the session.
	pk = newPKCE()
	if c := e.idClaims(t, b.get(e.authorizeURL("web2", pk, nil)), "web2", pk); c["sid"] != sid {
		t.Errorf("second web2 login sid %v, want %s", c["sid"], sid)
	}

	sessions, err := e.s.UserSSOSessions(t.Context(), e.alice.ID, time.Now())
	if err != nil || len(sessions) != 1 || sessions[0].ID != sid {
		t.Fatalf("alice's sessions %+v, %v; want one, %s", sessions, err, sid)
	}
	var rps []string
	for _, p := range sessions[0].Participants {
		rps = append(rps, p.Protocol+":"+p.RelyingParty)
	}
	if strings.Join(rps, ",") != "oidc:web,oidc:web2" {
		t.Errorf("participants %v, want oidc:web and oidc:web2", rps)
	}

	// A browser without the cookie logs in from scratch.
	if pg := newBrowser(t).get(e.authorizeURL("web", newPKCE(), nil)); pg.url.Path != authn.PathLogin {
		t.Errorf("fresh browser led to %d %s, want the login page", pg.status, pg.url)
	}

	// A terminated session no longer counts, although the browser still sends its cookie.
	if _, err := e.s.TerminateSSOSession(t.Context(), sid, e.alice.ID, time.Now(), store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if e.sessionCookie(b) == nil {
		t.Fatal("the browser lost its SSO cookie")
	}
	if pg := b.get(e.authorizeURL("web", newPKCE(), nil)); pg.url.Path != authn.PathLogin {
		t.Errorf("terminated session led to %d %s, want the login page", pg.status, pg.url)
	}
}

// recordingCompleter is a protocol front-end's Completer: it answers 200 with what it got.
type recordingCompleter struct{}

func (recordingCompleter) CompleteLogin(c *gin.Context, v flows.View, state json.RawMessage, sessionID string) {
	sub := ""
	if v.Result != nil && v.Result.Subject != nil {
		sub = v.Result.Subject.ID
	}
	c.JSON(http.StatusOK, map[string]any{"status": v.Status, "state": state, "session": sessionID, "subject": sub})
}

// TestBeginBrowserLogin: another protocol's front-end starts a browser login; the login page
// runs it, the Completer answers with the front-end's state, and the SSO session serves the
// next such login without a page.
func TestBeginBrowserLogin(t *testing.T) {
	e := newEnv(t)
	e.app(t, "sp", false, []string{connectors.BasicAuthenticator})
	b := newBrowser(t)

	pg := b.get(e.srv.URL + "/sp-login?rs=first")
	if pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
		t.Fatalf("BeginBrowserLogin led to %d %s", pg.status, pg.url)
	}
	f := parseLoginForm(t, pg)
	f.values.Set("username", "johnd")
	f.values.Set("password", alicePW)
	done := b.post(f.action, f.values)
	var got struct {
		Status  string            `json:"status"`
		State   map[string]string `json:"state"`
		Session string            `json:"session"`
		Subject string            `json:"subject"`
	}
	if err := json.Unmarshal([]byte(done.body), &got); err != nil || done.status != http.StatusOK {
		t.Fatalf("completion: %d %s", done.status, done.body)
	}
	if got.Status != "SUCCESS_COMPLETED" || got.State["relayState"] != "first" || got.Session == "" || got.Subject != e.alice.ID {
		t.Fatalf("Completer got %+v", got)
	}
	sessions, err := e.s.UserSSOSessions(t.Context(), e.alice.ID, time.Now())
	if err != nil || len(sessions) != 1 || len(sessions[0].Participants) != 1 ||
		sessions[0].Participants[0].Protocol != "test" || sessions[0].Participants[0].RelyingParty != "urn:sp" {
		t.Fatalf("sessions %+v, %v", sessions, err)
	}

	// SSO: the second login is answered at once.
	again := b.get(e.srv.URL + "/sp-login?rs=second")
	if err := json.Unmarshal([]byte(again.body), &got); err != nil || again.status != http.StatusOK ||
		got.State["relayState"] != "second" || got.Session != sessions[0].ID {
		t.Fatalf("SSO completion: %d %s", again.status, again.body)
	}

	if pg := b.get(e.srv.URL + "/other-login"); pg.status != http.StatusInternalServerError {
		t.Errorf("unknown protocol: %d, want 500", pg.status)
	}
}

// TestBrowserMagicLink: the mailed link completes the login in the browser that started it, and
// only there.
func TestBrowserMagicLink(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator}, []string{connectors.MagicLinkAuthenticator})
	b, pk := newBrowser(t), newPKCE()
	f := parseLoginForm(t, e.startBrowserLogin(t, b, "web", pk))
	f.values.Set("username", "johnd")
	f.values.Set("password", alicePW)
	if pg := b.post(f.action, f.values); pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
		t.Fatalf("after the password: %d %s", pg.status, pg.url)
	}
	var mail notify.Mail
	select {
	case mail = <-e.mails:
	case <-time.After(30 * time.Second):
		t.Fatal("no magic link mailed")
	}
	if len(mail.To) != 1 || mail.To[0] != "johnd@example.com" {
		t.Fatalf("mail to %v", mail.To)
	}
	i := strings.Index(mail.Text, "http://keyflow.test/")
	if i < 0 {
		t.Fatalf("no link in %q", mail.Text)
	}
	link, err := url.Parse(strings.Fields(mail.Text[i:])[0])
	if err != nil || link.Query().Get("mlt") == "" {
		t.Fatalf("link %v, %v", link, err)
	}
	local := e.srv.URL + link.Path + "?" + link.RawQuery

	// Another browser has no CSRF cookie of the flow: refused, and the login goes on.
	if pg := newBrowser(t).get(local); pg.status != http.StatusForbidden {
		t.Errorf("link in another browser: %d, want 403", pg.status)
	}
	e.expectCode(t, b.get(local), "web", pk)
}

// TestStoredClaimsInTokens: the tokens of a browser login carry the subject's stored claims for
// the granted scopes, although the password step loads none; the claims survive the consent
// page.
func TestStoredClaimsInTokens(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	b, pk := newBrowser(t), newPKCE()
	pg := b.get(e.authorizeURL("web", pk, func(q url.Values) { q.Set("scope", "openid email") }))
	f := parseLoginForm(t, pg)
	f.values.Set("username", "johnd")
	f.values.Set("password", alicePW)
	// The client has no SkipConsent: the user approves the email scope first.
	consent := expectConsentPage(t, "consent", b.post(f.action, f.values), "Your email address")
	consent.values.Set("consent", "approve")
	resp := b.post(consent.action, consent.values)
	loc, err := url.Parse(resp.header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("login: %d %q", resp.status, resp.header.Get("Location"))
	}
	tok := e.exchange(t, "web", loc.Query().Get("code"), pk.verifier)
	at, _ := tok.body["access_token"].(string)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/oauth2/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+at)
	ui := e.do(t, req)
	if ui.status != http.StatusOK || ui.body["email"] != "johnd@example.com" || ui.body["sub"] != e.alice.ID {
		t.Fatalf("userinfo: %d %s, want sub and the stored email", ui.status, ui.raw)
	}
}

// TestExternalRedirectPrompt: a script's externalRedirect prompt sends the browser to an external
// page, which sends it back to /commonauth with sessionDataKey and its result; the script reads
// the result in context.request.params.
func TestExternalRedirectPrompt(t *testing.T) {
	e := newEnv(t)
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		back := url.Values{"sessionDataKey": {r.URL.Query().Get("sdk")}, "result": {strings.TrimPrefix(r.URL.Path, "/")}}
		http.Redirect(w, r, e.srv.URL+authn.PathCommonAuth+"?"+back.Encode(), http.StatusFound)
	}))
	t.Cleanup(ext.Close)
	for _, outcome := range []string{"ok", "bad"} {
		script := `var onLoginRequest = function (context) {
    executeStep(1, {onSuccess: function (context) {
        prompt("externalRedirect", {"redirectURL": "` + ext.URL + `/` + outcome + `?sdk=" + context.contextIdentifier}, {
            onSuccess: function (context) {
                if (context.request.params.result[0] != "ok") {
                    fail({"errorCode": "access_denied", "errorMessage": "external check failed"});
                }
            }});
    }});
};`
		clientID := "ext-" + outcome
		e.app(t, clientID, false, []string{connectors.BasicAuthenticator})
		app, err := e.s.ApplicationByClientID(t.Context(), clientID)
		if err != nil {
			t.Fatal(err)
		}
		seq := app.Sequence
		seq.Script = script
		if _, err := e.s.UpdateApplication(t.Context(), app.ID, store.ApplicationUpdate{Sequence: &seq}); err != nil {
			t.Fatal(err)
		}
		b, pk := newBrowser(t), newPKCE()
		f := parseLoginForm(t, e.startBrowserLogin(t, b, clientID, pk))
		f.values.Set("username", "johnd")
		f.values.Set("password", alicePW)
		resp := b.post(f.action, f.values)
		if outcome == "ok" {
			e.expectCode(t, resp, clientID, pk)
			continue
		}
		loc, err := url.Parse(resp.header.Get("Location"))
		if resp.status != http.StatusFound || err != nil || loc.Query().Get("error") != "access_denied" {
			t.Errorf("failed external check: %d Location %q", resp.status, resp.header.Get("Location"))
		}
	}
	// Without the login's CSRF cookie, /commonauth refuses.
	if pg := newBrowser(t).get(e.srv.URL + authn.PathCommonAuth + "?sessionDataKey=x&result=ok"); pg.status != http.StatusForbidden {
		t.Errorf("foreign browser at /commonauth: %d, want 403", pg.status)
	}
}
