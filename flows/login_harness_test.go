package flows_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/fake"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

const (
	totpCode = "123456"
	smsCode  = "4242"
	fidoCode = "assertion-ok"
)

// world is a fake deployment: users, authenticators and the workflow registered in a test
// environment.
type world struct {
	t      *testing.T
	dir    *fake.Directory
	basic  *fake.Authenticator
	totp   *fake.Authenticator
	sms    *fake.Authenticator
	fido   *fake.Authenticator
	email  *fake.Authenticator
	google *fake.Authenticator // federated-like: users come back with IdP "Google"
	reg    connectors.Registry
	cfg    flows.LoginConfig
	// think is how long the user takes to answer each view (default 1 s).
	think time.Duration
	// http makes the scripts' httpGet/httpPost calls.
	http wfhost.HTTPCaller
}

type fakeCall = fake.Call

func newWorld(t *testing.T, users ...fake.UserRecord) *world {
	t.Helper()
	if len(users) == 0 {
		users = defaultUsers()
	}
	dir := fake.NewDirectory(users...)
	w := &world{t: t, dir: dir,
		basic: fake.NewPassword(dir, 0),
		totp:  fake.NewCode(dir, connectors.TOTPAuthenticator, "TOTP", "token", totpCode),
		sms:   fake.NewCode(dir, connectors.SMSOTPAuthenticator, "SMS OTP", "OTPCode", smsCode),
		fido:  fake.NewCode(dir, connectors.FIDOAuthenticator, "Passkey", "tokenResponse", fidoCode),
		email: fake.NewCode(dir, connectors.EmailOTPAuthenticator, "Email OTP", "OTPCode", smsCode),
		google: fake.New(fake.Config{Name: "GoogleOIDCAuthenticator", DisplayName: "Google", Mode: fake.Password,
			Directory: dir, IdP: "Google"}),
	}
	reg, err := connectors.NewRegistry(w.basic, w.totp, w.sms, w.fido, w.email, w.google)
	if err != nil {
		t.Fatal(err)
	}
	w.reg = reg
	return w
}

func defaultUsers() []fake.UserRecord {
	return []fake.UserRecord{
		{Password: "pw-alice", User: connectors.User{Username: "alice", TenantDomain: "carbon.super",
			Roles: []string{"admin"}, Groups: []string{"employee"},
			Claims: map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"}}},
		{Password: "pw-bob", User: connectors.User{Username: "bob", TenantDomain: "carbon.super",
			Roles: []string{"everyone"}, Groups: []string{"contractor"}}},
		{Password: "pw-mia", User: connectors.User{Username: "mia", TenantDomain: "carbon.super",
			Roles: []string{"manager"}, Groups: []string{"manager"}}},
	}
}

func step(names ...string) scripting.Step {
	st := scripting.Step{}
	for _, n := range names {
		st.Options = append(st.Options, scripting.Option{Authenticator: n, IdP: connectors.LocalIdP})
	}
	return st
}

// basicTOTP is the reference configuration: step 1 BasicAuthenticator, step 2 totp.
func basicTOTP() []scripting.Step {
	return []scripting.Step{step(connectors.BasicAuthenticator), step(connectors.TOTPAuthenticator)}
}

func loginInput(script string, steps []scripting.Step) flows.LoginInput {
	return flows.LoginInput{
		Application: flows.Application{ID: "app-1", Name: "pickup", TenantDomain: "carbon.super", Steps: steps, Script: script},
		Request: flows.LoginRequest{Protocol: "oidc", ClientID: "client-1",
			HTTP: scripting.Request{IP: "203.0.113.9", Headers: map[string]string{"user-agent": "test"}}},
	}
}

func readScript(t *testing.T, name string) string {
	t.Helper()
	return readFile(t, filepath.Join("testdata", "scripts", name))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// action answers one view; ok=false means the user walks away.
type action func(t *testing.T, v flows.View) flows.Submission

func password(user, pw string) action {
	return func(t *testing.T, v flows.View) flows.Submission {
		expectPrompt(t, v, connectors.BasicAuthenticator)
		return flows.Submission{Seq: v.Seq, AuthenticatorID: flows.AuthenticatorID(connectors.BasicAuthenticator, "LOCAL"),
			Params: map[string]string{"username": user, "password": pw}}
	}
}

// code answers an AUTHENTICATOR_PROMPT of authenticator name with value in its code param.
func code(name, param, value string) action {
	return func(t *testing.T, v flows.View) flows.Submission {
		expectPrompt(t, v, name)
		return flows.Submission{Seq: v.Seq, Params: map[string]string{param: value}}
	}
}

func totp(value string) action { return code(connectors.TOTPAuthenticator, "token", value) }

func expectPrompt(t *testing.T, v flows.View, name string) {
	t.Helper()
	if v.Step == nil || len(v.Step.Authenticators) == 0 {
		t.Fatalf("view %d (%s) shows no step, want %s", v.Seq, v.Status, name)
	}
	if got := v.Step.Authenticators[0].Name; got != name || v.Step.Type != flows.StepAuthenticatorPrompt {
		t.Fatalf("view %d shows %s (%s), want %s prompt", v.Seq, got, v.Step.Type, name)
	}
}

// run is one login driven through the test environment.
type run struct {
	views   []flows.View
	result  flows.Result
	err     error
	rejects []error
	env     *testsuite.TestWorkflowEnvironment
	start   time.Time
}

// startedAt is the workflow's start time.
func (r *run) startedAt() time.Time { return r.start }

// final returns the last view.
func (r *run) final() flows.View { return r.views[len(r.views)-1] }

// login executes the workflow with getView, then one submit per action, each answering the
// view the previous Update returned.
func (w *world) login(in flows.LoginInput, actions ...action) *run {
	w.t.Helper()
	return w.loginAt(in, time.Time{}, actions...)
}

// loginAt is login with the workflow clock starting at start (zero: the environment's default).
func (w *world) loginAt(in flows.LoginInput, start time.Time, actions ...action) *run {
	w.t.Helper()
	env := newTestEnv()
	w.register(env)
	env.SetStartWorkflowOptions(startOptions("flow-1"))
	if !start.IsZero() {
		env.SetStartTime(start)
	}
	think := w.think
	if think == 0 {
		think = time.Second
	}
	r := &run{env: env, start: env.Now()}
	var next func(v flows.View)
	next = func(v flows.View) {
		r.views = append(r.views, v)
		if v.Status.Final() || len(actions) == 0 {
			return
		}
		a := actions[0]
		actions = actions[1:]
		sub := a(w.t, v)
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(flows.SubmitUpdate, flows.SubmitUpdateID("flow-1", sub.Seq), &updateCallbacks{
				t: w.t, complete: next, reject: func(err error) { r.rejects = append(r.rejects, err) }}, sub)
		}, think)
	}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(flows.GetViewUpdate, "flow-1:start", &updateCallbacks{t: w.t, complete: next}, nil)
	}, 0)
	env.ExecuteWorkflow(flows.LoginWorkflow, in)
	if !env.IsWorkflowCompleted() {
		w.t.Fatal("workflow did not complete")
	}
	r.err = env.GetWorkflowError()
	if r.err == nil {
		r.err = env.GetWorkflowResult(&r.result)
	}
	if r.err != nil {
		w.t.Fatalf("workflow error: %v", r.err)
	}
	return r
}

