package op

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// Defaults applied by New.
const (
	DefaultClientCacheTTL         = 5 * time.Second
	DefaultRevocationSyncInterval = 2 * time.Second
	DefaultAccessTokenLifetime    = time.Hour
	// DefaultCodeLifetime: authorization codes are exchanged right after the
	// redirect; RFC 6749 §4.1.2 recommends at most ten minutes.
	DefaultCodeLifetime = time.Minute
	// MinPepperLength is the shortest accepted secret pepper (bytes).
	MinPepperLength = 32
)

// Store is what the provider needs from the database (a *store.Store).
type Store interface {
	// OAuth2Client returns a client or store.ErrNotFound.
	OAuth2Client(ctx context.Context, clientID string) (store.OAuth2Client, error)
	// CreateOAuth2Client stores a client (store.ErrConflict if the id is taken).
	CreateOAuth2Client(ctx context.Context, nc store.NewOAuth2Client) (store.OAuth2Client, error)
	// CreateOAuth2Token stores an opaque token by hash.
	CreateOAuth2Token(ctx context.Context, t store.OAuth2Token) error
	// OAuth2TokenByHash finds an opaque token (store.ErrNotFound if none).
	OAuth2TokenByHash(ctx context.Context, hash []byte) (store.OAuth2Token, error)
	// RevokeOAuth2Token marks an opaque token revoked.
	RevokeOAuth2Token(ctx context.Context, hash []byte) error
	// RevokeOAuth2JTI records a revoked JWT until it expires.
	RevokeOAuth2JTI(ctx context.Context, r store.RevokedJTI) error
	// RevokedOAuth2JTIs lists unexpired revoked JWTs recorded after since.
	RevokedOAuth2JTIs(ctx context.Context, since time.Time) ([]store.RevokedJTI, error)
	// CreateOAuth2Grant stores a grant with its code and tokens, atomically.
	CreateOAuth2Grant(ctx context.Context, ng store.NewOAuth2Grant) error
	// OAuth2Grant returns a grant (store.ErrNotFound if none).
	OAuth2Grant(ctx context.Context, id string) (store.OAuth2Grant, error)
	// OAuth2GrantByJTI returns the grant a JWT access token came from.
	OAuth2GrantByJTI(ctx context.Context, jti string) (store.OAuth2Grant, error)
	// OAuth2CodeByHash returns a code and its grant (store.ErrNotFound if none).
	OAuth2CodeByHash(ctx context.Context, hash []byte) (store.OAuth2Code, store.OAuth2Grant, error)
	// RedeemOAuth2Code marks a code used and stores what it issued
	// (store.ErrConflict if it was used already).
	RedeemOAuth2Code(ctx context.Context, hash []byte, issued store.OAuth2Issued) error
	// RotateOAuth2RefreshToken revokes a refresh token and stores what
	// replaced it (store.ErrConflict if it was revoked already).
	RotateOAuth2RefreshToken(ctx context.Context, oldHash []byte, issued store.OAuth2Issued) error
	// RevokeOAuth2Grant revokes a grant and its tokens, returning the
	// revoked JWT ids.
	RevokeOAuth2Grant(ctx context.Context, grantID string) ([]store.RevokedJTI, error)
	// RevokeOAuth2SessionGrants revokes the grants made in an SSO session
	// (except offline_access ones), returning the revoked JWT ids.
	RevokeOAuth2SessionGrants(ctx context.Context, sessionID string) ([]store.RevokedJTI, error)
	// UseOAuth2AssertionJTI records a used client assertion until it
	// expires (store.ErrConflict if it was used already).
	UseOAuth2AssertionJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error
	// OrganizationByID returns an organization (store.ErrNotFound if none).
	OrganizationByID(ctx context.Context, id string) (store.Organization, error)
	// UserClaims returns a user's local claims by claim URI.
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
	// UserByID and UserByUsername find a user of an organization
	// (store.ErrNotFound if none).
	UserByID(ctx context.Context, orgID, id string) (store.User, error)
	UserByUsername(ctx context.Context, orgID, domain, username string) (store.User, error)
	// AddOAuth2GrantIssued records tokens derived from a grant
	// (store.ErrConflict if it was revoked).
	AddOAuth2GrantIssued(ctx context.Context, grantID string, issued store.OAuth2Issued) error
	// Device authorization requests (RFC 8628); see store.
	CreateOAuth2DeviceCode(ctx context.Context, d store.OAuth2DeviceCode) error
	OAuth2DeviceCodeByUserCode(ctx context.Context, userCode string) (store.OAuth2DeviceCode, error)
	PollOAuth2DeviceCode(ctx context.Context, hash []byte, now time.Time) (store.OAuth2DeviceCode, bool, error)
	ApproveOAuth2DeviceCode(ctx context.Context, userCode string, now time.Time, ng store.NewOAuth2Grant) error
	DenyOAuth2DeviceCode(ctx context.Context, userCode string, now time.Time) error
	RedeemOAuth2DeviceCode(ctx context.Context, hash []byte, issued store.OAuth2Issued) error
	// CreateOAuth2PushedRequest stores a pushed authorization request
	// (RFC 9126); TakeOAuth2PushedRequest deletes and returns an unexpired
	// one (store.ErrNotFound if none).
	CreateOAuth2PushedRequest(ctx context.Context, r store.OAuth2PushedRequest) error
	TakeOAuth2PushedRequest(ctx context.Context, hash []byte, now time.Time) (store.OAuth2PushedRequest, error)
}

