package oidclogout_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/oidclogout"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
	"github.com/keyflow/keyflow/ui"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const redirectURI = "https://rp.example/cb"

var (
	testKEK    = jwtkeys.KEK{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}
	testPepper = bytes.Repeat([]byte{2}, 32)
)

// env is a provider with the logout endpoint over a real HTTP server and database.
type env struct {
	store    *store.Store
	keys     *jwtkeys.Manager
	op       *op.Provider
	srv      *httptest.Server
	issuer   string
	org      store.Organization
	notifier *oidclogout.HTTPNotifier
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := storetest.New(t)
	e := &env{store: s}
	var err error
	e.keys, err = jwtkeys.New(t.Context(), jwtkeys.Config{Store: s, KEKs: []jwtkeys.KEK{testKEK}})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL + "/oauth2/token"
	e.op, err = op.New(op.Config{Store: s, Keys: e.keys, Issuer: e.issuer, SecretPepper: testPepper, ClientCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	oh, err := oauth2.New(oauth2.Config{Provider: e.op, Keys: e.keys, BaseURL: e.srv.URL,
		EndSessionEndpoint: e.srv.URL + oidclogout.Path})
	if err != nil {
		t.Fatal(err)
	}
	oh.Register(r)
	pages, err := ui.New(ui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.notifier = oidclogout.NewHTTPNotifier(oidclogout.HTTPNotifierConfig{Backoff: func(int) time.Duration { return time.Millisecond }})
	t.Cleanup(func() { _ = e.notifier.Close(context.Background()) })
	lh, err := oidclogout.New(oidclogout.Config{Provider: e.op, Sessions: s, Pages: pages, Notifier: e.notifier, BaseURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	lh.Register(r)
	if e.org, err = s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// client creates a confidential code-flow client and returns its id and secret.
func (e *env) client(t *testing.T, nc op.NewClient) (string, string) {
	t.Helper()
	nc.OrgID = e.org.ID
	nc.GrantTypes = []string{op.GrantAuthorizationCode, op.GrantRefreshToken}
	nc.RedirectURIs = []string{redirectURI}
	c, secret, err := e.op.CreateClient(t.Context(), nc)
	if err != nil {
		t.Fatal(err)
	}
	return c.ClientID, secret
}

// login is a browser's SSO session with the tokens one client got in it.
type login struct {
	cookie       *http.Cookie
	sessionID    string
	tokenHash    []byte
	idToken      string
	refreshToken string
}

// newSession creates an SSO session for subject, as api/authn does after a login.
func (e *env) newSession(t *testing.T, subject string) login {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	now := time.Now()
	s, err := e.store.CreateSSOSession(t.Context(), sum[:], store.SSOSession{OrgID: e.org.ID, Subject: subject,
		AuthTime: now, LastActiveAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return login{cookie: &http.Cookie{Name: authn.SessionCookie, Value: token}, sessionID: s.ID, tokenHash: sum[:]}
}

// signIn logs client into session l (a participant, a grant with that sid) and returns l with
// the client's ID and refresh tokens.
func (e *env) signIn(t *testing.T, l login, clientID, secret, scope string) login {
	t.Helper()
	ctx := t.Context()
	if err := e.store.AddSSOParticipant(ctx, l.sessionID, store.SSOParticipant{Protocol: "oidc", RelyingParty: clientID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	req, err := e.op.ValidateAuthorizeRequest(ctx, op.ParseAuthorizeParams(url.Values{"client_id": {clientID},
		"redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {scope}, "state": {"s"}, "nonce": {"n"}}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.op.CompleteAuthorization(ctx, req, op.Authenticated{Subject: "user-1", SessionID: l.sessionID})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(resp.Location())
	tok := e.token(t, clientID, secret, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}})
	if tok.status != http.StatusOK {
		t.Fatalf("token: %d %s", tok.status, tok.body)
	}
	var body struct {
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(tok.body, &body); err != nil || body.IDToken == "" || body.RefreshToken == "" {
		t.Fatalf("token response %s: %v", tok.body, err)
	}
	l.idToken, l.refreshToken = body.IDToken, body.RefreshToken
	return l
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) token(t *testing.T, id, secret string, form url.Values) response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return do(t, req)
}

// noRedirect is a browser that shows each response.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// logout sends GET /oidc/logout?params, or a form POST when form is true, with cookies.
func (e *env) logout(t *testing.T, params url.Values, post bool, cookies ...*http.Cookie) response {
	t.Helper()
	var req *http.Request
	if post {
		req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+oidclogout.Path, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+oidclogout.Path+"?"+params.Encode(), nil)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return do(t, req)
}

func (e *env) sessionLive(t *testing.T, l login) bool {
	t.Helper()
	_, err := e.store.SSOSessionByToken(t.Context(), l.tokenHash, time.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// refreshWorks reports whether the refresh token still gets new tokens.
func (e *env) refreshWorks(t *testing.T, l login, id, secret string) bool {
	t.Helper()
	r := e.token(t, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.refreshToken}})
	if r.status != http.StatusOK && !bytes.Contains(r.body, []byte("invalid_grant")) {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	return r.status == http.StatusOK
}

// rp is a relying party's back-channel logout endpoint.
type rp struct {
	srv    *httptest.Server
	tokens chan string
}

func newRP(t *testing.T, failFirst int32) *rp {
	t.Helper()
	r := &rp{tokens: make(chan string, 8)}
	var failures atomic.Int32
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if failures.Add(1) <= failFirst {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		r.tokens <- req.FormValue("logout_token")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// receive waits for the next logout token (no clock: the test's context bounds it).
func (r *rp) receive(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-r.tokens:
		return tok
	case <-t.Context().Done():
		t.Fatal("no logout token")
		return ""
	}
}

// TestRPInitiatedLogout: a valid id_token_hint with a registered post_logout_redirect_uri ends
// the session without asking, redirects with state, clears the cookie, revokes the session's
// refresh token and sends a verifiable Logout Token over the back channel.
func TestRPInitiatedLogout(t *testing.T) {
	e := newEnv(t)
	back := newRP(t, 0)
	id, secret := e.client(t, op.NewClient{Name: "Web", PostLogoutRedirectURIs: []string{"https://rp.example/bye"},
		BackchannelLogoutURI: back.srv.URL + "/bcl", BackchannelLogoutSessionRequired: true})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid profile")
	other := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")

	resp := e.logout(t, url.Values{"id_token_hint": {l.idToken}, "post_logout_redirect_uri": {"https://rp.example/bye"},
		"state": {"xyz"}}, false, l.cookie)
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != "https://rp.example/bye?state=xyz" {
		t.Fatalf("logout: %d Location %q, want 303 to the redirect URI with state:\n%s", resp.status, resp.header.Get("Location"), resp.body)
	}
	if e.sessionLive(t, l) {
		t.Error("session still live after logout")
	}
	if !e.sessionLive(t, other) {
		t.Error("another session of the user ended too")
	}
	cleared := false
	for _, c := range (&http.Response{Header: resp.header}).Cookies() {
		if c.Name == authn.SessionCookie && c.MaxAge < 0 && c.Value == "" {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("Set-Cookie %q: SSO cookie not cleared", resp.header.Values("Set-Cookie"))
	}
	if e.refreshWorks(t, l, id, secret) {
		t.Error("refresh token of the logged-out session still works")
	}
	if !e.refreshWorks(t, other, id, secret) {
		t.Error("refresh token of another session was revoked")
	}

	// The back-channel Logout Token: signature by the published keys, typ, claims.
	tok := back.receive(t)
	payload, err := oidc.NewRemoteKeySet(t.Context(), e.srv.URL+"/oauth2/jwks").VerifySignature(t.Context(), tok)
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt", typ)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	now := float64(time.Now().Unix())
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	events, _ := claims["events"].(map[string]any)
	if claims["iss"] != e.issuer || claims["aud"] != id || claims["sid"] != l.sessionID || claims["sub"] != "user-1" ||
		claims["jti"] == "" || iat > now+5 || exp <= now || events == nil {
		t.Errorf("logout token claims %v", claims)
	}
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok || len(events) != 1 {
		t.Errorf("events %v", events)
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("logout token carries a nonce (Back-Channel Logout 1.0 §2.4 forbids it)")
	}
}

// TestLogoutErrors: requests the endpoint must refuse with an error page, never a redirect.
func TestLogoutErrors(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Name: "Web", PostLogoutRedirectURIs: []string{"https://rp.example/bye"}})
	id2, _ := e.client(t, op.NewClient{Name: "Other", PostLogoutRedirectURIs: []string{"https://other.example/bye"}})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")

	// A token with our signature but another issuer, and one from another deployment.
	foreignIss, err := e.keys.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeJWT,
		[]byte(`{"iss":"https://evil.example","sub":"user-1","aud":"`+id+`","sid":"`+l.sessionID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	other := newEnv(t)
	oid, osecret := other.client(t, op.NewClient{Name: "Web"})
	otherToken := other.signIn(t, other.newSession(t, "user-1"), oid, osecret, "openid").idToken
	parts := strings.Split(l.idToken, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+e.issuer+`","sub":"admin","aud":"`+id+`"}`)) + "." + parts[2]

	for name, params := range map[string]url.Values{
		"unregistered redirect":     {"id_token_hint": {l.idToken}, "post_logout_redirect_uri": {"https://evil.example/bye"}},
		"other client's redirect":   {"id_token_hint": {l.idToken}, "post_logout_redirect_uri": {"https://other.example/bye"}},
		"redirect without client":   {"post_logout_redirect_uri": {"https://rp.example/bye"}},
		"client_id not in aud":      {"id_token_hint": {l.idToken}, "client_id": {id2}},
		"unknown client":            {"client_id": {"nope"}, "post_logout_redirect_uri": {"https://rp.example/bye"}},
		"tampered hint":             {"id_token_hint": {tampered}, "post_logout_redirect_uri": {"https://rp.example/bye"}},
		"hint of another issuer":    {"id_token_hint": {foreignIss}, "post_logout_redirect_uri": {"https://rp.example/bye"}},
		"hint of another provider":  {"id_token_hint": {otherToken}},
		"garbage hint":              {"id_token_hint": {"abc"}},
		"access token as hint":      {"id_token_hint": {e.accessToken(t, id, secret)}},
		"redirect, client id mixed": {"client_id": {id2}, "post_logout_redirect_uri": {"https://rp.example/bye"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp := e.logout(t, params, false, l.cookie)
			if resp.status != http.StatusBadRequest || resp.header.Get("Location") != "" ||
				!strings.Contains(resp.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d Location %q %s, want a 400 error page", resp.status, resp.header.Get("Location"), resp.header.Get("Content-Type"))
			}
			if !e.sessionLive(t, l) {
				t.Fatal("a refused logout ended the session")
			}
		})
	}
	// Repeated parameters and a confirmation POST without its CSRF cookie.
	resp := e.logout(t, url.Values{"state": {"a", "b"}}, false, l.cookie)
	if resp.status != http.StatusBadRequest {
		t.Errorf("repeated state: %d", resp.status)
	}
	resp = e.logout(t, url.Values{"logout_confirm": {"1"}, "csrf_token": {"forged"}}, true, l.cookie,
		&http.Cookie{Name: "kf_logout_csrf", Value: "other"})
	if resp.status != http.StatusForbidden || !e.sessionLive(t, l) {
		t.Errorf("forged confirmation: %d, session live %v", resp.status, e.sessionLive(t, l))
	}
}

// accessToken gets a JWT access token by refreshing a new login (for the hint-confusion case).
func (e *env) accessToken(t *testing.T, id, secret string) string {
	t.Helper()
	l := e.signIn(t, e.newSession(t, "user-2"), id, secret, "openid")
	r := e.token(t, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.refreshToken}})
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || strings.Count(body.AccessToken, ".") != 2 {
		t.Fatalf("access token %s: %v", r.body, err)
	}
	return body.AccessToken
}

var (
	formField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	iframeSrc = regexp.MustCompile(`<iframe class="logout-frame" src="([^"]+)"`)
)

// TestLogoutConfirmation: without an id_token_hint the user confirms on a page (CSRF-protected
// form) before the session ends.
func TestLogoutConfirmation(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Name: "Web App", PostLogoutRedirectURIs: []string{"https://rp.example/bye"}})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")

	resp := e.logout(t, url.Values{"client_id": {id}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"s1"}}, false, l.cookie)
	if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte("Web App asks you to sign out")) {
		t.Fatalf("confirmation page: %d\n%s", resp.status, resp.body)
	}
	if !e.sessionLive(t, l) {
		t.Fatal("the session ended before the user confirmed")
	}
	if csp := resp.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	var csrf *http.Cookie
	for _, c := range (&http.Response{Header: resp.header}).Cookies() {
		if c.Name == "kf_logout_csrf" {
			csrf = c
		}
	}
	if csrf == nil || !csrf.HttpOnly {
		t.Fatalf("no HttpOnly CSRF cookie in %q", resp.header.Values("Set-Cookie"))
	}
	form := url.Values{}
	for _, m := range formField.FindAllStringSubmatch(string(resp.body), -1) {
		form.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	if form.Get("csrf_token") != csrf.Value || form.Get("client_id") != id || form.Get("state") != "s1" {
		t.Fatalf("form fields %v", form)
	}

	// Without the cookie the token is worthless.
	if r := e.logout(t, form, true, l.cookie); r.status != http.StatusForbidden || !e.sessionLive(t, l) {
		t.Fatalf("confirmation without CSRF cookie: %d", r.status)
	}
	resp = e.logout(t, form, true, l.cookie, csrf)
	if resp.status != http.StatusSeeOther || resp.header.Get("Location") != "https://rp.example/bye?state=s1" {
		t.Fatalf("confirmed logout: %d %q\n%s", resp.status, resp.header.Get("Location"), resp.body)
	}
	if e.sessionLive(t, l) {
		t.Error("session live after the confirmed logout")
	}

	// No session and no redirect: the signed-out page.
	resp = e.logout(t, url.Values{}, false)
	if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte("You have signed out")) {
		t.Errorf("signed-out page: %d\n%s", resp.status, resp.body)
	}
}

// TestFrontChannelLogout: participants with a frontchannel_logout_uri are framed (with iss and
// sid when required) on a page whose CSP allows exactly their origins, which then moves on to
// the post-logout redirect URI.
func TestFrontChannelLogout(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Name: "Web", PostLogoutRedirectURIs: []string{"https://rp.example/bye"},
		FrontchannelLogoutURI: "https://rp.example/fcl?x=1", FrontchannelLogoutSessionRequired: true})
	id2, secret2 := e.client(t, op.NewClient{Name: "Two", FrontchannelLogoutURI: "https://two.example:8443/logout"})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")
	e.signIn(t, l, id2, secret2, "openid") // a second participant; the hint stays the first client's

	resp := e.logout(t, url.Values{"id_token_hint": {l.idToken}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"st"}}, true, l.cookie)
	if resp.status != http.StatusOK {
		t.Fatalf("logout: %d\n%s", resp.status, resp.body)
	}
	var frames []string
	for _, m := range iframeSrc.FindAllStringSubmatch(string(resp.body), -1) {
		frames = append(frames, strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	want1 := "https://rp.example/fcl?" + url.Values{"iss": {e.issuer}, "sid": {l.sessionID}, "x": {"1"}}.Encode()
	if len(frames) != 2 || frames[0] != want1 || frames[1] != "https://two.example:8443/logout" {
		t.Errorf("frames %q, want %q and the second client's plain URI", frames, want1)
	}
	csp := resp.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-src https://rp.example https://two.example:8443") {
		t.Errorf("CSP %q lacks the frames' origins", csp)
	}
	if !bytes.Contains(resp.body, []byte(`content="0;url=https://rp.example/bye?state=st"`)) ||
		!bytes.Contains(resp.body, []byte(`href="https://rp.example/bye?state=st"`)) {
		t.Errorf("page does not move on to the redirect URI:\n%s", resp.body)
	}
	if e.sessionLive(t, l) {
		t.Error("session live after logout")
	}
}

// TestBackChannelRetry: a relying party that fails at first gets the token on a later attempt;
// one that refuses the token (400) is not retried.
func TestBackChannelRetry(t *testing.T) {
	e := newEnv(t)
	back := newRP(t, 2)
	id, secret := e.client(t, op.NewClient{Name: "Web", BackchannelLogoutURI: back.srv.URL})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")
	resp := e.logout(t, url.Values{"id_token_hint": {l.idToken}}, false, l.cookie)
	if resp.status != http.StatusOK {
		t.Fatalf("logout: %d", resp.status)
	}
	if tok := back.receive(t); strings.Count(tok, ".") != 2 {
		t.Fatalf("logout token %q", tok)
	}
}

// TestAppNativeLogout: response_mode=direct with an id_token_hint and no cookie ends the
// hint's session with 200 and an empty body; a bad hint is ABA-60010.
func TestAppNativeLogout(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Name: "App", Scopes: []string{"offline_access"}})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid offline_access")
	l2 := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")

	resp := e.logout(t, url.Values{"response_mode": {"direct"}, "client_id": {id}, "id_token_hint": {"x.y.z"}}, true)
	var body map[string]string
	if err := json.Unmarshal(resp.body, &body); resp.status != http.StatusBadRequest || err != nil || body["code"] != "ABA-60010" {
		t.Fatalf("bad hint: %d %s", resp.status, resp.body)
	}
	resp = e.logout(t, url.Values{"response_mode": {"direct"}, "client_id": {id}, "id_token_hint": {l.idToken}}, true)
	if resp.status != http.StatusOK || len(resp.body) != 0 {
		t.Fatalf("app-native logout: %d %q", resp.status, resp.body)
	}
	if e.sessionLive(t, l) || !e.sessionLive(t, l2) {
		t.Errorf("session live %v (want false), other session live %v (want true)", e.sessionLive(t, l), e.sessionLive(t, l2))
	}
	// offline_access refresh tokens outlive the session (Back-Channel Logout 1.0 §2.7).
	if !e.refreshWorks(t, l, id, secret) {
		t.Error("offline_access refresh token revoked at logout")
	}
}

// TestDiscovery: the end-session endpoint and logout support are advertised.
func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := p.Claims(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["end_session_endpoint"] != e.srv.URL+"/oidc/logout" {
		t.Errorf("end_session_endpoint %v", raw["end_session_endpoint"])
	}
	for _, k := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported",
		"frontchannel_logout_supported", "frontchannel_logout_session_supported"} {
		if raw[k] != true {
			t.Errorf("%s = %v, want true", k, raw[k])
		}
	}
	if oidclogout.DefaultCookieName != authn.SessionCookie {
		t.Errorf("DefaultCookieName %q != authn.SessionCookie %q", oidclogout.DefaultCookieName, authn.SessionCookie)
	}
}

// TestTenantPath: the endpoint is served under /t/{tenant} too, and the confirmation form posts
// back there.
func TestTenantPath(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Name: "Web"})
	l := e.signIn(t, e.newSession(t, "user-1"), id, secret, "openid")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/t/acme"+oidclogout.Path, nil)
	req.AddCookie(l.cookie)
	resp := do(t, req)
	if resp.status != http.StatusOK || !bytes.Contains(resp.body, []byte(`action="/t/acme/oidc/logout"`)) {
		t.Fatalf("tenant confirmation page: %d\n%s", resp.status, resp.body)
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet,
		e.srv.URL+"/t/acme"+oidclogout.Path+"?"+url.Values{"id_token_hint": {l.idToken}}.Encode(), nil)
	req.AddCookie(l.cookie)
	if resp := do(t, req); resp.status != http.StatusOK || e.sessionLive(t, l) {
		t.Fatalf("tenant logout: %d, session live %v", resp.status, e.sessionLive(t, l))
	}
}

