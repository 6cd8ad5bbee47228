package flows_test

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
)

func TestCallbackOrderInWorkflow(t *testing.T) {
	w := newWorld(t)
	steps := append(basicTOTP(), step(connectors.FIDOAuthenticator))
	in := loginInput(`function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ executeStep(2); }}); executeStep(3); }`, steps)
	r := w.login(in, password("alice", "pw-alice"), totp(totpCode), code(connectors.FIDOAuthenticator, "tokenResponse", fidoCode))
	if got := ranSteps(r.result); !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Errorf("steps %v, want [1 2 3]", got)
	}
	if r.result.Status != flows.StatusSuccess {
		t.Errorf("status %s", r.result.Status)
	}
}

func TestNoScriptRunsConfiguredStepsWithRetry(t *testing.T) {
	w := newWorld(t)
	r := w.login(loginInput("", basicTOTP()), password("alice", "wrong"), password("alice", "pw-alice"), totp(totpCode))
	var statuses []flows.FlowStatus
	for _, v := range r.views {
		statuses = append(statuses, v.Status)
	}
	want := []flows.FlowStatus{flows.StatusIncomplete, flows.StatusFailIncomplete, flows.StatusIncomplete, flows.StatusSuccess}
	if !reflect.DeepEqual(statuses, want) {
		t.Fatalf("statuses %v, want %v (no script: the authenticator retries)", statuses, want)
	}
	if m := r.views[1].Messages; len(m) != 1 || m[0].ID != "ABA-60003" {
		t.Errorf("retry messages %+v", m)
	}
	if got := ranSteps(r.result); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("steps %v", got)
	}
	if r.result.Subject == nil || r.result.Subject.Username != "alice" {
		t.Errorf("subject %+v", r.result.Subject)
	}
}

func TestViewShapes(t *testing.T) {
	w := newWorld(t)
	steps := []scripting.Step{step(connectors.BasicAuthenticator, connectors.FIDOAuthenticator)}
	fidoID := flows.AuthenticatorID(connectors.FIDOAuthenticator, "LOCAL")
	r := w.login(loginInput("", steps),
		func(t *testing.T, v flows.View) flows.Submission {
			if v.Step.Type != flows.StepMultiOptionsPrompt || len(v.Step.Authenticators) != 2 {
				t.Fatalf("first view %s", describe(v))
			}
			basic, fido := v.Step.Authenticators[0], v.Step.Authenticators[1]
			if basic.ID != "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM" || basic.DisplayName != "Username & Password" ||
				basic.Metadata.Type != connectors.PromptUser || !reflect.DeepEqual(basic.RequiredParams, []string{"username", "password"}) {
				t.Errorf("basic option %+v", basic)
			}
			if fido.ID != "RklET0F1dGhlbnRpY2F0b3I6TE9DQUw" || fido.Metadata.Type != "" || len(fido.Metadata.Params) != 0 ||
				fido.RequiredParams != nil || fido.Metadata.I18nKey == "" {
				t.Errorf("an option that needs initiation must show its i18nKey only: %+v", fido)
			}
			// A well-formed id of an authenticator this step does not offer.
			return flows.Submission{Seq: v.Seq, AuthenticatorID: flows.AuthenticatorID(connectors.TOTPAuthenticator, "LOCAL")}
		},
		func(t *testing.T, v flows.View) flows.Submission {
			if v.Status != flows.StatusFailIncomplete || len(v.Messages) != 1 || v.Messages[0].ID != "ABA-60012" {
				t.Fatalf("invalid authenticatorId: view %s messages %+v", describe(v), v.Messages)
			}
			return flows.Submission{Seq: v.Seq, AuthenticatorID: fidoID} // selection only
		},
		func(t *testing.T, v flows.View) flows.Submission {
			expectPrompt(t, v, connectors.FIDOAuthenticator)
			a := v.Step.Authenticators[0]
			if a.Metadata.Type != connectors.PromptUser || !reflect.DeepEqual(a.RequiredParams, []string{"tokenResponse"}) {
				t.Errorf("initiated option %+v", a)
			}
			return flows.Submission{Seq: v.Seq, AuthenticatorID: fidoID} // selection again: idempotent
		},
		func(t *testing.T, v flows.View) flows.Submission {
			expectPrompt(t, v, connectors.FIDOAuthenticator)
			return flows.Submission{Seq: v.Seq, AuthenticatorID: fidoID, Params: map[string]string{"tokenResponse": fidoCode}}
		},
	)
	if r.result.Status != flows.StatusFailed {
		// The passkey fake verifies the known user; in a first step there is none.
		t.Fatalf("status %s, want a failure: a second-factor fake cannot run in step 1", r.result.Status)
	}
	if begins := countCalls(w.fido.Calls(), "Begin"); begins != 1 {
		t.Errorf("Begin ran %d times, want once (re-selecting must not re-initiate)", begins)
	}
	for i, v := range r.views {
		if v.Seq != i+1 || v.FlowID != "flow-1" {
			t.Errorf("view %d has seq %d flow %q", i, v.Seq, v.FlowID)
		}
	}
}

