package flows_test

import (
	"reflect"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/fake"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
)

// The tests in this file run the seven reference scripts of /work/shared/reference/scripts
// (copied verbatim to testdata/scripts) unchanged and check the outcomes listed in their README.

type scriptCase struct {
	name      string
	input     func(*flows.LoginInput)
	users     []fake.UserRecord
	actions   []action
	wantSteps []int
	wantFail  flows.ErrorKind // "" = success
	check     func(t *testing.T, w *world, r *run)
}

func runScriptCases(t *testing.T, script string, steps func() []scripting.Step, cases []scriptCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.users...)
			in := loginInput(readScript(t, script), steps())
			if tc.input != nil {
				tc.input(&in)
			}
			r := w.login(in, tc.actions...)
			final := r.final()
			if !final.Status.Final() {
				t.Fatalf("login did not end: last view %s", describe(final))
			}
			if got := ranSteps(r.result); !reflect.DeepEqual(got, tc.wantSteps) {
				t.Errorf("steps %v, want %v", got, tc.wantSteps)
			}
			if !sameJSON(t, final.Result, r.result) {
				t.Errorf("final view result differs from the workflow result:\n view %+v\n  wf %+v", final.Result, r.result)
			}
			switch {
			case tc.wantFail == "" && final.Status != flows.StatusSuccess:
				t.Fatalf("status %s (%+v), want success", final.Status, final.Error)
			case tc.wantFail != "" && (final.Status != flows.StatusFailed || final.Error == nil || final.Error.Kind != tc.wantFail):
				t.Fatalf("status %s error %+v, want %s failure", final.Status, final.Error, tc.wantFail)
			case tc.wantFail != "" && r.result.Subject != nil:
				t.Errorf("a failed login carries subject %+v", r.result.Subject)
			}
			if tc.check != nil {
				tc.check(t, w, r)
			}
		})
	}
}

func subjectIs(name string) func(t *testing.T, w *world, r *run) {
	return func(t *testing.T, w *world, r *run) {
		t.Helper()
		if r.result.Subject == nil || r.result.Subject.Username != name {
			t.Errorf("subject %+v, want %s", r.result.Subject, name)
		}
	}
}

func TestScriptDefaultSingleStep(t *testing.T) {
	runScriptCases(t, "default-single-step.js", basicTOTP, []scriptCase{
		{name: "right password", actions: []action{password("alice", "pw-alice")}, wantSteps: []int{1},
			check: func(t *testing.T, w *world, r *run) {
				subjectIs("alice")(t, w, r)
				if !reflect.DeepEqual(r.result.AMR, []string{"BasicAuthenticator"}) {
					t.Errorf("amr %v", r.result.AMR)
				}
				if len(r.result.AuthenticatedSteps) != 1 || r.result.AuthenticatedSteps[0].Authenticator != "BasicAuthenticator" {
					t.Errorf("authenticated steps %+v", r.result.AuthenticatedSteps)
				}
				if r.result.Claims["http://wso2.org/claims/emailaddress"] != "" {
					t.Errorf("claims %v: the fake loads none, none may appear", r.result.Claims)
				}
			}},
		{name: "wrong password fails without retry", actions: []action{password("alice", "nope")}, wantSteps: []int{1},
			wantFail: flows.ErrorAuthentication, check: func(t *testing.T, w *world, r *run) {
				if len(r.views) != 2 {
					t.Errorf("views %d, want 2 (prompt, failure): a script turns authenticator retry off", len(r.views))
				}
				if e := r.final().Error; e.Code != "ABA-60002" || e.Step != 1 || e.Reason != connectors.ReasonInvalidCredentials {
					t.Errorf("error %+v", e)
				}
			}},
	})
}

func TestScriptRoleBased(t *testing.T) {
	federatedStep1 := func() []scripting.Step {
		s := basicTOTP()
		s[0].Options = append(s[0].Options, scripting.Option{Authenticator: "GoogleOIDCAuthenticator", IdP: "Google"})
		return s
	}
	google := func(t *testing.T, v flows.View) flows.Submission {
		if v.Step == nil || v.Step.Type != flows.StepMultiOptionsPrompt || len(v.Step.Authenticators) != 2 {
			t.Fatalf("want a multi-option step, got %s", describe(v))
		}
		return flows.Submission{Seq: v.Seq, AuthenticatorID: flows.AuthenticatorID("GoogleOIDCAuthenticator", "Google"),
			Params: map[string]string{"username": "alice", "password": "pw-alice"}}
	}
	cases := []scriptCase{
		{name: "admin steps up", actions: []action{password("alice", "pw-alice"), totp(totpCode)}, wantSteps: []int{1, 2},
			check: func(t *testing.T, w *world, r *run) {
				if !reflect.DeepEqual(r.result.AMR, []string{"BasicAuthenticator", "totp"}) {
					t.Errorf("amr %v", r.result.AMR)
				}
			}},
		{name: "manager steps up", actions: []action{password("mia", "pw-mia"), totp(totpCode)}, wantSteps: []int{1, 2}},
		{name: "other roles are done after step 1", actions: []action{password("bob", "pw-bob")}, wantSteps: []int{1},
			check: subjectIs("bob")},
		{name: "wrong TOTP fails", actions: []action{password("alice", "pw-alice"), totp("000000")}, wantSteps: []int{1, 2},
			wantFail: flows.ErrorAuthentication},
	}
	runScriptCases(t, "role-based.js", basicTOTP, cases)
	runScriptCases(t, "role-based.js", federatedStep1, []scriptCase{
		{name: "federated users have no local roles", actions: []action{google}, wantSteps: []int{1},
			check: func(t *testing.T, w *world, r *run) {
				if r.result.Subject == nil || r.result.Subject.IdP != "Google" {
					t.Errorf("subject %+v, want the federated user", r.result.Subject)
				}
			}},
	})
}

