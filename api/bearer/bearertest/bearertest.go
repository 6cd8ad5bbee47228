// Package bearertest stands in for the OAuth2 provider's token verification in the management
// APIs' tests (the verification itself is tested in api/oauth2/op).
package bearertest

import (
	"context"

	"github.com/keyflow/keyflow/api/oauth2/op"
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
