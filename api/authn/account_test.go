package authn_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/branding"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

// TestSelectAccount: prompt=select_account with an SSO session offers the signed-in account or
// another one; without a session it is a normal login.
func TestSelectAccount(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	b := newBrowser(t)
	pk := newPKCE()
	sid := e.idClaims(t, e.signIn(t, b, "web", pk, nil), "web", pk)["sid"]

	choose := func(what string, pk pkce) loginForm {
		t.Helper()
		pg := b.get(e.authorizeURL("web", pk, withScope("openid", "select_account")))
		if pg.status != http.StatusOK || !strings.Contains(pg.body, "Continue as johnd") || !strings.Contains(pg.body, "Use another account") {
			t.Fatalf("%s: %d at %s, want the account chooser:\n%s", what, pg.status, pg.url, pg.body)
		}
		expectPageHeaders(t, what, pg)
		f := pageForm(t, pg)
		if !strings.HasSuffix(f.action, authn.PathSelectAccount) {
			t.Fatalf("%s: form action %s", what, f.action)
		}
		return f
	}

	// Continue: the session's user, no login page, the same session.
	pk = newPKCE()
	f := choose("continue", pk)
	f.values.Set("account", "continue")
	if c := e.idClaims(t, b.post(f.action, f.values), "web", pk); c["sid"] != sid {
		t.Errorf("continue: sid %v, want the session's %v", c["sid"], sid)
	}

	// Another account: the login page although the session is live.
	f = choose("other", newPKCE())
	f.values.Set("account", "other")
	pg := b.post(f.action, f.values)
	if pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
		t.Fatalf("another account led to %d %s, want the login page", pg.status, pg.url)
	}
	if _, ok := parseLoginForm(t, pg).values["password"]; !ok {
		t.Fatal("another account: no password asked")
	}

	// Without a session: a normal login.
	if pg := newBrowser(t).get(e.authorizeURL("web", newPKCE(), withScope("openid", "select_account"))); pg.url.Path != authn.PathLogin {
		t.Errorf("select_account without a session led to %d %s, want the login page", pg.status, pg.url)
	}
}

// rawIDToken redeems the code of a redirect to the client and returns the ID token.
func (e *env) rawIDToken(t *testing.T, p page, clientID string, pk pkce) string {
	t.Helper()
	loc, err := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("%d Location %q, want a code", p.status, p.header.Get("Location"))
	}
	tok := e.exchange(t, clientID, loc.Query().Get("code"), pk.verifier)
	idt, _ := tok.body["id_token"].(string)
	if idt == "" {
		t.Fatalf("token exchange: %d %s", tok.status, tok.raw)
	}
	return idt
}

// TestIDTokenHint: a hint naming another user than the session's forces the login page, or
// login_required with prompt=none; the session user's own hint passes silently.
func TestIDTokenHint(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	h, err := password.Hash("b0b-pa55word", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "bob", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	// Bob's ID token, from another browser.
	bobBrowser, pk := newBrowser(t), newPKCE()
	f := parseLoginForm(t, e.startBrowserLogin(t, bobBrowser, "web", pk))
	f.values.Set("username", "bob")
	f.values.Set("password", "b0b-pa55word")
	bobToken := e.rawIDToken(t, bobBrowser.post(f.action, f.values), "web", pk)

	// Alice's session in this browser.
	b := newBrowser(t)
	pk = newPKCE()
	aliceToken := e.rawIDToken(t, e.signIn(t, b, "web", pk, nil), "web", pk)

	hint := func(tok, prompt string) func(url.Values) {
		return func(q url.Values) {
			q.Set("id_token_hint", tok)
			if prompt != "" {
				q.Set("prompt", prompt)
			}
		}
	}
	expectRedirectError(t, "bob's hint, prompt=none", b.get(e.authorizeURL("web", newPKCE(), hint(bobToken, "none"))), "login_required")
	if pg := b.get(e.authorizeURL("web", newPKCE(), hint(bobToken, ""))); pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
		t.Errorf("bob's hint led to %d %s, want the login page", pg.status, pg.url)
	}
	pk = newPKCE()
	e.expectCode(t, b.get(e.authorizeURL("web", pk, hint(aliceToken, "none"))), "web", pk)
}

