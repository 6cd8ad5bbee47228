// Package connectortest is the contract suite every connectors.Authenticator runs, so that the
// login workflow can rely on the same behaviour from all of them (dex's storage/conformance idea):
//
//	func TestContract(t *testing.T) {
//		connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
//			return connectortest.Fixture{Authenticator: newX(t), Valid: …, Invalid: …}
//		})
//	}
//
// The suite checks the static metadata (names usable in an app-native authenticatorId, ordered
// unique params), that Begin/Process round-trip their state through JSON exactly as the workflow
// does between local activities, that a valid submission succeeds with a usable user, that an
// invalid or empty one fails with a reason and never with an error, and that concurrent use is
// safe (run it with -race).
package connectortest

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/keyflow/keyflow/connectors"
)

// Fixture is one fresh authenticator with the inputs the suite needs. Run calls the factory once
// per sub-test, so fixtures never share mutable state (lock counters, issued codes).
type Fixture struct {
	Authenticator connectors.Authenticator
	// IdP is the option's identity provider; empty means connectors.LocalIdP.
	IdP string
	// User is the user known from earlier steps (second factors); nil for a first factor.
	User *connectors.User
	// RuntimeParams are passed as the script's authenticatorParams.
	RuntimeParams map[string]string
	// Valid returns params that must succeed, given the state Begin returned (nil when the
	// authenticator does not initiate). It may read an out-of-band channel (a fake outbox).
	Valid func(t *testing.T, state json.RawMessage) map[string]string
	// Invalid returns params that must fail.
	Invalid func(t *testing.T, state json.RawMessage) map[string]string
}

// Run runs the contract suite.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, f Fixture)
	}{
		{"Metadata", testMetadata},
		{"ValidSucceeds", testValid},
		{"InvalidFails", testInvalid},
		{"EmptyParamsFail", testEmpty},
		{"StateSurvivesJSON", testStateJSON},
		{"ConcurrentUse", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if f.Authenticator == nil || f.Valid == nil || f.Invalid == nil {
				t.Fatal("connectortest: Fixture needs Authenticator, Valid and Invalid")
			}
			tc.run(t, f)
		})
	}
}

func (f Fixture) stepContext() connectors.StepContext {
	idp := f.IdP
	if idp == "" {
		idp = connectors.LocalIdP
	}
	return connectors.StepContext{FlowID: "contract-flow", TenantDomain: "carbon.super", ApplicationID: "app",
		Step: 1, IdP: idp, User: f.User, RuntimeParams: f.RuntimeParams, ClientIP: "192.0.2.1"}
}

// begin runs Begin when the authenticator initiates and returns the state.
func (f Fixture) begin(t *testing.T) json.RawMessage {
	t.Helper()
	if !f.Authenticator.Prompt().Initiate {
		return nil
	}
	res, err := f.Authenticator.Begin(context.Background(), connectors.BeginInput{StepContext: f.stepContext()})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if res.Outcome != nil {
		t.Fatalf("Begin ended the step early: %+v", *res.Outcome)
	}
	if len(res.State) > 0 && !json.Valid(res.State) {
		t.Fatalf("Begin state is not JSON: %q", res.State)
	}
	if res.Prompt != nil && res.Prompt.Type == "" {
		t.Error("Begin returned a prompt without a prompt type")
	}
	return res.State
}

func (f Fixture) process(t *testing.T, params map[string]string, state json.RawMessage) connectors.Outcome {
	t.Helper()
	out, err := f.Authenticator.Process(context.Background(), connectors.ProcessInput{
		StepContext: f.stepContext(), Params: params, State: state, Attempt: 1})
	if err != nil {
		t.Fatalf("Process returned an error for a credential-level result: %v", err)
	}
	return out
}

