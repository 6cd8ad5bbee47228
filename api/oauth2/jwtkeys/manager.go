package jwtkeys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/store"
)

// Signing algorithms (JOSE "alg" values).
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256: the default
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys
	EdDSA = "EdDSA" // Ed25519
)

// JWT "typ" header values.
const (
	TypeAccessToken = "at+jwt" // RFC 9068 §2.1
	TypeJWT         = "JWT"    // ID tokens and others
)

// Defaults applied by New.
const (
	DefaultCacheTTL = 10 * time.Second
	// rsaBits: 2048 is what OpenID Connect RPs expect; larger keys cost
	// signing throughput (RS256 signs ~10× slower than ES256 already).
	rsaBits = 2048
	// minForcedReload rate-limits reloads caused by unknown key ids, which
	// anyone can send.
	minForcedReload = time.Second
)

// Store is what the manager needs from the database (a *store.Store).
type Store interface {
	// OAuth2SigningKeys returns every stored key.
	OAuth2SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// CreateOAuth2SigningKeys stores the first current and next key of an
	// algorithm, or nothing (false) when it already has a current key.
	CreateOAuth2SigningKeys(ctx context.Context, current, next store.NewSigningKey) (bool, error)
	// RotateOAuth2SigningKeys advances alg's chain if its current key is
	// still currentKID (else store.ErrConflict).
	RotateOAuth2SigningKeys(ctx context.Context, alg, currentKID string, next store.NewSigningKey) error
}

// Config configures New.
type Config struct {
	Store Store
	// KEKs seal and unseal private keys: the first seals, all unseal.
	// Required.
	KEKs []KEK
	// Algorithms to keep keys for; default ES256, RS256, EdDSA.
	Algorithms []string
	// CacheTTL is how long a loaded key set is used before it is reloaded;
	// default DefaultCacheTTL.
	CacheTTL time.Duration
	// VerifiedCacheSize bounds how many verified tokens Verify remembers so
	// that the same token is not verified again while its key is published;
	// default DefaultVerifiedCacheSize, negative disables.
	VerifiedCacheSize int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
}

// Manager signs and verifies JWTs with the stored keys and renders the JWKS.
// It is safe for concurrent use.
type Manager struct {
	store    Store
	keks     []KEK
	algs     []string
	ttl      time.Duration
	now      func() time.Time
	log      *slog.Logger
	snap     atomic.Pointer[snapshot]
	reload   sync.Mutex // held while reloading
	lastKick atomic.Int64
	verified verifiedCache
}

// snapshot is one immutable view of the key set.
type snapshot struct {
	loadedAt time.Time
	byKID    map[string]*key
	current  map[string]*key // by alg
	jwks     []byte
}

// key is one parsed key. It is immutable once built and reused across
// snapshots while its row exists.
type key struct {
	kid, alg string
	public   jose.JSONWebKey
	private  crypto.Signer
	// signers by typ, built once for the two typs in use.
	signers map[string]jose.Signer
}

// New validates cfg, loads the stored keys and creates current and next keys
// for each configured algorithm that has none.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("jwtkeys: Config.Store is required")
	}
	if len(cfg.KEKs) == 0 {
		return nil, errors.New("jwtkeys: Config.KEKs: at least one key-encryption key is required")
	}
	seen := map[string]bool{}
	for _, k := range cfg.KEKs {
		if err := k.validate(); err != nil {
			return nil, fmt.Errorf("jwtkeys: Config.KEKs: %w", err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("jwtkeys: Config.KEKs: id %s used twice", k.ID)
		}
		seen[k.ID] = true
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{ES256, RS256, EdDSA}
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains([]string{ES256, RS256, EdDSA}, a) {
			return nil, fmt.Errorf("jwtkeys: Config.Algorithms: unsupported %q", a)
		}
	}
	if cfg.CacheTTL < 0 {
		return nil, fmt.Errorf("jwtkeys: Config.CacheTTL %v is negative", cfg.CacheTTL)
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		store: cfg.Store, keks: slices.Clone(cfg.KEKs), algs: slices.Clone(cfg.Algorithms),
		ttl: cfg.CacheTTL, now: cfg.Now, log: cfg.Logger,
	}
	switch {
	case cfg.VerifiedCacheSize == 0:
		m.verified.max = DefaultVerifiedCacheSize
	case cfg.VerifiedCacheSize > 0:
		m.verified.max = cfg.VerifiedCacheSize
	}
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Algorithms returns the algorithms the manager keeps keys for, the default
// (used when a client names none) first.
func (m *Manager) Algorithms() []string { return slices.Clone(m.algs) }

// ensure creates the missing key chains and loads the snapshot.
func (m *Manager) ensure(ctx context.Context) error {
	rows, err := m.store.OAuth2SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwtkeys: load keys: %w", err)
	}
	for _, alg := range m.algs {
		if slices.ContainsFunc(rows, func(k store.SigningKey) bool {
			return k.Alg == alg && k.State == store.SigningKeyCurrent
		}) {
			continue
		}
		cur, err := m.generate(alg)
		if err != nil {
			return err
		}
		next, err := m.generate(alg)
		if err != nil {
			return err
		}
		created, err := m.store.CreateOAuth2SigningKeys(ctx, cur, next)
		if err != nil {
			return fmt.Errorf("jwtkeys: create %s keys: %w", alg, err)
		}
		if created {
			m.log.InfoContext(ctx, "jwtkeys: created signing keys", "alg", alg, "current", cur.KID, "next", next.KID)
		}
	}
	return m.Reload(ctx)
}

