package saml

import (
	"bytes"
	"context"
	"crypto/sha256"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/oidclogout"
	"github.com/keyflow/keyflow/api/users"
	"github.com/keyflow/keyflow/api/wsfed"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// nopNotifier is the OIDC back-channel Notifier of the cross-protocol tests, whose session has
// no OIDC relying party with a back-channel logout URI.
type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, []oidclogout.Message) {}

var (
	reLogoutCSRF    = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	reContinueLink  = regexp.MustCompile(`<a class="button primary" href="([^"]*)">`)
	reLogoutIframes = regexp.MustCompile(`<iframe class="logout-frame" src="([^"]*)"`)
)

// oidcLogoutServer serves /oidc/logout over its own HTTP server, wired as cmd/keyflow does:
// Ended = Enders{samlIdP, wsfed.Cleanup}, SAML = samlIdP. It returns the server's URL and a
// client registered with postLogout.
func oidcLogoutServer(t *testing.T, f *sloFixture, postLogout string) (string, string) {
	t.Helper()
	keys, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: f.e.st, KEKs: []jwtkeys.KEK{testKEK}})
	if err != nil {
		t.Fatal(err)
	}
	var engine atomic.Pointer[gin.Engine]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { engine.Load().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	prov, err := op.New(op.Config{Store: f.e.st, Keys: keys, Issuer: srv.URL + "/oauth2/token",
		SecretPepper: bytes.Repeat([]byte{2}, 32), ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	cl, _, err := prov.CreateClient(t.Context(), op.NewClient{OrgID: f.e.org.ID, Name: "web",
		GrantTypes: []string{op.GrantAuthorizationCode}, RedirectURIs: []string{"https://web.example.org/cb"},
		PostLogoutRedirectURIs: []string{postLogout}})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := ui.New(ui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lh, err := oidclogout.New(oidclogout.Config{Provider: prov, Sessions: f.e.st, Pages: pages, Notifier: nopNotifier{},
		BaseURL: srv.URL, Now: f.e.h.cfg.Now, Ended: Enders{f.e.h, wsfed.Cleanup{Store: f.e.st}}, SAML: f.e.h})
	if err != nil {
		t.Fatal(err)
	}
	g := gin.New()
	lh.Register(g)
	engine.Store(g)
	return srv.URL, cl.ClientID
}

// TestOIDCLogoutReachesSAMLAndWSFed: an OIDC RP-initiated logout (confirmed by the user) ends
// the session; the SAML SP with a back-channel single logout service (crm) receives a valid
// signed LogoutRequest over SOAP through the back-channel workflow; the signed-out page loads
// the WS-Federation relying party's wsignoutcleanup1.0 URL in a frame its CSP allows and goes
// on to the SAML IdP, which walks the browser through the front-channel SP (wiki) and ends at
// the post_logout_redirect_uri.
func TestOIDCLogoutReachesSAMLAndWSFed(t *testing.T) {
	f, soap, n := backChannelFixture(t)
	f.wsfedRP(t, "urn:portal", "https://portal.example.net/signout")
	bye := "https://web.example.org/bye"
	base, clientID := oidcLogoutServer(t, f, bye)
	params := url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {bye}}

	// Without an id_token_hint the user confirms (CSRF double-submit cookie).
	resp, body := f.send(t, http.MethodGet, base+oidclogout.Path+"?"+params.Encode(), nil)
	m := reLogoutCSRF.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("confirmation page = %d:\n%s", resp.StatusCode, body)
	}
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "kf_logout_csrf" {
			csrf = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	if csrf == nil {
		t.Fatal("no CSRF cookie")
	}
	form := url.Values{ui.FieldCSRF: {html.UnescapeString(m[1])}, ui.FieldLogoutConfirm: {"1"}}
	for k, v := range params {
		form[k] = v
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+oidclogout.Path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(f.cookie)
	req.AddCookie(csrf)
	resp, err = f.e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	body = string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d:\n%s", resp.StatusCode, body)
	}
	if !f.sessionEnded(t) {
		t.Error("session still live")
	}

	// crm: a signed SOAP LogoutRequest, validated by crewjam's SP, delivered by the workflow.
	f.wantDeliveredToCRM(t, soap, n, f.sess.ID)

	// The WS-Fed relying party's cleanup URL in a frame the CSP allows.
	cleanup := "https://portal.example.net/signout?wa=wsignoutcleanup1.0"
	var frames []string
	for _, fm := range reLogoutIframes.FindAllStringSubmatch(body, -1) {
		frames = append(frames, html.UnescapeString(fm[1]))
	}
	if !slices.Contains(frames, cleanup) {
		t.Errorf("frames %q, want the WS-Fed cleanup URL:\n%s", frames, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src https://portal.example.net") {
		t.Errorf("CSP %q", csp)
	}

	// The page goes on to the SAML IdP, which sends the browser to wiki, then to bye.
	f.frontChannelChain(t, reContinueLink, body, bye)
	if f.sloState != nil {
		t.Error("a logout is left in progress")
	}
	if len(f.ender.sessions()) != 0 {
		t.Error("SAML's own OIDC ender was told: the OIDC logout already told the OIDC relying parties")
	}
}

// TestSessionAPIEndReachesSAML: ending a session through the session API
// (DELETE /api/users/v1/me/sessions/{id}, no browser) tells the OIDC relying parties and
// sends the SAML SP with a back-channel single logout service (crm) a valid signed
// LogoutRequest over SOAP (users.Config.Ended = Enders{oidc, samlIdP}, as cmd/keyflow wires
// it). The front-channel SP (wiki) cannot be reached without a browser (logged).
func TestSessionAPIEndReachesSAML(t *testing.T) {
	f, soap, n := backChannelFixture(t)
	ctx := t.Context()
	alice, err := f.e.st.CreateUser(ctx, store.NewUser{OrgID: f.e.org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// A session of the local user alice, in which crm and wiki logged in.
	sum := sha256.Sum256([]byte("alice-session-token"))
	sess, err := f.e.st.CreateSSOSession(ctx, sum[:], store.SSOSession{OrgID: f.e.org.ID, UserID: alice.ID, Subject: alice.ID,
		AuthTime: fixedNow, LastActiveAt: fixedNow, IdleExpiresAt: fixedNow.Add(time.Hour), ExpiresAt: fixedNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.e.logins.session.Store(&sess.ID)
	for _, s := range []*sp{f.crm, f.wiki} {
		u, id := s.redirectRequest(t, "", nil)
		resp, body := f.e.get(u)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login = %d %s", resp.StatusCode, body)
		}
		if _, err := s.parse(t, body, id); err != nil {
			t.Fatalf("login refused: %v", samlspDetail(err))
		}
	}

	h, err := users.New(users.Config{Store: f.e.st, Now: f.e.h.cfg.Now, Ended: Enders{f.ender, f.e.h},
		Tokens: bearertest.Tokens{"alice": {Subject: alice.ID, ClientID: "myaccount", Scopes: []string{users.ScopeLogin}}}})
	if err != nil {
		t.Fatal(err)
	}
	g := gin.New()
	h.Register(g)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, srv.URL+"/api/users/v1/me/sessions/"+sess.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE session = %d", resp.StatusCode)
	}
	f.wantDeliveredToCRM(t, soap, n, sess.ID)
	if s := f.ender.sessions(); len(s) != 1 || s[0].ID != sess.ID {
		t.Errorf("OIDC ender told of %v, want %s", s, sess.ID)
	}
}
