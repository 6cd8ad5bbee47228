package authn_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// pageForm is the first form of a page (consent page, account chooser): its absolute action
// and its hidden fields.
func pageForm(t *testing.T, p page) loginForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var found *loginForm
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" && found == nil {
			action, err := p.url.Parse(attr(n, "action"))
			if err != nil {
				t.Fatal(err)
			}
			found = &loginForm{action: action.String(), values: url.Values{}}
		}
		if found != nil && n.Type == html.ElementNode && n.Data == "input" && attr(n, "type") == "hidden" {
			found.values.Set(attr(n, "name"), attr(n, "value"))
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no form on the page (status %d):\n%s", p.status, p.body)
	}
	return *found
}

// withScope sets the authorization request's scope (and prompt, when not empty).
func withScope(scope, prompt string) func(url.Values) {
	return func(q url.Values) {
		q.Set("scope", scope)
		if prompt != "" {
			q.Set("prompt", prompt)
		}
	}
}

// signIn runs a browser authorization request through the password page and returns what the
// password's submission led to.
func (e *env) signIn(t *testing.T, b *browser, clientID string, pk pkce, change func(url.Values)) page {
	t.Helper()
	pg := b.get(e.authorizeURL(clientID, pk, change))
	if pg.status != http.StatusOK || pg.url.Path != authn.PathLogin {
		t.Fatalf("authorize led to %d %s:\n%s", pg.status, pg.url, pg.body)
	}
	f := parseLoginForm(t, pg)
	f.values.Set("username", "johnd")
	f.values.Set("password", alicePW)
	return b.post(f.action, f.values)
}

// expectConsentPage checks that p is the consent page listing the given scope texts.
func expectConsentPage(t *testing.T, what string, p page, scopes ...string) loginForm {
	t.Helper()
	if p.status != http.StatusOK || !strings.Contains(p.body, "wants to access your account") {
		t.Fatalf("%s: %d at %s, want the consent page:\n%s", what, p.status, p.url, p.body)
	}
	expectPageHeaders(t, what, p)
	for _, s := range scopes {
		if !strings.Contains(p.body, "<li>"+s+"</li>") {
			t.Errorf("%s: scope %q not listed:\n%s", what, s, p.body)
		}
	}
	f := pageForm(t, p)
	if f.values.Get("sessionDataKeyConsent") == "" || f.values.Get("csrf_token") == "" || !strings.HasSuffix(f.action, authn.PathConsent) {
		t.Fatalf("%s: consent form %+v", what, f)
	}
	return f
}

// expectRedirectError checks a redirect to the client with error and state=st-123.
func expectRedirectError(t *testing.T, what string, p page, code string) {
	t.Helper()
	loc, err := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirectURI) ||
		loc.Query().Get("error") != code || loc.Query().Get("state") != "st-123" || loc.Query().Get("code") != "" {
		t.Fatalf("%s: %d Location %q, want 302 to the client with error=%s and state:\n%s", what, p.status, p.header.Get("Location"), code, p.body)
	}
}

