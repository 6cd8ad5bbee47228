package op

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/store"
)

// JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9).
const (
	// AuthSecretJWT: an assertion signed with HMAC keyed by the client secret.
	AuthSecretJWT = "client_secret_jwt"
	// AuthPrivateKeyJWT: an assertion signed with a key of the client's JWKS.
	AuthPrivateKeyJWT = "private_key_jwt"
	// AuthClientAssertion is ClientCredentials.Method when the edge saw a
	// client_assertion: the client's registered method (AuthSecretJWT or
	// AuthPrivateKeyJWT) decides how it is verified.
	AuthClientAssertion = "client_assertion"
	// ClientAssertionTypeJWT is the only client_assertion_type accepted.
	ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// Limits and defaults of JWT assertions and client key sets.
const (
	// MaxAssertionLifetime bounds exp - now of an accepted assertion, so
	// that used jtis are kept for a bounded time.
	MaxAssertionLifetime = time.Hour
	// AssertionLeeway is the clock skew tolerated on exp, nbf and iat.
	AssertionLeeway = 30 * time.Second
	// DefaultJWKSCacheTTL is how long a fetched jwks_uri document is reused.
	DefaultJWKSCacheTTL = 5 * time.Minute
	// JWKSRefetchInterval: an assertion with a key id the cached set lacks
	// refetches the set, at most this often (key rollover at the client).
	JWKSRefetchInterval = 30 * time.Second
	// MaxJWKSBytes caps a fetched or inline JWK set.
	MaxJWKSBytes = 64 << 10
	// JWKSFetchTimeout bounds one jwks_uri fetch.
	JWKSFetchTimeout = 5 * time.Second
)

var (
	asymmetricAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384,
		jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	hmacAlgs = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}
)

// AssertionSigningAlgorithms lists the algorithms accepted for client
// assertions (token_endpoint_auth_signing_alg_values_supported). "none" is
// never accepted.
func AssertionSigningAlgorithms() []string {
	var out []string
	for _, a := range slices.Concat(asymmetricAlgs, hmacAlgs) {
		out = append(out, string(a))
	}
	return out
}

// assertionClaims are the claims RFC 7523 §3 requires of a JWT assertion.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// authenticateAssertion verifies a client assertion (RFC 7523 §3): iss and
// sub are the client id, aud names this server (issuer or token endpoint),
// exp is present and near, and the jti was not used before. The
// signature is checked with the client's registered method only.
func (p *Provider) authenticateAssertion(ctx context.Context, cc ClientCredentials) (store.OAuth2Client, error) {
	fail := ErrInvalidClient("client authentication failed")
	tok, err := jwt.ParseSigned(cc.Assertion, slices.Concat(asymmetricAlgs, hmacAlgs))
	if err != nil {
		return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("client assertion: %w", err))
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("client assertion claims: %w", err))
	}
	clientID := cc.ClientID
	if clientID == "" {
		clientID = unverified.Subject
	}
	if clientID == "" || unverified.Subject != clientID {
		return store.OAuth2Client{}, fail.WithCause(errors.New("client assertion sub is not the client_id"))
	}
	c, err := p.client(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return store.OAuth2Client{}, fail.WithCause(err)
	}
	if err != nil {
		return store.OAuth2Client{}, ToError(err)
	}
	alg := jose.SignatureAlgorithm(tok.Headers[0].Algorithm)
	if c.TokenEndpointAuthSigningAlg != "" && string(alg) != c.TokenEndpointAuthSigningAlg {
		return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("assertion algorithm %s is not the registered one", alg))
	}
	var claims assertionClaims
	switch c.TokenEndpointAuthMethod {
	case AuthPrivateKeyJWT:
		if !slices.Contains(asymmetricAlgs, alg) {
			return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("algorithm %s not allowed for private_key_jwt", alg))
		}
		if err := p.verifyWithClientKeys(ctx, c, tok, &claims); err != nil {
			return store.OAuth2Client{}, fail.WithCause(err)
		}
	case AuthSecretJWT:
		if !slices.Contains(hmacAlgs, alg) {
			return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("algorithm %s not allowed for client_secret_jwt", alg))
		}
		secret, err := p.sealer.open(c.ClientID, c.SecretSealed)
		if err != nil {
			return store.OAuth2Client{}, fail.WithCause(err)
		}
		if err := tok.Claims(secret, &claims); err != nil {
			return store.OAuth2Client{}, fail.WithCause(fmt.Errorf("client assertion signature: %w", err))
		}
	default:
		return store.OAuth2Client{}, fail.WithCause(errors.New("client is not registered for JWT authentication"))
	}
	if err := p.checkAssertion(claims, c.ClientID); err != nil {
		return store.OAuth2Client{}, fail.WithCause(err)
	}
	err = p.store.UseOAuth2AssertionJTI(ctx, c.ClientID, claims.ID, claims.Expiry.Time())
	if errors.Is(err, store.ErrConflict) {
		return store.OAuth2Client{}, fail.WithCause(errors.New("client assertion replayed (jti used)"))
	}
	if err != nil {
		return store.OAuth2Client{}, ToError(fmt.Errorf("op: record assertion jti: %w", err))
	}
	return c, nil
}

