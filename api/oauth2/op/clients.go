package op

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/store"
)

// Client authentication methods (OAuth 2.0 Dynamic Client Registration
// §2, token_endpoint_auth_method values).
const (
	AuthSecretBasic = "client_secret_basic" // RFC 6749 §2.3.1, HTTP Basic
	AuthSecretPost  = "client_secret_post"  // RFC 6749 §2.3.1, form parameters
	AuthNone        = "none"                // public client: client_id only
)

// Grant types a client may be configured with. Only client_credentials is
// served by this package so far; the others are accepted in configuration
// so that clients can be set up ahead of the login workflow.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	// GrantImplicit is not a token endpoint grant: as in WSO2, it allows the
	// response types that return tokens from the authorization endpoint
	// (token, id_token, id_token token).
	GrantImplicit = "implicit"
)

var knownGrants = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantImplicit, GrantPassword, GrantJWTBearer, GrantTokenExchange, GrantDeviceCode}

// ClientCredentials is what a request presented to authenticate its
// client, as parsed by the HTTP edge.
type ClientCredentials struct {
	ClientID string
	Secret   string
	// Assertion is the client_assertion (a JWT) when Method is
	// AuthClientAssertion; ClientID may then be empty (taken from its sub).
	Assertion string
	// Method is how they were presented: AuthSecretBasic, AuthSecretPost,
	// AuthClientAssertion, or AuthNone when only a client_id was sent.
	Method string
}

// AuthenticateClient authenticates a client (RFC 6749 §2.3). Confidential
// clients must present their secret (Basic or post); public clients present
// only their id. Every failure is invalid_client with the same description,
// and the secret comparison costs the same whether or not the client exists,
// so responses do not tell which client ids exist.
func (p *Provider) AuthenticateClient(ctx context.Context, cc ClientCredentials) (store.OAuth2Client, error) {
	fail := ErrInvalidClient("client authentication failed")
	if cc.Method == AuthClientAssertion {
		return p.authenticateAssertion(ctx, cc)
	}
	if cc.ClientID == "" {
		return store.OAuth2Client{}, ErrInvalidClient("client authentication required")
	}
	c, err := p.client(ctx, cc.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		p.secrets.verify(cc.Secret, "") // same work as for a real client
		return store.OAuth2Client{}, fail.WithCause(err)
	}
	if err != nil {
		return store.OAuth2Client{}, ToError(err)
	}
	switch cc.Method {
	case AuthSecretBasic, AuthSecretPost:
		if c.Public {
			p.secrets.verify(cc.Secret, "")
			return store.OAuth2Client{}, fail.WithCause(errors.New("public client presented a secret"))
		}
		if !p.secrets.verify(cc.Secret, c.SecretHash) {
			return store.OAuth2Client{}, fail.WithCause(errors.New("wrong secret"))
		}
		if jwtAuth(c.TokenEndpointAuthMethod) {
			// A client registered for JWT authentication uses only that.
			return store.OAuth2Client{}, fail.WithCause(errors.New("client must authenticate with a JWT assertion"))
		}
	case AuthNone:
		if !c.Public {
			return store.OAuth2Client{}, fail.WithCause(errors.New("confidential client sent no secret"))
		}
	default:
		return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("unknown method %q", cc.Method))
	}
	return c, nil
}

func jwtAuth(method string) bool { return method == AuthSecretJWT || method == AuthPrivateKeyJWT }

// client reads a client through the cache.
func (p *Provider) client(ctx context.Context, id string) (store.OAuth2Client, error) {
	if c, ok := p.clients.get(id); ok {
		return c, nil
	}
	gen := p.clients.generation()
	c, err := p.store.OAuth2Client(ctx, id)
	if err != nil {
		return store.OAuth2Client{}, err
	}
	p.clients.put(c, gen)
	return c, nil
}

// InvalidateClient makes the provider read the client with this id from the store again
// on its next use: it was changed or deleted. It never blocks on the database.
// (*store.Store).ListenOAuth2Clients calls it for changes made by any replica.
func (p *Provider) InvalidateClient(clientID string) { p.clients.invalidate(clientID) }

// InvalidateClients is InvalidateClient for every client (changes may have been missed).
func (p *Provider) InvalidateClients() { p.clients.flush() }

