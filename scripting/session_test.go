package scripting_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

func TestGraphOrderAndFailureRules(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		result   func(n *scripting.StepNode, run int) scripting.StepResult
		wantRan  []int
		wantFail scripting.FailKind // "" = success
	}{
		{name: "no script runs configured steps in order", script: "", wantRan: []int{1, 2, 3}},
		{name: "no script, failed step fails the login", script: "", result: failOn(2),
			wantRan: []int{1, 2}, wantFail: scripting.FailAuthentication},
		{name: "callback nodes are infused ahead of the chain",
			script:  `function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ executeStep(2); }}); executeStep(3); }`,
			wantRan: []int{1, 2, 3}},
		{name: "nested callbacks keep graph order",
			script: `var onLoginRequest = function(c){
				executeStep(1,{onSuccess: function(c){ executeStep(3,{onSuccess: function(){ executeStep(2); }}); }});
				executeStep(1); }`,
			wantRan: []int{1, 3, 2, 1}},
		{name: "failure without onFail fails",
			script: `function onLoginRequest(c){ executeStep(1); executeStep(2); }`, result: failOn(1),
			wantRan: []int{1}, wantFail: scripting.FailAuthentication},
		{name: "onFail scheduling nothing fails",
			script: `function onLoginRequest(c){ executeStep(1,{onFail: function(c){ Log.info('failed'); }}); }`,
			result: failOn(1), wantRan: []int{1}, wantFail: scripting.FailAuthentication},
		{name: "onFail re-executing the step recovers",
			script:  `function login(){ executeStep(1,{onFail: function(c){ login(); }}); } function onLoginRequest(c){ login(); }`,
			result:  failOn(1, 1, 2),
			wantRan: []int{1, 1, 1}},
		{name: "onFail with an existing continuation continues (WSO2 edge case)",
			script: `function onLoginRequest(c){ executeStep(1,{onFail: function(c){}}); executeStep(2); }`,
			result: failOn(1), wantRan: []int{1, 2}},
		{name: "onFail scheduling another step recovers",
			script: `function onLoginRequest(c){ executeStep(1,{onFail: function(c){ executeStep(3); }}); }`,
			result: failOn(1), wantRan: []int{1, 3}},
		{name: "fallback without onFallback fails",
			script: `function onLoginRequest(c){ executeStep(1); }`,
			result: func(n *scripting.StepNode, _ int) scripting.StepResult {
				return scripting.StepResult{Status: connectors.StatusFallback}
			},
			wantRan: []int{1}, wantFail: scripting.FailAuthentication},
		{name: "onFallback runs",
			script: `function onLoginRequest(c){ executeStep(1,{onFallback: function(c){ executeStep(2); }}); }`,
			result: func(n *scripting.StepNode, run int) scripting.StepResult {
				if n.Step == 1 {
					return scripting.StepResult{Status: connectors.StatusFallback}
				}
				return succeed(n, run)
			},
			wantRan: []int{1, 2}},
		{name: "onUserAbort runs",
			script: `function onLoginRequest(c){ executeStep(1,{onUserAbort: function(c){ sendError('', {status: 'aborted'}); }}); }`,
			result: func(n *scripting.StepNode, _ int) scripting.StepResult {
				return scripting.StepResult{Status: connectors.StatusUserAbort}
			},
			wantRan: []int{1}, wantFail: scripting.FailSendError},
		{name: "throwing callback fails",
			script:  `function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ null.x; }}); executeStep(2); }`,
			wantRan: []int{1}, wantFail: scripting.FailScript},
		{name: "no onLoginRequest fails", script: `var x = 1;`, wantFail: scripting.FailScript},
		{name: "empty onLoginRequest fails", script: `function onLoginRequest(c){}`, wantFail: scripting.FailScript},
		{name: "only an unknown step fails", script: `function onLoginRequest(c){ executeStep(9); }`, wantFail: scripting.FailScript},
		{name: "throw in onLoginRequest discards earlier nodes",
			script: `function onLoginRequest(c){ executeStep(1); throw new Error('boom'); }`, wantFail: scripting.FailScript},
		{name: "throw at top level fails", script: `throw 'x'; function onLoginRequest(c){ executeStep(1); }`,
			wantFail: scripting.FailScript},
		{name: "syntax error fails", script: `function onLoginRequest(c){ executeStep(1 }`, wantFail: scripting.FailScript},
		{name: "stack overflow fails",
			script:   `function f(n){ return f(n+1)+1; } function onLoginRequest(c){ f(0); executeStep(1); }`,
			wantFail: scripting.FailScript},
		{name: "sendError ends the flow; later nodes are dropped",
			script:  `function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ sendError('https://err', {a: 1}); executeStep(2); }}); executeStep(3); }`,
			wantRan: []int{1}, wantFail: scripting.FailSendError},
		{name: "nodes scheduled before sendError in a callback still run",
			script:  `function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ executeStep(2); sendError('', {}); }}); executeStep(3); }`,
			wantRan: []int{1, 2}, wantFail: scripting.FailSendError},
		{name: "fail in onLoginRequest",
			script: `function onLoginRequest(c){ fail({errorCode: 'access_denied'}); executeStep(1); }`, wantFail: scripting.FailProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open(tc.script, threeSteps())
			d := &driver{t: t, result: tc.result}
			fail := d.run(s)
			if !reflect.DeepEqual(d.ran, tc.wantRan) && (len(d.ran) != 0 || len(tc.wantRan) != 0) {
				t.Errorf("steps ran %v, want %v", d.ran, tc.wantRan)
			}
			switch {
			case tc.wantFail == "" && fail != nil:
				t.Errorf("login failed (%s: %s), want success", fail.Kind, fail.Reason)
			case tc.wantFail != "" && fail == nil:
				t.Errorf("login succeeded, want %s failure", tc.wantFail)
			case fail != nil && fail.Kind != tc.wantFail:
				t.Errorf("failure kind %s (%s), want %s", fail.Kind, fail.Reason, tc.wantFail)
			}
		})
	}
}