func testMetadata(t *testing.T, f Fixture) {
	a := f.Authenticator
	if a.Name() == "" || strings.Contains(a.Name(), ":") {
		t.Errorf("Name %q must be non-empty and free of ':' (app-native authenticatorId is name:idp)", a.Name())
	}
	if a.DisplayName() == "" {
		t.Error("DisplayName is empty")
	}
	p := a.Prompt()
	if p.I18nKey == "" {
		t.Error("Prompt().I18nKey is empty")
	}
	if !p.Initiate && (p.Type == "" || len(p.Params) == 0) {
		t.Error("an authenticator that does not initiate must declare its prompt type and params up front")
	}
	names, orders := map[string]bool{}, map[int]bool{}
	for _, prm := range p.Params {
		switch {
		case prm.Name == "":
			t.Error("a param has no name")
		case names[prm.Name]:
			t.Errorf("param %q declared twice", prm.Name)
		case orders[prm.Order]:
			t.Errorf("param order %d used twice", prm.Order)
		}
		switch prm.Type {
		case connectors.ParamString, connectors.ParamInteger, connectors.ParamMultiValued:
		default:
			t.Errorf("param %q has unknown type %q", prm.Name, prm.Type)
		}
		names[prm.Name], orders[prm.Order] = true, true
	}
	if !reflect.DeepEqual(a.Prompt(), p) {
		t.Error("Prompt() is not a pure function: two calls differ")
	}
}

func testValid(t *testing.T, f Fixture) {
	state := f.begin(t)
	out := f.process(t, f.Valid(t, state), state)
	if out.Status != connectors.StatusSuccess {
		t.Fatalf("valid params: status %q reason %q, want success", out.Status, out.Reason)
	}
	if out.User == nil || (out.User.Username == "" && out.User.ID == "") {
		t.Fatalf("success without a usable user: %+v", out.User)
	}
	if out.User.IdP == "" {
		t.Error("the authenticated user has no IdP (want LOCAL or the connection name)")
	}
	roundTrip(t, out)
}

func testInvalid(t *testing.T, f Fixture) {
	state := f.begin(t)
	out := f.process(t, f.Invalid(t, state), state)
	if out.Status != connectors.StatusFailed {
		t.Fatalf("invalid params: status %q, want failed", out.Status)
	}
	if out.Reason == "" {
		t.Error("a failure carries no reason")
	}
	if out.User != nil {
		t.Error("a failure returned an authenticated user")
	}
	roundTrip(t, out)
}

func testEmpty(t *testing.T, f Fixture) {
	state := f.begin(t)
	for _, params := range []map[string]string{nil, {}} {
		if out := f.process(t, params, state); out.Status == connectors.StatusSuccess {
			t.Fatalf("empty params %v succeeded", params)
		}
	}
}

// testStateJSON pushes every value through JSON, as Temporal does between Begin and Process.
func testStateJSON(t *testing.T, f Fixture) {
	state := f.begin(t)
	in := connectors.ProcessInput{StepContext: f.stepContext(), Params: f.Valid(t, state), State: state, Attempt: 1}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("marshal ProcessInput: %v", err)
	}
	var back connectors.ProcessInput
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("unmarshal ProcessInput: %v", err)
	}
	out, err := f.Authenticator.Process(context.Background(), back)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if out.Status != connectors.StatusSuccess {
		t.Fatalf("after a JSON round trip: status %q reason %q, want success", out.Status, out.Reason)
	}
}

func testConcurrent(t *testing.T, f Fixture) {
	const n = 4
	states := make([]json.RawMessage, n)
	for i := range states {
		states[i] = f.begin(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.Authenticator.Process(context.Background(), connectors.ProcessInput{
				StepContext: f.stepContext(), Params: f.Invalid(t, states[i]), State: states[i], Attempt: 1})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Process: %v", err)
		}
	}
}

func roundTrip(t *testing.T, out connectors.Outcome) {
	t.Helper()
	raw, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("marshal Outcome: %v", err)
	}
	var back connectors.Outcome
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("unmarshal Outcome: %v", err)
	}
	if !reflect.DeepEqual(normalise(out), normalise(back)) {
		t.Errorf("Outcome does not survive JSON:\n got %+v\nwant %+v", back, out)
	}
}

// normalise makes empty and nil collections compare equal, as JSON does not keep the difference
// for omitempty fields.
func normalise(o connectors.Outcome) connectors.Outcome {
	if len(o.State) == 0 {
		o.State = nil
	} else {
		var v any
		_ = json.Unmarshal(o.State, &v)
		o.State, _ = json.Marshal(v)
	}
	if len(o.Messages) == 0 {
		o.Messages = nil
	}
	o.User, o.FailedUser = normaliseUser(o.User), normaliseUser(o.FailedUser)
	return o
}

func normaliseUser(u *connectors.User) *connectors.User {
	if u == nil {
		return nil
	}
	c := *u
	if len(c.Claims) == 0 {
		c.Claims = nil
	}
	if len(c.RemoteClaims) == 0 {
		c.RemoteClaims = nil
	}
	return &c
}
