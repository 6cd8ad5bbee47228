package op

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyflow/keyflow/store"
)

// UserInfo answers the UserInfo endpoint (OpenID Connect Core §5.3) for a
// bearer access token: sub plus the claims of the grant that the token's
// scopes ask for. The token must be active and carry the openid scope.
// Errors are invalid_token (401) and insufficient_scope (403), for the edge
// to put in WWW-Authenticate (RFC 6750 §3).
func (p *Provider) UserInfo(ctx context.Context, token string) (map[string]any, error) {
	if token == "" {
		return nil, ErrInvalidToken("bearer access token required")
	}
	inactive := ErrInvalidToken("the access token is invalid, expired or revoked")
	var (
		scope string
		grant store.OAuth2Grant
		err   error
	)
	if isJWT(token) {
		claims, ok := p.verifyAccessToken(ctx, token)
		if !ok {
			return nil, inactive
		}
		revoked, rerr := p.revoked.contains(ctx, claims.JTI)
		if rerr != nil {
			return nil, ErrTemporarilyUnavailable(rerr)
		}
		if revoked {
			return nil, inactive
		}
		if !slices.Contains(scopeList(claims.Scope), ScopeOpenID) {
			return nil, ErrInsufficientScope("the access token lacks the openid scope")
		}
		scope = claims.Scope
		grant, err = p.store.OAuth2GrantByJTI(ctx, claims.JTI)
	} else {
		t, oerr := p.opaque(ctx, token)
		if oerr != nil {
			return nil, oerr
		}
		if t == nil || !t.RevokedAt.IsZero() || !p.now().Before(t.ExpiresAt) || t.Kind != store.TokenKindAccess {
			return nil, inactive
		}
		if !slices.Contains(scopeList(t.Scope), ScopeOpenID) {
			return nil, ErrInsufficientScope("the access token lacks the openid scope")
		}
		if t.GrantID == "" {
			return nil, inactive.WithCause(errors.New("token has no grant (client_credentials)"))
		}
		scope = t.Scope
		grant, err = p.store.OAuth2Grant(ctx, t.GrantID)
	}
	if errors.Is(err, store.ErrNotFound) {
		// A client_credentials token has no user to describe.
		return nil, inactive.WithCause(err)
	}
	if err != nil {
		return nil, ToError(fmt.Errorf("op: look up grant: %w", err))
	}
	if !grant.RevokedAt.IsZero() {
		return nil, inactive.WithCause(errors.New("grant revoked"))
	}
	out := filterClaims(grant.Claims, scopeList(scope))
	out["sub"] = grant.Subject
	return out, nil
}