func countCalls(calls []fakeCall, method string) int {
	n := 0
	for _, c := range calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

func TestSelectionOnlyRequestIsIdempotentForPasswords(t *testing.T) {
	w := newWorld(t)
	basicID := flows.AuthenticatorID(connectors.BasicAuthenticator, "LOCAL")
	r := w.login(loginInput(`function onLoginRequest(c){ executeStep(1); }`, basicTOTP()),
		func(t *testing.T, v flows.View) flows.Submission {
			return flows.Submission{Seq: v.Seq, AuthenticatorID: basicID}
		},
		password("alice", "pw-alice"))
	if len(r.views) != 3 || r.views[1].Status != flows.StatusIncomplete || r.result.Status != flows.StatusSuccess {
		t.Fatalf("views %v", r.views)
	}
	if n := countCalls(w.basic.Calls(), "Process"); n != 1 {
		t.Errorf("Process ran %d times, want 1", n)
	}
}

func TestResendRestartsTheAuthenticator(t *testing.T) {
	w := newWorld(t)
	steps := []scripting.Step{step(connectors.BasicAuthenticator), step(connectors.EmailOTPAuthenticator)}
	r := w.login(loginInput("", steps), password("alice", "pw-alice"),
		func(t *testing.T, v flows.View) flows.Submission {
			return flows.Submission{Seq: v.Seq, Action: flows.ActionResend}
		},
		code(connectors.EmailOTPAuthenticator, "OTPCode", smsCode))
	if r.result.Status != flows.StatusSuccess {
		t.Fatalf("status %s", r.result.Status)
	}
	if n := countCalls(w.email.Calls(), "Begin"); n != 2 {
		t.Errorf("Begin ran %d times, want 2 (initial send and resend)", n)
	}
}

func TestScriptFailuresEndCleanly(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		actions  []action
		wantKind flows.ErrorKind
		check    func(t *testing.T, e *flows.FlowError)
	}{
		{name: "infinite loop in onLoginRequest", script: `function onLoginRequest(c){ while(true){} }`, wantKind: flows.ErrorServer},
		{name: "infinite loop in a callback",
			script:  `function onLoginRequest(c){ executeStep(1,{onSuccess: function(){ for(;;){} }}); }`,
			actions: []action{password("alice", "pw-alice")}, wantKind: flows.ErrorServer},
		{name: "throw", script: `function onLoginRequest(c){ throw new Error('x'); }`, wantKind: flows.ErrorServer,
			check: func(t *testing.T, e *flows.FlowError) {
				if e.Code != "ABA-65001" {
					t.Errorf("code %s", e.Code)
				}
			}},
		{name: "syntax error", script: `function onLoginRequest(c) {`, wantKind: flows.ErrorServer},
		{name: "no onLoginRequest", script: `var a = 1;`, wantKind: flows.ErrorServer},
		{name: "fail()",
			script:  `function onLoginRequest(c){ executeStep(1,{onSuccess: function(){ fail({errorCode: 'access_denied', errorMessage: 'Not now'}); }}); }`,
			actions: []action{password("alice", "pw-alice")}, wantKind: flows.ErrorProtocol,
			check: func(t *testing.T, e *flows.FlowError) {
				if e.ErrorCode != "access_denied" || e.ErrorMessage != "Not now" {
					t.Errorf("error %+v", e)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.cfg.Script.Budget = 50 * time.Millisecond
			r := w.login(loginInput(tc.script, basicTOTP()), tc.actions...)
			final := r.final()
			if final.Status != flows.StatusFailed || final.Error == nil || final.Error.Kind != tc.wantKind {
				t.Fatalf("final view %s %+v, want %s", final.Status, final.Error, tc.wantKind)
			}
			if tc.check != nil {
				tc.check(t, final.Error)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	w := newWorld(t)
	w.cfg.IdleTimeout = 5 * time.Minute
	r := w.login(loginInput("", basicTOTP())) // the user never answers
	if r.result.Status != flows.StatusFailed || r.result.Error.Kind != flows.ErrorTimeout || r.result.Error.Code != "ABA-60008" {
		t.Fatalf("result %+v", r.result)
	}
	if elapsed := r.env.Now().Sub(r.startedAt()); elapsed < w.cfg.IdleTimeout {
		t.Errorf("ended after %v, before the idle timeout", elapsed)
	}
}

func TestIdleTimeoutCountsFromTheLastAnswer(t *testing.T) {
	tests := []struct {
		name  string
		think time.Duration
		want  flows.FlowStatus
	}{
		// Three answers of 60 s each take longer than the 90 s timeout in total, but no gap
		// does: the timer must be re-armed, not fire 90 s after the start.
		{name: "every gap below the timeout", think: 60 * time.Second, want: flows.StatusSuccess},
		{name: "one gap above the timeout", think: 100 * time.Second, want: flows.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.cfg.IdleTimeout = 90 * time.Second
			w.think = tc.think
			r := w.login(loginInput("", append(basicTOTP(), step(connectors.FIDOAuthenticator))),
				password("alice", "pw-alice"), totp(totpCode), code(connectors.FIDOAuthenticator, "tokenResponse", fidoCode))
			if r.result.Status != tc.want {
				t.Fatalf("status %s %+v, want %s", r.result.Status, r.result.Error, tc.want)
			}
		})
	}
}

func TestSSOSession(t *testing.T) {
	alice := connectors.User{ID: "id-alice", Username: "alice", UserStoreDomain: "PRIMARY", IdP: "LOCAL"}
	maxAge := func(s int64) *int64 { return &s }
	tests := []struct {
		name      string
		script    string
		request   func(*flows.LoginRequest)
		at        time.Duration // session age
		actions   []action
		wantViews int
		wantSSO   bool
		wantFail  string // ErrorCode
	}{
		{name: "session satisfies step 1", wantViews: 1, wantSSO: true},
		{name: "prompt=login forces authentication", request: func(r *flows.LoginRequest) { r.Prompt = []string{"login"} },
			actions: []action{password("alice", "pw-alice")}, wantViews: 2},
		{name: "forceAuth", request: func(r *flows.LoginRequest) { r.ForceAuth = true },
			actions: []action{password("alice", "pw-alice")}, wantViews: 2},
		{name: "stepOptions.forceAuth", script: `function onLoginRequest(c){ executeStep(1, {stepOptions: {forceAuth: 'true'}}, {}); }`,
			actions: []action{password("alice", "pw-alice")}, wantViews: 2},
		{name: "max_age exceeded", request: func(r *flows.LoginRequest) { r.MaxAge = maxAge(60) }, at: 2 * time.Minute,
			actions: []action{password("alice", "pw-alice")}, wantViews: 2},
		{name: "max_age satisfied", request: func(r *flows.LoginRequest) { r.MaxAge = maxAge(600) }, at: 2 * time.Minute,
			wantViews: 1, wantSSO: true},
		{name: "passive without a usable session", request: func(r *flows.LoginRequest) { r.Prompt = []string{"none"}; r.ForceAuth = true },
			wantViews: 1, wantFail: "login_required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			in := loginInput(tc.script, []scripting.Step{step(connectors.BasicAuthenticator)})
			if tc.script == "" {
				in.Application.Script = `var onLoginRequest = function(c){ executeStep(1); };`
			}
			in.Session = &flows.SSOSession{ID: "sso-1", Steps: []flows.AuthenticatedStep{{Step: 1,
				Authenticator: connectors.BasicAuthenticator, IdP: "LOCAL", User: alice,
				At: time.Now().Add(-tc.at)}}}
			if tc.request != nil {
				tc.request(&in.Request)
			}
			r := w.loginAt(in, time.Now(), tc.actions...)
			if len(r.views) != tc.wantViews {
				t.Errorf("views %d, want %d", len(r.views), tc.wantViews)
			}
			if tc.wantFail != "" {
				if r.result.Error == nil || r.result.Error.ErrorCode != tc.wantFail {
					t.Fatalf("result %+v, want %s", r.result, tc.wantFail)
				}
				return
			}
			if r.result.Status != flows.StatusSuccess {
				t.Fatalf("status %s %+v", r.result.Status, r.result.Error)
			}
			if got := r.result.Steps[0].SSO; got != tc.wantSSO {
				t.Errorf("step satisfied by SSO = %v, want %v", got, tc.wantSSO)
			}
		})
	}
}

func TestPromptInWorkflow(t *testing.T) {
	w := newWorld(t)
	script := `function onLoginRequest(c){
		prompt('genericForm', {username: 'x', inputs: [{id: 'answer', label: 'Answer'}]}, {
			onSuccess: function(c, data){
				if (data.answer === '42' && c.request.params.answer[0] === '42') { executeStep(1); }
				else { sendError('', {status: 'wrong'}); }
			}
		});
	}`
	r := w.login(loginInput(script, basicTOTP()),
		func(t *testing.T, v flows.View) flows.Submission {
			if v.Prompt == nil || v.Prompt.Template != "genericForm" ||
				string(v.Prompt.Data) != `{"username":"x","inputs":[{"id":"answer","label":"Answer"}]}` {
				t.Fatalf("prompt view %+v", v.Prompt)
			}
			return flows.Submission{Seq: v.Seq, Params: map[string]string{"answer": "42"},
				Request: &scripting.Request{IP: "203.0.113.9", Params: map[string][]string{"answer": {"42"}}}}
		},
		password("alice", "pw-alice"))
	if r.result.Status != flows.StatusSuccess {
		t.Fatalf("status %s %+v", r.result.Status, r.result.Error)
	}
}

func TestUserAbort(t *testing.T) {
	w := newWorld(t)
	script := `function onLoginRequest(c){ executeStep(1, {onUserAbort: function(c){ fail({errorCode: 'access_denied'}); }}); }`
	r := w.login(loginInput(script, basicTOTP()), func(t *testing.T, v flows.View) flows.Submission {
		return flows.Submission{Seq: v.Seq, Abort: true}
	})
	if r.result.Error == nil || r.result.Error.ErrorCode != "access_denied" {
		t.Fatalf("result %+v", r.result)
	}
}

func TestGlobalsClosuresAndClockAcrossSteps(t *testing.T) {
	w := newWorld(t)
	script := `
		var started = Date.now();
		var onLoginRequest = function(context) {
			var seen = [];
			executeStep(1, {onSuccess: function(context) {
				who = context.currentKnownSubject.username;   // implicit global
				seen.push('1');
				executeStep(2, {onSuccess: function(context) {
					seen.push('2');
					context.selectedAcr = who + ':' + seen.join('') + ':' + (Date.now() - started);
					context.currentKnownSubject.claims['http://wso2.org/claims/random'] = String(Math.random() < 1);
				}});
			}});
		};`
	r := w.login(loginInput(script, basicTOTP()), password("alice", "pw-alice"), totp(totpCode))
	elapsed := r.result.AuthenticatedSteps[1].At.Sub(r.startedAt()).Milliseconds()
	if want := "alice:12:" + strconv.FormatInt(elapsed, 10); r.result.ACR != want {
		t.Errorf("acr %q, want %q (Date.now must be workflow time)", r.result.ACR, want)
	}
	if r.result.Claims["http://wso2.org/claims/random"] != "true" {
		t.Errorf("runtime claim missing from the result: %v", r.result.Claims)
	}
}

func TestSubmitValidation(t *testing.T) {
	w := newWorld(t)
	w.cfg.MaxParams = 3
	// Keep the ended login open a moment so that the late submission meets the validator
	// (FlowEnded), as one delivered in the task that ends the login does.
	w.cfg.FinishDelay = time.Millisecond
	var rejected []error
	env := newTestEnv()
	w.register(env)
	env.SetStartWorkflowOptions(startOptions("flow-1"))
	var views []flows.View
	send := func(id string, sub flows.Submission, after time.Duration) {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(flows.SubmitUpdate, id, &updateCallbacks{t: t,
				complete: func(v flows.View) { views = append(views, v) },
				reject:   func(err error) { rejected = append(rejected, err) }}, sub)
		}, after)
	}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(flows.GetViewUpdate, "start", &updateCallbacks{t: t, complete: func(v flows.View) { views = append(views, v) }}, nil)
	}, 0)
	good := flows.Submission{Seq: 1, Params: map[string]string{"username": "alice", "password": "pw-alice"}}
	send("stale", flows.Submission{Seq: 7, Params: good.Params}, time.Second)
	send("big", flows.Submission{Seq: 1, Params: map[string]string{"a": "", "b": "", "c": "", "d": ""}}, 2*time.Second)
	send("bad-id", flows.Submission{Seq: 1, AuthenticatorID: "bm90OmFuOmlk"}, 2*time.Second+time.Millisecond) // "not:an:id"
	send(flows.SubmitUpdateID("flow-1", 1), good, 3*time.Second)
	send("late", flows.Submission{Seq: 2, Params: good.Params}, 3*time.Second+time.Millisecond/2)
	env.ExecuteWorkflow(flows.LoginWorkflow, loginInput(`function onLoginRequest(c){ executeStep(1); }`, basicTOTP()))

	var res flows.Result
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != flows.StatusSuccess {
		t.Fatalf("result %+v err %v", res, err)
	}
	wantTypes := []string{flows.RejectStale, flows.RejectInvalid, flows.RejectInvalid, flows.RejectEnded}
	if len(rejected) != len(wantTypes) {
		t.Fatalf("rejections %v, want types %v", rejected, wantTypes)
	}
	for i, err := range rejected {
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.Type() != wantTypes[i] {
			t.Errorf("rejection %d: %v, want type %s", i, err, wantTypes[i])
		}
	}
	if n := countCalls(w.basic.Calls(), "Process"); n != 1 {
		t.Errorf("Process ran %d times, want 1: rejected submissions must not be processed", n)
	}
	if len(views) != 2 || views[1].Status != flows.StatusSuccess {
		t.Errorf("views %+v", views)
	}
}