// checkAssertion applies RFC 7523 §3 to verified claims; iss must be
// issuer (the client id for client authentication).
func (p *Provider) checkAssertion(cl assertionClaims, issuer string) error {
	now := p.now()
	switch {
	case cl.Issuer != issuer || cl.Subject == "":
		return errors.New("assertion iss or sub does not match")
	case !p.acceptedAudience(cl.Audience):
		return errors.New("assertion aud names neither the issuer nor the token endpoint")
	case cl.Expiry == nil:
		return errors.New("assertion has no exp")
	case !now.Before(cl.Expiry.Time().Add(AssertionLeeway)):
		return errors.New("assertion expired")
	case cl.Expiry.Time().After(now.Add(MaxAssertionLifetime)):
		return fmt.Errorf("assertion exp more than %v ahead", MaxAssertionLifetime)
	case cl.NotBefore != nil && now.Add(AssertionLeeway).Before(cl.NotBefore.Time()):
		return errors.New("assertion not yet valid (nbf)")
	case cl.IssuedAt != nil && now.Add(AssertionLeeway).Before(cl.IssuedAt.Time()):
		return errors.New("assertion issued in the future (iat)")
	case cl.ID == "" || len(cl.ID) > 255:
		return errors.New("assertion has no usable jti")
	}
	return nil
}

func (p *Provider) acceptedAudience(aud jwt.Audience) bool {
	return aud.Contains(p.issuer) || (p.tokenEndpoint != "" && aud.Contains(p.tokenEndpoint))
}

// verifyWithClientKeys checks tok's signature with the client's keys: the
// one named by kid (or every key usable with the algorithm when there is
// no kid). A kid missing from a fetched set refetches it once.
func (p *Provider) verifyWithClientKeys(ctx context.Context, c store.OAuth2Client, tok *jwt.JSONWebToken, dest any) error {
	h := tok.Headers[0]
	set, fetched, err := p.clientKeySet(ctx, c, false)
	if err != nil {
		return err
	}
	keys := matchingKeys(set, h)
	if len(keys) == 0 && c.JWKSURI != "" && p.now().Sub(fetched) >= JWKSRefetchInterval {
		if set, _, err = p.clientKeySet(ctx, c, true); err != nil {
			return err
		}
		keys = matchingKeys(set, h)
	}
	for _, k := range keys {
		if err := tok.Claims(k.Key, dest); err == nil {
			return nil
		}
	}
	return fmt.Errorf("client assertion signature: no matching key among %d candidates", len(keys))
}

// matchingKeys returns the public signing keys of set that may have
// produced a JWS with header h.
func matchingKeys(set jose.JSONWebKeySet, h jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		switch {
		case !k.IsPublic() || !k.Valid():
			continue
		case h.KeyID != "" && k.KeyID != h.KeyID:
			continue
		case k.Algorithm != "" && k.Algorithm != h.Algorithm:
			continue
		case k.Use != "" && k.Use != "sig":
			continue
		}
		out = append(out, k)
	}
	return out
}

