package op

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// GrantPassword is the resource owner password credentials grant (RFC 6749
// §4.3). It is off unless the client lists it and Config.Passwords is set.
const GrantPassword = "password"

// TokenGrantTypes lists the grant types the token endpoint serves with this
// configuration (for grant_types_supported); the browser ones are listed by
// the edge only while an authorization endpoint is served.
func (p *Provider) TokenGrantTypes() []string {
	out := []string{GrantClientCredentials, GrantJWTBearer, GrantTokenExchange}
	if p.passwords != nil {
		out = append(out, GrantPassword)
	}
	return out
}

// passwordGrant serves RFC 6749 §4.3: the username and password are checked
// by the BasicAuthenticator (argon2id, lockout) of the client's
// organization. Unknown users, wrong passwords, locked and disabled
// accounts all get the same invalid_grant, so the endpoint does not tell
// which usernames exist. A refresh token is issued when the client may use
// the refresh_token grant, an ID token when openid is granted.
func (p *Provider) passwordGrant(ctx context.Context, c store.OAuth2Client, req TokenRequest) (TokenResponse, error) {
	if p.passwords == nil {
		return TokenResponse{}, ErrUnsupportedGrantType("grant type %q is not supported", req.GrantType)
	}
	if !slices.Contains(c.GrantTypes, GrantPassword) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the password grant")
	}
	if req.Username == "" || req.Password == "" {
		return TokenResponse{}, ErrInvalidRequest("username and password are required")
	}
	allowed, err := p.allowedScopes(ctx, c, req.Scope)
	if err != nil {
		return TokenResponse{}, err
	}
	scope, err := grantScope(req.Scope, allowed)
	if err != nil {
		return TokenResponse{}, err
	}
	org, err := p.store.OrganizationByID(ctx, c.OrgID)
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: organization of client: %w", err))
	}
	out, err := p.passwords.Process(ctx, connectors.ProcessInput{
		StepContext: connectors.StepContext{TenantDomain: org.Handle, ApplicationID: c.ClientID, Step: 1,
			IdP: connectors.LocalIdP},
		Params:  map[string]string{"username": req.Username, "password": req.Password},
		Attempt: 1,
	})
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: password check: %w", err))
	}
	if out.Status != connectors.StatusSuccess || out.User == nil {
		return TokenResponse{}, ErrInvalidGrant("invalid resource owner credentials").
			WithCause(fmt.Errorf("password grant refused: %s", out.Reason))
	}
	return p.issueForUser(ctx, c, *out.User, scope, []string{connectors.BasicAuthenticator})
}

// issueForUser records a grant for a user authenticated at the token
// endpoint and issues its tokens (access, refresh when allowed, ID token
// with openid), all stored in one transaction.
func (p *Provider) issueForUser(ctx context.Context, c store.OAuth2Client, u connectors.User, scope string, amr []string) (TokenResponse, error) {
	sub := u.ID
	if sub == "" {
		sub = u.Username
	}
	var local map[string]string
	if u.ID != "" {
		var err error
		local, err = p.store.UserClaims(ctx, u.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return TokenResponse{}, ToError(fmt.Errorf("op: claims of %s: %w", u.ID, err))
		}
	}
	scope, err := p.userScope(ctx, c, sub, scope)
	if err != nil {
		return TokenResponse{}, err
	}
	claims, err := p.grantClaims(ctx, c, sub, local, scopeList(scope))
	if err != nil {
		return TokenResponse{}, err
	}
	now := p.now().Truncate(time.Second)
	grant := store.OAuth2Grant{
		ID: randomString(18), ClientID: c.ClientID, Subject: sub, Scope: scope,
		Claims: claims, AMR: amr, AuthTime: now,
		ExpiresAt: now.Add(c.AccessTokenLifetime),
	}
	if slices.Contains(c.GrantTypes, GrantRefreshToken) {
		grant.ExpiresAt = grant.ExpiresAt.Add(c.RefreshTokenLifetime)
	}
	ng := store.NewOAuth2Grant{Grant: grant}
	resp, err := p.issueFromGrant(ctx, c, grant, scope, time.Time{}, &ng.Issued)
	if err != nil {
		return TokenResponse{}, err
	}
	if err := p.store.CreateOAuth2Grant(ctx, ng); err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: store grant: %w", err))
	}
	return resp, nil
}

// CheckPassword checks a username ([DOMAIN/]name) and password of the organization with handle
// orgHandle exactly as the password grant does — the login's BasicAuthenticator, so failures
// are counted, accounts lock, locked, disabled, expired and reset-pending accounts are refused
// and secondary user stores are asked. ok is false for any refusal (the reason is not told, as
// at the token endpoint); err is a failure to decide. Management APIs use it for HTTP Basic.
func (p *Provider) CheckPassword(ctx context.Context, orgHandle, username, password string) (userID string, ok bool, err error) {
	if p.passwords == nil {
		return "", false, errors.New("op: check password: no password authenticator configured")
	}
	userID, ok, err = connectors.CheckPassword(ctx, p.passwords, orgHandle, username, password)
	if err != nil {
		return "", false, fmt.Errorf("op: check password: %w", err)
	}
	return userID, ok, nil
}
