package ldapstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/store"
)

// Key is one sealing key: 32 bytes for AES-256-GCM, named by ID.
type Key struct {
	ID  string
	Key []byte
}

// Keyring seals user stores' bind passwords with AES-256-GCM, bound to the organization and
// domain (a ciphertext copied to another store's row does not open). The first key seals; every
// key opens, so keys can be rotated.
type Keyring struct {
	sealID string
	aeads  map[string]cipher.AEAD
}

// NewKeyring returns a keyring over keys (the first seals).
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("ldapstore: a keyring needs at least one key")
	}
	k := &Keyring{sealID: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, key := range keys {
		if key.ID == "" || len(key.Key) != 32 {
			return nil, fmt.Errorf("ldapstore: key %q must have an id and 32 bytes", key.ID)
		}
		block, err := aes.NewCipher(key.Key)
		if err != nil {
			return nil, fmt.Errorf("ldapstore: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("ldapstore: %w", err)
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

func bindAAD(orgID, domain string) []byte {
	return []byte("keyflow-userstore-bind\x00" + orgID + "\x00" + strings.ToUpper(domain))
}

// SealBindPassword encrypts the bind password of the store orgID/domain; the results go into
// store.UserStore's BindPassword and BindPasswordKeyID.
func (k *Keyring) SealBindPassword(orgID, domain, password string) ([]byte, string, error) {
	aead := k.aeads[k.sealID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(password)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", fmt.Errorf("ldapstore: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(password), bindAAD(orgID, domain)), k.sealID, nil
}

// OpenBindPassword decrypts a stored user store's bind password ("" when it has none).
func (k *Keyring) OpenBindPassword(us store.UserStore) (string, error) {
	if len(us.BindPassword) == 0 {
		return "", nil
	}
	aead, ok := k.aeads[us.BindPasswordKeyID]
	if !ok {
		return "", fmt.Errorf("ldapstore: bind password of %s sealed with unknown key %q", us.Domain, us.BindPasswordKeyID)
	}
	n := aead.NonceSize()
	if len(us.BindPassword) < n {
		return "", fmt.Errorf("ldapstore: bind password of %s: short ciphertext", us.Domain)
	}
	pw, err := aead.Open(nil, us.BindPassword[:n], us.BindPassword[n:], bindAAD(us.OrgID, us.Domain))
	if err != nil {
		return "", fmt.Errorf("ldapstore: bind password of %s does not open: %w", us.Domain, err)
	}
	return string(pw), nil
}