// clientKeySet returns the client's JWK set: the inline one, or the
// jwks_uri document through the cache (refetched when refresh is set).
func (p *Provider) clientKeySet(ctx context.Context, c store.OAuth2Client, refresh bool) (jose.JSONWebKeySet, time.Time, error) {
	if len(c.JWKS) > 0 {
		set, err := parseJWKS(c.JWKS)
		return set, time.Time{}, err
	}
	if c.JWKSURI == "" {
		return jose.JSONWebKeySet{}, time.Time{}, errors.New("client has neither jwks nor jwks_uri")
	}
	return p.jwks.get(ctx, c.JWKSURI, refresh)
}

// parseJWKS parses a JWK set, refusing oversized ones and private keys.
func parseJWKS(b []byte) (jose.JSONWebKeySet, error) {
	if len(b) > MaxJWKSBytes {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWK set larger than %d bytes", MaxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWK set: %w", err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return jose.JSONWebKeySet{}, errors.New("JWK set holds a private or symmetric key")
		}
	}
	return set, nil
}

// jwksCache keeps fetched jwks_uri documents for a TTL. Its size is bounded
// by the number of distinct jwks_uri values of clients.
type jwksCache struct {
	ttl    time.Duration
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	mu     sync.Mutex
	sets   map[string]cachedJWKS
}

type cachedJWKS struct {
	set     jose.JSONWebKeySet
	fetched time.Time
}

func (j *jwksCache) get(ctx context.Context, uri string, refresh bool) (jose.JSONWebKeySet, time.Time, error) {
	j.mu.Lock()
	e, ok := j.sets[uri]
	j.mu.Unlock()
	if ok && !refresh && j.now().Sub(e.fetched) < j.ttl {
		return e.set, e.fetched, nil
	}
	set, err := j.fetch(ctx, uri)
	if err != nil {
		return jose.JSONWebKeySet{}, time.Time{}, err
	}
	e = cachedJWKS{set: set, fetched: j.now()}
	j.mu.Lock()
	j.sets[uri] = e
	j.mu.Unlock()
	return e.set, e.fetched, nil
}

func (j *jwksCache) fetch(ctx context.Context, uri string) (jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, JWKSFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		if egress.IsRefused(err) && j.log != nil {
			// The client sees only invalid_client; the operator needs the reason.
			j.log.WarnContext(ctx, "op: jwks_uri refused by the outbound address policy", "jwks_uri", uri, "error", err)
		}
		return jose.JSONWebKeySet{}, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jose.JSONWebKeySet{}, fmt.Errorf("jwks_uri: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("jwks_uri: %w", err)
	}
	return parseJWKS(b)
}

// newJWKSHTTPClient does not follow redirects: a jwks_uri is registered
// exactly.
func newJWKSHTTPClient() *http.Client {
	return &http.Client{Timeout: JWKSFetchTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// validateJWKSURI: an absolute https URL (http only on loopback), no fragment.
func validateJWKSURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case !u.IsAbs() || u.Host == "" || u.Fragment != "":
		return fmt.Errorf("%q is not an absolute URL without fragment", s)
	case u.Scheme == "https", u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q: scheme must be https (http only on loopback)", s)
}

// secretSealer seals the secrets of client_secret_jwt clients with
// AES-256-GCM under a key derived from the secret pepper, bound to the
// client id. Stored form: nonce ‖ ciphertext ‖ tag.
type secretSealer struct{ aead cipher.AEAD }

func newSecretSealer(pepper []byte) secretSealer {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("keyflow/op client_secret_jwt seal v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return secretSealer{aead: aead}
}

func (s secretSealer) seal(clientID, secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(clientID))
}

func (s secretSealer) open(clientID string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("no sealed secret")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(clientID))
	if err != nil {
		return nil, fmt.Errorf("unseal secret (pepper changed?): %w", err)
	}
	return out, nil
}
