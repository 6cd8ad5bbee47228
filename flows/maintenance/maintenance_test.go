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
	k := &keys{}
	a := &maintenance.Activities{Store: s, Keys: k}
	r, err := a.Run(ctx, maintenance.Params{Grace: time.Hour})
	if err != nil || r.SessionRows != 1 || k.calls.Load() != 0 {
		t.Fatalf("Run = %+v, %v (rotations %d); want the one expired session, no rotation", r, err, k.calls.Load())
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
