package op

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyflow/keyflow/store"
)

// authorizationCode exchanges a code (RFC 6749 §4.1.3, RFC 7636 §4.6,
// OpenID Connect Core §3.1.3). A code is single use: a second exchange
// fails and revokes every token the first one issued (RFC 6749 §4.1.2). A
// refresh token is issued when the client may use the refresh_token grant,
// an ID token when openid was granted.
func (p *Provider) authorizationCode(ctx context.Context, c store.OAuth2Client, req TokenRequest) (TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the authorization_code grant")
	}
	if req.Code == "" {
		return TokenResponse{}, ErrInvalidRequest("code is required")
	}
	invalid := ErrInvalidGrant("invalid, expired or used authorization code")
	hash := sha256.Sum256([]byte(req.Code))
	code, grant, err := p.store.OAuth2CodeByHash(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, invalid.WithCause(err)
	}
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: look up code: %w", err))
	}
	if code.ClientID != c.ClientID {
		return TokenResponse{}, invalid.WithCause(errors.New("code issued to another client"))
	}
	if !code.UsedAt.IsZero() || !grant.RevokedAt.IsZero() {
		p.revokeGrant(ctx, grant.ID, "authorization code replayed")
		return TokenResponse{}, invalid.WithCause(errors.New("code already used"))
	}
	if !p.now().Before(code.ExpiresAt) {
		return TokenResponse{}, invalid.WithCause(errors.New("code expired"))
	}
	if code.RedirectURI != "" && req.RedirectURI != code.RedirectURI {
		return TokenResponse{}, ErrInvalidGrant("redirect_uri does not match the authorization request")
	}
	if err := verifyPKCE(code, req.CodeVerifier); err != nil {
		return TokenResponse{}, err
	}

	var issued store.OAuth2Issued
	resp, err := p.issueFromGrant(ctx, c, grant, grant.Scope, time.Time{}, &issued)
	if err != nil {
		return TokenResponse{}, err
	}
	if err := p.store.RedeemOAuth2Code(ctx, hash[:], issued); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Another exchange of the same code won the race.
			p.revokeGrant(ctx, grant.ID, "authorization code replayed")
			return TokenResponse{}, invalid.WithCause(err)
		}
		if errors.Is(err, store.ErrNotFound) {
			return TokenResponse{}, invalid.WithCause(err)
		}
		return TokenResponse{}, ToError(fmt.Errorf("op: redeem code: %w", err))
	}
	return resp, nil
}

// verifyPKCE checks code_verifier against the code's challenge (RFC 7636
// §4.6). A verifier without a challenge is refused too: accepting it would
// let an attacker strip PKCE from the request (OAuth 2.0 Security BCP
// §2.1.1, PKCE downgrade).
func verifyPKCE(code store.OAuth2Code, verifier string) error {
	switch {
	case code.CodeChallenge == "" && verifier == "":
		return nil
	case code.CodeChallenge == "":
		return ErrInvalidGrant("code_verifier sent, but the authorization request had no code_challenge")
	case verifier == "":
		return ErrInvalidGrant("code_verifier is required")
	case !validVerifier(verifier):
		return ErrInvalidGrant("malformed code_verifier (RFC 7636 §4.1)")
	}
	want := verifier
	if code.CodeChallengeMethod == PKCES256 {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(code.CodeChallenge)) != 1 {
		return ErrInvalidGrant("code_verifier does not match the code_challenge")
	}
	return nil
}

