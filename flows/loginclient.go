package flows

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// LoginExecutionTimeout bounds a whole login execution, whatever happens inside (the idle
// timeout normally ends it first). It is the backstop that guarantees abandoned logins end.
const LoginExecutionTimeout = 30 * time.Minute

// Errors of the client helpers. Every error they return for these conditions wraps one of
// them (test with errors.Is); other errors are infrastructure failures.
var (
	// ErrLoginNotFound: no login with that flowId is running (unknown, completed or expired).
	ErrLoginNotFound = errors.New("flows: login not found")
	// ErrStale: the submission answers a view that is no longer current (RejectStale).
	ErrStale = errors.New("flows: stale submission")
	// ErrConcurrent: another submission of the same login is being processed (RejectConcurrent).
	ErrConcurrent = errors.New("flows: concurrent submission")
	// ErrEnded: the login has ended (RejectEnded).
	ErrEnded = errors.New("flows: login ended")
	// ErrInvalidSubmission: the submission is malformed or too large (RejectInvalid).
	ErrInvalidSubmission = errors.New("flows: invalid submission")
	// ErrLoginExists: StartLogin was given the flowId of a login that already ended.
	ErrLoginExists = errors.New("flows: flowId already used")
)

// LoginStateMemo is the memo key under which StartLoginWithState keeps the front-end's state.
const LoginStateMemo = "keyflow.frontendState"

// StartLogin starts login flowID (or joins it if it is running: USE_EXISTING makes a retried
// first request safe) and returns its first view, in one UpdateWithStart round trip. Flow IDs
// are single use: starting an ID whose login has ended fails with ErrLoginExists.
func StartLogin(ctx context.Context, c client.Client, taskQueue string, in LoginInput, flowID string) (View, error) {
	return StartLoginWithState(ctx, c, taskQueue, in, flowID, nil)
}

// StartLoginWithState is StartLogin that also keeps state, the front-end's own request data (a
// validated OAuth2 authorization request), with the execution (its memo, encoded by the
// client's data converter, hence encrypted), for LoginState to read when the login ends. It
// spares stateless front-ends a table of pending requests; the workflow never sees it. nil
// keeps nothing.
func StartLoginWithState(ctx context.Context, c client.Client, taskQueue string, in LoginInput, flowID string, state any) (View, error) {
	if flowID == "" || taskQueue == "" {
		return View{}, errors.New("flows: start login: flowID and taskQueue are required")
	}
	opts := client.StartWorkflowOptions{
		ID:                       flowID,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionTimeout: LoginExecutionTimeout,
	}
	if state != nil {
		opts.Memo = map[string]any{LoginStateMemo: state}
	}
	op := c.NewWithStartWorkflowOperation(opts, LoginWorkflow, in)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   GetViewUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return View{}, fmt.Errorf("flows: start login %s: %w", flowID, mapClientError(err))
	}
	var v View
	if err := h.Get(ctx, &v); err != nil {
		return View{}, fmt.Errorf("flows: start login %s: %w", flowID, mapClientError(err))
	}
	return v, nil
}

// SubmitLogin sends sub to login flowID and returns the next view. The update ID is
// SubmitUpdateID(flowID, sub.Seq), so a retried request is answered from the first execution
// (with Seq CurrentView, a fresh id: there is nothing to match a retry by).
// Validator rejections map to ErrStale, ErrConcurrent, ErrEnded and ErrInvalidSubmission; an
// unknown or closed login to ErrLoginNotFound.
func SubmitLogin(ctx context.Context, c client.Client, flowID string, sub Submission) (View, error) {
	id := SubmitUpdateID(flowID, sub.Seq)
	if sub.Seq == CurrentView {
		id = flowID + "/submit/current/" + rand.Text()
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   flowID,
		UpdateID:     id,
		UpdateName:   SubmitUpdate,
		Args:         []any{sub},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return View{}, fmt.Errorf("flows: submit to login %s: %w", flowID, mapClientError(err))
	}
	var v View
	if err := h.Get(ctx, &v); err != nil {
		return View{}, fmt.Errorf("flows: submit to login %s: %w", flowID, mapClientError(err))
	}
	return v, nil
}

// LoginState decodes the state StartLoginWithState kept for login flowID into ptr (one
// DescribeWorkflowExecution call; it works after the login has closed, within retention).
func LoginState(ctx context.Context, c client.Client, flowID string, ptr any) error {
	d, err := c.DescribeWorkflow(ctx, flowID, "")
	if err != nil {
		return fmt.Errorf("flows: state of login %s: %w", flowID, mapClientError(err))
	}
	if err := d.GetMemoValue(LoginStateMemo, ptr); err != nil {
		return fmt.Errorf("flows: state of login %s: %w", flowID, err)
	}
	return nil
}

// CurrentLoginView returns login flowID's current view without writing history (ViewQuery).
// Front-ends whose protocol does not echo the view's Seq (app-native /oauth2/authn) read it
// here before submitting.
func CurrentLoginView(ctx context.Context, c client.Client, flowID string) (View, error) {
	res, err := c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: flowID,
		QueryType:  ViewQuery,
		// A closed login has no current view a user could answer.
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	if err != nil {
		return View{}, fmt.Errorf("flows: view of login %s: %w", flowID, mapClientError(err))
	}
	if res.QueryRejected != nil {
		return View{}, fmt.Errorf("flows: view of login %s: %w", flowID, ErrLoginNotFound)
	}
	var v View
	if err := res.QueryResult.Get(&v); err != nil {
		return View{}, fmt.Errorf("flows: view of login %s: decode: %w", flowID, err)
	}
	return v, nil
}

// mapClientError adds the package's sentinel to errors callers branch on, keeping the cause.
func mapClientError(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		switch appErr.Type() {
		case RejectStale:
			return fmt.Errorf("%w: %w", ErrStale, err)
		case RejectConcurrent:
			return fmt.Errorf("%w: %w", ErrConcurrent, err)
		case RejectEnded:
			return fmt.Errorf("%w: %w", ErrEnded, err)
		case RejectInvalid:
			return fmt.Errorf("%w: %w", ErrInvalidSubmission, err)
		}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("%w: %w", ErrLoginNotFound, err)
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("%w: %w", ErrLoginExists, err)
	}
	return err
}