func TestScriptGroupBasedAccessControl(t *testing.T) {
	runScriptCases(t, "group-based-access-control.js", basicTOTP, []scriptCase{
		{name: "employee", actions: []action{password("alice", "pw-alice")}, wantSteps: []int{1}, check: subjectIs("alice")},
		{name: "manager", actions: []action{password("mia", "pw-mia")}, wantSteps: []int{1}, check: subjectIs("mia")},
		{name: "others get the error page", actions: []action{password("bob", "pw-bob")}, wantSteps: []int{1},
			wantFail: flows.ErrorSendError, check: func(t *testing.T, w *world, r *run) {
				e := r.final().Error
				want := map[string]string{"status": "Unauthorized",
					"statusMsg": "You are not authorized to login to this application."}
				if e.RedirectURL != "" || !reflect.DeepEqual(e.Params, want) {
					t.Errorf("sendError redirect %q params %v, want default page with %v", e.RedirectURL, e.Params, want)
				}
			}},
	})
}

func TestScriptLoginAttemptsBased(t *testing.T) {
	user := func(attempts string) []fake.UserRecord {
		return []fake.UserRecord{{Password: "pw", User: connectors.User{Username: "kim",
			Claims: map[string]string{fake.FailedAttemptsClaim: attempts}}}}
	}
	claimIs := func(want string) func(t *testing.T, w *world, r *run) {
		return func(t *testing.T, w *world, r *run) {
			if got := w.dir.Claim("kim", fake.FailedAttemptsClaim); got != want {
				t.Errorf("failedLoginAttemptsBeforeSuccess %q, want %q", got, want)
			}
		}
	}
	runScriptCases(t, "login-attempts-based.js", basicTOTP, []scriptCase{
		{name: "three failed attempts step up and reset", users: user("3"),
			actions: []action{password("kim", "pw"), totp(totpCode)}, wantSteps: []int{1, 2}, check: claimIs("0")},
		{name: "the claim compares as a number, not a string", users: user("10"),
			actions: []action{password("kim", "pw"), totp(totpCode)}, wantSteps: []int{1, 2}, check: claimIs("0")},
		{name: "few failed attempts: step 1 only", users: user("1"),
			actions: []action{password("kim", "pw")}, wantSteps: []int{1}, check: claimIs("1")},
		{name: "a wrong password re-runs step 1 through onFail", users: user("2"),
			actions:   []action{password("kim", "nope"), password("kim", "pw"), totp(totpCode)},
			wantSteps: []int{1, 1, 2}, check: claimIs("0")},
		{name: "wrong TOTP after step-up fails", users: user("5"),
			actions: []action{password("kim", "pw"), totp("000000")}, wantSteps: []int{1, 2},
			wantFail: flows.ErrorAuthentication, check: claimIs("5")},
	})
}

func TestScriptIPBased(t *testing.T) {
	from := func(ip string) func(*flows.LoginInput) {
		return func(in *flows.LoginInput) { in.Request.HTTP.IP = ip }
	}
	runScriptCases(t, "ip-based.js", basicTOTP, []scriptCase{
		{name: "192.168.1.0/24", input: from("192.168.1.50"), actions: []action{password("bob", "pw-bob")}, wantSteps: []int{1}},
		{name: "10.100.0.0/16", input: from("10.100.3.4"), actions: []action{password("bob", "pw-bob")}, wantSteps: []int{1}},
		{name: "outside steps up", input: from("203.0.113.9"), actions: []action{password("bob", "pw-bob"), totp(totpCode)},
			wantSteps: []int{1, 2}},
		{name: "just outside the /24", input: from("192.168.2.1"), actions: []action{password("bob", "pw-bob"), totp(totpCode)},
			wantSteps: []int{1, 2}},
		{name: "context.request is the request that resumed the flow", input: from("203.0.113.9"),
			actions: []action{func(t *testing.T, v flows.View) flows.Submission {
				sub := password("bob", "pw-bob")(t, v)
				sub.Request = &scripting.Request{IP: "10.100.9.9"}
				return sub
			}}, wantSteps: []int{1}},
	})
}

