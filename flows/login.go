package flows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

// Temporal names of the login workflow.
const (
	// LoginWorkflow is the workflow type. Workflow ID = flowId (WSO2's sessionDataKey).
	LoginWorkflow = "keyflow.Login"
	// GetViewUpdate returns the current view; the front-end starts a login with
	// UpdateWithStart(GetViewUpdate) and may repeat it (page reload). No argument.
	GetViewUpdate = "getView"
	// SubmitUpdate takes a Submission and returns the next View. Use SubmitUpdateID as the
	// update ID so a retried request is answered from the first execution.
	SubmitUpdate = "submit"
	// ViewQuery returns the current view without writing history.
	ViewQuery = "view"
)

// Application error types of rejected submissions (validator rejections write no history).
const (
	RejectStale      = "StaleSubmission"
	RejectConcurrent = "ConcurrentSubmission"
	RejectEnded      = "FlowEnded"
	RejectInvalid    = "InvalidSubmission"
)

// SubmitUpdateID is the idempotency key of the submission answering view seq of flow flowID.
func SubmitUpdateID(flowID string, seq int) string { return fmt.Sprintf("%s:%d", flowID, seq) }

// LoginConfig tunes the login workflow. Zero values take the defaults noted.
type LoginConfig struct {
	// IdleTimeout ends a login nobody acts on (default 15 min). The caller should also set
	// WorkflowExecutionTimeout when starting.
	IdleTimeout time.Duration
	// FinishDelay, when positive, closes the workflow in a later workflow task, after a timer of
	// that length, instead of in the task that answers the final Update (the default). The user
	// gets the final view from the Update either way; the later close costs a timer and a
	// workflow task more per login (docs/adr/0004-close-login-in-answering-task.md).
	FinishDelay time.Duration
	// LocalActivity are the options of authenticator calls (default: 10 s start-to-close, one
	// attempt — a verifier is not idempotent, it counts failures).
	LocalActivity workflow.LocalActivityOptions
	// Script tunes the script engine (budgets, stack and size limits, directory activities).
	Script wfhost.Options
	// MaxParams and MaxParamBytes bound a submission (default 64 params, 64 KiB in total).
	MaxParams     int
	MaxParamBytes int
}

// Login is the login workflow. One value serves all executions on a worker; per-execution state
// lives in loginRun.
type Login struct {
	authenticators connectors.Registry
	cfg            LoginConfig
}

// NewLogin returns the login workflow over the given authenticators. The registry is used
// inside the workflow for static metadata only (names, display names, prompts); the
// authenticators run in LoginActivities.
func NewLogin(authenticators connectors.Registry, cfg LoginConfig) (*Login, error) {
	if len(authenticators) == 0 {
		return nil, errors.New("flows: login needs at least one authenticator")
	}
	if cfg.IdleTimeout < 0 || cfg.MaxParams < 0 || cfg.MaxParamBytes < 0 {
		return nil, errors.New("flows: negative login limits")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.LocalActivity.StartToCloseTimeout == 0 && cfg.LocalActivity.ScheduleToCloseTimeout == 0 {
		cfg.LocalActivity.StartToCloseTimeout = 10 * time.Second
	}
	if cfg.LocalActivity.RetryPolicy == nil {
		cfg.LocalActivity.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 1}
	}
	if cfg.MaxParams == 0 {
		cfg.MaxParams = 64
	}
	if cfg.MaxParamBytes == 0 {
		cfg.MaxParamBytes = 64 << 10
	}
	return &Login{authenticators: authenticators, cfg: cfg}, nil
}

// Register registers the workflow under LoginWorkflow.
func (l *Login) Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(l.Run, workflow.RegisterOptions{Name: LoginWorkflow})
}

// loginRun is one execution's state. Only the workflow goroutine and its handlers touch it.
type loginRun struct {
	l     *Login
	ctx   workflow.Context
	laCtx workflow.Context
	in    LoginInput
	log   log.Logger
	sess  *scripting.Session

	flowID       string
	clientIP     string // of the request that resumed the flow last
	view         View
	ready        bool // a view has been published
	done         bool // the final view has been published
	pending      *Submission
	inFlight     bool // a submission is accepted and its answer not yet published
	idleExpired  bool
	lastActivity time.Time

	steps         []StepRecord
	authenticated []AuthenticatedStep
}

