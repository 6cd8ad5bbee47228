package totp_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/totp"
)

func (e *env) begin(t *testing.T, state json.RawMessage, runtime map[string]string) connectors.BeginResult {
	t.Helper()
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{State: state, StepContext: connectors.StepContext{
		FlowID: "f", Step: 2, IdP: connectors.LocalIdP, User: e.user, RuntimeParams: runtime}})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	// The workflow keeps results in Temporal history: round-trip them through JSON as it does.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var out connectors.BeginResult
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) processState(t *testing.T, token string, attempt int, state json.RawMessage, runtime map[string]string) connectors.Outcome {
	t.Helper()
	out, err := e.a.Process(t.Context(), connectors.ProcessInput{
		StepContext: connectors.StepContext{FlowID: "f", Step: 2, IdP: connectors.LocalIdP, User: e.user, RuntimeParams: runtime},
		Params:      map[string]string{totp.ParamToken: token}, State: state, Attempt: attempt})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

// enrollmentPrompt checks that res shows an enrolment and returns the key the URI carries.
func enrollmentPrompt(t *testing.T, res connectors.BeginResult) *otp.Key {
	t.Helper()
	if res.Outcome != nil || res.Prompt == nil || len(res.State) == 0 {
		t.Fatalf("Begin did not start an enrolment: %+v", res)
	}
	p := res.Prompt
	if p.Type != connectors.PromptUser || strings.Join(p.RequiredParams(), ",") != totp.ParamToken ||
		p.I18nKey != "authenticator.totp" || p.AdditionalData[totp.DataEnrollment] != "true" {
		t.Errorf("enrolment prompt %+v", p)
	}
	k, err := otp.NewKeyFromURL(p.AdditionalData[totp.DataKeyURI])
	if err != nil {
		t.Fatalf("key URI: %v", err)
	}
	if k.Type() != "totp" || k.Issuer() != "Keyflow" || k.AccountName() != "alice" ||
		k.Secret() != p.AdditionalData[totp.DataSecret] {
		t.Errorf("key URI %s parsed as %+v", k.URL(), k)
	}
	png64, ok := strings.CutPrefix(p.AdditionalData[totp.DataQRCode], "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR code is not a PNG data URI: %.40s", p.AdditionalData[totp.DataQRCode])
	}
	raw, err := base64.StdEncoding.DecodeString(png64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("QR code PNG: %v", err)
	}
	return k
}

var enrollOn = map[string]string{totp.RuntimeEnrollInFlow: "true"}

func TestEnrollInFlow(t *testing.T) {
	e := newEnv(t, totp.Config{EnrollInFlow: true})
	res := e.begin(t, nil, nil)
	k := enrollmentPrompt(t, res)
	// The state references the pending credential; it carries no secret.
	if bytes.Contains(res.State, []byte(k.Secret())) {
		t.Errorf("state holds the secret: %s", res.State)
	}
	// Still pending: an ordinary verification elsewhere does not accept it.
	c, err := e.s.TOTPCredential(t.Context(), e.user.ID)
	if err != nil || c.Confirmed() {
		t.Fatalf("credential after Begin: confirmed=%v %v", c.Confirmed(), err)
	}
	confirmCode := codeAt(t, k.Secret(), e.now)
	out := e.processState(t, confirmCode, 1, res.State, nil)
	if out.Status != connectors.StatusSuccess || out.User == nil || out.User.ID != e.user.ID || out.User.IdP != connectors.LocalIdP {
		t.Fatalf("confirming code: %+v", out)
	}
	if c, err := e.s.TOTPCredential(t.Context(), e.user.ID); err != nil || !c.Confirmed() {
		t.Fatalf("credential after the step: confirmed=%v %v", c.Confirmed(), err)
	}

	// A later login verifies normally: Begin shows no enrolment, the confirming code is spent,
	// the next one logs in.
	e.now = e.now.Add(30 * time.Second)
	if res := e.begin(t, nil, nil); res.Outcome != nil || res.Prompt != nil || len(res.State) != 0 {
		t.Fatalf("Begin once enrolled: %+v", res)
	}
	if out := e.process(t, confirmCode, 1, nil); out.Status != connectors.StatusFailed {
		t.Error("the confirming code was accepted again")
	}
	if out := e.process(t, codeAt(t, k.Secret(), e.now), 1, nil); out.Status != connectors.StatusSuccess {
		t.Errorf("next login: %+v", out)
	}
	if strings.Contains(e.log.String(), k.Secret()) || strings.Contains(e.log.String(), confirmCode) {
		t.Errorf("secret or code logged:\n%s", e.log.String())
	}
}

func TestEnrollInFlowWrongCode(t *testing.T) {
	e := newEnv(t, totp.Config{})
	res := e.begin(t, nil, enrollOn)
	k := enrollmentPrompt(t, res)
	wrong := codeAt(t, k.Secret(), e.now.Add(time.Hour))
	out := e.processState(t, wrong, 1, res.State, enrollOn)
	if out.Status != connectors.StatusFailed || out.Reason != connectors.ReasonInvalidCode || !out.Retry {
		t.Fatalf("wrong code: %+v", out)
	}
	// The same credential stays on screen for the next attempt.
	if out.Prompt == nil || out.Prompt.AdditionalData[totp.DataKeyURI] != res.Prompt.AdditionalData[totp.DataKeyURI] ||
		out.Prompt.AdditionalData[totp.DataEnrollment] != "true" || !bytes.Equal(out.State, res.State) {
		t.Errorf("retry prompt %+v state %s", out.Prompt, out.State)
	}
	if c, err := e.s.TOTPCredential(t.Context(), e.user.ID); err != nil || c.Confirmed() {
		t.Fatalf("a wrong code confirmed: %v %v", c.Confirmed(), err)
	}
	if out := e.processState(t, codeAt(t, k.Secret(), e.now), 2, out.State, enrollOn); out.Status != connectors.StatusSuccess {
		t.Fatalf("right code after a wrong one: %+v", out)
	}
}