// refreshToken serves RFC 6749 §6 with rotation: every use returns a new
// refresh token and revokes the one presented. Presenting a revoked
// (rotated) refresh token is taken as theft and revokes the whole grant,
// the legitimate holder's tokens included (OAuth 2.0 Security BCP §4.14.2).
// The new refresh token keeps the expiry of the first one, so a grant
// cannot be extended forever. A narrower scope may be requested; a wider
// one is invalid_scope.
func (p *Provider) refreshToken(ctx context.Context, c store.OAuth2Client, req TokenRequest) (TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantRefreshToken) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the refresh_token grant")
	}
	if req.RefreshToken == "" {
		return TokenResponse{}, ErrInvalidRequest("refresh_token is required")
	}
	invalid := ErrInvalidGrant("invalid, expired or revoked refresh token")
	hash := sha256.Sum256([]byte(req.RefreshToken))
	old, err := p.store.OAuth2TokenByHash(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, invalid.WithCause(err)
	}
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: look up refresh token: %w", err))
	}
	if old.Kind != store.TokenKindRefresh || old.GrantID == "" || old.ClientID != c.ClientID {
		return TokenResponse{}, invalid.WithCause(errors.New("not a refresh token of this client"))
	}
	if !old.RevokedAt.IsZero() {
		p.revokeGrant(ctx, old.GrantID, "refresh token replayed")
		return TokenResponse{}, invalid.WithCause(errors.New("refresh token already used"))
	}
	if !p.now().Before(old.ExpiresAt) {
		return TokenResponse{}, invalid.WithCause(errors.New("refresh token expired"))
	}
	grant, err := p.store.OAuth2Grant(ctx, old.GrantID)
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: look up grant: %w", err))
	}
	if !grant.RevokedAt.IsZero() {
		return TokenResponse{}, invalid.WithCause(errors.New("grant revoked"))
	}
	scope := old.Scope
	if req.Scope != "" {
		have := scopeList(old.Scope)
		var narrowed []string
		for _, s := range strings.Split(req.Scope, " ") {
			if !validScopeToken(s) {
				return TokenResponse{}, ErrInvalidScope("malformed scope (RFC 6749 §3.3)")
			}
			if !slices.Contains(have, s) {
				return TokenResponse{}, ErrInvalidScope("scope %q was not granted (RFC 6749 §6)", s)
			}
			if !slices.Contains(narrowed, s) {
				narrowed = append(narrowed, s)
			}
		}
		scope = strings.Join(narrowed, " ")
	}
	// An API-resource scope whose authorization or role was withdrawn is not refreshed.
	if scope, err = p.userScope(ctx, c, grant.Subject, scope); err != nil {
		return TokenResponse{}, err
	}
	var issued store.OAuth2Issued
	resp, err := p.issueFromGrant(ctx, c, grant, scope, old.ExpiresAt, &issued)
	if err != nil {
		return TokenResponse{}, err
	}
	if err := p.store.RotateOAuth2RefreshToken(ctx, hash[:], issued); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// A concurrent use of the same refresh token won: one of the two
			// is a thief.
			p.revokeGrant(ctx, old.GrantID, "refresh token replayed")
			return TokenResponse{}, invalid.WithCause(err)
		}
		return TokenResponse{}, ToError(fmt.Errorf("op: rotate refresh token: %w", err))
	}
	return resp, nil
}

// issueFromGrant mints the tokens of a code exchange or refresh: an access
// token, a refresh token when the client may refresh (expiring at
// refreshExp, or after the client's refresh lifetime when zero), and an ID
// token when scope has openid. What must be stored is added to issued; the
// caller stores it atomically with consuming the code or refresh token.
func (p *Provider) issueFromGrant(ctx context.Context, c store.OAuth2Client, g store.OAuth2Grant, scope string,
	refreshExp time.Time, issued *store.OAuth2Issued) (TokenResponse, error) {
	refreshing := !refreshExp.IsZero()
	at, err := p.mintToken(ctx, c, grantTokenSpec(g, scope))
	if err != nil {
		return TokenResponse{}, err
	}
	at.record(issued)
	resp := TokenResponse{AccessToken: at.token, TokenType: "Bearer",
		ExpiresIn: int64(c.AccessTokenLifetime / time.Second), Scope: scope}
	now := p.now().Truncate(time.Second)
	if slices.Contains(c.GrantTypes, GrantRefreshToken) {
		if refreshExp.IsZero() {
			refreshExp = now.Add(c.RefreshTokenLifetime)
		}
		if refreshExp.After(g.ExpiresAt) {
			refreshExp = g.ExpiresAt
		}
		if refreshExp.After(now) {
			resp.RefreshToken = randomString(32)
			hash := sha256.Sum256([]byte(resp.RefreshToken))
			issued.Tokens = append(issued.Tokens, store.OAuth2Token{
				Hash: hash[:], Kind: store.TokenKindRefresh, TokenID: randomString(16), ClientID: c.ClientID,
				Subject: g.Subject, Scope: scope, Audiences: p.audiences(c), IssuedAt: now, ExpiresAt: refreshExp,
			})
		}
	}
	if slices.Contains(scopeList(scope), ScopeOpenID) {
		// The nonce is sent only with the first ID token: OpenID Connect Core
		// §12.2 has refreshed ID tokens omit it.
		nonce := g.Nonce
		if refreshing {
			nonce = ""
		}
		g.Claims = filterClaims(g.Claims, scopeList(scope))
		if resp.IDToken, err = p.idToken(ctx, c, g, nonce, at.token, ""); err != nil {
			return TokenResponse{}, err
		}
	}
	return resp, nil
}

// revokeGrant revokes a grant and everything issued from it, and updates
// this replica's revoked-JWT copy at once. Failures are logged: the caller
// is already refusing the request.
func (p *Provider) revokeGrant(ctx context.Context, grantID, why string) {
	jtis, err := p.store.RevokeOAuth2Grant(ctx, grantID)
	if err != nil {
		p.log.ErrorContext(ctx, "op: revoke grant failed", "grant", grantID, "reason", why, "error", err)
		return
	}
	for _, j := range jtis {
		p.revoked.add(j.JTI, j.ExpiresAt)
	}
	p.log.WarnContext(ctx, "op: grant revoked", "grant", grantID, "reason", why, "jwts", len(jtis))
}
