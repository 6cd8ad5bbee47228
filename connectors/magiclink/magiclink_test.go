package magiclink_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/magiclink"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/notify/notifytest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	srv  *notifytest.Server
	s    *store.Store
	org  store.Organization
	a    *magiclink.Authenticator
	user *connectors.User
	now  time.Time
	log  bytes.Buffer
}

// newEnv starts a real SMTP server (STARTTLS + AUTH) and a database holding alice, whose address
// is in the store (not in User.Claims).
func newEnv(t *testing.T, cfg magiclink.Config, email string) *env {
	t.Helper()
	e := &env{srv: notifytest.Start(t, notifytest.Options{TLS: true, Username: "mailer", Password: "pw"}),
		s: storetest.New(t), now: time.Date(2032, 1, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	claims := map[string]string{}
	if email != "" {
		claims[magiclink.EmailClaim] = email
	}
	u, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "alice", Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	e.user = &connectors.User{ID: u.ID, Username: "alice", UserStoreDomain: "PRIMARY", IdP: connectors.LocalIdP,
		Claims: map[string]string{"http://wso2.org/claims/country": "NZ"}}
	mailer, err := notify.NewSMTP(notify.SMTPConfig{Host: e.srv.Host, Port: e.srv.Port, TLSConfig: e.srv.ClientTLS,
		Username: "mailer", Password: "pw", From: "Keyflow <no-reply@keyflow.test>", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HashKey == nil {
		cfg.HashKey = bytes.Repeat([]byte{9}, 32)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://id.example.com/"
	}
	cfg.Now = func() time.Time { return e.now }
	cfg.Logger = slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.a, err = magiclink.New(cfg, magiclink.Deps{Users: e.s, Organizations: e.s, Mailer: mailer})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// received reads the next mail and returns the link in it.
func (e *env) received(t *testing.T) *url.URL {
	t.Helper()
	m := e.srv.Next(t)
	if !m.TLS || len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Errorf("mail: TLS %v to %v", m.TLS, m.To)
	}
	text := m.Text(t)
	raw := linkRE.FindString(text)
	if raw == "" {
		t.Fatalf("no link in mail:\n%s", text)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) stepContext(flow string, u *connectors.User) connectors.StepContext {
	return connectors.StepContext{FlowID: flow, TenantDomain: "carbon.super", Step: 2, IdP: connectors.LocalIdP, User: u}
}

func (e *env) begin(t *testing.T, c connectors.StepContext, state json.RawMessage) connectors.BeginResult {
	t.Helper()
	res, err := e.a.Begin(context.Background(), connectors.BeginInput{StepContext: c, State: state})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return res
}

func (e *env) process(t *testing.T, c connectors.StepContext, params map[string]string, state json.RawMessage) connectors.Outcome {
	t.Helper()
	out, err := e.a.Process(context.Background(), connectors.ProcessInput{StepContext: c, Params: params,
		State: state, Attempt: 1})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func mlt(token string) map[string]string { return map[string]string{magiclink.ParamToken: token} }

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t, magiclink.Config{}, "alice@example.com")
		return connectortest.Fixture{
			Authenticator: e.a,
			User:          e.user,
			Valid: func(t *testing.T, _ json.RawMessage) map[string]string {
				return mlt(e.received(t).Query().Get("mlt"))
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return mlt(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
			},
		}
	})
}

// TestRealSMTPExchange is the acceptance test: Begin mails a link through a real SMTP server; the
// token from the delivered link is accepted once, and appears neither in the state (Temporal
// history) nor in the logs.
func TestRealSMTPExchange(t *testing.T) {
	e := newEnv(t, magiclink.Config{}, "alice@example.com")
	res := e.begin(t, e.stepContext("flow-1", e.user), nil)
	if res.Outcome != nil || res.Prompt == nil || res.Prompt.Type != connectors.PromptUser ||
		res.Prompt.I18nKey != "authenticator.magiclink" || res.Prompt.RequiredParams()[0] != "mlt" {
		t.Fatalf("Begin: %+v", res)
	}
	if len(res.Messages) != 1 || res.Messages[0].Context["destination"] != "a***@example.com" {
		t.Errorf("messages %+v", res.Messages)
	}
	link := e.received(t)
	q := link.Query()
	token := q.Get("mlt")
	if link.Scheme != "https" || link.Host != "id.example.com" || link.Path != "/authenticationendpoint/login" ||
		q.Get("sessionDataKey") != "flow-1" {
		t.Errorf("link %s", link)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) < 16 {
		t.Fatalf("token %q: want at least 128 random bits", token)
	}
	if strings.Contains(string(res.State), token) {
		t.Errorf("state holds the token: %s", res.State)
	}
	wrong := e.process(t, e.stepContext("flow-1", e.user), mlt(token[:len(token)-2]+"AA"), res.State)
	if wrong.Status != connectors.StatusFailed || wrong.Reason != connectors.ReasonInvalidCode || !wrong.Retry ||
		wrong.RemainingAttempts != 2 {
		t.Fatalf("wrong token: %+v", wrong)
	}
	// The same state in another flow (a replayed state) does not verify.
	if out := e.process(t, e.stepContext("flow-2", e.user), mlt(token), wrong.State); out.Status == connectors.StatusSuccess {
		t.Error("the state was accepted in another flow")
	}
	ok := e.process(t, e.stepContext("flow-1", e.user), mlt(token), wrong.State)
	if ok.Status != connectors.StatusSuccess || ok.User == nil || ok.User.ID != e.user.ID ||
		ok.User.Claims["http://wso2.org/claims/country"] != "NZ" || ok.User.TenantDomain != "carbon.super" {
		t.Fatalf("right token: %+v", ok)
	}
	if strings.Contains(e.log.String(), token) || e.log.Len() == 0 {
		t.Errorf("log (must be non-empty and free of the token):\n%s", e.log.String())
	}
}

// TestIdentifierFirst covers a first step: the username first, then the link.
func TestIdentifierFirst(t *testing.T) {
	e := newEnv(t, magiclink.Config{}, "alice@example.com")
	first := e.stepContext("flow-1", nil)
	res := e.begin(t, first, nil)
	if res.Outcome != nil || res.Prompt == nil || strings.Join(res.Prompt.RequiredParams(), ",") != "username" {
		t.Fatalf("Begin without a user: %+v", res)
	}
	if e.srv.Pending() != 0 {
		t.Fatal("mail sent before the user was known")
	}
	out := e.process(t, first, map[string]string{"username": " ALICE "}, res.State)
	if out.Status != connectors.StatusIncomplete || out.Prompt == nil || out.Prompt.RequiredParams()[0] != "mlt" {
		t.Fatalf("username round: %+v", out)
	}
	token := e.received(t).Query().Get("mlt")
	// A resend goes to the user the username round found.
	again := e.begin(t, first, out.State)
	newToken := e.received(t).Query().Get("mlt")
	if newToken == token {
		t.Fatal("resend reused the token")
	}
	if o := e.process(t, first, mlt(token), again.State); o.Status == connectors.StatusSuccess {
		t.Error("a token replaced by a resend still works")
	}
	ok := e.process(t, first, mlt(newToken), again.State)
	if ok.Status != connectors.StatusSuccess || ok.User == nil || ok.User.ID != e.user.ID || ok.User.Username != "alice" ||
		ok.User.IdP != connectors.LocalIdP {
		t.Fatalf("link: %+v", ok)
	}

	// An unknown user gets the same answer, no mail, and no token works.
	res = e.begin(t, first, nil)
	out = e.process(t, first, map[string]string{"username": "nobody"}, res.State)
	if out.Status != connectors.StatusIncomplete || out.Prompt == nil || out.Prompt.RequiredParams()[0] != "mlt" ||
		len(out.Messages) != 1 {
		t.Fatalf("unknown user: %+v", out)
	}
	if e.srv.Pending() != 0 {
		t.Error("mail sent for an unknown user")
	}
	if o := e.process(t, first, mlt(newToken), out.State); o.Status != connectors.StatusFailed || o.Reason != connectors.ReasonInvalidCode {
		t.Errorf("token for an unknown user: %+v", o)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, magiclink.Config{TTL: 2 * time.Minute}, "alice@example.com")
	res := e.begin(t, e.stepContext("flow-1", e.user), nil)
	token := e.received(t).Query().Get("mlt")
	e.now = e.now.Add(2 * time.Minute)
	out := e.process(t, e.stepContext("flow-1", e.user), mlt(token), res.State)
	if out.Status != connectors.StatusFailed || out.Reason != connectors.ReasonExpired {
		t.Fatalf("expired link: %+v", out)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, magiclink.Config{}, "alice@example.com")
	c := e.stepContext("flow-1", e.user)
	c.RuntimeParams = map[string]string{"maximumAllowedResendAttempts": "1", "maximumAllowedFailureAttempts": "2"}
	res := e.begin(t, c, nil)
	_ = e.received(t)
	res = e.begin(t, c, res.State)
	_ = e.received(t)
	if over := e.begin(t, c, res.State); over.Outcome == nil || over.Outcome.Reason != connectors.ReasonMaxResends {
		t.Fatalf("second resend: %+v", over)
	}
	if e.srv.Pending() != 0 {
		t.Error("a mail was sent past the resend limit")
	}
	state := res.State
	for i := 1; i <= 2; i++ {
		out, err := e.a.Process(t.Context(), connectors.ProcessInput{StepContext: c, Params: mlt("nope"), State: state, Attempt: i})
		if err != nil {
			t.Fatal(err)
		}
		state = out.State
		if i == 2 && (out.Reason != connectors.ReasonMaxAttempts || out.Retry) {
			t.Fatalf("failure %d: %+v", i, out)
		}
	}
}

func TestLinkTemplate(t *testing.T) {
	e := newEnv(t, magiclink.Config{LinkTemplate: "https://app.example.com/magic?flow={flowId}&t={token}&tenant={tenant}"},
		"alice@example.com")
	res := e.begin(t, e.stepContext("flow 1", e.user), nil)
	link := e.received(t)
	if link.Host != "app.example.com" || link.Query().Get("flow") != "flow 1" || link.Query().Get("tenant") != "carbon.super" {
		t.Fatalf("link %s", link)
	}
	if out := e.process(t, e.stepContext("flow 1", e.user), mlt(link.Query().Get("t")), res.State); out.Status != connectors.StatusSuccess {
		t.Fatalf("%+v", out)
	}
}

func TestNotEnrolledAndDisabled(t *testing.T) {
	e := newEnv(t, magiclink.Config{}, "")
	res := e.begin(t, e.stepContext("flow-1", e.user), nil)
	if res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled || e.srv.Pending() != 0 {
		t.Fatalf("no address: %+v", res)
	}

	e = newEnv(t, magiclink.Config{}, "alice@example.com")
	res = e.begin(t, e.stepContext("flow-1", e.user), nil)
	token := e.received(t).Query().Get("mlt")
	if _, err := e.s.ReplaceUser(t.Context(), store.UserReplace{OrgID: e.org.ID, ID: e.user.ID, Username: "alice",
		Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if out := e.process(t, e.stepContext("flow-1", e.user), mlt(token), res.State); out.Reason != connectors.ReasonAccountDisabled {
		t.Fatalf("disabled: %+v", out)
	}
}

func TestNewValidates(t *testing.T) {
	s := storetest.New(t)
	mailer, _ := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", From: "a@example.com"})
	deps := magiclink.Deps{Users: s, Organizations: s, Mailer: mailer}
	key := bytes.Repeat([]byte{1}, 32)
	base := "https://id.example.com"
	tests := []struct {
		name string
		cfg  magiclink.Config
		deps magiclink.Deps
	}{
		{name: "no deps", cfg: magiclink.Config{HashKey: key, BaseURL: base}},
		{name: "short key", cfg: magiclink.Config{HashKey: key[:16], BaseURL: base}, deps: deps},
		{name: "no base", cfg: magiclink.Config{HashKey: key}, deps: deps},
		{name: "template without token", cfg: magiclink.Config{HashKey: key, BaseURL: base, LinkTemplate: "{base}/x?f={flowId}"}, deps: deps},
		{name: "relative template", cfg: magiclink.Config{HashKey: key, BaseURL: base, LinkTemplate: "/x?t={token}"}, deps: deps},
		{name: "bad body", cfg: magiclink.Config{HashKey: key, BaseURL: base, Body: "{{.Link"}, deps: deps},
		{name: "short ttl", cfg: magiclink.Config{HashKey: key, BaseURL: base, TTL: time.Second}, deps: deps},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := magiclink.New(tc.cfg, tc.deps); err == nil {
				t.Error("accepted")
			}
		})
	}
}