// TestBranding: preferences stored through WSO2's branding preference API style the login
// and consent pages, the application's over the organization's; invalid ones are refused with
// WSO2's error body.
func TestBranding(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	e.app(t, "web2", false, []string{connectors.BasicAuthenticator})
	web2, err := e.s.ApplicationByClientID(t.Context(), "web2")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, query, token string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+branding.Path+query, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		r := e.do(t, req)
		return r.status, r.body
	}
	orgPref := map[string]any{"type": "ORG", "name": "ignored", "locale": "en-US", "preference": map[string]any{
		"configs":             map[string]any{"isBrandingEnabled": true},
		"organizationDetails": map[string]any{"displayName": "Acme Corp"},
		"theme": map[string]any{"activeTheme": "LIGHT", "LIGHT": map[string]any{
			"colors": map[string]any{"primary": map[string]any{"main": "#112233"}},
			"images": map[string]any{"logo": map[string]any{"imgURL": "https://cdn.acme.example/logo.png"}}}}}}
	if st, body := call(http.MethodPost, "", "", orgPref); st != http.StatusUnauthorized {
		t.Fatalf("POST without a token: %d %v", st, body)
	}
	st, body := call(http.MethodPost, "", "branding-admin", orgPref)
	if st != http.StatusCreated || body["type"] != "ORG" || body["name"] != e.org.Handle || body["locale"] != "en-US" {
		t.Fatalf("POST ORG: %d %v", st, body)
	}
	if st, body := call(http.MethodPost, "", "branding-admin", orgPref); st != http.StatusConflict || body["code"] != "BPM-60003" {
		t.Errorf("second POST ORG: %d %v, want 409 BPM-60003", st, body)
	}
	appPref := map[string]any{"type": "APP", "name": web2.ID, "preference": map[string]any{"name": "Web Two", "primaryColor": "#445566"}}
	if st, body := call(http.MethodPost, "", "branding-admin", appPref); st != http.StatusCreated || body["name"] != web2.ID {
		t.Fatalf("POST APP: %d %v", st, body)
	}
	if st, body := call(http.MethodGet, "?type=APP&name="+web2.ID, "", nil); st != http.StatusOK ||
		body["preference"].(map[string]any)["name"] != "Web Two" {
		t.Errorf("GET APP: %d %v", st, body)
	}

	// Invalid values: WSO2's error body.
	for name, pref := range map[string]any{
		"colour":     map[string]any{"primaryColor": "red"},
		"theme logo": map[string]any{"theme": map[string]any{"LIGHT": map[string]any{"images": map[string]any{"logo": map[string]any{"imgURL": "javascript:alert(1)"}}}}},
		"not object": "just a string",
	} {
		st, body := call(http.MethodPut, "", "branding-admin", map[string]any{"type": "ORG", "preference": pref})
		desc, _ := body["description"].(string)
		if st != http.StatusBadRequest || body["code"] != "BPM-60001" || body["message"] != "Invalid Branding Preference configurations." ||
			desc == "" || len(body) != 4 {
			t.Errorf("%s: %d %v, want 400 BPM-60001 with a description", name, st, body)
		}
	}

	// The login pages: web has the organization's look, web2 its own name and colour over it.
	pg := e.startBrowserLogin(t, newBrowser(t), "web", newPKCE())
	for _, want := range []string{"--kf-primary:#112233", `src="https://cdn.acme.example/logo.png"`, "Acme Corp"} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("web login page lacks %q:\n%s", want, pg.body)
		}
	}
	// The page's policy lets the browser load that logo, and nothing else from elsewhere.
	if csp := pg.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") ||
		!strings.Contains(csp, "default-src 'self';") || !strings.Contains(csp, "style-src 'self' 'unsafe-inline';") {
		t.Errorf("web login page CSP %q does not allow exactly the logo's origin", csp)
	}
	pg = e.startBrowserLogin(t, newBrowser(t), "web2", newPKCE())
	for _, want := range []string{"--kf-primary:#445566", `src="https://cdn.acme.example/logo.png"`, "Web Two"} {
		if !strings.Contains(pg.body, want) {
			t.Errorf("web2 login page lacks %q:\n%s", want, pg.body)
		}
	}
	// The consent page of web2 too.
	cp := e.signIn(t, newBrowser(t), "web2", newPKCE(), withScope("openid profile", ""))
	if !strings.Contains(cp.body, "--kf-primary:#445566") || !strings.Contains(cp.body, "wants to access your account") {
		t.Errorf("web2 consent page unbranded:\n%s", cp.body)
	}

	// Disabled and deleted preferences fall back.
	if st, body := call(http.MethodDelete, "?type=APP&name="+web2.ID, "branding-admin", nil); st != http.StatusNoContent {
		t.Fatalf("DELETE APP: %d %v", st, body)
	}
	if st, body := call(http.MethodDelete, "?type=APP&name="+web2.ID, "branding-admin", nil); st != http.StatusNotFound || body["code"] != "BPM-60002" {
		t.Errorf("second DELETE: %d %v, want 404 BPM-60002", st, body)
	}
	orgPref["preference"].(map[string]any)["configs"] = map[string]any{"isBrandingEnabled": false}
	if st, body := call(http.MethodPut, "", "branding-admin", orgPref); st != http.StatusOK {
		t.Fatalf("PUT ORG: %d %v", st, body)
	}
	pg = e.startBrowserLogin(t, newBrowser(t), "web2", newPKCE())
	if strings.Contains(pg.body, "--kf-primary") || strings.Contains(pg.body, "Web Two") || strings.Contains(pg.body, "Acme") {
		t.Errorf("login page still branded:\n%s", pg.body)
	}
}
