package saml

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// KeyStore is what the key manager needs from the database (a *store.Store).
type KeyStore interface {
	// SAMLSigningKey returns the organization's key or store.ErrNotFound.
	SAMLSigningKey(ctx context.Context, orgID string) (store.SAMLSigningKey, error)
	// CreateSAMLSigningKey stores the key unless the organization has one (false).
	CreateSAMLSigningKey(ctx context.Context, k store.SAMLSigningKey) (bool, error)
}

// signingKey is a tenant's parsed key pair.
type signingKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// Key sizes and lifetimes of generated keys.
const (
	rsaBits      = 2048
	certLifetime = 10 * 365 * 24 * time.Hour
	// sealVersion prefixes the associated data so a SAML key cannot be unsealed as anything
	// else (nor a JWT key as a SAML key).
	sealVersion = "keyflow.samlkey.v1"
)

// keys loads, creates and caches the per-tenant signing keys. Keys do not rotate yet, so a
// key once loaded is kept for the life of the process.
type keys struct {
	store KeyStore
	keks  []jwtkeys.KEK
	now   func() time.Time
	mu    sync.Mutex
	byOrg map[string]*signingKey
}

// get returns the signing key of orgID, generating and storing one on first use. Concurrent
// first uses in several processes agree on the stored one.
func (k *keys) get(ctx context.Context, orgID, commonName string) (*signingKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk := k.byOrg[orgID]; sk != nil {
		return sk, nil
	}
	row, err := k.store.SAMLSigningKey(ctx, orgID)
	if errors.Is(err, store.ErrNotFound) {
		fresh, gerr := k.generate(orgID, commonName)
		if gerr != nil {
			return nil, gerr
		}
		if _, err := k.store.CreateSAMLSigningKey(ctx, fresh); err != nil {
			return nil, fmt.Errorf("saml: store signing key: %w", err)
		}
		row, err = k.store.SAMLSigningKey(ctx, orgID)
	}
	if err != nil {
		return nil, fmt.Errorf("saml: load signing key: %w", err)
	}
	sk, err := k.parse(row)
	if err != nil {
		return nil, err
	}
	k.byOrg[orgID] = sk
	return sk, nil
}

// generate makes an RSA key and a self-signed certificate, sealed with the first KEK.
func (k *keys) generate(orgID, commonName string) (store.SAMLSigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return store.SAMLSigningKey{}, fmt.Errorf("saml: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return store.SAMLSigningKey{}, fmt.Errorf("saml: serial: %w", err)
	}
	now := k.now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"Keyflow"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return store.SAMLSigningKey{}, fmt.Errorf("saml: self-signed certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SAMLSigningKey{}, fmt.Errorf("saml: marshal key: %w", err)
	}
	kek := k.keks[0]
	sealed, err := seal(kek, orgID, pkcs8)
	if err != nil {
		return store.SAMLSigningKey{}, err
	}
	return store.SAMLSigningKey{OrgID: orgID, Certificate: der, PrivateKey: sealed, KEKID: kek.ID}, nil
}

func (k *keys) parse(row store.SAMLSigningKey) (*signingKey, error) {
	var kek *jwtkeys.KEK
	for i := range k.keks {
		if k.keks[i].ID == row.KEKID {
			kek = &k.keks[i]
		}
	}
	if kek == nil {
		return nil, fmt.Errorf("saml: signing key of %s is sealed with unknown KEK %s", row.OrgID, row.KEKID)
	}
	pkcs8, err := open(*kek, row.OrgID, row.PrivateKey)
	if err != nil {
		return nil, err
	}
	pk, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("saml: parse signing key of %s: %w", row.OrgID, err)
	}
	priv, ok := pk.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("saml: signing key of %s is %T, not RSA", row.OrgID, pk)
	}
	cert, err := x509.ParseCertificate(row.Certificate)
	if err != nil {
		return nil, fmt.Errorf("saml: parse certificate of %s: %w", row.OrgID, err)
	}
	return &signingKey{key: priv, cert: cert}, nil
}

// seal returns nonce ‖ AES-256-GCM(plaintext) ‖ tag, bound to the organization.
func seal(kek jwtkeys.KEK, orgID string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(kek.Key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("saml: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, []byte(sealVersion+"\x00"+orgID)), nil
}

// open reverses seal.
func open(kek jwtkeys.KEK, orgID string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(kek.Key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("saml: sealed key too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(sealVersion+"\x00"+orgID))
	if err != nil {
		// Wrong KEK, or the row was tampered with or moved to another organization.
		return nil, fmt.Errorf("saml: unseal signing key of %s with KEK %s: authentication failed", orgID, kek.ID)
	}
	return pt, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("saml: KEK needs 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	return cipher.NewGCM(block)
}

// SigningKey returns the signing key and certificate of organization orgID (tenant domain
// tenantDomain), generating them on first use like the SAML endpoints do. It lets other
// front-ends that sign with the IdP's key (WS-Federation) share this handler's keys and cache.
func (h *Handler) SigningKey(ctx context.Context, orgID, tenantDomain string) (*rsa.PrivateKey, *x509.Certificate, error) {
	t := tenant{domain: tenantDomain}
	if tenantDomain != h.cfg.DefaultTenant {
		t.prefix = "/t/" + url.PathEscape(tenantDomain)
	}
	sk, err := h.keys.get(ctx, orgID, h.entityID(t))
	if err != nil {
		return nil, nil, err
	}
	return sk.key, sk.cert, nil
}
