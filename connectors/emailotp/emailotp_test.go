package emailotp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/emailotp"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/notify/notifytest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	srv  *notifytest.Server
	s    *store.Store
	a    *emailotp.Authenticator
	user *connectors.User
	now  time.Time
	log  bytes.Buffer
}

// newEnv starts a real SMTP server (STARTTLS + AUTH) and a database holding alice, whose
// address is in the store (not in User.Claims), so Begin reads it from there.
func newEnv(t *testing.T, cfg emailotp.Config, email string) *env {
	t.Helper()
	e := &env{srv: notifytest.Start(t, notifytest.Options{TLS: true, Username: "mailer", Password: "pw"}),
		s: storetest.New(t), now: time.Date(2032, 1, 1, 12, 0, 0, 0, time.UTC)}
	org, err := e.s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]string{}
	if email != "" {
		claims[emailotp.EmailClaim] = email
	}
	u, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "alice", Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	e.user = &connectors.User{ID: u.ID, Username: "alice", UserStoreDomain: "PRIMARY", IdP: connectors.LocalIdP}
	mailer, err := notify.NewSMTP(notify.SMTPConfig{Host: e.srv.Host, Port: e.srv.Port, TLSConfig: e.srv.ClientTLS,
		Username: "mailer", Password: "pw", From: "Keyflow <no-reply@keyflow.test>", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HashKey == nil {
		cfg.HashKey = bytes.Repeat([]byte{9}, 32)
	}
	cfg.Now = func() time.Time { return e.now }
	cfg.Logger = slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.a, err = emailotp.New(cfg, emailotp.Deps{Claims: e.s, Mailer: mailer})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var codeRE = regexp.MustCompile(`code is ([0-9A-Z]+)\.`)

// received reads the next mail from the SMTP server and returns the code in it.
func (e *env) received(t *testing.T) string {
	t.Helper()
	m := e.srv.Next(t)
	if !m.TLS || len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Errorf("mail: TLS %v to %v", m.TLS, m.To)
	}
	match := codeRE.FindStringSubmatch(m.Text(t))
	if match == nil {
		t.Fatalf("no code in mail:\n%s", m.Text(t))
	}
	return match[1]
}

func (e *env) stepContext(flow string) connectors.StepContext {
	return connectors.StepContext{FlowID: flow, TenantDomain: "carbon.super", Step: 2, IdP: connectors.LocalIdP, User: e.user}
}

func (e *env) begin(t *testing.T, state json.RawMessage, runtime map[string]string) connectors.BeginResult {
	t.Helper()
	sc := e.stepContext("flow-1")
	sc.RuntimeParams = runtime
	res, err := e.a.Begin(context.Background(), connectors.BeginInput{StepContext: sc, State: state})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return res
}

func (e *env) process(t *testing.T, flow, code string, state json.RawMessage) connectors.Outcome {
	t.Helper()
	out, err := e.a.Process(context.Background(), connectors.ProcessInput{StepContext: e.stepContext(flow),
		Params: map[string]string{emailotp.ParamOTP: code}, State: state, Attempt: 1})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t, emailotp.Config{}, "alice@example.com")
		return connectortest.Fixture{
			Authenticator: e.a,
			User:          e.user,
			Valid: func(t *testing.T, _ json.RawMessage) map[string]string {
				return map[string]string{"OTPCode": e.received(t)}
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"OTPCode": "not-a-code"}
			},
		}
	})
}

// TestRealSMTPExchange is the acceptance test: Begin sends the code through a real SMTP
// server, the code read from the delivered mail is accepted, and the code appears neither in the
// state (Temporal history) nor in the logs.
func TestRealSMTPExchange(t *testing.T) {
	e := newEnv(t, emailotp.Config{}, "alice@example.com")
	res := e.begin(t, nil, nil)
	if res.Outcome != nil {
		t.Fatalf("Begin ended the step: %+v", res.Outcome)
	}
	if len(res.Messages) != 1 || res.Messages[0].Context["destination"] != "a***@example.com" {
		t.Errorf("messages %+v", res.Messages)
	}
	code := e.received(t)
	if len(code) != 6 {
		t.Errorf("code %q, want 6 digits", code)
	}
	if strings.Contains(string(res.State), code) {
		t.Errorf("state holds the code: %s", res.State)
	}
	wrong := e.process(t, "flow-1", "x"+code[1:], res.State)
	if wrong.Status != connectors.StatusFailed || wrong.Reason != connectors.ReasonInvalidCode || !wrong.Retry ||
		wrong.RemainingAttempts != 2 {
		t.Fatalf("wrong code: %+v", wrong)
	}
	if strings.Contains(string(wrong.State), code) {
		t.Errorf("state after a failure holds the code: %s", wrong.State)
	}
	// The same state in another flow (a replayed state) does not verify.
	if out := e.process(t, "flow-2", code, wrong.State); out.Status == connectors.StatusSuccess {
		t.Error("the state was accepted in another flow")
	}
	ok := e.process(t, "flow-1", " "+code[:3]+" "+code[3:], wrong.State)
	if ok.Status != connectors.StatusSuccess || ok.User == nil || ok.User.ID != e.user.ID {
		t.Fatalf("right code: %+v", ok)
	}
	if strings.Contains(e.log.String(), code) || e.log.Len() == 0 {
		t.Errorf("log (must be non-empty and free of the code):\n%s", e.log.String())
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, emailotp.Config{TTL: 2 * time.Minute}, "alice@example.com")
	res := e.begin(t, nil, nil)
	code := e.received(t)
	e.now = e.now.Add(2 * time.Minute)
	out := e.process(t, "flow-1", code, res.State)
	if out.Status != connectors.StatusFailed || out.Reason != connectors.ReasonExpired || !out.Retry {
		t.Fatalf("expired code: %+v", out)
	}
}

