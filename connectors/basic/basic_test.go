package basic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// cheap keeps tests fast; TestDefaultsToOWASP checks the production default.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type env struct {
	url   string
	s     *store.Store
	org   store.Organization
	clock *clock
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newEnv(t *testing.T) *env {
	t.Helper()
	url := storetest.URL(t)
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return &env{url: url, s: s, org: org, clock: &clock{t: time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)}}
}

func (e *env) user(t *testing.T, nu store.NewUser, pw string) store.User {
	t.Helper()
	nu.OrgID = e.org.ID
	if pw != "" {
		h, err := password.Hash(pw, cheap)
		if err != nil {
			t.Fatal(err)
		}
		nu.PasswordHash = h
	}
	u, err := e.s.CreateUser(t.Context(), nu)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) auth(t *testing.T, cfg basic.Config) *basic.Authenticator {
	t.Helper()
	if cfg.HashParams == (password.Params{}) {
		cfg.HashParams = cheap
	}
	cfg.Now = e.clock.now
	a, err := basic.New(cfg, basic.Deps{Users: e.s, Organizations: e.s})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func login(t *testing.T, a *basic.Authenticator, username, pw string) connectors.Outcome {
	t.Helper()
	out, err := a.Process(context.Background(), connectors.ProcessInput{
		StepContext: connectors.StepContext{FlowID: "f", TenantDomain: "carbon.super", Step: 1, IdP: connectors.LocalIdP},
		Params:      map[string]string{basic.ParamUsername: username, basic.ParamPassword: pw}, Attempt: 1})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t)
		e.user(t, store.NewUser{Username: "alice"}, "s3cret-Pass")
		return connectortest.Fixture{
			Authenticator: e.auth(t, basic.Config{MaxFailures: 100}),
			Valid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"username": "alice", "password": "s3cret-Pass"}
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"username": "alice", "password": "wrong"}
			},
		}
	})
}

func TestWireShape(t *testing.T) {
	e := newEnv(t)
	a := e.auth(t, basic.Config{})
	if a.Name() != "BasicAuthenticator" || a.DisplayName() != "Username & Password" {
		t.Errorf("names %q / %q", a.Name(), a.DisplayName())
	}
	got, _ := json.Marshal(a.Prompt())
	want := `{"i18nKey":"authenticator.basic","promptType":"USER_PROMPT","params":[` +
		`{"param":"username","type":"STRING","order":0,"i18nKey":"username.param","displayName":"Username","confidential":false},` +
		`{"param":"password","type":"STRING","order":1,"i18nKey":"password.param","displayName":"Password","confidential":true}]}`
	if string(got) != want {
		t.Errorf("prompt\n got %s\nwant %s", got, want)
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name       string
		user       store.NewUser
		pw         string // the user's password; empty: none
		username   string // submitted
		submit     string
		wantStatus connectors.Status
		wantReason connectors.Reason
		wantFailed bool // FailedUser set
	}{
		{name: "right password", user: store.NewUser{Username: "alice"}, pw: "pw-1", username: "alice", submit: "pw-1",
			wantStatus: connectors.StatusSuccess},
		{name: "username case-insensitive", user: store.NewUser{Username: "Alice"}, pw: "pw-1", username: "aLICE", submit: "pw-1",
			wantStatus: connectors.StatusSuccess},
		{name: "secondary domain", user: store.NewUser{Username: "alice", Domain: "CORP"}, pw: "pw-1", username: "CORP/alice", submit: "pw-1",
			wantStatus: connectors.StatusSuccess},
		{name: "wrong password", user: store.NewUser{Username: "alice"}, pw: "pw-1", username: "alice", submit: "pw-2",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials, wantFailed: true},
		{name: "unknown user", user: store.NewUser{Username: "alice"}, pw: "pw-1", username: "mallory", submit: "pw-1",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials},
		{name: "no local password", user: store.NewUser{Username: "alice"}, username: "alice", submit: "anything",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials},
		{name: "wrong domain", user: store.NewUser{Username: "alice", Domain: "CORP"}, pw: "pw-1", username: "alice", submit: "pw-1",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials},
		{name: "pending user, right password", user: store.NewUser{Username: "alice", Status: store.UserPendingEmailVerification},
			pw: "pw-1", username: "alice", submit: "pw-1",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonAccountDisabled, wantFailed: true},
		{name: "pending user, wrong password hides the state", user: store.NewUser{Username: "alice", Status: store.UserPendingEmailVerification},
			pw: "pw-1", username: "alice", submit: "nope",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials, wantFailed: true},
		{name: "empty password", user: store.NewUser{Username: "alice"}, pw: "pw-1", username: "alice", submit: "",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := e.user(t, tc.user, tc.pw)
			out := login(t, e.auth(t, basic.Config{MaxFailures: 5}), tc.username, tc.submit)
			if out.Status != tc.wantStatus || out.Reason != tc.wantReason {
				t.Fatalf("status %q reason %q, want %q %q", out.Status, out.Reason, tc.wantStatus, tc.wantReason)
			}
			if tc.wantStatus == connectors.StatusSuccess {
				if out.User == nil || out.User.ID != u.ID || out.User.Username != u.Username ||
					out.User.UserStoreDomain != u.Domain || out.User.IdP != connectors.LocalIdP || out.User.TenantDomain != "carbon.super" {
					t.Errorf("user %+v, want id %s", out.User, u.ID)
				}
			}
			if (out.FailedUser != nil) != tc.wantFailed {
				t.Errorf("failed user %+v, want set = %v", out.FailedUser, tc.wantFailed)
			}
		})
	}
}

