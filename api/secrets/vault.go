package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/keyflow/keyflow/store"
)

// TypeAdaptiveAuth is the secret type scripts read (WSO2's ADAPTIVE_AUTH_CALL_CHOREO).
const TypeAdaptiveAuth = "ADAPTIVE_AUTH_CALL_CHOREO"

// Key is one sealing key: 32 bytes for AES-256-GCM, named by ID.
type Key struct {
	ID  string
	Key []byte
}

// VaultStore is what the Vault reads; *store.Store implements it.
type VaultStore interface {
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
	SecretByName(ctx context.Context, orgID, typ, name string) (store.Secret, error)
}

// Vault seals secret values with AES-256-GCM, bound to their organization, type and name (so a
// ciphertext copied to another row does not open), and opens them for the scripts' HTTP calls.
// The first key seals; every key opens, for rotation.
type Vault struct {
	store VaultStore
	seal  Key
	aeads map[string]cipher.AEAD
}

// NewVault returns a vault over keys (the first seals).
func NewVault(st VaultStore, keys []Key) (*Vault, error) {
	if st == nil || len(keys) == 0 {
		return nil, errors.New("secrets: a vault needs a store and at least one key")
	}
	v := &Vault{store: st, seal: keys[0], aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if k.ID == "" || len(k.Key) != 32 {
			return nil, fmt.Errorf("secrets: key %q must have an id and 32 bytes", k.ID)
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		v.aeads[k.ID] = aead
	}
	return v, nil
}

func aad(orgID, typ, name string) []byte {
	return []byte("keyflow-secret\x00" + orgID + "\x00" + typ + "\x00" + name)
}

// Seal encrypts value for the secret orgID/typ/name; it returns the ciphertext (nonce first)
// and the sealing key's id.
func (v *Vault) Seal(orgID, typ, name, value string) ([]byte, string, error) {
	aead := v.aeads[v.seal.ID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(value)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", fmt.Errorf("secrets: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(value), aad(orgID, typ, name)), v.seal.ID, nil
}

// Open decrypts a stored secret.
func (v *Vault) Open(s store.Secret) (string, error) {
	aead, ok := v.aeads[s.KeyID]
	if !ok {
		return "", fmt.Errorf("secrets: %s sealed with unknown key %q", s.Name, s.KeyID)
	}
	if len(s.Ciphertext) < aead.NonceSize() {
		return "", fmt.Errorf("secrets: %s: short ciphertext", s.Name)
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], aad(s.OrgID, s.Type, s.Name))
	if err != nil {
		return "", fmt.Errorf("secrets: %s does not open: %w", s.Name, err)
	}
	return string(out), nil
}

// Secret returns the value of the script secret name of tenantDomain (wfhost.SecretStore).
func (v *Vault) Secret(ctx context.Context, tenantDomain, name string) (string, error) {
	org, err := v.store.OrganizationByHandle(ctx, tenantDomain)
	if err != nil {
		return "", fmt.Errorf("secrets: tenant %q: %w", tenantDomain, err)
	}
	s, err := v.store.SecretByName(ctx, org.ID, TypeAdaptiveAuth, name)
	if err != nil {
		return "", err
	}
	return v.Open(s)
}
