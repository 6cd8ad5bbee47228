package users_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	ptotp "github.com/pquerna/otp/totp"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/users"
	"github.com/keyflow/keyflow/connectors/totp"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	s     *store.Store
	srv   *httptest.Server
	alice store.User
	bob   store.User
	now   time.Time
}

func newEnv(t *testing.T, opts ...func(*users.Config)) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{s: storetest.New(t), now: time.Now().UTC().Truncate(time.Millisecond)}
	org, err := e.s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*store.User{&e.alice, &e.bob} {
		name := map[*store.User]string{&e.alice: "alice", &e.bob: "bob"}[p]
		if *p, err = e.s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: name}); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := e.s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	toks := bearertest.Tokens{
		"alice":         {Subject: e.alice.ID, ClientID: "myaccount", Scopes: []string{users.ScopeLogin}},
		"alice-noscope": {Subject: e.alice.ID, ClientID: "other", Scopes: []string{"openid"}},
		"alice-admin-scopes": {Subject: e.alice.ID, ClientID: "console",
			Scopes: []string{users.ScopeSessionView, users.ScopeSessionDelete}},
		"admin": {Subject: admin.ID, ClientID: "console",
			Scopes: []string{users.ScopeSessionView, users.ScopeSessionDelete}},
		"app": {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: []string{users.ScopeSessionView}},
	}
	cfg := users.Config{Store: e.s, Tokens: toks, Now: func() time.Time { return e.now }}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := users.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	h.Register(r)
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) session(t *testing.T, u store.User, token string, rps ...string) store.SSOSession {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	s, err := e.s.CreateSSOSession(t.Context(), sum[:], store.SSOSession{OrgID: u.OrgID, UserID: u.ID, Subject: u.ID,
		AuthTime: e.now, LastActiveAt: e.now, IdleExpiresAt: e.now.Add(time.Hour), ExpiresAt: e.now.Add(2 * time.Hour),
		UserAgent: "Mozilla/5.0 test", IP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range rps {
		if err := e.s.AddSSOParticipant(t.Context(), s.ID, store.SSOParticipant{Protocol: "oidc", RelyingParty: rp}, e.now); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (e *env) call(t *testing.T, method, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestMySessions(t *testing.T) {
	e := newEnv(t)
	s1 := e.session(t, e.alice, "a1", "web", "mobile")
	s2 := e.session(t, e.alice, "a2")
	bobs := e.session(t, e.bob, "b1", "web")

	status, body := e.call(t, http.MethodGet, "/api/users/v1/me/sessions", "alice")
	if status != http.StatusOK {
		t.Fatalf("list: %d %s", status, body)
	}
	var got users.Sessions
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.UserID != e.alice.ID || len(got.Sessions) != 2 {
		t.Fatalf("list = %s, want alice's two sessions", body)
	}
	byID := map[string]users.Session{}
	for _, s := range got.Sessions {
		byID[s.ID] = s
	}
	one := byID[s1.ID]
	// Participants added at the same instant come in name order.
	if len(one.Applications) != 2 || one.Applications[0].AppName != "mobile" || one.Applications[1].AppName != "web" ||
		one.Applications[0].Subject != e.alice.ID ||
		one.IP != "192.0.2.7" || one.UserAgent != "Mozilla/5.0 test" || one.LoginTime == "" {
		t.Errorf("session %s = %+v", s1.ID, one)
	}

	// Bob's session is not alice's to end.
	if status, body := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions/"+bobs.ID, "alice"); status != http.StatusNotFound {
		t.Errorf("ending bob's session as alice: %d %s, want 404", status, body)
	}
	if status, body := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions/"+s1.ID, "alice"); status != http.StatusNoContent {
		t.Fatalf("end one: %d %s", status, body)
	}
	if _, err := e.s.SSOSessionByID(t.Context(), s1.ID, e.now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ended session still live: %v", err)
	}
	if status, _ := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions", "alice"); status != http.StatusNoContent {
		t.Fatalf("end all: %d", status)
	}
	if _, err := e.s.SSOSessionByID(t.Context(), s2.ID, e.now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after ending all: %v", err)
	}
	if _, err := e.s.SSOSessionByID(t.Context(), bobs.ID, e.now); err != nil {
		t.Errorf("bob's session ended with alice's: %v", err)
	}
}

// grant records a grant issued in session sid (as a login through it would) and returns its id.
func (e *env) grant(t *testing.T, u store.User, sid, clientID string) string {
	t.Helper()
	if _, err := e.s.CreateOAuth2Client(t.Context(), store.NewOAuth2Client{OAuth2Client: store.OAuth2Client{
		ClientID: clientID, OrgID: u.OrgID, Name: clientID, Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"https://app.example.com/cb"}, TokenFormat: store.TokenFormatJWT,
		AccessTokenLifetime: time.Hour, SigningAlg: "ES256"}}); err != nil {
		t.Fatal(err)
	}
	id := "grant-" + clientID
	if err := e.s.CreateOAuth2Grant(t.Context(), store.NewOAuth2Grant{Grant: store.OAuth2Grant{ID: id, ClientID: clientID,
		Subject: u.ID, Scope: "openid", AuthTime: e.now, SessionID: sid, ExpiresAt: e.now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestEndingASessionRevokesItsTokens: what was issued in a session ends with it.
func TestEndingASessionRevokesItsTokens(t *testing.T) {
	e := newEnv(t)
	one := e.session(t, e.alice, "t1", "web")
	two := e.session(t, e.alice, "t2", "web")
	g1, g2 := e.grant(t, e.alice, one.ID, "c1"), e.grant(t, e.alice, two.ID, "c2")
	if status, body := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions/"+one.ID, "alice"); status != http.StatusNoContent {
		t.Fatalf("end one: %d %s", status, body)
	}
	revoked := func(id string) bool {
		g, err := e.s.OAuth2Grant(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return !g.RevokedAt.IsZero()
	}
	if !revoked(g1) || revoked(g2) {
		t.Fatalf("after ending session one: grant one revoked %v, grant two revoked %v", revoked(g1), revoked(g2))
	}
	if status, _ := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions", "alice"); status != http.StatusNoContent {
		t.Fatalf("end all: %d", status)
	}
	if !revoked(g2) {
		t.Error("ending every session left grant two alive")
	}
}

// recordingEnder stands in for oidclogout's back-channel fan-out, which has its own tests.
type recordingEnder struct{ ended []string }

func (r *recordingEnder) SessionEnded(_ context.Context, s store.SSOSession) []string {
	r.ended = append(r.ended, s.ID)
	return nil
}

// TestEndingASessionLogsItsRelyingPartiesOut checks that every session the API ends is handed to
// Config.Ended (OIDC back-channel logout in the server), one by one and all of them.
func TestEndingASessionLogsItsRelyingPartiesOut(t *testing.T) {
	rec := &recordingEnder{}
	e := newEnv(t, func(c *users.Config) { c.Ended = rec })
	one := e.session(t, e.alice, "t1", "web")
	two := e.session(t, e.alice, "t2", "web")
	three := e.session(t, e.alice, "t3", "mobile")
	if status, body := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions/"+one.ID, "alice"); status != http.StatusNoContent {
		t.Fatalf("end one: %d %s", status, body)
	}
	if !slices.Equal(rec.ended, []string{one.ID}) {
		t.Fatalf("ended %v, want [%s]", rec.ended, one.ID)
	}
	if status, _ := e.call(t, http.MethodDelete, "/api/users/v1/me/sessions", "alice"); status != http.StatusNoContent {
		t.Fatalf("end all: %d", status)
	}
	got := slices.Sorted(slices.Values(rec.ended[1:]))
	want := slices.Sorted(slices.Values([]string{two.ID, three.ID}))
	if len(rec.ended) != 3 || !slices.Equal(got, want) {
		t.Fatalf("ended %v, want %s then %v", rec.ended, one.ID, want)
	}
}

func TestUserSessionsAdmin(t *testing.T) {
	e := newEnv(t)
	bobs := e.session(t, e.bob, "b1", "web")
	path := "/api/users/v1/" + e.bob.ID + "/sessions"

	for _, tok := range []string{"admin", "app"} {
		status, body := e.call(t, http.MethodGet, path, tok)
		var got users.Sessions
		if status != http.StatusOK || json.Unmarshal(body, &got) != nil || len(got.Sessions) != 1 || got.Sessions[0].ID != bobs.ID {
			t.Errorf("list bob's sessions with %s: %d %s", tok, status, body)
		}
	}
	// A client token without internal_session_delete may not end sessions.
	if status, _ := e.call(t, http.MethodDelete, path+"/"+bobs.ID, "app"); status != http.StatusForbidden {
		t.Errorf("delete without scope: %d, want 403", status)
	}
	if status, body := e.call(t, http.MethodDelete, path+"/"+bobs.ID, "admin"); status != http.StatusNoContent {
		t.Fatalf("admin delete: %d %s", status, body)
	}
	if status, _ := e.call(t, http.MethodGet, "/api/users/v1/00000000-0000-0000-0000-000000000000/sessions", "admin"); status != http.StatusNotFound {
		t.Errorf("unknown user: %d, want 404", status)
	}
}

func TestSessionsRefusals(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path, token string
		status                    int
		code                      string
	}{
		{"no token", http.MethodGet, "/api/users/v1/me/sessions", "", http.StatusUnauthorized, "USM-10001"},
		{"unknown token", http.MethodGet, "/api/users/v1/me/sessions", "forged", http.StatusUnauthorized, "USM-10001"},
		{"token without internal_login", http.MethodGet, "/api/users/v1/me/sessions", "alice-noscope", http.StatusForbidden, "USM-10002"},
		{"client token on /me", http.MethodGet, "/api/users/v1/me/sessions", "app", http.StatusForbidden, "USM-10002"},
		{"non-admin with admin scopes", http.MethodGet, "/api/users/v1/" + e.bob.ID + "/sessions", "alice-admin-scopes", http.StatusForbidden, "USM-10002"},
		{"unknown session", http.MethodDelete, "/api/users/v1/me/sessions/not-a-session", "alice", http.StatusNotFound, "USM-10004"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.call(t, c.method, c.path, c.token)
			var got users.Error
			if err := json.Unmarshal(body, &got); err != nil || status != c.status || got.Code != c.code || got.Message == "" {
				t.Errorf("%d %s, want %d with code %s", status, body, c.status, c.code)
			}
		})
	}
}

// TestMyConsents: a user lists what it granted applications and withdraws a grant; another
// user's grants are neither listed nor revocable.
func TestMyConsents(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, id := range []string{"web", "mobile"} {
		if _, err := e.s.CreateOAuth2Client(ctx, store.NewOAuth2Client{OAuth2Client: store.OAuth2Client{
			ClientID: id, OrgID: e.alice.OrgID, Name: id, Public: true, GrantTypes: []string{"authorization_code"},
			TokenFormat: store.TokenFormatJWT, AccessTokenLifetime: time.Hour, SigningAlg: "ES256"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []store.Consent{
		{OrgID: e.alice.OrgID, Subject: e.alice.ID, UserID: e.alice.ID, ClientID: "web", Scopes: []string{"profile", "email"}},
		{OrgID: e.alice.OrgID, Subject: e.alice.ID, UserID: e.alice.ID, ClientID: "mobile", Scopes: []string{"phone"}},
		{OrgID: e.bob.OrgID, Subject: e.bob.ID, UserID: e.bob.ID, ClientID: "web", Scopes: []string{"address"}},
	} {
		if _, err := e.s.GrantConsent(ctx, g, e.now); err != nil {
			t.Fatal(err)
		}
	}
	status, body := e.call(t, http.MethodGet, "/api/users/v1/me/consents", "alice")
	var got []users.Consent
	if err := json.Unmarshal(body, &got); status != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s", status, body)
	}
	if len(got) != 2 || got[0].ClientID != "mobile" || got[1].ClientID != "web" || !slices.Equal(got[1].Scopes, []string{"email", "profile"}) {
		t.Fatalf("alice's consents: %+v", got)
	}
	if status, body := e.call(t, http.MethodDelete, "/api/users/v1/me/consents/web", "alice"); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status, _ := e.call(t, http.MethodDelete, "/api/users/v1/me/consents/web", "alice"); status != http.StatusNotFound {
		t.Fatalf("revoking again: %d, want 404", status)
	}
	if _, err := e.s.Consent(ctx, e.bob.OrgID, e.bob.ID, "web"); err != nil {
		t.Fatalf("bob's grant to web is gone: %v", err)
	}
	if status, _ := e.call(t, http.MethodGet, "/api/users/v1/me/consents", "app"); status != http.StatusForbidden {
		t.Fatalf("an application token on /me: %d, want 403", status)
	}
}

// TestMyTOTP: a user enrols an authenticator app (INIT), confirms it with a code the app
// computes (VALIDATE), cannot INIT over it, replaces it (REFRESH) and removes it (DELETE); the
// secret is never shown again.
func TestMyTOTP(t *testing.T) {
	var s *store.Store
	e := newEnv(t, func(c *users.Config) {
		s = c.Store.(*store.Store)
		auth, err := totp.New(totp.Config{EncryptionKey: bytes.Repeat([]byte{3}, 32), KeyID: "k1", Issuer: "Keyflow"},
			totp.Deps{Credentials: s})
		if err != nil {
			t.Fatal(err)
		}
		c.TOTP, c.TOTPStore = auth, s
	})
	post := func(body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/api/users/v1/me/totp", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status := func() string {
		t.Helper()
		_, body := e.call(t, http.MethodGet, "/api/users/v1/me/totp", "alice")
		return string(body)
	}
	if got := status(); got != `{"enabled":false,"pending":false}` {
		t.Fatalf("before: %s", got)
	}
	code, init := post(`{"action":"INIT"}`)
	secret, _ := init["secret"].(string)
	uri, _ := base64.StdEncoding.DecodeString(fmt.Sprint(init["qrCodeUrl"]))
	if code != http.StatusOK || secret == "" || !strings.HasPrefix(string(uri), "otpauth://totp/") || !strings.Contains(string(uri), secret) {
		t.Fatalf("INIT: %d %v", code, init)
	}
	if got := status(); got != `{"enabled":false,"pending":true}` {
		t.Fatalf("after INIT: %s", got)
	}
	if code, out := post(`{"action":"VALIDATE","verificationCode":"000000"}`); code != http.StatusOK || out["isValid"] != false {
		t.Fatalf("a wrong code: %d %v", code, out)
	}
	right, err := ptotp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, out := post(`{"action":"VALIDATE","verificationCode":"` + right + `"}`); code != http.StatusOK || out["isValid"] != true {
		t.Fatalf("the right code: %d %v", code, out)
	}
	if got := status(); got != `{"enabled":true,"pending":false}` || strings.Contains(got, secret) {
		t.Fatalf("after VALIDATE: %s", got)
	}
	if code, out := post(`{"action":"INIT"}`); code != http.StatusConflict || out["code"] != "USM-10006" {
		t.Fatalf("INIT over a confirmed one: %d %v", code, out)
	}
	if code, out := post(`{"action":"REFRESH"}`); code != http.StatusOK || out["secret"] == secret {
		t.Fatalf("REFRESH: %d %v", code, out)
	}
	if code, out := post(`{"action":"DANCE"}`); code != http.StatusBadRequest || out["code"] != "USM-10008" {
		t.Fatalf("an unknown action: %d %v", code, out)
	}
	if code, _ := e.call(t, http.MethodDelete, "/api/users/v1/me/totp", "alice"); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	if code, out := post(`{"action":"VALIDATE","verificationCode":"123456"}`); code != http.StatusBadRequest || out["code"] != "USM-10007" {
		t.Fatalf("VALIDATE without an enrolment: %d %v", code, out)
	}
}
