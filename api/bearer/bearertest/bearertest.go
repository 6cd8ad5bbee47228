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

// Passwords is Tokens with HTTP Basic: CheckPassword runs Auth (a *basic.Authenticator) as
// *op.Provider.CheckPassword runs the password grant's authenticator.
type Passwords struct {
	Tokens
	Auth connectors.PasswordProcessor
}

// CheckPassword implements bearer.PasswordChecker.
func (p Passwords) CheckPassword(ctx context.Context, orgHandle, username, password string) (string, bool, error) {
	return connectors.CheckPassword(ctx, p.Auth, orgHandle, username, password)
}
