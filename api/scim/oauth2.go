package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	oauth2op "github.com/keyflow/keyflow/api/oauth2/op"
)

// AccessTokenVerifier is what OAuth2Tokens needs from the OAuth2 provider
// (an *op.Provider).
type AccessTokenVerifier interface {
	// VerifyAccessToken returns an active access token issued by Keyflow,
	// or an error for one that is invalid, expired or revoked.
	VerifyAccessToken(ctx context.Context, token string) (oauth2op.AccessToken, error)
}

// OAuth2Tokens is the TokenVerifier for access tokens issued by Keyflow's
// own OAuth2 provider.
//
// Identity: a token issued through a user's authorization acts for that
// user (Token.UserID = sub) and is limited by both the user's permission
// and the token's scopes. A client_credentials token acts as the
// application itself, as in WSO2: Token.UserID is empty and the
// application's permission is exactly the token's scopes (which the
// provider only grants from the client's configured scopes). Such a token
// has no /Me.
type OAuth2Tokens struct {
	Verifier AccessTokenVerifier
}

var _ TokenVerifier = OAuth2Tokens{}

// VerifyAccessToken implements TokenVerifier.
func (o OAuth2Tokens) VerifyAccessToken(ctx context.Context, token string) (Token, error) {
	at, err := o.Verifier.VerifyAccessToken(ctx, token)
	if err != nil && !errors.Is(err, oauth2op.ErrInvalidToken("")) {
		// Not a verdict on the token (store down, revocation list not
		// loaded): a 503 to retry, not a 401 that would discard the token.
		return Token{}, &Error{Status: http.StatusServiceUnavailable, Detail: "token verification unavailable",
			cause: fmt.Errorf("scim: verify bearer token: %w", err)}
	}
	if err != nil {
		return Token{}, fmt.Errorf("scim: bearer token: %w", err)
	}
	t := Token{ClientID: at.ClientID, Scopes: at.Scopes}
	if !at.ClientOnly {
		t.UserID = at.Subject
	}
	return t, nil
}
