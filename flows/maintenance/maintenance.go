// Package maintenance is Keyflow's housekeeping workflow: one long-running execution per
// namespace and task queue (workflow ID WorkflowID) that, every Interval, deletes expired OAuth2
// tokens, codes and grants and ended SSO sessions, and rotates signing keys that have signed for
// longer than the rotation period. Every worker ensures it runs (Ensure); Temporal keeps exactly
// one execution, so a cluster of workers does the work once, and a crash resumes it.
package maintenance

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/store"
)

// Temporal names.
const (
	WorkflowType = "keyflow.Maintenance"
	WorkflowID   = "keyflow-maintenance"
	ActivityRun  = "keyflow.MaintenanceRun"
	// SignalParams carries new Params (Ensure sends the starting worker's settings).
	SignalParams = "params"
)

// Defaults.
const (
	DefaultInterval = 15 * time.Minute
	// DefaultGrace keeps expired rows this long after they expired (for audits and support).
	DefaultGrace = time.Hour
	// roundsPerRun bounds the history of one execution; then it continues as new.
	roundsPerRun = 96
)

// Params is the workflow input.
type Params struct {
	Interval time.Duration `json:"interval"`
	// Grace: rows are deleted this long after they expired.
	Grace time.Duration `json:"grace"`
	// KeyRotation rotates a signing key that has been current this long; 0 never rotates.
	KeyRotation time.Duration `json:"keyRotation"`
}

// Report is what one round did.
type Report struct {
	OAuth2Rows  int64 `json:"oauth2Rows"`
	SessionRows int64 `json:"sessionRows"`
	// EphemeralRows are expired pushed requests, SAML logouts and artifacts, and consent pages.
	EphemeralRows int64    `json:"ephemeralRows,omitempty"`
	Rotated       []string `json:"rotated,omitempty"`
	// DisabledUsers counts accounts disabled for being idle (the organizations' idle-account
	// policies).
	DisabledUsers int `json:"disabledUsers,omitempty"`
}

// Workflow runs rounds forever, continuing as new every roundsPerRun rounds. Params received on
// SignalParams replace p from the next round on.
func Workflow(ctx workflow.Context, p Params) error {
	signals := workflow.GetSignalChannel(ctx, SignalParams)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: 10 * time.Second},
	})
	log := workflow.GetLogger(ctx)
	for range roundsPerRun {
		for {
			var np Params
			if !signals.ReceiveAsync(&np) {
				break
			}
			p = np
		}
		if p.Interval <= 0 {
			p.Interval = DefaultInterval
		}
		var r Report
		if err := workflow.ExecuteActivity(ctx, ActivityRun, p).Get(ctx, &r); err != nil {
			// A failed round is retried next interval; housekeeping must not stop.
			log.Error("maintenance round failed", "error", err)
		} else if r.OAuth2Rows+r.SessionRows+r.EphemeralRows > 0 || len(r.Rotated) > 0 || r.DisabledUsers > 0 {
			log.Info("maintenance round", "oauth2Rows", r.OAuth2Rows, "sessionRows", r.SessionRows,
				"ephemeralRows", r.EphemeralRows, "rotated", r.Rotated, "disabledUsers", r.DisabledUsers)
		}
		// Wake early for new parameters.
		timerCtx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, p.Interval), func(workflow.Future) {})
		sel.AddReceive(signals, func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		cancel()
	}
	// Signals not yet received would be lost across continue-as-new: take the last one.
	for {
		var np Params
		if !signals.ReceiveAsync(&np) {
			break
		}
		p = np
	}
	return workflow.NewContinueAsNewError(ctx, WorkflowType, p)
}

// Store deletes what expired; *store.Store implements it.
type Store interface {
	DeleteExpiredOAuth2Tokens(ctx context.Context, before time.Time) (int64, error)
	DeleteExpiredEphemera(ctx context.Context, before time.Time) (int64, error)
	DeleteExpiredSSOSessions(ctx context.Context, cutoff time.Time) (int64, error)
	IdleDisablePolicies(ctx context.Context) ([]store.IdleDisablePolicy, error)
	DisableIdleUsers(ctx context.Context, orgID string, days int, now time.Time, limit int, actor store.Actor) ([]string, error)
}

// idleBatch is how many idle accounts one statement disables.
const idleBatch = 1000

// Keys rotates signing keys that have been current for at least maxAge, returning the
// algorithms rotated; *jwtkeys.Manager implements it.
type Keys interface {
	RotateOlderThan(ctx context.Context, maxAge time.Duration) ([]string, error)
}

// Activities do the work.
type Activities struct {
	Store Store
	// Keys may be nil: no rotation.
	Keys Keys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Register registers the workflow and the activity on w.
func (a *Activities) Register(w worker.Registry) {
	w.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowType})
	w.RegisterActivityWithOptions(a.Run, activity.RegisterOptions{Name: ActivityRun})
}

// Run is one round.
func (a *Activities) Run(ctx context.Context, p Params) (Report, error) {
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	cutoff := now.Add(-p.Grace)
	var r Report
	var err error
	if r.OAuth2Rows, err = a.Store.DeleteExpiredOAuth2Tokens(ctx, cutoff); err != nil {
		return r, fmt.Errorf("maintenance: %w", err)
	}
	if r.EphemeralRows, err = a.Store.DeleteExpiredEphemera(ctx, cutoff); err != nil {
		return r, fmt.Errorf("maintenance: %w", err)
	}
	if r.SessionRows, err = a.Store.DeleteExpiredSSOSessions(ctx, cutoff); err != nil {
		return r, fmt.Errorf("maintenance: %w", err)
	}
	if r.DisabledUsers, err = a.disableIdle(ctx, now); err != nil {
		return r, fmt.Errorf("maintenance: %w", err)
	}
	if a.Keys != nil && p.KeyRotation > 0 {
		if r.Rotated, err = a.Keys.RotateOlderThan(ctx, p.KeyRotation); err != nil {
			return r, fmt.Errorf("maintenance: %w", err)
		}
	}
	return r, nil
}

// disableIdle disables, per organization with an idle-account policy, the accounts idle longer
// than it allows, in batches; running it again is harmless.
func (a *Activities) disableIdle(ctx context.Context, now time.Time) (int, error) {
	policies, err := a.Store.IdleDisablePolicies(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range policies {
		for {
			ids, err := a.Store.DisableIdleUsers(ctx, p.OrgID, p.Days, now, idleBatch,
				store.Actor{Type: store.ActorSystem, ID: "maintenance"})
			if err != nil {
				return n, err
			}
			n += len(ids)
			if len(ids) < idleBatch {
				break
			}
		}
	}
	return n, nil
}

// Ensure starts the maintenance workflow unless it is already running, and hands it p (any
// worker may call it at start-up; Temporal keeps one execution, which takes the parameters of
// the worker that started last).
func Ensure(ctx context.Context, c client.Client, taskQueue string, p Params, log *slog.Logger) error {
	_, err := c.SignalWithStartWorkflow(ctx, WorkflowID, SignalParams, p, client.StartWorkflowOptions{
		ID:                    WorkflowID,
		TaskQueue:             taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, WorkflowType, p)
	if err != nil {
		return fmt.Errorf("maintenance: start: %w", err)
	}
	if log != nil {
		log.InfoContext(ctx, "maintenance workflow running", "interval", p.Interval, "key_rotation", p.KeyRotation)
	}
	return nil
}
