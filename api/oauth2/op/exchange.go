package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyflow/keyflow/store"
)

// Token exchange (RFC 8693).
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is the only subject, actor and requested token
	// type served: access tokens this server issued.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// CodeInvalidTarget: the audience or resource cannot be served (RFC
	// 8693 §2.2.2).
	CodeInvalidTarget = "invalid_target"
)

// ErrInvalidTarget: the requested audience or resource is not allowed.
func ErrInvalidTarget(format string, args ...any) *Error {
	return newError(CodeInvalidTarget, http.StatusBadRequest, format, args...)
}

// exchangeToken serves RFC 8693 for access tokens this server issued to a
// user's grant. The requesting client must be confidential and either the
// client the subject token was issued to or one of its audiences (a
// resource server calling on). The new token is for the requesting client:
// same subject, scopes narrowed to those requested (never widened beyond
// the subject token's nor the client's own), audience one of the client's
// configured ones, expiring no later than the subject token. It belongs to
// the subject token's grant, so revoking the grant revokes it. With an
// actor_token the new token carries act (delegation), nesting the subject
// token's own act; delegation needs the JWT format. No refresh token is
// issued.
func (p *Provider) exchangeToken(ctx context.Context, c store.OAuth2Client, cc ClientCredentials, req TokenRequest) (TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantTokenExchange) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the token exchange grant")
	}
	if cc.Method == AuthNone || c.Public {
		return TokenResponse{}, ErrUnauthorizedClient("token exchange requires client authentication")
	}
	switch {
	case req.SubjectToken == "" || req.SubjectTokenType == "":
		return TokenResponse{}, ErrInvalidRequest("subject_token and subject_token_type are required")
	case req.SubjectTokenType != TokenTypeAccessToken:
		return TokenResponse{}, ErrInvalidRequest("unsupported subject_token_type")
	case req.RequestedTokenType != "" && req.RequestedTokenType != TokenTypeAccessToken:
		return TokenResponse{}, ErrInvalidRequest("unsupported requested_token_type")
	case (req.ActorToken == "") != (req.ActorTokenType == ""):
		return TokenResponse{}, ErrInvalidRequest("actor_token and actor_token_type go together")
	case req.ActorToken != "" && req.ActorTokenType != TokenTypeAccessToken:
		return TokenResponse{}, ErrInvalidRequest("unsupported actor_token_type")
	case req.ActorToken != "" && c.TokenFormat == store.TokenFormatOpaque:
		return TokenResponse{}, ErrInvalidRequest("delegation (actor_token) needs JWT access tokens for this client")
	}
	invalid := ErrInvalidRequest("invalid subject_token")
	sub, err := p.activeAccessToken(ctx, req.SubjectToken)
	if errors.Is(err, errInactive) {
		return TokenResponse{}, invalid.WithCause(err)
	}
	if err != nil {
		return TokenResponse{}, ToError(err)
	}
	if sub.claims.ClientID != c.ClientID && !slices.Contains(sub.claims.Audience, c.ClientID) {
		return TokenResponse{}, invalid.WithCause(errors.New("subject token neither issued to nor meant for the client"))
	}
	grantID, err := p.grantOf(ctx, sub)
	if err != nil {
		return TokenResponse{}, err
	}
	if grantID == "" {
		return TokenResponse{}, invalid.WithCause(errors.New("subject token represents no user (client_credentials)"))
	}
	scope, err := narrowScope(req.Scope, scopeList(sub.claims.Scope), c.Scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	aud, err := p.exchangeAudience(c, req)
	if err != nil {
		return TokenResponse{}, err
	}
	spec := tokenSpec{subject: sub.claims.Subject, scope: scope, audience: aud, notAfter: unix(sub.claims.ExpiresAt),
		act: sub.claims.Act}
	if req.ActorToken != "" {
		actor, err := p.activeAccessToken(ctx, req.ActorToken)
		if errors.Is(err, errInactive) {
			return TokenResponse{}, ErrInvalidRequest("invalid actor_token").WithCause(err)
		}
		if err != nil {
			return TokenResponse{}, ToError(err)
		}
		spec.act = &actClaim{Subject: actor.claims.Subject, ClientID: actor.claims.ClientID, Act: sub.claims.Act}
	}
	at, err := p.mintToken(ctx, c, spec)
	if err != nil {
		return TokenResponse{}, err
	}
	var issued store.OAuth2Issued
	at.record(&issued)
	if err := p.store.AddOAuth2GrantIssued(ctx, grantID, issued); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return TokenResponse{}, invalid.WithCause(err)
		}
		return TokenResponse{}, ToError(fmt.Errorf("op: record exchanged token: %w", err))
	}
	return TokenResponse{AccessToken: at.token, TokenType: "Bearer", IssuedTokenType: TokenTypeAccessToken,
		ExpiresIn: int64(at.exp.Sub(p.now().Truncate(time.Second)) / time.Second), Scope: scope}, nil
}

// grantOf returns the grant an active access token was issued from, ""
// for a client's own token.
func (p *Provider) grantOf(ctx context.Context, at activeToken) (string, error) {
	if at.opaque {
		return at.grantID, nil
	}
	g, err := p.store.OAuth2GrantByJTI(ctx, at.claims.JTI)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", ToError(fmt.Errorf("op: grant of jwt: %w", err))
	}
	return g.ID, nil
}

// narrowScope: the requested scopes (default all of have) must all be in
// have (else invalid_scope); those the client may not be granted are
// dropped.
func narrowScope(requested string, have, clientScopes []string) (string, error) {
	want := have
	if requested != "" {
		want = nil
		for _, s := range strings.Split(requested, " ") {
			if !validScopeToken(s) {
				return "", ErrInvalidScope("malformed scope (RFC 6749 §3.3)")
			}
			if !slices.Contains(have, s) {
				return "", ErrInvalidScope("scope %q exceeds the subject token's", s)
			}
			want = append(want, s)
		}
	}
	var out []string
	for _, s := range want {
		if slices.Contains(clientScopes, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// exchangeAudience: audience or resource, when sent, must be one of the
// client's audiences and becomes the token's only one.
func (p *Provider) exchangeAudience(c store.OAuth2Client, req TokenRequest) ([]string, error) {
	allowed := p.audiences(c)
	var aud []string
	for _, a := range []string{req.Audience, req.Resource} {
		if a == "" || slices.Contains(aud, a) {
			continue
		}
		if !slices.Contains(allowed, a) {
			return nil, ErrInvalidTarget("audience %q is not served for this client", a)
		}
		aud = append(aud, a)
	}
	if aud == nil {
		return allowed, nil
	}
	return aud, nil
}