func (w *world) register(env worker.Registry) {
	w.t.Helper()
	l, err := flows.NewLogin(w.reg, w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	l.Register(env)
	(&flows.LoginActivities{Authenticators: w.reg}).Register(env)
	(&wfhost.Activities{Directory: w.dir, HTTP: &w.http}).Register(env)
}

type updateCallbacks struct {
	t        *testing.T
	complete func(flows.View)
	reject   func(error)
}

func (u *updateCallbacks) Accept() {}
func (u *updateCallbacks) Reject(err error) {
	if u.reject == nil {
		u.t.Errorf("update rejected: %v", err)
		return
	}
	u.reject(err)
}
func (u *updateCallbacks) Complete(success any, err error) {
	if err != nil {
		u.t.Errorf("update failed: %v", err)
		return
	}
	v, ok := success.(flows.View)
	if !ok {
		u.t.Errorf("update returned %T", success)
		return
	}
	u.complete(v)
}

// ranSteps lists the configured steps that ran (including failed attempts), in order.
func ranSteps(res flows.Result) []int {
	var out []int
	for _, s := range res.Steps {
		out = append(out, s.Step)
	}
	return out
}

func describe(v flows.View) string {
	switch {
	case v.Step != nil:
		return fmt.Sprintf("%d %s step %d %s", v.Seq, v.Status, v.Step.Step, v.Step.Authenticators[0].Name)
	case v.Prompt != nil:
		return fmt.Sprintf("%d %s prompt %s", v.Seq, v.Status, v.Prompt.Template)
	case v.Error != nil:
		return fmt.Sprintf("%d %s %s", v.Seq, v.Status, v.Error.Kind)
	}
	return fmt.Sprintf("%d %s", v.Seq, v.Status)
}

func startOptions(id string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{ID: id, TaskQueue: "login"}
}

// newTestEnv returns a test environment whose SDK logging is quiet unless a test fails (-v
// shows it through t.Log only when KEYFLOW_TEST_LOG is set).
func newTestEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	level := slog.LevelWarn
	if os.Getenv("KEYFLOW_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))
	return suite.NewTestWorkflowEnvironment()
}

// sameJSON reports whether a and b encode to the same JSON, the form both take on the wire.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
