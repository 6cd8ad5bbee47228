package flows

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/connectors"
)

// Local activity names of the login workflow. Stable: renaming breaks running logins.
const (
	ActivityBeginAuthenticator   = "keyflow.login.BeginAuthenticator"
	ActivityProcessAuthenticator = "keyflow.login.ProcessAuthenticator"
)

// BeginRequest is ActivityBeginAuthenticator's argument.
type BeginRequest struct {
	Authenticator string `json:"authenticator"`
	connectors.BeginInput
}

// ProcessRequest is ActivityProcessAuthenticator's argument.
type ProcessRequest struct {
	Authenticator string `json:"authenticator"`
	connectors.ProcessInput
}

// LoginActivities run authenticators for the login workflow. They are local activities: the
// verifiers only touch the database, and a local activity saves a task round trip per submit.
type LoginActivities struct {
	Authenticators connectors.Registry
}

// Register registers the activities under their exported names.
func (a *LoginActivities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.BeginAuthenticator, activity.RegisterOptions{Name: ActivityBeginAuthenticator})
	r.RegisterActivityWithOptions(a.ProcessAuthenticator, activity.RegisterOptions{Name: ActivityProcessAuthenticator})
}

func (a *LoginActivities) lookup(name string) (connectors.Authenticator, error) {
	auth, ok := a.Authenticators[name]
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("authenticator %q is not registered on this worker", name), "UnknownAuthenticator", nil)
	}
	return auth, nil
}

// BeginAuthenticator is ActivityBeginAuthenticator.
func (a *LoginActivities) BeginAuthenticator(ctx context.Context, in BeginRequest) (connectors.BeginResult, error) {
	auth, err := a.lookup(in.Authenticator)
	if err != nil {
		return connectors.BeginResult{}, err
	}
	res, err := auth.Begin(ctx, in.BeginInput)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("%s: begin: %w", in.Authenticator, err)
	}
	return res, nil
}

// ProcessAuthenticator is ActivityProcessAuthenticator.
func (a *LoginActivities) ProcessAuthenticator(ctx context.Context, in ProcessRequest) (connectors.Outcome, error) {
	auth, err := a.lookup(in.Authenticator)
	if err != nil {
		return connectors.Outcome{}, err
	}
	out, err := auth.Process(ctx, in.ProcessInput)
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("%s: process: %w", in.Authenticator, err)
	}
	return out, nil
}