// TestSubmitCurrentView: submissions with Seq CurrentView answer whichever view is current (the
// app-native front-end sends them without reading the view first), one after the other; the
// view each answered is the one whose Seq the next view follows.
func TestSubmitCurrentView(t *testing.T) {
	w := newWorld(t)
	env := newTestEnv()
	w.register(env)
	env.SetStartWorkflowOptions(startOptions("flow-1"))
	var views []flows.View
	var rejected []error
	send := func(id string, sub flows.Submission, after time.Duration) {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(flows.SubmitUpdate, id, &updateCallbacks{t: t,
				complete: func(v flows.View) { views = append(views, v) },
				reject:   func(err error) { rejected = append(rejected, err) }}, sub)
		}, after)
	}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(flows.GetViewUpdate, "start", &updateCallbacks{t: t, complete: func(v flows.View) { views = append(views, v) }}, nil)
	}, 0)
	send("wrong", flows.Submission{Seq: flows.CurrentView, Params: map[string]string{"username": "alice", "password": "nope"}}, time.Second)
	send("right", flows.Submission{Seq: flows.CurrentView, Params: map[string]string{"username": "alice", "password": "pw-alice"}}, 2*time.Second)
	env.ExecuteWorkflow(flows.LoginWorkflow, loginInput("", []scripting.Step{step(connectors.BasicAuthenticator)}))

	var res flows.Result
	if err := env.GetWorkflowResult(&res); err != nil || res.Status != flows.StatusSuccess {
		t.Fatalf("result %+v err %v", res, err)
	}
	if len(rejected) != 0 {
		t.Fatalf("rejections %v", rejected)
	}
	if len(views) != 3 || views[1].Status != flows.StatusFailIncomplete || views[1].Seq != 2 ||
		views[2].Status != flows.StatusSuccess || views[2].Seq != 3 {
		t.Fatalf("views %+v, want the first, a retry (seq 2), then success (seq 3)", views)
	}
	if n := countCalls(w.basic.Calls(), "Process"); n != 2 {
		t.Errorf("Process ran %d times, want 2", n)
	}
}