func TestResend(t *testing.T) {
	e := newEnv(t, emailotp.Config{MaxResends: 5}, "alice@example.com")
	first := e.begin(t, nil, nil)
	old := e.received(t)
	// The script lowers the limit to 2 resends.
	runtime := map[string]string{"maximumAllowedResendAttempts": "2", "terminateOnResendLimitExceeded": "true"}
	state := first.State
	var code string
	for i := range 2 {
		res := e.begin(t, state, runtime)
		if res.Outcome != nil {
			t.Fatalf("resend %d refused: %+v", i+1, res.Outcome)
		}
		state = res.State
		code = e.received(t)
	}
	res := e.begin(t, state, runtime)
	if res.Outcome == nil || res.Outcome.Reason != connectors.ReasonMaxResends || res.Outcome.Retry ||
		res.Outcome.Messages[0].ID != "ABA-60014" {
		t.Fatalf("third resend: %+v", res)
	}
	if e.srv.Pending() != 0 {
		t.Error("a mail was sent past the resend limit")
	}
	if old != code {
		if out := e.process(t, "flow-1", old, state); out.Status == connectors.StatusSuccess {
			t.Error("a code replaced by a resend still works")
		}
	}
	if out := e.process(t, "flow-1", code, state); out.Status != connectors.StatusSuccess {
		t.Errorf("latest code: %+v", out)
	}
}

func TestFailureLimit(t *testing.T) {
	e := newEnv(t, emailotp.Config{}, "alice@example.com")
	res := e.begin(t, nil, nil)
	_ = e.received(t)
	state := res.State
	for i := 1; i <= 3; i++ {
		out := e.process(t, "flow-1", "nope", state)
		state = out.State
		if i < 3 && (out.Reason != connectors.ReasonInvalidCode || out.RemainingAttempts != 3-i) {
			t.Fatalf("failure %d: %+v", i, out)
		}
		if i == 3 && (out.Reason != connectors.ReasonMaxAttempts || out.Retry || out.Messages[0].ID != "ABA-60013") {
			t.Fatalf("failure %d: %+v", i, out)
		}
	}
	// A resend keeps the failure count: the limit is per step, not per code.
	res = e.begin(t, state, nil)
	_ = e.received(t)
	if out := e.process(t, "flow-1", "nope", res.State); out.Reason != connectors.ReasonMaxAttempts {
		t.Errorf("after resend: %+v", out)
	}
}

func TestNotEnrolled(t *testing.T) {
	tests := []struct {
		name  string
		email string
	}{
		{name: "no address", email: ""},
		{name: "unusable address", email: "not an address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, emailotp.Config{}, tc.email)
			res := e.begin(t, nil, nil)
			if res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
				t.Fatalf("Begin: %+v", res)
			}
			if e.srv.Pending() != 0 {
				t.Error("a mail was sent")
			}
		})
	}
}

func TestAddressFromUserClaims(t *testing.T) {
	e := newEnv(t, emailotp.Config{Subject: "Code for {{.Tenant}}", Body: "Hi, your code is {{.Code}}."}, "")
	e.user.Claims = map[string]string{emailotp.EmailClaim: "alice@example.com"}
	res := e.begin(t, nil, nil)
	if res.Outcome != nil {
		t.Fatalf("Begin: %+v", res.Outcome)
	}
	code := e.received(t)
	if out := e.process(t, "flow-1", code, res.State); out.Status != connectors.StatusSuccess {
		t.Errorf("Process: %+v", out)
	}
}

func TestNewValidates(t *testing.T) {
	s := storetest.New(t)
	mailer, _ := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", From: "a@example.com"})
	key := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name string
		cfg  emailotp.Config
		deps emailotp.Deps
	}{
		{name: "no deps", cfg: emailotp.Config{HashKey: key}},
		{name: "short key", cfg: emailotp.Config{HashKey: key[:16]}, deps: emailotp.Deps{Claims: s, Mailer: mailer}},
		{name: "bad template", cfg: emailotp.Config{HashKey: key, Body: "{{.Code"}, deps: emailotp.Deps{Claims: s, Mailer: mailer}},
		{name: "length", cfg: emailotp.Config{HashKey: key, Length: 20}, deps: emailotp.Deps{Claims: s, Mailer: mailer}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := emailotp.New(tc.cfg, tc.deps); err == nil {
				t.Error("accepted")
			}
		})
	}
}