// generate makes a new key of alg, sealed with the first KEK.
func (m *Manager) generate(alg string) (store.NewSigningKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return store.NewSigningKey{}, fmt.Errorf("jwtkeys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.NewSigningKey{}, fmt.Errorf("jwtkeys: generate %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.NewSigningKey{}, fmt.Errorf("jwtkeys: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return store.NewSigningKey{}, fmt.Errorf("jwtkeys: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.NewSigningKey{}, fmt.Errorf("jwtkeys: marshal private key: %w", err)
	}
	sealed, err := seal(m.keks[0], pub.KeyID, alg, der)
	if err != nil {
		return store.NewSigningKey{}, err
	}
	return store.NewSigningKey{KID: pub.KeyID, Alg: alg, PublicJWK: pubJSON, PrivateKey: sealed, KEKID: m.keks[0].ID}, nil
}

// Rotate advances alg's chain: next starts signing, current becomes
// previous, previous is dropped, a new next is generated. Other replicas pick
// the change up within their CacheTTL. Rotating concurrently with another
// process is safe: one rotation wins, the other returns an error wrapping
// store.ErrConflict.
func (m *Manager) Rotate(ctx context.Context, alg string) error {
	if !slices.Contains(m.algs, alg) {
		return fmt.Errorf("jwtkeys: rotate: algorithm %q is not configured", alg)
	}
	if err := m.Reload(ctx); err != nil {
		return err
	}
	cur, ok := m.snap.Load().current[alg]
	if !ok {
		return fmt.Errorf("jwtkeys: rotate: %s has no current key: %w", alg, store.ErrNotFound)
	}
	next, err := m.generate(alg)
	if err != nil {
		return err
	}
	if err := m.store.RotateOAuth2SigningKeys(ctx, alg, cur.kid, next); err != nil {
		return fmt.Errorf("jwtkeys: rotate %s: %w", alg, err)
	}
	m.log.InfoContext(ctx, "jwtkeys: rotated signing keys", "alg", alg, "retired", cur.kid, "next", next.KID)
	return m.Reload(ctx)
}

// Reload reads the key set from the store now.
func (m *Manager) Reload(ctx context.Context) error {
	m.reload.Lock()
	defer m.reload.Unlock()
	return m.reloadLocked(ctx)
}

func (m *Manager) reloadLocked(ctx context.Context) error {
	rows, err := m.store.OAuth2SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwtkeys: load keys: %w", err)
	}
	old := m.snap.Load()
	s := &snapshot{loadedAt: m.now(), byKID: map[string]*key{}, current: map[string]*key{}}
	var published []jose.JSONWebKey
	// Order the JWKS by configured algorithm, then current, next, previous:
	// clients that take the first key of the right type get the signing one.
	slices.SortStableFunc(rows, func(a, b store.SigningKey) int {
		ia, ib := slices.Index(m.algs, a.Alg), slices.Index(m.algs, b.Alg)
		if ia < 0 {
			ia = len(m.algs)
		}
		if ib < 0 {
			ib = len(m.algs)
		}
		if ia != ib {
			return ia - ib
		}
		return stateRank(a.State) - stateRank(b.State)
	})
	for _, row := range rows {
		var k *key
		if old != nil {
			k = old.byKID[row.KID]
		}
		if k == nil {
			if k, err = m.parse(row); err != nil {
				return err
			}
		}
		s.byKID[k.kid] = k
		if row.State == store.SigningKeyCurrent {
			s.current[k.alg] = k
		}
		published = append(published, k.public)
	}
	s.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return fmt.Errorf("jwtkeys: render JWKS: %w", err)
	}
	m.snap.Store(s)
	return nil
}

func stateRank(s store.SigningKeyState) int {
	switch s {
	case store.SigningKeyCurrent:
		return 0
	case store.SigningKeyNext:
		return 1
	default:
		return 2
	}
}

