package scripting_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/fake"
	"github.com/keyflow/keyflow/scripting"
)

// twoSteps is the reference configuration: step 1 BasicAuthenticator, step 2 totp.
func twoSteps() []scripting.Step {
	return []scripting.Step{
		{Options: []scripting.Option{{Authenticator: "BasicAuthenticator", IdP: "LOCAL", DisplayName: "Username & Password"}}},
		{Options: []scripting.Option{{Authenticator: "totp", IdP: "LOCAL", DisplayName: "TOTP"}}},
	}
}

func threeSteps() []scripting.Step {
	return append(twoSteps(), scripting.Step{Options: []scripting.Option{
		{Authenticator: "FIDOAuthenticator", IdP: "LOCAL", DisplayName: "Passkey"}}})
}

// recorder is a slog handler that keeps messages for assertions.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	r.msgs = append(r.msgs, line)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) contains(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// driver plays the login workflow's role against a Session without Temporal.
type driver struct {
	t *testing.T
	// result decides the outcome of a step; run counts how often that step ran (1-based).
	result func(n *scripting.StepNode, run int) scripting.StepResult
	// answer answers prompts.
	answer func(n *scripting.PromptNode) scripting.PromptResult
	// call answers external calls.
	call  func(n *scripting.CallNode) scripting.CallResult
	calls []*scripting.CallNode

	ran     []int
	nodes   []*scripting.StepNode
	prompts []*scripting.PromptNode
	counts  map[int]int
}

var alice = connectors.User{ID: "id-alice", Username: "alice", UserStoreDomain: "PRIMARY", TenantDomain: "carbon.super", IdP: "LOCAL"}

func succeed(n *scripting.StepNode, _ int) scripting.StepResult {
	u := alice
	return scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: n.Options[0].Authenticator,
		IdP: n.Options[0].IdP, User: &u}
}

// failStep returns a result function that fails the listed steps on the listed runs.
func failOn(step int, runs ...int) func(n *scripting.StepNode, run int) scripting.StepResult {
	return func(n *scripting.StepNode, run int) scripting.StepResult {
		if n.Step == step && (len(runs) == 0 || contains(runs, run)) {
			u := alice
			return scripting.StepResult{Status: connectors.StatusFailed, Authenticator: n.Options[0].Authenticator,
				IdP: n.Options[0].IdP, FailedUser: &u, Reason: connectors.ReasonInvalidCredentials}
		}
		return succeed(n, run)
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// run drives s to the end and returns the FailNode, or nil on success.
func (d *driver) run(s *scripting.Session) *scripting.FailNode {
	d.t.Helper()
	if d.result == nil {
		d.result = succeed
	}
	d.counts = map[int]int{}
	for range 100 {
		switch n := s.Next().(type) {
		case nil:
			return nil
		case *scripting.StepNode:
			d.ran = append(d.ran, n.Step)
			d.nodes = append(d.nodes, n)
			d.counts[n.Step]++
			s.StepDone(n, d.result(n, d.counts[n.Step]))
		case *scripting.PromptNode:
			d.prompts = append(d.prompts, n)
			var r scripting.PromptResult
			if d.answer != nil {
				r = d.answer(n)
			}
			s.PromptDone(n, r)
		case *scripting.CallNode:
			d.calls = append(d.calls, n)
			r := scripting.CallResult{Outcome: scripting.OutcomeFail}
			if d.call != nil {
				r = d.call(n)
			}
			s.CallDone(n, r)
		case *scripting.FailNode:
			return n
		}
	}
	d.t.Fatal("the graph did not end within 100 nodes")
	return nil
}

type env struct {
	t   *testing.T
	log *recorder
	dir *fake.Directory
	cfg scripting.Config
}

func newEnv(t *testing.T) *env {
	rec := &recorder{}
	dir := fake.NewDirectory(
		fake.UserRecord{User: connectors.User{ID: "id-alice", Username: "alice", TenantDomain: "carbon.super",
			Roles: []string{"admin", "everyone"}, Groups: []string{"employee"},
			Claims: map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"}},
			AppRoles: map[string][]string{"app-1": {"Internal/approver"}}},
	)
	return &env{t: t, log: rec, dir: dir, cfg: scripting.Config{Logger: slog.New(rec), Directory: dir}}
}

func (e *env) open(script string, steps []scripting.Step, mod ...func(*scripting.Setup)) *scripting.Session {
	e.t.Helper()
	setup := scripting.Setup{Script: script, Steps: steps, TenantDomain: "carbon.super",
		ApplicationID: "app-1", ApplicationName: "pickup",
		Request: scripting.Request{IP: "192.168.1.7", Headers: map[string]string{"user-agent": "test-agent"},
			Params:  map[string][]string{"scenario": {"s1"}},
			Cookies: map[string]scripting.Cookie{"lang": {Name: "lang", Value: "en"}}}}
	for _, m := range mod {
		m(&setup)
	}
	s, err := scripting.Open(e.cfg, setup)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return s
}