// TestClientLogoutMetadata: invalid logout metadata is refused at registration.
func TestClientLogoutMetadata(t *testing.T) {
	e := newEnv(t)
	for name, nc := range map[string]op.NewClient{
		"relative post-logout URI":   {PostLogoutRedirectURIs: []string{"/bye"}},
		"fragment in post-logout":    {PostLogoutRedirectURIs: []string{"https://rp.example/bye#x"}},
		"javascript post-logout":     {PostLogoutRedirectURIs: []string{"javascript:alert(1)"}},
		"non-http back-channel":      {BackchannelLogoutURI: "ftp://rp.example/bcl"},
		"fragment in front-channel":  {FrontchannelLogoutURI: "https://rp.example/fcl#x"},
		"session required, no URI":   {BackchannelLogoutSessionRequired: true},
		"front session, no URI":      {FrontchannelLogoutSessionRequired: true},
		"relative front-channel URI": {FrontchannelLogoutURI: "/fcl"},
	} {
		nc.OrgID, nc.GrantTypes, nc.RedirectURIs = e.org.ID, []string{op.GrantAuthorizationCode}, []string{redirectURI}
		if _, _, err := e.op.CreateClient(t.Context(), nc); !errors.Is(err, op.ErrInvalidRequest("")) {
			t.Errorf("%s: %v, want invalid_request", name, err)
		}
	}
}