func TestScriptACRBased(t *testing.T) {
	threeSteps := func() []scripting.Step {
		return append(basicTOTP(), step(connectors.FIDOAuthenticator))
	}
	fido := code(connectors.FIDOAuthenticator, "tokenResponse", fidoCode)
	acr := func(values ...string) func(*flows.LoginInput) {
		return func(in *flows.LoginInput) { in.Request.RequestedACR = values }
	}
	acrIs := func(want string) func(t *testing.T, w *world, r *run) {
		return func(t *testing.T, w *world, r *run) {
			if r.result.ACR != want {
				t.Errorf("acr %q, want %q", r.result.ACR, want)
			}
		}
	}
	runScriptCases(t, "acr-based.js", threeSteps, []scriptCase{
		{name: "acr2", input: acr("acr2"), actions: []action{password("bob", "pw-bob"), totp(totpCode)},
			wantSteps: []int{1, 2}, check: acrIs("acr2")},
		{name: "acr3", input: acr("acr3"), actions: []action{password("bob", "pw-bob"), fido},
			wantSteps: []int{1, 3}, check: acrIs("acr3")},
		{name: "acr1", input: acr("acr1"), actions: []action{password("bob", "pw-bob")},
			wantSteps: []int{1}, check: acrIs("acr1")},
		{name: "none requested", actions: []action{password("bob", "pw-bob"), totp(totpCode), fido},
			wantSteps: []int{1, 2, 3}, check: acrIs("")},
		{name: "the script's preference wins", input: acr("acr3", "acr1"), actions: []action{password("bob", "pw-bob")},
			wantSteps: []int{1}, check: acrIs("acr1")},
	})
}

func TestScriptOTPRetryResendLimits(t *testing.T) {
	steps := func() []scripting.Step {
		return []scripting.Step{step(connectors.BasicAuthenticator), step(connectors.SMSOTPAuthenticator)}
	}
	sms := func(value string) action { return code(connectors.SMSOTPAuthenticator, "OTPCode", value) }
	wantParams := map[string]string{"enableRetryFromAuthenticator": "true", "maximumAllowedResendAttempts": "3",
		"maximumAllowedFailureAttempts": "3", "terminateOnResendLimitExceeded": "true"}
	paramsReceived := func(t *testing.T, w *world, r *run) {
		t.Helper()
		calls := w.sms.Calls()
		if len(calls) == 0 {
			t.Fatal("the SMS OTP authenticator was never called")
		}
		for _, c := range calls {
			if !reflect.DeepEqual(c.RuntimeParams, wantParams) {
				t.Errorf("%s got runtime params %v, want %v", c.Method, c.RuntimeParams, wantParams)
			}
		}
		for _, c := range w.basic.Calls() {
			if len(c.RuntimeParams) != 0 {
				t.Errorf("BasicAuthenticator got %v; the params are for sms-otp-authenticator only", c.RuntimeParams)
			}
		}
	}
	statuses := func(want ...flows.FlowStatus) func(t *testing.T, w *world, r *run) {
		return func(t *testing.T, w *world, r *run) {
			paramsReceived(t, w, r)
			var got []flows.FlowStatus
			for _, v := range r.views {
				got = append(got, v.Status)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("view statuses %v, want %v", got, want)
			}
		}
	}
	runScriptCases(t, "otp-retry-resend-limits.js", steps, []scriptCase{
		{name: "both steps run", actions: []action{password("bob", "pw-bob"), sms(smsCode)}, wantSteps: []int{1, 2},
			check: statuses(flows.StatusIncomplete, flows.StatusIncomplete, flows.StatusSuccess)},
		{name: "wrong codes are retried inside the authenticator",
			actions:   []action{password("bob", "pw-bob"), sms("1"), sms("2"), sms(smsCode)},
			wantSteps: []int{1, 2},
			check: func(t *testing.T, w *world, r *run) {
				statuses(flows.StatusIncomplete, flows.StatusIncomplete, flows.StatusFailIncomplete,
					flows.StatusFailIncomplete, flows.StatusSuccess)(t, w, r)
				msgs := r.views[2].Messages
				if len(msgs) != 1 || msgs[0].ID != "ABA-60003" || msgs[0].Type != connectors.MessageError {
					t.Errorf("retry messages %+v, want one ABA-60003 error", msgs)
				}
				if r.result.Steps[1].Attempts != 3 {
					t.Errorf("attempts %d, want 3", r.result.Steps[1].Attempts)
				}
			}},
		{name: "blocked after three wrong codes",
			actions:   []action{password("bob", "pw-bob"), sms("1"), sms("2"), sms("3")},
			wantSteps: []int{1, 2}, wantFail: flows.ErrorAuthentication,
			check: func(t *testing.T, w *world, r *run) {
				paramsReceived(t, w, r)
				if e := r.final().Error; e.Code != "ABA-60013" || e.Reason != connectors.ReasonMaxAttempts {
					t.Errorf("error %+v, want ABA-60013 max attempts", e)
				}
			}},
		{name: "basic authentication still does not retry", actions: []action{password("bob", "nope")},
			wantSteps: []int{1}, wantFail: flows.ErrorAuthentication},
	})
}