var _ store.OAuth2ClientCache = (*Provider)(nil)

// clientCache keeps clients read from the store, so that client authentication on the hot
// path needs no query. Only clients that exist are cached, so its size is bounded by the
// number of clients. Entries are dropped when the store reports a change (InvalidateClient)
// and, as a safety net for a missed report, after the TTL.
//
// Reads (get) take no lock. A read of the store that was under way when a client was
// invalidated may return the old client; put drops it, as it does any client read before the
// latest invalidation (gen), so that an invalidation is never undone by a slow reader.
type clientCache struct {
	ttl     time.Duration // negative: disabled
	now     func() time.Time
	entries sync.Map // client id → *cachedClient

	mu  sync.Mutex    // orders put against invalidate and flush
	gen atomic.Uint64 // incremented by every invalidation, under mu
}

type cachedClient struct {
	client  store.OAuth2Client
	fetched time.Time
}

func newClientCache(ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{ttl: ttl, now: now}
}

func (cc *clientCache) get(id string) (store.OAuth2Client, bool) {
	if cc.ttl < 0 {
		return store.OAuth2Client{}, false
	}
	v, ok := cc.entries.Load(id)
	if !ok {
		return store.OAuth2Client{}, false
	}
	e := v.(*cachedClient)
	if cc.now().Sub(e.fetched) >= cc.ttl {
		return store.OAuth2Client{}, false
	}
	return e.client, true
}

// generation is the invalidation count to pass to put for a client read after this call.
func (cc *clientCache) generation() uint64 { return cc.gen.Load() }

// put caches c, read from the store after generation returned gen, unless a client was
// invalidated since: c may then predate the change.
func (cc *clientCache) put(c store.OAuth2Client, gen uint64) {
	if cc.ttl < 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.gen.Load() != gen {
		return
	}
	cc.entries.Store(c.ClientID, &cachedClient{client: c, fetched: cc.now()})
}

func (cc *clientCache) invalidate(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen.Add(1)
	cc.entries.Delete(id)
}

func (cc *clientCache) flush() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.gen.Add(1)
	cc.entries.Clear()
}

// secretHasher hashes client secrets with HMAC-SHA256 keyed by a server
// pepper. Client secrets are server-generated and high-entropy (256 bits),
// so a slow password hash (argon2) would add nothing but cost on every
// client_credentials request; the pepper keeps a stolen database from
// allowing offline checks. Stored form: "hmac-sha256$<pepper id>$<base64url>".
type secretHasher struct {
	pepper   []byte
	pepperID string
}

const secretHashPrefix = "hmac-sha256$"

func newSecretHasher(pepper []byte) secretHasher {
	sum := sha256.Sum256(pepper)
	return secretHasher{pepper: slices.Clone(pepper), pepperID: hex.EncodeToString(sum[:4])}
}