func TestUnknownStepIsLoggedAndIgnored(t *testing.T) {
	e := newEnv(t)
	d := &driver{t: t}
	if fail := d.run(e.open(`function onLoginRequest(c){ executeStep(7); executeStep(1); }`, twoSteps())); fail != nil {
		t.Fatalf("failed: %s", fail.Reason)
	}
	if !reflect.DeepEqual(d.ran, []int{1}) {
		t.Errorf("ran %v, want [1]", d.ran)
	}
	if !e.log.contains("Given Authentication Step :7 is not in Environment") {
		t.Error("unknown step not logged with WSO2's message")
	}
}

func TestExecuteStepArgumentForms(t *testing.T) {
	twoOptions := []scripting.Step{{Options: []scripting.Option{
		{Authenticator: "BasicAuthenticator", IdP: "LOCAL", DisplayName: "Username & Password"},
		{Authenticator: "FIDOAuthenticator", IdP: "LOCAL", DisplayName: "Passkey"},
		{Authenticator: "GoogleOIDCAuthenticator", IdP: "bifrost google", DisplayName: "Google"},
	}}}
	tests := []struct {
		name        string
		call        string
		wantOptions []string
		wantCb      bool // onSuccess fires (sets a global)
		wantLog     string
	}{
		{name: "step only", call: `executeStep(1)`, wantOptions: []string{"BasicAuthenticator", "FIDOAuthenticator", "GoogleOIDCAuthenticator"}},
		{name: "callbacks only", call: `executeStep(1, {onSuccess: function(c){ c.selectedAcr = 'hit'; }})`,
			wantOptions: []string{"BasicAuthenticator", "FIDOAuthenticator", "GoogleOIDCAuthenticator"}, wantCb: true},
		{name: "options and callbacks", call: `executeStep(1, {authenticationOptions: [{authenticator: 'FIDOAuthenticator'}]}, {onSuccess: function(c){ c.selectedAcr = 'hit'; }})`,
			wantOptions: []string{"FIDOAuthenticator"}, wantCb: true},
		{name: "options alone are read as callbacks and ignored",
			call:        `executeStep(1, {authenticationOptions: [{authenticator: 'FIDOAuthenticator'}]})`,
			wantOptions: []string{"BasicAuthenticator", "FIDOAuthenticator", "GoogleOIDCAuthenticator"},
			wantLog:     "event listener is not a function"},
		{name: "non-object last argument is ignored", call: `executeStep(1, {authenticationOptions: [{authenticator: 'BasicAuthenticator'}]}, 'x')`,
			wantOptions: []string{"BasicAuthenticator"}, wantLog: "last argument should be a map of event listeners"},
		{name: "index-keyed options object", call: `executeStep(1, {authenticationOptions: {"1": {authenticator: 'BasicAuthenticator'}, "0": {idp: 'bifrost_google'}}}, {})`,
			wantOptions: []string{"BasicAuthenticator", "GoogleOIDCAuthenticator"}},
		{name: "match by display name", call: `executeStep(1, {authenticationOptions: [{authenticator: 'passkey'}]}, {})`,
			wantOptions: []string{"FIDOAuthenticator"}},
		{name: "federated by idp with authenticator", call: `executeStep(1, {authenticationOptions: [{authenticator: 'GoogleOIDCAuthenticator', idp: 'bifrost google'}]}, {})`,
			wantOptions: []string{"GoogleOIDCAuthenticator"}},
		{name: "empty filter keeps every option", call: `executeStep(1, {authenticationOptions: [{authenticator: 'totp'}]}, {})`,
			wantOptions: []string{"BasicAuthenticator", "FIDOAuthenticator", "GoogleOIDCAuthenticator"},
			wantLog:     "The filtered authenticator list is empty, hence proceeding without filtering"},
		{name: "filterAuthenticators output", call: `executeStep(1, {authenticationOptions: filterAuthenticators(c.steps[1].options, 'BasicAuthenticator')}, {})`,
			wantOptions: []string{"FIDOAuthenticator", "GoogleOIDCAuthenticator"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open(`function onLoginRequest(c){ `+tc.call+`; }`, twoOptions)
			d := &driver{t: t, result: func(n *scripting.StepNode, run int) scripting.StepResult {
				r := succeed(n, run)
				r.Authenticator, r.IdP = n.Options[0].Authenticator, n.Options[0].IdP
				return r
			}}
			if fail := d.run(s); fail != nil {
				t.Fatalf("failed: %s", fail.Reason)
			}
			var got []string
			for _, o := range d.nodes[0].Options {
				got = append(got, o.Authenticator)
			}
			if !reflect.DeepEqual(got, tc.wantOptions) {
				t.Errorf("options %v, want %v", got, tc.wantOptions)
			}
			if tc.wantLog != "" && !e.log.contains(tc.wantLog) {
				t.Errorf("log lacks %q", tc.wantLog)
			}
			if hit := s.SelectedACR() == "hit"; hit != tc.wantCb {
				t.Errorf("onSuccess fired = %v, want %v", hit, tc.wantCb)
			}
		})
	}
}

