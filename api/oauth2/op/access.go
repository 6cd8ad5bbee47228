package op

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyflow/keyflow/store"
)

// AccessToken is what a resource server inside Keyflow learns from an
// active access token.
type AccessToken struct {
	// Subject is the token's sub: the user id for a token issued through a
	// user's authorization, the client id when the client acts for itself.
	Subject  string
	ClientID string
	Scopes   []string
	Audience []string
	IssuedAt time.Time
	// ExpiresAt: the token must not be accepted from then on.
	ExpiresAt time.Time
	JTI       string
	// ClientOnly is set when no user is involved (client_credentials): the
	// token acts as the application ClientID itself, and Subject is that
	// client id (RFC 9068 §2.2).
	ClientOnly bool
}

// activeToken is an access token that passed every check, with what
// introspection reports about it. grantID is only known for opaque tokens.
type activeToken struct {
	claims  accessTokenClaims
	opaque  bool
	grantID string
}

// errInactive is the cause of an inactive token: invalid, expired, revoked,
// unknown, or not an access token. Which one is never told to the caller.
var errInactive = errors.New("op: token is not active")

// activeAccessToken checks an access token the way introspection does:
// a JWT by signature, typ, issuer, expiry and the in-memory revocation list
// (no query); an opaque token by a lookup of its hash. It returns an error
// wrapping errInactive for a token that is not active, and an *Error for a
// failure to decide (store down, revocation list not loaded).
func (p *Provider) activeAccessToken(ctx context.Context, token string) (activeToken, error) {
	if isJWT(token) {
		claims, ok := p.verifyAccessToken(ctx, token)
		if !ok {
			return activeToken{}, errInactive
		}
		revoked, err := p.revoked.contains(ctx, claims.JTI)
		if err != nil {
			return activeToken{}, ErrTemporarilyUnavailable(err)
		}
		if revoked {
			return activeToken{}, errInactive
		}
		return activeToken{claims: claims}, nil
	}
	t, err := p.opaque(ctx, token)
	if err != nil {
		return activeToken{}, err
	}
	if t == nil || !t.RevokedAt.IsZero() || !p.now().Before(t.ExpiresAt) || t.Kind != store.TokenKindAccess {
		return activeToken{}, errInactive
	}
	return activeToken{opaque: true, grantID: t.GrantID, claims: accessTokenClaims{
		Issuer: p.issuer, Subject: t.Subject, Audience: t.Audiences, ExpiresAt: t.ExpiresAt.Unix(),
		IssuedAt: t.IssuedAt.Unix(), JTI: t.TokenID, ClientID: t.ClientID, Scope: t.Scope,
	}}, nil
}

// VerifyAccessToken validates a bearer access token (RFC 6750) for a
// resource server that runs inside Keyflow, such as SCIM. Unlike
// Introspect it needs no client authentication: the caller is Keyflow
// itself, not a network client probing tokens. The checks are those of
// Introspect (activeAccessToken).
//
// A token not active is ErrInvalidToken (401); a failure to decide is
// another *Error (temporarily_unavailable, server_error) that the caller
// should answer with 5xx rather than 401.
//
// ClientOnly is decided by the token's origin, not by comparing sub with
// client_id alone, since a client id is chosen freely and could equal a
// user id: an opaque token is client-only when it belongs to no grant; a
// JWT whose sub is its client_id costs one query to confirm that no
// user's grant issued it.
func (p *Provider) VerifyAccessToken(ctx context.Context, token string) (AccessToken, error) {
	if token == "" {
		return AccessToken{}, ErrInvalidToken("bearer access token required")
	}
	at, err := p.activeAccessToken(ctx, token)
	if errors.Is(err, errInactive) {
		return AccessToken{}, ErrInvalidToken("the access token is invalid, expired or revoked").WithCause(err)
	}
	if err != nil {
		return AccessToken{}, ToError(err)
	}
	c := at.claims
	out := AccessToken{
		Subject: c.Subject, ClientID: c.ClientID, Scopes: scopeList(c.Scope), Audience: c.Audience,
		IssuedAt: unix(c.IssuedAt), ExpiresAt: unix(c.ExpiresAt), JTI: c.JTI,
	}
	switch {
	case at.opaque:
		out.ClientOnly = at.grantID == ""
	case c.Subject == c.ClientID:
		_, gerr := p.store.OAuth2GrantByJTI(ctx, c.JTI)
		switch {
		case errors.Is(gerr, store.ErrNotFound):
			out.ClientOnly = true
		case gerr != nil:
			return AccessToken{}, ToError(fmt.Errorf("op: look up grant of jwt: %w", gerr))
		}
	}
	return out, nil
}