// Run is the workflow function.
func (l *Login) Run(ctx workflow.Context, in LoginInput) (Result, error) {
	r := &loginRun{
		l:            l,
		ctx:          ctx,
		laCtx:        workflow.WithLocalActivityOptions(ctx, l.cfg.LocalActivity),
		in:           in,
		log:          workflow.GetLogger(ctx),
		flowID:       workflow.GetInfo(ctx).WorkflowExecution.ID,
		clientIP:     in.Request.HTTP.IP,
		lastActivity: workflow.Now(ctx),
	}
	// Handlers first: the UpdateWithStart's getView is delivered with the first task.
	if err := r.setHandlers(); err != nil {
		return Result{}, err
	}
	r.guardIdle()

	res := r.execute()
	r.publish(View{Status: res.Status, Result: &res, Error: res.Error})
	r.done = true

	// Answer in-flight Updates (the last submit) first; the close is in the same task.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return res, err
	}
	if l.cfg.FinishDelay > 0 {
		if err := workflow.Sleep(ctx, l.cfg.FinishDelay); err != nil {
			return res, err
		}
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (r *loginRun) setHandlers() error {
	if err := workflow.SetUpdateHandler(r.ctx, GetViewUpdate, r.getView); err != nil {
		return fmt.Errorf("set %s handler: %w", GetViewUpdate, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(r.ctx, SubmitUpdate, r.submit,
		workflow.UpdateHandlerOptions{Validator: r.validateSubmit}); err != nil {
		return fmt.Errorf("set %s handler: %w", SubmitUpdate, err)
	}
	if err := workflow.SetQueryHandler(r.ctx, ViewQuery, func() (View, error) {
		if !r.ready {
			return View{}, errors.New("no view yet")
		}
		return r.view, nil
	}); err != nil {
		return fmt.Errorf("set %s handler: %w", ViewQuery, err)
	}
	return nil
}

func (r *loginRun) getView(ctx workflow.Context) (View, error) {
	if err := workflow.Await(ctx, func() bool { return r.ready }); err != nil {
		return View{}, err
	}
	return r.view, nil
}

// validateSubmit rejects, without writing history, submissions that answer another view, arrive
// while one is being processed, arrive after the end, or are too large.
func (r *loginRun) validateSubmit(ctx workflow.Context, sub Submission) error {
	switch {
	case r.done:
		return temporal.NewApplicationError("the login has ended", RejectEnded)
	case !r.ready || r.inFlight:
		return temporal.NewApplicationError("another submission is being processed", RejectConcurrent)
	case sub.Seq != CurrentView && sub.Seq != r.view.Seq:
		return temporal.NewApplicationError(fmt.Sprintf("submission answers view %d, current view is %d", sub.Seq, r.view.Seq), RejectStale)
	}
	if len(sub.Params) > r.l.cfg.MaxParams {
		return temporal.NewApplicationError("too many parameters", RejectInvalid)
	}
	if sub.AuthenticatorID != "" {
		if _, _, ok := DecodeAuthenticatorID(sub.AuthenticatorID); !ok {
			// App-native answers ABA-60004 for an undecodable id without touching the flow.
			return temporal.NewApplicationError("invalid authenticatorId", RejectInvalid)
		}
	}
	size := len(sub.AuthenticatorID) + len(sub.Action)
	// A sum does not depend on map order.
	//workflowcheck:ignore
	for k, v := range sub.Params {
		size += len(k) + len(v)
	}
	if size > r.l.cfg.MaxParamBytes {
		return temporal.NewApplicationError("submission too large", RejectInvalid)
	}
	return nil
}

func (r *loginRun) submit(ctx workflow.Context, sub Submission) (View, error) {
	if sub.Seq == CurrentView {
		// Accepted in the task that validated it: the view is still the one it answers.
		sub.Seq = r.view.Seq
	}
	r.pending, r.inFlight = &sub, true
	if err := workflow.Await(ctx, func() bool { return r.view.Seq > sub.Seq }); err != nil {
		return View{}, err
	}
	return r.view, nil
}

// guardIdle ends the login after IdleTimeout without a submission. One timer covers many
// submissions: when it fires early (there was activity), it re-arms for the rest.
func (r *loginRun) guardIdle() {
	workflow.Go(r.ctx, func(ctx workflow.Context) {
		for !r.done {
			left := r.lastActivity.Add(r.l.cfg.IdleTimeout).Sub(workflow.Now(ctx))
			if left <= 0 {
				r.idleExpired = true
				return
			}
			if err := workflow.Sleep(ctx, left); err != nil {
				return
			}
		}
	})
}

// publish makes v the current view, answering the waiting Update.
func (r *loginRun) publish(v View) {
	v.FlowID = r.flowID
	v.Seq = r.view.Seq + 1
	if r.sess != nil {
		v.Response = r.sess.TakeResponse()
	}
	r.view, r.ready, r.inFlight = v, true, false
}

// await publishes v and waits for the submission answering it.
func (r *loginRun) await(v View) (*Submission, *FlowError) {
	r.publish(v)
	if err := workflow.Await(r.ctx, func() bool { return r.pending != nil || r.idleExpired }); err != nil {
		return nil, r.serverError("waiting for the user: " + err.Error())
	}
	if r.pending == nil {
		return nil, &FlowError{Kind: ErrorTimeout, Code: "ABA-60008", Message: "Authentication flow time out.",
			Description: "Authentication flow has timed out as it took too long to complete."}
	}
	sub := r.pending
	r.pending = nil
	r.lastActivity = workflow.Now(r.ctx)
	if sub.Request != nil {
		r.sess.SetRequest(*sub.Request)
		r.clientIP = sub.Request.IP
	}
	return sub, nil
}

// execute runs the script's graph (or the default sequence) to its end.
func (r *loginRun) execute() Result {
	setup := scripting.Setup{
		FlowID:          r.flowID,
		Script:          r.in.Application.Script,
		Steps:           r.describedSteps(),
		TenantDomain:    r.in.Application.TenantDomain,
		ApplicationID:   r.in.Application.ID,
		ApplicationName: r.in.Application.Name,
		RequestedACR:    r.in.Request.RequestedACR,
		Request:         r.in.Request.HTTP,
	}
	if r.in.Session != nil {
		for _, st := range r.in.Session.Steps {
			setup.Session = append(setup.Session, scripting.Option{Authenticator: st.Authenticator, IdP: st.IdP})
		}
	}
	sess, err := scripting.Open(wfhost.Config(r.ctx, r.l.cfg.Script), setup)
	if err != nil {
		return r.failed(r.serverError(err.Error()))
	}
	r.sess = sess
	for {
		switch n := sess.Next().(type) {
		case nil:
			return r.succeeded()
		case *scripting.StepNode:
			res, end := r.runStep(n)
			if end != nil {
				return r.failed(end)
			}
			sess.StepDone(n, res)
		case *scripting.PromptNode:
			res, end := r.runPrompt(n)
			if end != nil {
				return r.failed(end)
			}
			sess.PromptDone(n, res)
		case *scripting.CallNode:
			sess.CallDone(n, wfhost.Run(r.ctx, n))
		case *scripting.FailNode:
			return r.failed(r.failNodeError(n))
		}
	}
}

// describedSteps adds authenticator display names to the configured options, so scripts can
// match authenticationOptions on them.
func (r *loginRun) describedSteps() []scripting.Step {
	steps := make([]scripting.Step, len(r.in.Application.Steps))
	for i, st := range r.in.Application.Steps {
		steps[i] = st
		steps[i].Options = make([]scripting.Option, len(st.Options))
		for j, o := range st.Options {
			if o.IdP == "" {
				o.IdP = connectors.LocalIdP
			}
			if a, ok := r.l.authenticators[o.Authenticator]; ok && o.DisplayName == "" {
				o.DisplayName = a.DisplayName()
			}
			steps[i].Options[j] = o
		}
	}
	return steps
}

func (r *loginRun) succeeded() Result {
	subject := r.sess.Subject()
	if subject == nil {
		return r.failed(r.serverError("the login ended without an authenticated subject"))
	}
	res := Result{Status: StatusSuccess, Subject: subject, ACR: r.sess.SelectedACR(),
		Steps: r.steps, AuthenticatedSteps: r.authenticated}
	attr := r.sess.AttributeUser()
	claims := map[string]string{}
	// Building a map from maps does not depend on iteration order.
	//workflowcheck:ignore
	for _, u := range []*connectors.User{attr, subject} {
		if u == nil {
			continue
		}
		for k, v := range u.Claims {
			if _, set := claims[k]; !set {
				claims[k] = v
			}
		}
	}
	//workflowcheck:ignore
	for _, u := range []*connectors.User{subject, attr} {
		for k, v := range r.sess.RuntimeClaims(u) {
			claims[k] = v
		}
	}
	if len(claims) > 0 {
		res.Claims = claims
	}
	seen := map[string]bool{}
	for _, st := range r.authenticated {
		if !seen[st.Authenticator] {
			seen[st.Authenticator] = true
			res.AMR = append(res.AMR, st.Authenticator)
		}
	}
	return res
}

func (r *loginRun) failed(e *FlowError) Result {
	r.log.Info("login failed", "kind", e.Kind, "code", e.Code, "step", e.Step, "reason", e.Reason)
	return Result{Status: StatusFailed, Steps: r.steps, Error: e}
}

// serverError logs detail (never returned to users) and returns the generic server error.
func (r *loginRun) serverError(detail string) *FlowError {
	r.log.Error("login server error", "detail", detail)
	return &FlowError{Kind: ErrorServer, Code: "ABA-65001", Message: "Unable to proceed with authentication.",
		Description: "Server encountered an error while processing the authentication request."}
}
