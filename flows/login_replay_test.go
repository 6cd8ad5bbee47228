package flows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
)

// replayScenario is one recorded login of the replay corpus (testdata/histories/<name>.json).
type replayScenario struct {
	name    string
	input   flows.LoginInput
	answers func(flows.View) flows.Submission
	want    flows.FlowStatus
	// maxTasks bounds the workflow tasks the login may cost (0: no bound).
	maxTasks int
}

// autoAnswer plays a user who knows alice's credentials and every code, except that the first
// password attempt is wrong when wrongFirst is set.
func autoAnswer(wrongFirst bool) func(flows.View) flows.Submission {
	return func(v flows.View) flows.Submission {
		sub := flows.Submission{Seq: v.Seq}
		if v.Step == nil {
			return sub
		}
		a := v.Step.Authenticators[0]
		sub.AuthenticatorID = a.ID
		switch a.Name {
		case connectors.BasicAuthenticator:
			pw := "pw-alice"
			if wrongFirst {
				pw, wrongFirst = "wrong", false
			}
			sub.Params = map[string]string{"username": "alice", "password": pw}
		case connectors.TOTPAuthenticator:
			sub.Params = map[string]string{"token": totpCode}
		case connectors.EmailOTPAuthenticator, connectors.SMSOTPAuthenticator:
			sub.Params = map[string]string{"OTPCode": smsCode}
		case connectors.FIDOAuthenticator:
			sub.Params = map[string]string{"tokenResponse": fidoCode}
		}
		return sub
	}
}

func replayScenarios() []replayScenario {
	otp := []scripting.Step{step(connectors.BasicAuthenticator), step(connectors.TOTPAuthenticator),
		step(connectors.EmailOTPAuthenticator)}
	return []replayScenario{
		{name: "password", input: loginInput(`var onLoginRequest = function(context) { executeStep(1); };`, basicTOTP()),
			answers: autoAnswer(false), want: flows.StatusSuccess, maxTasks: 2},
		{name: "role-based-stepup", input: loginInput(roleBasedScript, basicTOTP()),
			answers: autoAnswer(false), want: flows.StatusSuccess, maxTasks: 3},
		{name: "no-script-retry", input: loginInput("", basicTOTP()),
			answers: autoAnswer(true), want: flows.StatusSuccess},
		{name: "login-attempts-onfail", input: loginInput(loginAttemptsScript, basicTOTP()),
			answers: autoAnswer(true), want: flows.StatusSuccess},
		// Date.now and Math.random decide which commands run: a replay that saw other values
		// would schedule other activities and fail as nondeterministic.
		{name: "clock-and-random", input: loginInput(`
			var onLoginRequest = function(context) {
				var t0 = Date.now();
				executeStep(1, {onSuccess: function(context) {
					var second = (Math.random() < 0.5) ? 2 : 3;
					if ((Date.now() - t0) % 2 === 0) { second = 5 - second; }
					context.selectedAcr = 'r' + second + ':' + Math.random();
					executeStep(second);
				}});
			};`, otp), answers: autoAnswer(false), want: flows.StatusSuccess},
		{name: "infinite-loop", input: loginInput(`function onLoginRequest(c){ executeStep(1, {onSuccess: function(){ while(true){} }}); }`, basicTOTP()),
			answers: autoAnswer(false), want: flows.StatusFailed},
		{name: "send-error", input: loginInput(`function onLoginRequest(c){ executeStep(1, {onSuccess: function(c){
				if (!isMemberOfAnyOfGroups(c.currentKnownSubject, ['nobody'])) { sendError('', {status: 'Unauthorized'}); } }}); }`, basicTOTP()),
			answers: autoAnswer(false), want: flows.StatusFailed},
	}
}

// The scripts of the corpus are kept inline (not read from testdata/scripts) so a recorded
// history and the input that produced it cannot drift apart.
const roleBasedScript = `var rolesToStepUp = ['admin', 'manager'];
var onLoginRequest = function(context) {
    executeStep(1, {
        onSuccess: function (context) {
            var user = context.currentKnownSubject;
            var hasRole = hasAnyOfTheRoles(user, rolesToStepUp);
            if (hasRole) {
                Log.info(user.username + ' Has one of Roles: ' + rolesToStepUp.toString());
                executeStep(2);
            }
        }
    });
};`

const loginAttemptsScript = `var invalidAttemptsToStepup = 3;
var failedLoginAttemptsBeforeSuccessClaim= 'http://wso2.org/claims/identity/failedLoginAttemptsBeforeSuccess';
var onLoginRequest = function(context) { doLogin(context); };
var doLogin = function(context) {
   executeStep(1, {
       onSuccess : function(context){
           var user = context.steps[1].subject;
           if (isExceedInvalidAttempts(user)) {
               executeStep(2, { onSuccess : function(context) {
                   var user = context.steps[1].subject;
                   user.localClaims[failedLoginAttemptsBeforeSuccessClaim] = "0";
               }});
           }
       },
       onFail : function(context) { doLogin(context); }
   });
};
var isExceedInvalidAttempts  = function(user) {
   return user.localClaims[failedLoginAttemptsBeforeSuccessClaim] >= invalidAttemptsToStepup;
};`

// TestReplayHistories replays every recorded history against the current workflow code: a
// change that alters the commands of a running login fails here.
func TestReplayHistories(t *testing.T) {
	for _, sc := range replayScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			file := filepath.Join("testdata", "histories", sc.name+".json")
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("missing recorded history %s (go test -tags recordhistory -run TestRecordHistories ./flows/): %v", file, err)
			}
			if err := replayer(t, flows.LoginConfig{}).ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay: %v", err)
			}
			hist := loadHistory(t, file)
			if n := workflowTasks(hist); sc.maxTasks > 0 && n > sc.maxTasks {
				t.Errorf("%d workflow tasks, want at most %d", n, sc.maxTasks)
			}
		})
	}
}

// TestReplayDetectsNondeterminism makes sure the corpus would catch a change: a workflow that
// closes after a finishing timer issues different commands.
func TestReplayDetectsNondeterminism(t *testing.T) {
	file := filepath.Join("testdata", "histories", "password.json")
	quiet := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	err := replayer(t, flows.LoginConfig{FinishDelay: time.Millisecond}).ReplayWorkflowHistoryFromJSONFile(quiet, file)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "nondetermin") {
		t.Fatalf("replay of a changed workflow: %v, want a nondeterminism error", err)
	}
}

func replayer(t *testing.T, cfg flows.LoginConfig) worker.WorkflowReplayer {
	t.Helper()
	w := newWorld(t)
	l, err := flows.NewLogin(w.reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := worker.NewWorkflowReplayer()
	l.Register(r)
	return r
}

func loadHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return hist
}

func workflowTasks(h *historypb.History) int {
	n := 0
	for _, ev := range h.Events {
		if ev.EventType == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			n++
		}
	}
	return n
}
