package op

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// TokenRequest is a token endpoint request (RFC 6749 §4.1.3, §4.4.2, §6),
// parsed by the HTTP edge. Client authentication travels separately.
type TokenRequest struct {
	GrantType    string
	Scope        string // space-separated, as sent
	Code         string // authorization_code
	RedirectURI  string // authorization_code
	CodeVerifier string // authorization_code, RFC 7636 §4.5
	RefreshToken string // refresh_token
	Username     string // password (RFC 6749 §4.3.2)
	Password     string // password; never logged
	Assertion    string // JWT bearer (RFC 7523 §2.1)
	// Token exchange (RFC 8693 §2.1); one audience and one resource.
	SubjectToken       string
	SubjectTokenType   string
	ActorToken         string
	ActorTokenType     string
	RequestedTokenType string
	Audience           string
	Resource           string
	DeviceCode         string // RFC 8628 §3.4
}

// TokenResponse is a successful token response (RFC 6749 §5.1, OpenID
// Connect Core §3.1.3.3).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// IssuedTokenType: token exchange responses (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Token serves the token endpoint: it authenticates the client and runs the
// grant: client_credentials, authorization_code, refresh_token, password,
// JWT bearer, token exchange or device code.
func (p *Provider) Token(ctx context.Context, cc ClientCredentials, req TokenRequest) (TokenResponse, error) {
	if req.GrantType == "" {
		return TokenResponse{}, ErrInvalidRequest("grant_type is required")
	}
	client, err := p.AuthenticateClient(ctx, cc)
	if err != nil {
		return TokenResponse{}, err
	}
	switch req.GrantType {
	case GrantClientCredentials:
		return p.clientCredentials(ctx, client, cc, req)
	case GrantAuthorizationCode:
		return p.authorizationCode(ctx, client, req)
	case GrantRefreshToken:
		return p.refreshToken(ctx, client, req)
	case GrantPassword:
		return p.passwordGrant(ctx, client, req)
	case GrantJWTBearer:
		return p.jwtBearer(ctx, client, req)
	case GrantTokenExchange:
		return p.exchangeToken(ctx, client, cc, req)
	case GrantDeviceCode:
		return p.deviceCode(ctx, client, req)
	default:
		return TokenResponse{}, ErrUnsupportedGrantType("grant type %q is not supported", req.GrantType)
	}
}

// clientCredentials issues an access token to the client itself (RFC 6749
// §4.4). sub is the client id (RFC 9068 §2.2). No refresh token (§4.4.3).
func (p *Provider) clientCredentials(ctx context.Context, c store.OAuth2Client, cc ClientCredentials, req TokenRequest) (TokenResponse, error) {
	if cc.Method == AuthNone || c.Public {
		// §4.4: the client credentials grant MUST only be used by confidential clients.
		return TokenResponse{}, ErrUnauthorizedClient("client_credentials requires client authentication")
	}
	if !slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the client_credentials grant")
	}
	allowed, err := p.allowedScopes(ctx, c, req.Scope)
	if err != nil {
		return TokenResponse{}, err
	}
	scope, err := grantScope(req.Scope, allowed)
	if err != nil {
		return TokenResponse{}, err
	}
	return p.issueAccessToken(ctx, c, c.ClientID, scope)
}

// grantScope decides the granted scope (RFC 6749 §3.3): no request means
// everything the client may have; otherwise the requested scopes the client
// may have, others silently dropped (as WSO2 does; the response's scope
// tells the client what it got). A malformed scope is invalid_scope.
func grantScope(requested string, allowed []string) (string, error) {
	if requested == "" {
		return strings.Join(allowed, " "), nil
	}
	var granted []string
	for _, s := range strings.Split(requested, " ") {
		if !validScopeToken(s) {
			return "", ErrInvalidScope("malformed scope (RFC 6749 §3.3)")
		}
		if slices.Contains(allowed, s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return strings.Join(granted, " "), nil
}

// validScopeToken: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return false
		}
	}
	return true
}

// accessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2).
type accessTokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	// Act is the acting party of a delegated token (RFC 8693 §4.1).
	Act *actClaim `json:"act,omitempty"`
	// Groups and Roles are the user's, as in the ID token, when the groups
	// and roles scopes are granted (memberships.go).
	Groups []string `json:"groups,omitempty"`
	Roles  []string `json:"roles,omitempty"`
}

