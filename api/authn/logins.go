package authn

import (
	"context"
	"errors"

	"go.temporal.io/sdk/client"

	"github.com/keyflow/keyflow/flows"
)

// Temporal implements Logins with the flows client helpers. The client must be dialed with the
// payload codec (flows/temporalx): submissions carry passwords.
type Temporal struct {
	Client    client.Client
	TaskQueue string
}

var _ Logins = (*Temporal)(nil)

// Start implements Logins.
func (t *Temporal) Start(ctx context.Context, in flows.LoginInput, flowID string, state *LoginState) (flows.View, error) {
	return flows.StartLoginWithState(ctx, t.Client, t.TaskQueue, in, flowID, state)
}

// View implements Logins.
func (t *Temporal) View(ctx context.Context, flowID string) (flows.View, error) {
	return flows.CurrentLoginView(ctx, t.Client, flowID)
}

// Submit implements Logins.
func (t *Temporal) Submit(ctx context.Context, flowID string, sub flows.Submission) (flows.View, error) {
	return flows.SubmitLogin(ctx, t.Client, flowID, sub)
}

// State implements Logins.
func (t *Temporal) State(ctx context.Context, flowID string) (*LoginState, error) {
	var st LoginState
	if err := flows.LoginState(ctx, t.Client, flowID, &st); err != nil {
		return nil, err
	}
	if st.Protocol == "" {
		return nil, errors.New("authn: login holds no front-end state")
	}
	return &st, nil
}
