package manage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/store"
)

// SealKey is one key sealing identity provider secrets: 32 bytes for AES-256-GCM, named by ID.
type SealKey struct {
	ID  string
	Key []byte
}

// Sealer seals secret connector properties of identity providers with AES-256-GCM, bound to
// the provider, the connector and the property key (so a ciphertext copied elsewhere does not
// open). The first key seals; every key opens, for rotation.
type Sealer struct {
	sealID string
	aeads  map[string]cipher.AEAD
}

// NewSealer returns a sealer over keys (at least one; the first seals).
func NewSealer(keys []SealKey) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("manage: at least one seal key is needed")
	}
	s := &Sealer{sealID: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if k.ID == "" || len(k.Key) != 32 {
			return nil, fmt.Errorf("manage: seal key %q must have an id and 32 bytes", k.ID)
		}
		if _, dup := s.aeads[k.ID]; dup {
			return nil, fmt.Errorf("manage: seal key id %q used twice", k.ID)
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("manage: %w", err)
		}
		if s.aeads[k.ID], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("manage: %w", err)
		}
	}
	return s, nil
}

func sealAAD(idpID, connectorID, key string) []byte {
	return []byte("keyflow-idp-secret\x00" + idpID + "\x00" + connectorID + "\x00" + key)
}

// Seal encrypts the value of property key of a connector of identity provider idpID.
func (s *Sealer) Seal(idpID, connectorID, key, value string) (store.IdPProperty, error) {
	aead := s.aeads[s.sealID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(value)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return store.IdPProperty{}, fmt.Errorf("manage: %w", err)
	}
	return store.IdPProperty{Key: key, KeyID: s.sealID,
		Sealed: aead.Seal(nonce, nonce, []byte(value), sealAAD(idpID, connectorID, key))}, nil
}

// Open decrypts a sealed property of a connector of identity provider idpID.
func (s *Sealer) Open(idpID, connectorID string, p store.IdPProperty) (string, error) {
	aead, ok := s.aeads[p.KeyID]
	if !ok {
		return "", fmt.Errorf("manage: property %s sealed with unknown key %q", p.Key, p.KeyID)
	}
	n := aead.NonceSize()
	if len(p.Sealed) < n {
		return "", fmt.Errorf("manage: property %s: short ciphertext", p.Key)
	}
	out, err := aead.Open(nil, p.Sealed[:n], p.Sealed[n:], sealAAD(idpID, connectorID, p.Key))
	if err != nil {
		return "", fmt.Errorf("manage: property %s does not open: %w", p.Key, err)
	}
	return string(out), nil
}

// Mask is shown in place of a secret property's value; sent back, it keeps the stored secret.
const Mask = "******"

// IsSecretProperty reports whether a connector property holds a secret, by its key (WSO2's
// confidential properties: ClientSecret, client_secret, Password, PrivateKey, ApiKey,
// AccessToken…). Endpoint URLs that merely mention tokens (OAuth2TokenEPUrl) are not secret.
func IsSecretProperty(key string) bool {
	k := strings.ToLower(strings.NewReplacer("_", "", "-", "", ".", "").Replace(key))
	for _, w := range []string{"secret", "password", "passwd", "privatekey", "apikey", "accesstoken", "refreshtoken", "bearertoken"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