// PasswordAuthenticator checks a username and password with lockout (a
// *basic.Authenticator, WSO2's BasicAuthenticator), for the resource owner
// password grant.
type PasswordAuthenticator interface {
	// Process verifies Params "username" and "password" in the tenant
	// StepContext.TenantDomain.
	Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error)
}

// Keys signs and verifies JWTs (a *jwtkeys.Manager).
type Keys interface {
	// Sign returns a compact JWS of payload signed with alg's current key.
	Sign(ctx context.Context, alg, typ string, payload []byte) (string, error)
	// Verify returns the payload of a JWS signed by a published key with
	// the given typ; any error means untrusted.
	Verify(ctx context.Context, token, typ string) ([]byte, error)
	// Algorithms lists the algorithms with keys, the default first.
	Algorithms() []string
}

// Config configures New.
type Config struct {
	Store Store
	Keys  Keys
	// Issuer is the iss of every token: an absolute https URL (http only for
	// loopback hosts) without query or fragment. WSO2's default is
	// {base}/oauth2/token, which its SDKs expect.
	Issuer string
	// SecretPepper keys the HMAC-SHA256 of client secrets: at least
	// MinPepperLength bytes, from configuration, never stored in the
	// database. Changing it invalidates every client secret.
	SecretPepper []byte
	// ClientCacheTTL is how long a client read from the store is reused;
	// default DefaultClientCacheTTL, negative disables the cache. A change
	// takes effect at once where (*store.Store).ListenOAuth2Clients runs for
	// this provider (it calls InvalidateClient), and within the TTL otherwise.
	ClientCacheTTL time.Duration
	// RevocationSyncInterval is how often the revoked-JWT list is refreshed
	// from the store; default DefaultRevocationSyncInterval. A JWT revoked
	// through another replica stays active here for up to this long.
	RevocationSyncInterval time.Duration
	// CodeLifetime is how long an authorization code may be exchanged;
	// default DefaultCodeLifetime.
	CodeLifetime time.Duration
	// ClaimMappings maps OpenID Connect claims to local claim URIs for ID
	// tokens and userinfo; default DefaultClaimMappings().
	ClaimMappings map[string]string
	// ClaimDialects, when set, supplies each organization's mappings from its OIDC claim
	// dialect (OIDCDialect, managed through the claim API), read at most every 30 s;
	// ClaimMappings is then the fallback.
	ClaimDialects ClaimDialects
	// TokenEndpoint is the absolute URL of the token endpoint: client
	// assertions may name it (or the issuer) as their audience. Empty
	// accepts only the issuer.
	TokenEndpoint string
	// HTTPClient fetches clients' jwks_uri documents; default a client with
	// JWKSFetchTimeout that does not follow redirects and has no address
	// policy. cmd/keyflow passes an egress.Policy client: a jwks_uri at a
	// refused address fails client authentication (invalid_client) and is
	// logged as a warning.
	HTTPClient *http.Client
	// JWKSCacheTTL is how long a fetched jwks_uri document is reused;
	// default DefaultJWKSCacheTTL.
	JWKSCacheTTL time.Duration
	// Passwords verifies the resource owner password grant; nil disables
	// the grant whatever the clients' configuration.
	Passwords PasswordAuthenticator
	// PushedRequestLifetime is how long a pushed authorization request's
	// request_uri may be used (RFC 9126); default
	// DefaultPushedRequestLifetime, at most MaxPushedRequestLifetime.
	PushedRequestLifetime time.Duration
	// RequirePushedAuthorizationRequests refuses authorization requests
	// that do not come through the pushed authorization request endpoint
	// (RFC 9126 §5), for every client.
	RequirePushedAuthorizationRequests bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards. Tokens and secrets are never logged.
	Logger *slog.Logger
}