func TestDisabledUserRefused(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, store.NewUser{Username: "dis"}, "pw")
	// No store method disables a user yet; flip the column as an administrator's tool would.
	conn, err := pgx.Connect(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `UPDATE users SET disabled = true WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	out := login(t, e.auth(t, basic.Config{}), "dis", "pw")
	if out.Status != connectors.StatusFailed || out.Reason != connectors.ReasonAccountDisabled || out.Retry {
		t.Fatalf("disabled user: %+v", out)
	}
	if out := login(t, e.auth(t, basic.Config{}), "dis", "bad"); out.Reason != connectors.ReasonInvalidCredentials {
		t.Errorf("disabled user with a wrong password: reason %q, want invalid_credentials", out.Reason)
	}
}

func TestNoEnumeration(t *testing.T) {
	e := newEnv(t)
	e.user(t, store.NewUser{Username: "alice"}, "pw-1")
	a := e.auth(t, basic.Config{MaxFailures: 3})
	wrong := login(t, a, "alice", "nope")
	unknown := login(t, a, "nobody", "nope")
	// What reaches the user (status, reason, retry, messages, remaining count) is identical.
	strip := func(o connectors.Outcome) connectors.Outcome { o.FailedUser = nil; return o }
	w, _ := json.Marshal(strip(wrong))
	u, _ := json.Marshal(strip(unknown))
	if !bytes.Equal(w, u) {
		t.Errorf("wrong password and unknown user differ:\n%s\n%s", w, u)
	}
}

func TestLockAndUnlock(t *testing.T) {
	e := newEnv(t)
	u := e.user(t, store.NewUser{Username: "alice"}, "pw-1")
	a := e.auth(t, basic.Config{MaxFailures: 3, LockDuration: 15 * time.Minute, ShowRemainingAttempts: true})

	steps := []struct {
		name          string
		advance       time.Duration
		pw            string
		wantStatus    connectors.Status
		wantReason    connectors.Reason
		wantRetry     bool
		wantRemaining int
		wantClaim     string // FailedUser's failed-attempts claim, when set
	}{
		{name: "1st wrong", pw: "x", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials,
			wantRetry: true, wantRemaining: 2, wantClaim: "1"},
		{name: "2nd wrong", pw: "x", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials,
			wantRetry: true, wantRemaining: 1, wantClaim: "2"},
		{name: "3rd wrong locks", pw: "x", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonAccountLocked, wantClaim: "3"},
		{name: "right password while locked", advance: 14 * time.Minute, pw: "pw-1",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonAccountLocked},
		{name: "right password after the lock", advance: time.Minute, pw: "pw-1", wantStatus: connectors.StatusSuccess},
		{name: "counter restarted", pw: "x", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials,
			wantRetry: true, wantRemaining: 2, wantClaim: "4"},
	}
	for _, st := range steps {
		e.clock.t = e.clock.t.Add(st.advance)
		out := login(t, a, "alice", st.pw)
		if out.Status != st.wantStatus || out.Reason != st.wantReason || out.Retry != st.wantRetry ||
			out.RemainingAttempts != st.wantRemaining {
			t.Fatalf("%s: got %s/%s retry=%v remaining=%d, want %s/%s retry=%v remaining=%d", st.name,
				out.Status, out.Reason, out.Retry, out.RemainingAttempts, st.wantStatus, st.wantReason, st.wantRetry, st.wantRemaining)
		}
		if st.wantClaim != "" {
			if out.FailedUser == nil || out.FailedUser.Claims[basic.FailedAttemptsClaim] != st.wantClaim {
				t.Errorf("%s: failed user %+v, want claim %s", st.name, out.FailedUser, st.wantClaim)
			}
		}
	}
	// The success reset the lock counter; the before-success claim stays for the script to reset.
	got, err := e.s.UserByUsername(t.Context(), e.org.ID, "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.FailedLoginAttempts != 1 || got.Locked {
		t.Errorf("user after the sequence: attempts=%d locked=%v", got.FailedLoginAttempts, got.Locked)
	}
	claims, _ := e.s.UserClaims(t.Context(), u.ID)
	if claims[basic.FailedAttemptsClaim] != "4" {
		t.Errorf("claim = %q, want 4", claims[basic.FailedAttemptsClaim])
	}
}

func TestSecretsNotLogged(t *testing.T) {
	e := newEnv(t)
	e.user(t, store.NewUser{Username: "alice"}, "correct-horse")
	var buf bytes.Buffer
	a := e.auth(t, basic.Config{MaxFailures: 2, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	for _, pw := range []string{"battery-staple", "battery-staple", "correct-horse"} {
		login(t, a, "alice", pw)
	}
	if buf.Len() == 0 {
		t.Fatal("nothing logged; the test proves nothing")
	}
	for _, secret := range []string{"battery-staple", "correct-horse", "argon2id"} {
		if bytes.Contains(buf.Bytes(), []byte(secret)) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		cfg  basic.Config
		deps basic.Deps
	}{
		{name: "no deps", cfg: basic.Config{}},
		{name: "negative max failures", cfg: basic.Config{MaxFailures: -1}, deps: basic.Deps{Users: e.s, Organizations: e.s}},
		{name: "negative duration", cfg: basic.Config{LockDuration: -time.Second}, deps: basic.Deps{Users: e.s, Organizations: e.s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := basic.New(tc.cfg, tc.deps); err == nil {
				t.Error("New accepted an invalid configuration")
			}
		})
	}
}