// actClaim is RFC 8693 §4.1's act: the current actor, the prior ones nested.
type actClaim struct {
	Subject  string    `json:"sub"`
	ClientID string    `json:"client_id,omitempty"`
	Act      *actClaim `json:"act,omitempty"`
}

// audience is "aud": a string when there is one, an array otherwise (RFC
// 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func (p *Provider) audiences(c store.OAuth2Client) []string {
	if len(c.Audiences) == 0 {
		return []string{c.ClientID}
	}
	return c.Audiences
}

// issueAccessToken mints an access token for a client_credentials grant:
// a JWT (no database write) or an opaque token (stored hashed).
func (p *Provider) issueAccessToken(ctx context.Context, c store.OAuth2Client, subject, scope string) (TokenResponse, error) {
	at, err := p.mintAccessToken(ctx, c, subject, scope)
	if err != nil {
		return TokenResponse{}, err
	}
	if at.opaque != nil {
		if err := p.store.CreateOAuth2Token(ctx, *at.opaque); err != nil {
			return TokenResponse{}, ToError(fmt.Errorf("op: store opaque token: %w", err))
		}
	}
	return TokenResponse{AccessToken: at.token, TokenType: "Bearer",
		ExpiresIn: int64(c.AccessTokenLifetime / time.Second), Scope: scope}, nil
}

// mintedToken is an access token and what must be stored about it.
type mintedToken struct {
	token  string
	jti    string
	exp    time.Time
	opaque *store.OAuth2Token // nil for a JWT
}

// record adds the token to what a grant issued: the opaque token row, or
// the JWT's jti (so that revoking the grant can revoke it).
func (m mintedToken) record(is *store.OAuth2Issued) {
	if m.opaque != nil {
		is.Tokens = append(is.Tokens, *m.opaque)
		return
	}
	is.JTIs = append(is.JTIs, store.OAuth2GrantJTI{JTI: m.jti, ExpiresAt: m.exp})
}

// mintAccessToken makes an access token in the client's format without
// storing anything.
func (p *Provider) mintAccessToken(ctx context.Context, c store.OAuth2Client, subject, scope string) (mintedToken, error) {
	return p.mintToken(ctx, c, tokenSpec{subject: subject, scope: scope})
}

// tokenSpec is what an access token says beyond its client's defaults.
type tokenSpec struct {
	subject, scope string
	// audience: nil means the client's audiences.
	audience []string
	// notAfter, when set, caps the expiry.
	notAfter time.Time
	// act is the delegation chain (RFC 8693 §4.1); JWT tokens only.
	act *actClaim
	// groups and roles are the user's groups and roles claims; JWT tokens only.
	groups, roles []string
}

// mintToken makes an access token in the client's format without storing
// anything.
func (p *Provider) mintToken(ctx context.Context, c store.OAuth2Client, spec tokenSpec) (mintedToken, error) {
	now := p.now().Truncate(time.Second)
	m := mintedToken{jti: randomString(16), exp: now.Add(c.AccessTokenLifetime)}
	if !spec.notAfter.IsZero() && spec.notAfter.Before(m.exp) {
		m.exp = spec.notAfter
	}
	aud := spec.audience
	if aud == nil {
		var err error
		if aud, err = p.withAPIAudiences(ctx, c, p.audiences(c), spec.scope); err != nil {
			return mintedToken{}, err
		}
	}
	switch c.TokenFormat {
	case store.TokenFormatOpaque:
		if spec.act != nil {
			return mintedToken{}, ErrServer(errors.New("op: opaque tokens cannot carry act"))
		}
		m.token = randomString(32)
		hash := sha256.Sum256([]byte(m.token))
		m.opaque = &store.OAuth2Token{
			Hash: hash[:], Kind: store.TokenKindAccess, TokenID: m.jti, ClientID: c.ClientID, Subject: spec.subject,
			Scope: spec.scope, Audiences: aud, IssuedAt: now, ExpiresAt: m.exp,
		}
	default:
		payload, err := json.Marshal(accessTokenClaims{
			Issuer: p.issuer, Subject: spec.subject, Audience: aud,
			ExpiresAt: m.exp.Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
			JTI: m.jti, ClientID: c.ClientID, Scope: spec.scope, Act: spec.act,
			Groups: spec.groups, Roles: spec.roles,
		})
		if err != nil {
			return mintedToken{}, ErrServer(err)
		}
		if m.token, err = p.keys.Sign(ctx, c.SigningAlg, jwtkeys.TypeAccessToken, payload); err != nil {
			return mintedToken{}, ErrServer(err)
		}
	}
	return m, nil
}