func (h secretHasher) mac(secret string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func (h secretHasher) hash(secret string) string {
	return secretHashPrefix + h.pepperID + "$" + base64.RawURLEncoding.EncodeToString(h.mac(secret))
}

// verify reports whether secret matches stored, in constant time for
// equal-length input. An empty stored hash never matches (the MAC is still
// computed, so timing does not reveal it).
func (h secretHasher) verify(secret, stored string) bool {
	got := h.mac(secret)
	rest, ok := strings.CutPrefix(stored, secretHashPrefix)
	id, b64, ok2 := strings.Cut(rest, "$")
	want, err := base64.RawURLEncoding.DecodeString(b64)
	if !ok || !ok2 || err != nil || id != h.pepperID {
		want = make([]byte, len(got))
		hmac.Equal(got, want)
		return false
	}
	return hmac.Equal(got, want)
}

// newSecret returns a random client secret: 32 bytes, base64url.
func newSecret() string { return randomString(32) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewClient is the input of CreateClient.
type NewClient struct {
	OrgID string
	Name  string
	// ClientID is generated when empty.
	ClientID string
	// Public clients (SPAs, native apps) have no secret and cannot use
	// client_credentials.
	Public              bool
	GrantTypes          []string
	RedirectURIs        []string // absolute, no fragment; required for authorization_code
	Scopes              []string // scopes the client may be granted
	Audiences           []string // aud of its access tokens; default the client id
	TokenFormat         string   // store.TokenFormatJWT (default) or store.TokenFormatOpaque
	AccessTokenLifetime time.Duration
	SigningAlg          string // default: the keys' default algorithm
	// ResponseTypes allowed at the authorization endpoint; default derived
	// from GrantTypes (see store.OAuth2Client). Hybrid combinations ("code
	// id_token"…) must be listed explicitly, as WSO2's hybridFlow setting.
	ResponseTypes []string
	// PKCERequired: require PKCE from a confidential client too; public
	// clients always need it. PKCEAllowPlain: accept code_challenge_method
	// plain (S256 is always accepted).
	PKCERequired   bool
	PKCEAllowPlain bool
	// IDTokenSigningAlg: default SigningAlg.
	IDTokenSigningAlg    string
	IDTokenLifetime      time.Duration // default store.DefaultIDTokenLifetime
	RefreshTokenLifetime time.Duration // default store.DefaultRefreshTokenLifetime
	// SkipConsent: a first-party client whose users are not asked to consent.
	SkipConsent bool
	// PostLogoutRedirectURIs (RP-Initiated Logout 1.0 §3.1): absolute, no
	// fragment, compared exactly.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI (Back-Channel Logout 1.0 §2.2): absolute http(s)
	// URL without fragment receiving Logout Tokens; '' for none.
	// BackchannelLogoutSessionRequired: the tokens must carry sid.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// FrontchannelLogoutURI (Front-Channel Logout 1.0 §2): absolute http(s)
	// URL without fragment rendered in an iframe at logout; '' for none.
	// FrontchannelLogoutSessionRequired: it gets iss and sid parameters.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// TokenEndpointAuthMethod (RFC 7591 §2): '' (the secret methods, or
	// none for a public client), AuthSecretBasic, AuthSecretPost,
	// AuthSecretJWT or AuthPrivateKeyJWT. A private_key_jwt client gets no
	// secret and needs JWKS or JWKSURI.
	TokenEndpointAuthMethod string
	// TokenEndpointAuthSigningAlg: the only assertion algorithm accepted
	// ('' for any of AssertionSigningAlgorithms fitting the method).
	TokenEndpointAuthSigningAlg string
	// JWKS is the client's public JWK set (JSON), JWKSURI where to fetch it
	// (https; http only on loopback); at most one.
	JWKS    []byte
	JWKSURI string
	// JWTBearerIssuers are the issuers whose assertions the client may
	// exchange with GrantJWTBearer.
	JWTBearerIssuers []store.JWTBearerIssuer
	Actor            store.Actor
}

// CreateClient validates and stores a client. For a confidential client it
// generates the secret and returns it: this is the only time it exists in
// the clear, so the caller shows it once. Invalid configuration returns an
// invalid_request *Error (RFC 7591 would say invalid_client_metadata);
// store errors (ErrConflict for a taken id, ErrNotFound for an unknown
// organization) are wrapped.
func (p *Provider) CreateClient(ctx context.Context, nc NewClient) (store.OAuth2Client, string, error) {
	if nc.ClientID == "" {
		nc.ClientID = randomString(18)
	}
	if nc.TokenFormat == "" {
		nc.TokenFormat = store.TokenFormatJWT
	}
	if nc.AccessTokenLifetime == 0 {
		nc.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if nc.SigningAlg == "" {
		nc.SigningAlg = p.keys.Algorithms()[0]
	}
	if nc.IDTokenSigningAlg == "" {
		nc.IDTokenSigningAlg = nc.SigningAlg
	}
	if nc.IDTokenLifetime == 0 {
		nc.IDTokenLifetime = store.DefaultIDTokenLifetime
	}
	if nc.RefreshTokenLifetime == 0 {
		nc.RefreshTokenLifetime = store.DefaultRefreshTokenLifetime
	}
	nc.ResponseTypes = slices.Clone(nc.ResponseTypes)
	for i, rt := range nc.ResponseTypes {
		nc.ResponseTypes[i] = normalizeResponseType(rt)
	}
	if err := p.validateClient(nc); err != nil {
		return store.OAuth2Client{}, "", err
	}
	var secret, hash string
	var sealed []byte
	if !nc.Public && nc.TokenEndpointAuthMethod != AuthPrivateKeyJWT {
		secret = newSecret()
		hash = p.secrets.hash(secret)
	}
	if nc.TokenEndpointAuthMethod == AuthSecretJWT {
		// 64 characters: HS512 needs a key of at least 512 bits (RFC 7518 §3.2).
		secret = randomString(48)
		hash = p.secrets.hash(secret)
		sealed = p.sealer.seal(nc.ClientID, secret)
	}
	c, err := p.store.CreateOAuth2Client(ctx, store.NewOAuth2Client{
		OAuth2Client: store.OAuth2Client{
			ClientID: nc.ClientID, OrgID: nc.OrgID, Name: nc.Name, SecretHash: hash, Public: nc.Public,
			GrantTypes: nc.GrantTypes, RedirectURIs: nc.RedirectURIs, Scopes: nc.Scopes, Audiences: nc.Audiences,
			TokenFormat: nc.TokenFormat, AccessTokenLifetime: nc.AccessTokenLifetime, SigningAlg: nc.SigningAlg,
			ResponseTypes: nc.ResponseTypes, PKCERequired: nc.PKCERequired, PKCEAllowPlain: nc.PKCEAllowPlain,
			IDTokenSigningAlg: nc.IDTokenSigningAlg, IDTokenLifetime: nc.IDTokenLifetime,
			RefreshTokenLifetime: nc.RefreshTokenLifetime, SkipConsent: nc.SkipConsent,
			PostLogoutRedirectURIs: nc.PostLogoutRedirectURIs, BackchannelLogoutURI: nc.BackchannelLogoutURI,
			BackchannelLogoutSessionRequired:  nc.BackchannelLogoutSessionRequired,
			FrontchannelLogoutURI:             nc.FrontchannelLogoutURI,
			FrontchannelLogoutSessionRequired: nc.FrontchannelLogoutSessionRequired,
			TokenEndpointAuthMethod:           nc.TokenEndpointAuthMethod,
			TokenEndpointAuthSigningAlg:       nc.TokenEndpointAuthSigningAlg,
			JWKS:                              nc.JWKS,
			JWKSURI:                           nc.JWKSURI,
			SecretSealed:                      sealed,
			JWTBearerIssuers:                  nc.JWTBearerIssuers,
		},
		Actor: nc.Actor,
	})
	if err != nil {
		return store.OAuth2Client{}, "", fmt.Errorf("op: create client: %w", err)
	}
	return c, secret, nil
}

func (p *Provider) validateClient(nc NewClient) error {
	for _, g := range nc.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			return ErrInvalidRequest("unsupported grant type %q", g)
		}
	}
	if nc.Public && slices.Contains(nc.GrantTypes, GrantClientCredentials) {
		return ErrInvalidRequest("public clients cannot use client_credentials (RFC 6749 §4.4)")
	}
	browser := slices.Contains(nc.GrantTypes, GrantAuthorizationCode) || slices.Contains(nc.GrantTypes, GrantImplicit)
	if browser && len(nc.RedirectURIs) == 0 {
		return ErrInvalidRequest("authorization_code and implicit need at least one redirect URI")
	}
	for _, r := range nc.RedirectURIs {
		if pattern, ok := strings.CutPrefix(r, redirectRegexpPrefix); ok {
			if _, err := compileRedirectPattern(pattern); err != nil {
				return ErrInvalidRequest("redirect URI pattern %q does not compile: %v", r, err)
			}
			continue
		}
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") || unsafeScheme(u.Scheme) {
			return ErrInvalidRequest("redirect URI %q must be absolute and without fragment (RFC 6749 §3.1.2)", r)
		}
	}
	if err := validateLogoutMetadata(nc); err != nil {
		return err
	}
	if err := validateAuthMethod(nc); err != nil {
		return err
	}
	if err := validateBearerIssuers(nc.JWTBearerIssuers); err != nil {
		return err
	}
	for _, rt := range nc.ResponseTypes {
		need, ok := responseTypeGrant(rt)
		if !ok {
			return ErrInvalidRequest("unsupported response type %q", rt)
		}
		if !slices.Contains(nc.GrantTypes, need) {
			return ErrInvalidRequest("response type %q needs the %s grant", rt, need)
		}
	}
	if !slices.Contains(p.keys.Algorithms(), nc.IDTokenSigningAlg) {
		return ErrInvalidRequest("ID token signing algorithm %q has no keys", nc.IDTokenSigningAlg)
	}
	if nc.IDTokenLifetime < time.Second || nc.RefreshTokenLifetime < time.Second {
		return ErrInvalidRequest("token lifetimes must be at least one second")
	}
	for _, s := range nc.Scopes {
		if !validScopeToken(s) {
			return ErrInvalidRequest("scope %q is not a scope-token (RFC 6749 §3.3)", s)
		}
	}
	if nc.TokenFormat != store.TokenFormatJWT && nc.TokenFormat != store.TokenFormatOpaque {
		return ErrInvalidRequest("token format %q: want jwt or opaque", nc.TokenFormat)
	}
	if !slices.Contains(p.keys.Algorithms(), nc.SigningAlg) {
		return ErrInvalidRequest("signing algorithm %q has no keys", nc.SigningAlg)
	}
	if nc.AccessTokenLifetime < time.Second {
		return ErrInvalidRequest("access token lifetime must be at least one second")
	}
	return nil
}