// Provider is the OAuth2 provider's fast path: client authentication, the
// token endpoint's store-only grants, introspection and revocation. It is
// safe for concurrent use.
type Provider struct {
	store   Store
	keys    Keys
	issuer  string
	secrets secretHasher
	clients *clientCache
	revoked *revocations
	claims  *dialectMappers
	// codeLifetime: see Config.CodeLifetime.
	codeLifetime  time.Duration
	tokenEndpoint string
	sealer        secretSealer
	jwks          *jwksCache
	passwords     PasswordAuthenticator
	parLifetime   time.Duration
	requirePAR    bool
	now           func() time.Time
	log           *slog.Logger
}

// New validates cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("op: Config.Store is required")
	case cfg.Keys == nil:
		return nil, errors.New("op: Config.Keys is required")
	case len(cfg.Keys.Algorithms()) == 0:
		return nil, errors.New("op: Config.Keys has no algorithms")
	case len(cfg.SecretPepper) < MinPepperLength:
		return nil, fmt.Errorf("op: Config.SecretPepper: need at least %d bytes", MinPepperLength)
	case cfg.RevocationSyncInterval < 0:
		return nil, errors.New("op: Config.RevocationSyncInterval is negative")
	case cfg.CodeLifetime < 0 || cfg.CodeLifetime > 10*time.Minute:
		return nil, errors.New("op: Config.CodeLifetime must be between 0 (default) and 10 minutes (RFC 6749 §4.1.2)")
	}
	if cfg.PushedRequestLifetime < 0 || cfg.PushedRequestLifetime > MaxPushedRequestLifetime {
		return nil, fmt.Errorf("op: Config.PushedRequestLifetime must be between 0 (default) and %v", MaxPushedRequestLifetime)
	}
	if cfg.PushedRequestLifetime == 0 {
		cfg.PushedRequestLifetime = DefaultPushedRequestLifetime
	}
	if cfg.CodeLifetime == 0 {
		cfg.CodeLifetime = DefaultCodeLifetime
	}
	if err := validateIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("op: Config.Issuer: %w", err)
	}
	if cfg.ClientCacheTTL == 0 {
		cfg.ClientCacheTTL = DefaultClientCacheTTL
	}
	if cfg.RevocationSyncInterval == 0 {
		cfg.RevocationSyncInterval = DefaultRevocationSyncInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TokenEndpoint != "" {
		if err := validateIssuer(cfg.TokenEndpoint); err != nil {
			return nil, fmt.Errorf("op: Config.TokenEndpoint: %w", err)
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newJWKSHTTPClient()
	}
	if cfg.JWKSCacheTTL <= 0 {
		cfg.JWKSCacheTTL = DefaultJWKSCacheTTL
	}
	p := &Provider{
		store: cfg.Store, keys: cfg.Keys, issuer: cfg.Issuer,
		secrets: newSecretHasher(cfg.SecretPepper),
		now:     cfg.Now, log: cfg.Logger,
		claims:        &dialectMappers{src: cfg.ClaimDialects, fallback: newClaimMapper(cfg.ClaimMappings), log: cfg.Logger, now: cfg.Now},
		codeLifetime:  cfg.CodeLifetime,
		tokenEndpoint: cfg.TokenEndpoint, sealer: newSecretSealer(cfg.SecretPepper), passwords: cfg.Passwords,
		parLifetime: cfg.PushedRequestLifetime, requirePAR: cfg.RequirePushedAuthorizationRequests,
		jwks: &jwksCache{ttl: cfg.JWKSCacheTTL, client: cfg.HTTPClient, now: cfg.Now, log: cfg.Logger, sets: map[string]cachedJWKS{}},
	}
	p.clients = newClientCache(cfg.ClientCacheTTL, cfg.Now)
	p.revoked = &revocations{store: cfg.Store, interval: cfg.RevocationSyncInterval, now: cfg.Now,
		log: cfg.Logger, jtis: map[string]time.Time{}}
	return p, nil
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.issuer }

// SigningAlgorithms lists the algorithms tokens can be signed with, the
// default first (for id_token_signing_alg_values_supported).
func (p *Provider) SigningAlgorithms() []string { return p.keys.Algorithms() }

// ClaimsSupported lists the OpenID Connect claims this provider can return
// (for claims_supported).
func (p *Provider) ClaimsSupported() []string {
	out := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash", "c_hash"}
	for _, s := range oidcScopes() {
		out = append(out, scopeClaims(s)...)
	}
	return out
}

func validateIssuer(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case !u.IsAbs() || u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", s)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a query or fragment (OpenID Connect Discovery §3)", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: scheme must be https (http only on loopback)", s)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
