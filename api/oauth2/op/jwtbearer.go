package op

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// GrantJWTBearer is the JWT bearer authorization grant (RFC 7523 §2.1).
const GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// jwtBearer serves RFC 7523 §2.1: the assertion must come from an issuer the
// client trusts, be signed by one of that issuer's keys (asymmetric
// algorithms only), name this server in aud, expire soon, and carry a jti
// not used before; its sub names a local user of the client's organization
// by username or id, as the issuer is configured. Every failure is the
// same invalid_grant.
func (p *Provider) jwtBearer(ctx context.Context, c store.OAuth2Client, req TokenRequest) (TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantJWTBearer) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the JWT bearer grant")
	}
	if req.Assertion == "" {
		return TokenResponse{}, ErrInvalidRequest("assertion is required")
	}
	allowed, err := p.allowedScopes(ctx, c, req.Scope)
	if err != nil {
		return TokenResponse{}, err
	}
	scope, err := grantScope(req.Scope, allowed)
	if err != nil {
		return TokenResponse{}, err
	}
	invalid := ErrInvalidGrant("invalid assertion")
	tok, err := jwt.ParseSigned(req.Assertion, asymmetricAlgs)
	if err != nil {
		return TokenResponse{}, invalid.WithCause(err)
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return TokenResponse{}, invalid.WithCause(err)
	}
	i := slices.IndexFunc(c.JWTBearerIssuers, func(i store.JWTBearerIssuer) bool { return i.Issuer == unverified.Issuer })
	if i < 0 {
		return TokenResponse{}, invalid.WithCause(fmt.Errorf("issuer %q is not trusted by the client", unverified.Issuer))
	}
	iss := c.JWTBearerIssuers[i]
	// The issuer's keys are checked like a client's own.
	keyHolder := store.OAuth2Client{ClientID: c.ClientID, JWKS: iss.JWKS, JWKSURI: iss.JWKSURI}
	var claims assertionClaims
	if err := p.verifyWithClientKeys(ctx, keyHolder, tok, &claims); err != nil {
		return TokenResponse{}, invalid.WithCause(err)
	}
	if err := p.checkAssertion(claims, iss.Issuer); err != nil {
		return TokenResponse{}, invalid.WithCause(err)
	}
	// jtis of foreign issuers get their own namespace among the client's.
	sum := sha256.Sum256([]byte(iss.Issuer + "\x00" + claims.ID))
	err = p.store.UseOAuth2AssertionJTI(ctx, c.ClientID, "bearer:"+hex.EncodeToString(sum[:]), claims.Expiry.Time())
	if errors.Is(err, store.ErrConflict) {
		return TokenResponse{}, invalid.WithCause(errors.New("assertion replayed (jti used)"))
	}
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: record assertion jti: %w", err))
	}
	u, err := p.bearerSubject(ctx, c, iss, claims.Subject)
	if err != nil {
		return TokenResponse{}, err
	}
	return p.issueForUser(ctx, c, connectors.User{ID: u.ID, Username: u.Username}, scope, nil)
}

// bearerSubject maps an assertion's sub to an active local user.
func (p *Provider) bearerSubject(ctx context.Context, c store.OAuth2Client, iss store.JWTBearerIssuer, sub string) (store.User, error) {
	invalid := ErrInvalidGrant("invalid assertion")
	var (
		u   store.User
		err error
	)
	if iss.SubjectType == store.SubjectUserID {
		u, err = p.store.UserByID(ctx, c.OrgID, sub)
	} else {
		domain, name := "", sub
		if d, n, ok := strings.Cut(sub, "/"); ok && d != "" && n != "" {
			domain, name = d, n
		}
		u, err = p.store.UserByUsername(ctx, c.OrgID, domain, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, invalid.WithCause(fmt.Errorf("no local user for sub %q", sub))
	}
	if err != nil {
		return store.User{}, ToError(fmt.Errorf("op: user of assertion: %w", err))
	}
	if u.Disabled || u.Status != store.UserActive || u.LockedAt(p.now()) {
		return store.User{}, invalid.WithCause(fmt.Errorf("user %s is disabled, inactive or locked", u.ID))
	}
	return u, nil
}

// validateBearerIssuers checks the trusted issuers of a client.
func validateBearerIssuers(l []store.JWTBearerIssuer) error {
	seen := map[string]bool{}
	for _, i := range l {
		switch {
		case i.Issuer == "" || seen[i.Issuer]:
			return ErrInvalidRequest("JWT bearer issuers must be non-empty and distinct")
		case (len(i.JWKS) == 0) == (i.JWKSURI == ""):
			return ErrInvalidRequest("JWT bearer issuer %q needs exactly one of jwks and jwks_uri", i.Issuer)
		case i.SubjectType != store.SubjectUsername && i.SubjectType != store.SubjectUserID:
			return ErrInvalidRequest("JWT bearer issuer %q: subject type must be %q or %q", i.Issuer,
				store.SubjectUsername, store.SubjectUserID)
		}
		seen[i.Issuer] = true
		if len(i.JWKS) > 0 {
			set, err := parseJWKS(i.JWKS)
			if err != nil || len(set.Keys) == 0 {
				return ErrInvalidRequest("JWT bearer issuer %q: jwks: unusable (%v)", i.Issuer, err)
			}
		} else if err := validateJWKSURI(i.JWKSURI); err != nil {
			return ErrInvalidRequest("JWT bearer issuer %q: jwks_uri: %v", i.Issuer, err)
		}
	}
	return nil
}