func TestAuthenticatorParamsAndRetry(t *testing.T) {
	e := newEnv(t)
	s := e.open(`function onLoginRequest(c){
		executeStep(1);
		executeStep(2, {authenticatorParams: {
			common: {shared: 'c', over: 'common'},
			local: {"totp": {enableRetryFromAuthenticator: 'true', maximumAllowedFailureAttempts: 3, over: 'local'}},
			federated: {"Google": {prompt: 'select_account'}}}}, {});
	}`, twoSteps())
	got := s.RuntimeParams("totp", "LOCAL")
	want := map[string]string{"shared": "c", "over": "local", "enableRetryFromAuthenticator": "true", "maximumAllowedFailureAttempts": "3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("totp params %v, want %v", got, want)
	}
	if g := s.RuntimeParams("GoogleOIDCAuthenticator", "Google"); g["prompt"] != "select_account" || g["shared"] != "c" {
		t.Errorf("federated params %v", g)
	}
	if !s.RetryFromAuthenticator("totp", "LOCAL") {
		t.Error("totp retry should be enabled by enableRetryFromAuthenticator")
	}
	if s.RetryFromAuthenticator("BasicAuthenticator", "LOCAL") {
		t.Error("with a script, retry is off unless enabled")
	}
	noScript := e.open("", twoSteps())
	if !noScript.RetryFromAuthenticator("BasicAuthenticator", "LOCAL") {
		t.Error("without a script, authenticators retry")
	}
}