// validateAuthMethod checks the token endpoint authentication metadata.
func validateAuthMethod(nc NewClient) error {
	m := nc.TokenEndpointAuthMethod
	switch m {
	case "", AuthSecretBasic, AuthSecretPost, AuthSecretJWT, AuthPrivateKeyJWT:
		if nc.Public && m != "" {
			return ErrInvalidRequest("a public client authenticates with none")
		}
	case AuthNone:
		if !nc.Public {
			return ErrInvalidRequest("token_endpoint_auth_method none is for public clients")
		}
	default:
		return ErrInvalidRequest("unsupported token_endpoint_auth_method %q", m)
	}
	if alg := nc.TokenEndpointAuthSigningAlg; alg != "" {
		allowed := asymmetricAlgs
		if m == AuthSecretJWT {
			allowed = hmacAlgs
		}
		if !jwtAuth(m) || !slices.Contains(allowed, jose.SignatureAlgorithm(alg)) {
			return ErrInvalidRequest("token_endpoint_auth_signing_alg %q does not fit method %q", alg, m)
		}
	}
	if len(nc.JWKS) > 0 && nc.JWKSURI != "" {
		return ErrInvalidRequest("jwks and jwks_uri are exclusive (RFC 7591 §2)")
	}
	if len(nc.JWKS) > 0 {
		set, err := parseJWKS(nc.JWKS)
		if err != nil {
			return ErrInvalidRequest("jwks: %v", err)
		}
		if len(set.Keys) == 0 {
			return ErrInvalidRequest("jwks has no keys")
		}
	}
	if nc.JWKSURI != "" {
		if err := validateJWKSURI(nc.JWKSURI); err != nil {
			return ErrInvalidRequest("jwks_uri: %v", err)
		}
	}
	if m == AuthPrivateKeyJWT && len(nc.JWKS) == 0 && nc.JWKSURI == "" {
		return ErrInvalidRequest("private_key_jwt needs jwks or jwks_uri")
	}
	return nil
}

// KeepOrReplaceSecret settles the secret of next, the new settings of client cur that the
// provider validated (generated being the secret CreateClient made for them): a client keeps
// its secret while its method verifies the same one, gets the generated one when it needs a
// secret it lacks, and loses it when it authenticates otherwise. It returns the secret to show,
// if new. The management APIs (applications, dynamic registration) share it.
func KeepOrReplaceSecret(cur store.OAuth2Client, next *store.NewOAuth2Client, generated string) string {
	switch {
	case next.Public, next.SecretHash == "": // public or private_key_jwt
		next.SecretHash, next.SecretSealed = "", nil
		return ""
	case next.TokenEndpointAuthMethod == AuthSecretJWT:
		if cur.SecretHash != "" && len(cur.SecretSealed) > 0 {
			next.SecretHash, next.SecretSealed = cur.SecretHash, cur.SecretSealed
			return ""
		}
		return generated // with the provider's hash and sealed form
	case cur.SecretHash != "" && !cur.Public:
		next.SecretHash, next.SecretSealed = cur.SecretHash, nil
		return ""
	default:
		next.SecretSealed = nil
		return generated
	}
}
