// Package bearertest stands in for the OAuth2 provider's token verification in the management
// APIs' tests (the verification itself is tested in api/oauth2/op).
package bearertest

import (
	"context"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors"
)

// Tokens is a bearer.Tokens whose keys are the bearer tokens it accepts.
type Tokens map[string]op.AccessToken

// VerifyAccessToken implements bearer.Tokens.
func (t Tokens) VerifyAccessToken(_ context.Context, tok string) (op.AccessToken, error) {
	if at, ok := t[tok]; ok {
		return at, nil
	}
	return op.AccessToken{}, op.ErrInvalidToken("unknown token")
}

// Authenticator checks a password the way the login does (a *basic.Authenticator).
type Authenticator interface {
	Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error)
}

// Passwords is Tokens with HTTP Basic: CheckPassword runs Auth as *op.Provider.CheckPassword
// runs the password grant's authenticator.
type Passwords struct {
	Tokens
	Auth Authenticator
}

// CheckPassword implements bearer.PasswordChecker.
func (p Passwords) CheckPassword(ctx context.Context, orgHandle, username, password string) (string, bool, error) {
	out, err := p.Auth.Process(ctx, connectors.ProcessInput{
		StepContext: connectors.StepContext{TenantDomain: orgHandle, Step: 1, IdP: connectors.LocalIdP},
		Params:      map[string]string{"username": username, "password": password}, Attempt: 1})
	if err != nil || out.Status != connectors.StatusSuccess || out.User == nil {
		return "", false, err
	}
	return out.User.ID, true, nil
}