func TestStepOptions(t *testing.T) {
	e := newEnv(t)
	s := e.open(`function onLoginRequest(c){
		executeStep(1, {stepOptions: {forceAuth: 'true'}}, {});
		executeStep(2, {stepOptions: {markAsSubjectIdentifierStep: 'true', markAsSubjectAttributeStep: true}}, {});
	}`, twoSteps())
	bob := connectors.User{ID: "id-bob", Username: "bob", IdP: "LOCAL"}
	d := &driver{t: t, result: func(n *scripting.StepNode, run int) scripting.StepResult {
		r := succeed(n, run)
		if n.Step == 2 {
			b := bob
			r.User = &b
		}
		return r
	}}
	if fail := d.run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if !d.nodes[0].ForceAuth || d.nodes[1].ForceAuth {
		t.Errorf("forceAuth = %v/%v, want true/false", d.nodes[0].ForceAuth, d.nodes[1].ForceAuth)
	}
	if got := s.Subject().Username; got != "bob" {
		t.Errorf("subject %q, want bob (markAsSubjectIdentifierStep on step 2)", got)
	}
	if got := s.AttributeUser().Username; got != "bob" {
		t.Errorf("attribute user %q, want bob", got)
	}
}

func TestSendErrorAndFail(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   scripting.FailNode
	}{
		{name: "sendError with params",
			script: `function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){
				try { sendError('https://example.com/denied', {status: 'Unauthorized', n: 3, z: null}); } catch (e) { executeStep(2); } finally { executeStep(2); }
			}}); }`,
			want: scripting.FailNode{Kind: scripting.FailSendError, RedirectURL: "https://example.com/denied",
				Params: map[string]string{"status": "Unauthorized", "n": "3", "z": "null"}}},
		{name: "sendError with null url",
			script: `function onLoginRequest(c){ sendError(null, {i18nkey: 'k'}); }`,
			want:   scripting.FailNode{Kind: scripting.FailSendError, Params: map[string]string{"i18nkey": "k"}}},
		{name: "fail with parameters",
			script: `function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ fail({errorCode: 'access_denied', errorMessage: 'no', errorURI: 'https://e/x'}); }}); }`,
			want:   scripting.FailNode{Kind: scripting.FailProtocol, ErrorCode: "access_denied", ErrorMessage: "no", ErrorURI: "https://e/x"}},
		{name: "fail without parameters", script: `function onLoginRequest(c){ fail(); }`,
			want: scripting.FailNode{Kind: scripting.FailProtocol}},
		{name: "fail with two arguments ignores them", script: `function onLoginRequest(c){ fail({errorCode: 'x'}, 1); }`,
			want: scripting.FailNode{Kind: scripting.FailProtocol}},
		{name: "sendError with one argument is a script error", script: `function onLoginRequest(c){ sendError('u'); }`,
			want: scripting.FailNode{Kind: scripting.FailScript}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			d := &driver{t: t}
			fail := d.run(e.open(tc.script, twoSteps()))
			if fail == nil {
				t.Fatal("login succeeded")
			}
			if len(d.ran) > 1 {
				t.Errorf("steps %v ran after the interrupt (catch/finally must not run)", d.ran)
			}
			got := *fail
			got.Reason, got.Step, got.AuthReason = "", 0, ""
			if tc.want.Kind == scripting.FailScript {
				got = scripting.FailNode{Kind: got.Kind}
			}
			if len(got.Params) == 0 {
				got.Params = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fail node %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGlobalsPersistAcrossCallbacks(t *testing.T) {
	e := newEnv(t)
	// WSO2 templates pass data through implicit globals (sloppy mode) and through `var`s declared
	// in onLoginRequest and assigned in callbacks; closures must also survive.
	s := e.open(`
		var count = 0;
		var onLoginRequest = function(context) {
			var local = 'closure';
			executeStep(1, {onSuccess: function(context) {
				subject = context.currentKnownSubject;   // implicit global
				count++;
				executeStep(2, {onSuccess: function(context) {
					count++;
					context.selectedAcr = subject.username + ':' + count + ':' + local + ':' + typeof window;
				}});
			}});
		};`, twoSteps())
	d := &driver{t: t}
	if fail := d.run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if got := s.SelectedACR(); got != "alice:2:closure:undefined" {
		t.Errorf("selectedAcr %q, want alice:2:closure:undefined", got)
	}
}

func TestStrictModeScriptStillRuns(t *testing.T) {
	e := newEnv(t)
	// A script may opt into strict mode; then implicit globals throw, as in any engine.
	d := &driver{t: t}
	fail := d.run(e.open(`'use strict'; function onLoginRequest(c){ executeStep(1, {onSuccess: function(){ leaked = 1; }}); }`, twoSteps()))
	if fail == nil || fail.Kind != scripting.FailScript {
		t.Fatalf("strict-mode implicit global: got %+v, want a script failure", fail)
	}
}

func TestCPUBudget(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{name: "infinite loop at top level", script: `while (true) {} function onLoginRequest(c){ executeStep(1); }`},
		{name: "infinite loop in onLoginRequest", script: `function onLoginRequest(c){ for(;;){} }`},
		{name: "infinite loop in a callback", script: `function onLoginRequest(c){ executeStep(1,{onSuccess: function(){ var i=0; while(true){ i++; } }}); }`},
		{name: "interrupt inside a host function's call back into script code",
			script: `function onLoginRequest(c){ try { prompt('x', {toJSON: function(){ while(true){} }}, {}); } catch (e) { executeStep(1); } }`},
		{name: "catch cannot swallow the interrupt", script: `function onLoginRequest(c){ executeStep(1,{onSuccess: function(){ while(true){ try { for(;;){} } catch(e) {} } }}); }`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.cfg.Budget = 20 * time.Millisecond
			d := &driver{t: t}
			fail := d.run(e.open(tc.script, twoSteps()))
			if fail == nil || fail.Kind != scripting.FailScript || !strings.Contains(fail.Reason, "CPU budget") {
				t.Fatalf("got %+v, want a CPU-budget script failure", fail)
			}
		})
	}
}

// slowDirectory blocks longer than the budget; blocked time must not count against the script.
type slowDirectory struct {
	scripting.Directory
	delay time.Duration
}

func (d slowDirectory) UserRoles(ctx context.Context, u *connectors.User) ([]string, error) {
	time.Sleep(d.delay)
	return []string{"admin"}, nil
}

func TestBudgetPausedWhileBlocked(t *testing.T) {
	e := newEnv(t)
	e.cfg.Budget = 20 * time.Millisecond
	e.cfg.Directory = slowDirectory{Directory: e.dir, delay: 30 * time.Millisecond}
	s := e.open(`function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){
		var u = c.currentKnownSubject;
		c.selectedAcr = '' + hasRole(u, 'admin') + hasRole(u, 'admin');
	}}); }`, twoSteps())
	d := &driver{t: t}
	if fail := d.run(s); fail != nil {
		t.Fatalf("blocked time counted against the budget: %s", fail.Reason)
	}
	if s.SelectedACR() != "truetrue" {
		t.Errorf("selectedAcr %q", s.SelectedACR())
	}
}

type panickyDirectory struct{ scripting.Directory }

func (panickyDirectory) UserRoles(context.Context, *connectors.User) ([]string, error) {
	panic("bug")
}

func TestHostPanicEndsLoginCleanly(t *testing.T) {
	e := newEnv(t)
	e.cfg.Directory = panickyDirectory{e.dir}
	d := &driver{t: t}
	fail := d.run(e.open(`function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){ hasRole(c.currentKnownSubject,'x'); }}); }`, twoSteps()))
	if fail == nil || fail.Kind != scripting.FailScript {
		t.Fatalf("got %+v, want a script failure", fail)
	}
}

func TestDeterministicTimeAndRandom(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	seeds := 0
	run := func(seed uint64) string {
		e := newEnv(t)
		e.cfg.Now = func() time.Time { return at }
		e.cfg.Seed = func() uint64 { seeds++; return seed }
		s := e.open(`function onLoginRequest(c){ executeStep(1,{onSuccess: function(c){
			c.selectedAcr = Date.now() + ':' + new Date().toISOString() + ':' + Math.random() + ':' + Math.random();
		}}); }`, twoSteps())
		if fail := (&driver{t: t}).run(s); fail != nil {
			t.Fatal(fail.Reason)
		}
		return s.SelectedACR()
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Errorf("same seed and clock gave %q and %q", a, b)
	}
	if a == c {
		t.Error("different seeds gave the same random numbers")
	}
	if !strings.HasPrefix(a, "1893553445000:2030-01-02T03:04:05.000Z:") {
		t.Errorf("clock not used: %q", a)
	}
	if seeds != 3 {
		t.Errorf("Seed called %d times for 3 sessions, want once per session", seeds)
	}
}

func TestScriptSizeCap(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxScriptSize = 64
	fail := (&driver{t: t}).run(e.open(`function onLoginRequest(c){ executeStep(1); }`+strings.Repeat(" ", 64), twoSteps()))
	if fail == nil || fail.Kind != scripting.FailScript {
		t.Fatalf("oversized script: %+v", fail)
	}
}

func TestInvalidSetup(t *testing.T) {
	for name, steps := range map[string][]scripting.Step{"no steps": nil, "empty step": {{}}} {
		if _, err := scripting.Open(scripting.Config{}, scripting.Setup{Steps: steps}); !errors.Is(err, scripting.ErrInvalidSetup) {
			t.Errorf("%s: err %v, want ErrInvalidSetup", name, err)
		}
	}
}

func TestRestrictedGlobals(t *testing.T) {
	e := newEnv(t)
	s := e.open(`function onLoginRequest(c){ print('x'); quit(); load('x.js');
		c.selectedAcr = [$ENV, $EXEC, engine].join('|') + typeof exit; executeStep(1); }`, twoSteps())
	if fail := (&driver{t: t}).run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if s.SelectedACR() != "||function" {
		t.Errorf("selectedAcr %q", s.SelectedACR())
	}
	if !e.log.contains("restricted function") {
		t.Error("restricted call not logged")
	}
}

func TestPrompt(t *testing.T) {
	e := newEnv(t)
	s := e.open(`function onLoginRequest(c){
		prompt('genericForm', {username: 'u', inputs: [{id: 'dob', label: 'Birthday'}]}, {
			onSuccess: function(c, data){ c.selectedAcr = 'ok:' + data.dob; executeStep(1); },
			onSkip: function(c){ c.selectedAcr = 'skipped'; }
		});
		prompt('internalWait', {waitingType: 'FIXED_DELAY'}, {onYes: function(c){ executeStep(2); }});
	}`, twoSteps())
	answers := []scripting.PromptResult{{Data: map[string]string{"dob": "1990-01-01"}}, {Action: "yes"}}
	d := &driver{t: t, answer: func(n *scripting.PromptNode) scripting.PromptResult {
		r := answers[0]
		answers = answers[1:]
		return r
	}}
	if fail := d.run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if len(d.prompts) != 2 || d.prompts[0].Template != "genericForm" ||
		string(d.prompts[0].Data) != `{"username":"u","inputs":[{"id":"dob","label":"Birthday"}]}` {
		t.Fatalf("prompts %+v", d.prompts)
	}
	if !reflect.DeepEqual(d.ran, []int{1, 2}) {
		t.Errorf("ran %v, want [1 2] (prompt callbacks infuse steps)", d.ran)
	}
	if s.SelectedACR() != "ok:1990-01-01" {
		t.Errorf("selectedAcr %q", s.SelectedACR())
	}
}
