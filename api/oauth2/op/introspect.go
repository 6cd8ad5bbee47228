package op

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// Introspection is an introspection response (RFC 7662 §2.2). An inactive
// token carries only Active=false: nothing is said about why.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  audience `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
}

// Introspect serves RFC 7662: the caller must be a confidential client
// (§2.1: the endpoint requires authorization; an open one would let anyone
// probe tokens). Any client may introspect any token, since resource
// servers are usually clients of their own. JWTs are checked by signature,
// expiry, issuer and the in-memory revocation list, with no query; opaque
// tokens are looked up by hash. hint (token_type_hint) is accepted and
// ignored: both kinds are told apart by their shape.
func (p *Provider) Introspect(ctx context.Context, cc ClientCredentials, token, hint string) (Introspection, error) {
	if token == "" {
		return Introspection{}, ErrInvalidRequest("token is required")
	}
	if _, err := p.authenticateConfidential(ctx, cc); err != nil {
		return Introspection{}, err
	}
	at, err := p.activeAccessToken(ctx, token)
	if errors.Is(err, errInactive) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, err
	}
	c := at.claims
	return Introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
		ExpiresAt: c.ExpiresAt, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore,
		Subject: c.Subject, Audience: c.Audience, Issuer: c.Issuer, JTI: c.JTI,
	}, nil
}

// authenticateConfidential authenticates a client that must have a secret.
func (p *Provider) authenticateConfidential(ctx context.Context, cc ClientCredentials) (store.OAuth2Client, error) {
	if cc.Method == AuthNone {
		return store.OAuth2Client{}, ErrInvalidClient("client authentication required")
	}
	return p.AuthenticateClient(ctx, cc)
}

// isJWT tells a JWS compact serialization (three dot-separated parts) from
// an opaque token (base64url, no dots).
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// verifyAccessToken checks a JWT access token we issued: signature by a
// published key, typ at+jwt, our issuer, not expired, not before nbf.
func (p *Provider) verifyAccessToken(ctx context.Context, token string) (accessTokenClaims, bool) {
	payload, err := p.keys.Verify(ctx, token, jwtkeys.TypeAccessToken)
	if err != nil {
		return accessTokenClaims{}, false
	}
	var claims accessTokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return accessTokenClaims{}, false
	}
	now := p.now().Unix()
	if claims.Issuer != p.issuer || claims.JTI == "" || now >= claims.ExpiresAt ||
		(claims.NotBefore != 0 && now < claims.NotBefore) {
		return accessTokenClaims{}, false
	}
	return claims, true
}

// opaque looks an opaque token up by hash; nil when unknown.
func (p *Provider) opaque(ctx context.Context, token string) (*store.OAuth2Token, error) {
	hash := sha256.Sum256([]byte(token))
	t, err := p.store.OAuth2TokenByHash(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, ToError(fmt.Errorf("op: look up opaque token: %w", err))
	}
	return &t, nil
}

// Revoke serves RFC 7009. Public clients may revoke their own tokens (they
// authenticate with their id alone). Unknown, invalid and expired tokens
// are not an error (§2.2); a valid token of another client is refused with
// unauthorized_client (§2.1). A revoked JWT's jti is recorded until the
// token would expire and takes effect at once on this replica, within the
// revocation sync interval on others.
func (p *Provider) Revoke(ctx context.Context, cc ClientCredentials, token, hint string) error {
	if token == "" {
		return ErrInvalidRequest("token is required")
	}
	client, err := p.AuthenticateClient(ctx, cc)
	if err != nil {
		return err
	}
	if isJWT(token) {
		claims, ok := p.verifyAccessToken(ctx, token)
		if !ok {
			return nil
		}
		if claims.ClientID != client.ClientID {
			return ErrUnauthorizedClient("the token was not issued to this client")
		}
		r := store.RevokedJTI{JTI: claims.JTI, ClientID: claims.ClientID, ExpiresAt: unix(claims.ExpiresAt)}
		if err := p.store.RevokeOAuth2JTI(ctx, r); err != nil {
			return ToError(fmt.Errorf("op: revoke jwt: %w", err))
		}
		p.revoked.add(r.JTI, r.ExpiresAt)
		return nil
	}
	t, err := p.opaque(ctx, token)
	if err != nil || t == nil {
		return err
	}
	if t.ClientID != client.ClientID {
		return ErrUnauthorizedClient("the token was not issued to this client")
	}
	if err := p.store.RevokeOAuth2Token(ctx, t.Hash); err != nil && !errors.Is(err, store.ErrNotFound) {
		return ToError(fmt.Errorf("op: revoke opaque token: %w", err))
	}
	if t.Kind == store.TokenKindRefresh && t.GrantID != "" {
		// §2.1: revoking a refresh token should also invalidate the access
		// tokens of the same grant.
		p.revokeGrant(ctx, t.GrantID, "refresh token revoked by the client")
	}
	return nil
}