func TestEnrollInFlowMaxFailures(t *testing.T) {
	e := newEnv(t, totp.Config{EnrollInFlow: true})
	runtime := map[string]string{totp.RuntimeMaxFailures: "1"}
	res := e.begin(t, nil, runtime)
	k := enrollmentPrompt(t, res)
	out := e.processState(t, codeAt(t, k.Secret(), e.now.Add(time.Hour)), 1, res.State, runtime)
	if out.Reason != connectors.ReasonMaxAttempts || out.Retry || out.Prompt != nil {
		t.Errorf("last attempt: %+v", out)
	}
}

func TestEnrollInFlowBeginAgain(t *testing.T) {
	e := newEnv(t, totp.Config{EnrollInFlow: true})
	first := e.begin(t, nil, nil)
	k := enrollmentPrompt(t, first)
	// A resend or reload in the same step shows the same credential: a scanned QR code stays valid.
	again := e.begin(t, first.State, nil)
	if k2 := enrollmentPrompt(t, again); k2.Secret() != k.Secret() || !bytes.Equal(again.State, first.State) {
		t.Errorf("second Begin in the step issued a new secret")
	}
	// A new step (no state) issues a new secret, replacing the one it cannot vouch for.
	other := e.begin(t, nil, nil)
	k3 := enrollmentPrompt(t, other)
	if k3.Secret() == k.Secret() {
		t.Fatal("a new step re-showed a pending secret it did not issue")
	}
	// The first step's enrolment is gone: its code neither confirms nor reveals the new secret.
	out := e.processState(t, codeAt(t, k.Secret(), e.now), 1, first.State, nil)
	if out.Status != connectors.StatusFailed || out.Reason != connectors.ReasonExpired || out.Retry || out.Prompt != nil {
		t.Errorf("superseded enrolment: %+v", out)
	}
	// And a resend in the first step cannot reach the new secret either.
	if k4 := enrollmentPrompt(t, e.begin(t, first.State, nil)); k4.Secret() == k3.Secret() {
		t.Error("a stale step state re-showed another step's secret")
	}
}

func TestEnrollInFlowSwitch(t *testing.T) {
	tests := []struct {
		name    string
		cfg     bool
		runtime map[string]string
		enrol   bool
	}{
		{name: "default off", enrol: false},
		{name: "config on", cfg: true, enrol: true},
		{name: "runtime turns on", runtime: map[string]string{totp.RuntimeEnrollInFlow: "true"}, enrol: true},
		{name: "runtime turns off", cfg: true, runtime: map[string]string{totp.RuntimeEnrollInFlow: "false"}, enrol: false},
		{name: "runtime case-insensitive", runtime: map[string]string{totp.RuntimeEnrollInFlow: "TRUE"}, enrol: true},
		{name: "runtime garbage ignored", cfg: true, runtime: map[string]string{totp.RuntimeEnrollInFlow: "maybe"}, enrol: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, totp.Config{EnrollInFlow: tc.cfg})
			res := e.begin(t, nil, tc.runtime)
			if tc.enrol {
				enrollmentPrompt(t, res)
				return
			}
			if res.Outcome == nil || res.Outcome.Status != connectors.StatusFailed || res.Outcome.Reason != connectors.ReasonNotEnrolled ||
				res.Prompt != nil || len(res.State) != 0 {
				t.Errorf("Begin: %+v", res)
			}
			if _, err := e.s.TOTPCredential(t.Context(), e.user.ID); err == nil {
				t.Error("a credential was created with enrolment off")
			}
		})
	}
}

func TestEnrollInFlowNoUser(t *testing.T) {
	e := newEnv(t, totp.Config{EnrollInFlow: true})
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: connectors.StepContext{RuntimeParams: enrollOn}})
	if err != nil || res.Outcome == nil || res.Outcome.Reason != connectors.ReasonUserNotFound || res.Prompt != nil {
		t.Errorf("Begin without a user: %+v %v", res, err)
	}
	// A user without a local account (federated, or an unknown id) cannot enrol.
	for _, u := range []*connectors.User{
		{ID: e.user.ID, Username: "alice", IdP: "Google"},
		{ID: "5f0c1c3e-8d0b-4c43-9a43-000000000000", Username: "ghost", IdP: connectors.LocalIdP},
	} {
		res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: connectors.StepContext{User: u}})
		if err != nil || res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
			t.Errorf("Begin for %+v: %+v %v", u, res, err)
		}
	}
}

func TestEnrollInFlowAlreadyEnrolled(t *testing.T) {
	e := newEnv(t, totp.Config{EnrollInFlow: true})
	secret := e.enrolled(t)
	if res := e.begin(t, nil, nil); res.Outcome != nil || res.Prompt != nil || len(res.State) != 0 {
		t.Fatalf("Begin with a confirmed credential: %+v", res)
	}
	if out := e.process(t, codeAt(t, secret, e.now), 1, nil); out.Status != connectors.StatusSuccess {
		t.Errorf("verification: %+v", out)
	}
}