// parse unseals a stored key and builds its signers.
func (m *Manager) parse(row store.SigningKey) (*key, error) {
	var pub jose.JSONWebKey
	if err := pub.UnmarshalJSON(row.PublicJWK); err != nil {
		return nil, fmt.Errorf("jwtkeys: key %s: public JWK: %w", row.KID, err)
	}
	if pub.KeyID != row.KID || pub.Algorithm != row.Alg {
		return nil, fmt.Errorf("jwtkeys: key %s: public JWK names kid %q alg %q", row.KID, pub.KeyID, pub.Algorithm)
	}
	i := slices.IndexFunc(m.keks, func(k KEK) bool { return k.ID == row.KEKID })
	if i < 0 {
		return nil, fmt.Errorf("jwtkeys: key %s is sealed with KEK %s, which is not configured", row.KID, row.KEKID)
	}
	der, err := open(m.keks[i], row.KID, row.Alg, row.PrivateKey)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: key %s: parse private key: %w", row.KID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("jwtkeys: key %s: %T is not a signing key", row.KID, parsed)
	}
	k := &key{kid: row.KID, alg: row.Alg, public: pub, private: priv, signers: map[string]jose.Signer{}}
	for _, typ := range []string{TypeAccessToken, TypeJWT} {
		sg, err := k.newSigner(typ)
		if err != nil {
			return nil, err
		}
		k.signers[typ] = sg
	}
	return k, nil
}

func (k *key) newSigner(typ string) (jose.Signer, error) {
	sg, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: jose.JSONWebKey{Key: k.private, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: key %s: signer: %w", k.kid, err)
	}
	return sg, nil
}

// load returns a snapshot no older than the TTL if it can: the first caller
// to find it stale reloads, others meanwhile use the stale one.
func (m *Manager) load(ctx context.Context) *snapshot {
	s := m.snap.Load()
	if m.now().Sub(s.loadedAt) < m.ttl {
		return s
	}
	if !m.reload.TryLock() {
		return s
	}
	defer m.reload.Unlock()
	if s2 := m.snap.Load(); s2 != s {
		return s2 // reloaded while we waited for the lock
	}
	if err := m.reloadLocked(ctx); err != nil {
		// Keep signing with what we have; try again after another TTL.
		m.log.WarnContext(ctx, "jwtkeys: reload failed, keeping cached keys", "error", err)
		stale := *s
		stale.loadedAt = m.now()
		m.snap.Store(&stale)
	}
	return m.snap.Load()
}

// Sign signs payload (the JSON claims) with alg's current key and returns
// the compact JWS, with kid and the given typ in its protected header.
func (m *Manager) Sign(ctx context.Context, alg, typ string, payload []byte) (string, error) {
	k, ok := m.load(ctx).current[alg]
	if !ok {
		return "", fmt.Errorf("jwtkeys: sign: no current %s key", alg)
	}
	sg, ok := k.signers[typ]
	if !ok {
		var err error
		if sg, err = k.newSigner(typ); err != nil {
			return "", err
		}
	}
	jws, err := sg.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jwtkeys: sign with %s: %w", k.kid, err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("jwtkeys: serialize: %w", err)
	}
	return out, nil
}

// Verify checks that token is a compact JWS signed by one of the published
// keys (next, current or previous) and, when typ is not empty, that its typ
// header is typ (compared ignoring case and an "application/" prefix, RFC
// 7515 §4.1.9). It returns the verified payload. Any error means the token
// cannot be trusted; claims (exp, iss, aud) are the caller's to check.
// The payload may be shared with other callers: do not modify it.
func (m *Manager) Verify(ctx context.Context, token, typ string) ([]byte, error) {
	ck := verifiedKey(token, typ)
	if v, ok := m.verified.get(ck); ok && m.load(ctx).byKID[v.key.kid] == v.key {
		return v.payload, nil
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: verify: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("jwtkeys: verify: not exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if typ != "" {
		got, _ := h.ExtraHeaders[jose.HeaderType].(string)
		if !strings.EqualFold(strings.TrimPrefix(strings.ToLower(got), "application/"), typ) {
			return nil, fmt.Errorf("jwtkeys: verify: typ %q, want %q", got, typ)
		}
	}
	k, ok := m.load(ctx).byKID[h.KeyID]
	if !ok {
		k, ok = m.reloadFor(ctx, h.KeyID)
		if !ok {
			return nil, errors.New("jwtkeys: verify: unknown key id")
		}
	}
	if h.Algorithm != k.alg {
		return nil, fmt.Errorf("jwtkeys: verify: alg %s does not match key %s", h.Algorithm, k.kid)
	}
	payload, err := jws.Verify(k.public.Key)
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: verify: %w", err)
	}
	m.verified.put(ck, verifiedToken{payload: payload, key: k})
	return payload, nil
}

// reloadFor reloads once to look for a key id another replica may just
// have created, at most once per minForcedReload.
func (m *Manager) reloadFor(ctx context.Context, kid string) (*key, bool) {
	now := m.now()
	last := m.lastKick.Load()
	if now.UnixNano()-last < int64(minForcedReload) || !m.lastKick.CompareAndSwap(last, now.UnixNano()) {
		return nil, false
	}
	if err := m.Reload(ctx); err != nil {
		m.log.WarnContext(ctx, "jwtkeys: reload for unknown key id failed", "error", err)
		return nil, false
	}
	k, ok := m.snap.Load().byKID[kid]
	return k, ok
}

// JWKS returns the JSON Web Key Set of every published key (RFC 7517 §5).
// The bytes are shared: do not modify them.
func (m *Manager) JWKS(ctx context.Context) []byte { return m.load(ctx).jwks }
