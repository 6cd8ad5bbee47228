package maintenance_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/flows/maintenance"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type keys struct{ calls atomic.Int32 }

func (k *keys) RotateOlderThan(_ context.Context, maxAge time.Duration) ([]string, error) {
	k.calls.Add(1)
	return []string{"ES256"}, nil
}

// TestRunDeletesExpired: a round deletes SSO sessions that ended before the grace period and
// rotates keys when a rotation period is set, against the real database.
func TestRunDeletesExpired(t *testing.T) {
	s := storetest.New(t)
	ctx := t.Context()
	org, err := s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, exp := range []time.Duration{-3 * time.Hour, time.Hour} {
		sum := sha256.Sum256([]byte{byte(i)})
		if _, err := s.CreateSSOSession(ctx, sum[:], store.SSOSession{OrgID: org.ID, Subject: "s", AuthTime: now,
			LastActiveAt: now, IdleExpiresAt: now.Add(exp), ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateOAuth2Client(ctx, store.NewOAuth2Client{OAuth2Client: store.OAuth2Client{
		ClientID: "app", OrgID: org.ID, Name: "app", SecretHash: "hmac-sha256$x$y", GrantTypes: []string{"authorization_code"},
		TokenFormat: store.TokenFormatJWT, AccessTokenLifetime: time.Hour, SigningAlg: "ES256"}}); err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Duration{-3 * time.Hour, time.Minute} {
		sum := sha256.Sum256([]byte{'p', byte(i)})
		if err := s.CreateOAuth2PushedRequest(ctx, store.OAuth2PushedRequest{Hash: sum[:], ClientID: "app",
			ExpiresAt: now.Add(exp)}); err != nil {
			t.Fatal(err)
		}
	}
	k := &keys{}
	a := &maintenance.Activities{Store: s, Keys: k}
	r, err := a.Run(ctx, maintenance.Params{Grace: time.Hour})
	if err != nil || r.SessionRows != 1 || r.EphemeralRows != 1 || k.calls.Load() != 0 {
		t.Fatalf("Run = %+v, %v (rotations %d); want the one expired session and pushed request, no rotation", r, err, k.calls.Load())
	}
	r, err = a.Run(ctx, maintenance.Params{Grace: time.Hour, KeyRotation: 90 * 24 * time.Hour})
	if err != nil || r.SessionRows != 0 || len(r.Rotated) != 1 || k.calls.Load() != 1 {
		t.Fatalf("second Run = %+v, %v", r, err)
	}
}

// TestWorkflowRounds: the workflow runs a round per interval, takes new parameters from the
// signal, survives a failed round, and continues as new after a bounded number of rounds.
func TestWorkflowRounds(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var rounds atomic.Int32
	var lastGrace atomic.Int64
	env.RegisterWorkflowWithOptions(maintenance.Workflow, workflow.RegisterOptions{Name: maintenance.WorkflowType})
	env.RegisterActivityWithOptions(func(_ context.Context, p maintenance.Params) (maintenance.Report, error) {
		n := rounds.Add(1)
		lastGrace.Store(int64(p.Grace))
		if n == 2 {
			return maintenance.Report{}, errors.New("database down")
		}
		return maintenance.Report{SessionRows: 1}, nil
	}, activityOptions())
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(maintenance.SignalParams, maintenance.Params{Interval: time.Minute, Grace: 2 * time.Hour})
	}, 90*time.Minute)
	env.ExecuteWorkflow(maintenance.WorkflowType, maintenance.Params{Interval: time.Hour, Grace: time.Hour})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	if rounds.Load() < 96 {
		t.Errorf("%d rounds before continuing as new, want 96 (a failed one included)", rounds.Load())
	}
	if time.Duration(lastGrace.Load()) != 2*time.Hour {
		t.Errorf("last round's grace %v, want the signalled 2h", time.Duration(lastGrace.Load()))
	}
}

func activityOptions() activity.RegisterOptions {
	return activity.RegisterOptions{Name: maintenance.ActivityRun}
}

// TestRunDisablesIdleAccounts: a round disables the accounts idle longer than their
// organization's policy allows, and only those.
func TestRunDisablesIdleAccounts(t *testing.T) {
	s := storetest.New(t)
	ctx := t.Context()
	org, err := s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "idle"})
	if err != nil {
		t.Fatal(err)
	}
	a := &maintenance.Activities{Store: s}
	if r, err := a.Run(ctx, maintenance.Params{Grace: time.Hour}); err != nil || r.DisabledUsers != 0 {
		t.Fatalf("without a policy: %+v, %v", r, err)
	}
	if _, err := s.PutPasswordPolicy(ctx, org.ID, store.PasswordPolicy{IdleEnabled: true, IdleDisableDays: 30}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if r, err := a.Run(ctx, maintenance.Params{Grace: time.Hour}); err != nil || r.DisabledUsers != 0 {
		t.Fatalf("a new account is not idle: %+v, %v", r, err)
	}
	later := time.Now().Add(45 * 24 * time.Hour)
	a.Now = func() time.Time { return later }
	active, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "active"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLoginSuccess(ctx, active.ID, later); err != nil {
		t.Fatal(err)
	}
	r, err := a.Run(ctx, maintenance.Params{Grace: time.Hour})
	if err != nil || r.DisabledUsers != 1 {
		t.Fatalf("45 days on: %+v, %v; want the one idle account disabled", r, err)
	}
	for _, c := range []struct {
		u    store.User
		want bool
	}{{idle, true}, {active, false}} {
		u, err := s.UserByID(ctx, org.ID, c.u.ID)
		if err != nil || u.Disabled != c.want {
			t.Errorf("%s disabled = %v (%v), want %v", c.u.Username, u.Disabled, err, c.want)
		}
	}
}