// TestConsent: the consent page after the first login for new scopes, remembered afterwards;
// prompt=consent shows it again; deny and prompt=none answer the client with errors; the
// answer needs the browser's CSRF cookie and works once.
func TestConsent(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	b := newBrowser(t)

	// First login with profile and email: the consent page, then the code.
	pk := newPKCE()
	f := expectConsentPage(t, "first login", e.signIn(t, b, "web", pk, withScope("openid profile email", "")),
		"Your basic profile", "Your email address")
	f.values.Set("consent", "approve")
	e.expectCode(t, b.post(f.action, f.values), "web", pk)
	g, err := e.s.Consent(t.Context(), e.org.ID, e.alice.ID, "web")
	if err != nil || strings.Join(g.Scopes, " ") != "email openid profile" {
		t.Fatalf("stored consent %+v, %v", g, err)
	}

	// The same scopes, or fewer: remembered (and SSO), straight to the client.
	for _, scope := range []string{"openid profile email", "openid email"} {
		pk = newPKCE()
		e.expectCode(t, b.get(e.authorizeURL("web", pk, withScope(scope, ""))), "web", pk)
	}

	// prompt=consent asks again although everything was granted.
	pk = newPKCE()
	f = expectConsentPage(t, "prompt=consent", b.get(e.authorizeURL("web", pk, withScope("openid profile", "consent"))), "Your basic profile")
	f.values.Set("consent", "approve")
	e.expectCode(t, b.post(f.action, f.values), "web", pk)

	// The page speaks the authorization request's ui_locales.
	es := b.get(e.authorizeURL("web", newPKCE(), func(q url.Values) {
		withScope("openid profile", "consent")(q)
		q.Set("ui_locales", "es")
	}))
	if es.status != http.StatusOK || !strings.Contains(es.body, "quiere acceder a tu cuenta") || !strings.Contains(es.body, "Tu perfil básico") {
		t.Errorf("consent page with ui_locales=es: %d\n%s", es.status, es.body)
	}

	// prompt=none for a scope not granted yet: consent_required, no page.
	expectRedirectError(t, "prompt=none", b.get(e.authorizeURL("web", newPKCE(), withScope("openid phone", "none"))), "consent_required")

	// A new scope asks again; deny answers access_denied with state and grants nothing.
	f = expectConsentPage(t, "new scope", b.get(e.authorizeURL("web", newPKCE(), withScope("openid profile phone", ""))), "Your phone number")
	denied := f
	denied.values = url.Values{}
	for k, v := range f.values {
		denied.values[k] = v
	}
	denied.values.Set("consent", "deny")
	expectRedirectError(t, "deny", b.post(denied.action, denied.values), "access_denied")
	if g, _ := e.s.Consent(t.Context(), e.org.ID, e.alice.ID, "web"); strings.Contains(strings.Join(g.Scopes, " "), "phone") {
		t.Errorf("deny stored %v", g.Scopes)
	}
	// The answered page cannot be answered again.
	f.values.Set("consent", "approve")
	if pg := b.post(f.action, f.values); pg.status != http.StatusForbidden && pg.status != http.StatusBadRequest {
		t.Errorf("second answer: %d, want a refusal:\n%s", pg.status, pg.body)
	}

	// CSRF: a wrong token, and another browser without the cookie, are refused.
	f = expectConsentPage(t, "csrf", b.get(e.authorizeURL("web", newPKCE(), withScope("openid address", ""))), "Your address")
	f.values.Set("consent", "approve")
	wrong := url.Values{}
	for k, v := range f.values {
		wrong[k] = v
	}
	wrong.Set("csrf_token", "not-the-token")
	if pg := b.post(f.action, wrong); pg.status != http.StatusForbidden {
		t.Errorf("wrong CSRF token: %d, want 403", pg.status)
	}
	if pg := newBrowser(t).post(f.action, f.values); pg.status != http.StatusForbidden {
		t.Errorf("another browser: %d, want 403", pg.status)
	}
	// The right browser still can answer.
	if pg := b.post(f.action, f.values); pg.status != http.StatusFound || !strings.Contains(pg.header.Get("Location"), "code=") {
		t.Errorf("answer after refused forgeries: %d %q", pg.status, pg.header.Get("Location"))
	}
}

// TestConsentSkipped: no consent page for a client with SkipConsent, for openid alone, and
// for app-native logins (WSO2 skips consent in API-based authentication).
func TestConsentSkipped(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.op.CreateClient(t.Context(), op.NewClient{OrgID: e.org.ID, Name: "first", ClientID: "first", Public: true,
		GrantTypes: []string{op.GrantAuthorizationCode}, RedirectURIs: []string{redirectURI}, SkipConsent: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{
		OrgID: e.org.ID, Name: "first", ClientID: "first"}}); err != nil {
		t.Fatal(err)
	}
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})
	e.app(t, "native", true, []string{connectors.BasicAuthenticator})

	pk := newPKCE()
	e.expectCode(t, e.signIn(t, newBrowser(t), "first", pk, withScope("openid profile email", "")), "first", pk)
	pk = newPKCE()
	e.expectCode(t, e.signIn(t, newBrowser(t), "web", pk, withScope("openid", "")), "web", pk)

	pk = newPKCE()
	r := e.authorize(t, "native", pk, func(v url.Values) { v.Set("scope", "openid profile email") })
	flowID, _ := r.body["flowId"].(string)
	if flowID == "" {
		t.Fatalf("authorize: %d %s", r.status, r.raw)
	}
	got := e.authn(t, e.srv.URL+"/oauth2/authn", selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM",
		map[string]any{"username": "johnd", "password": alicePW}))
	e.expectSuccess(t, got, "native", pk)
}
