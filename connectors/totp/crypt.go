package totp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// box encrypts TOTP secrets with AES-256-GCM. A ciphertext is nonce || sealed; the additional
// data binds it to its user, so a row copied to another user does not decrypt.
type box struct {
	keyID string
	keys  map[string]cipher.AEAD
}

const aadPrefix = "keyflow/totp/v1\x00"

func newBox(keyID string, key []byte, old map[string][]byte) (*box, error) {
	b := &box{keyID: keyID, keys: map[string]cipher.AEAD{}}
	if len(key) == 0 {
		return nil, errors.New("totp: EncryptionKey is required")
	}
	add := func(id string, k []byte) error {
		if len(k) != 32 {
			return fmt.Errorf("totp: key %q is %d bytes, want 32 (AES-256)", id, len(k))
		}
		blk, err := aes.NewCipher(k)
		if err != nil {
			return fmt.Errorf("totp: key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(blk)
		if err != nil {
			return fmt.Errorf("totp: key %q: %w", id, err)
		}
		b.keys[id] = aead
		return nil
	}
	for id, k := range old {
		if id == keyID {
			return nil, fmt.Errorf("totp: OldKeys repeats the current key id %q", id)
		}
		if err := add(id, k); err != nil {
			return nil, err
		}
	}
	if err := add(keyID, key); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *box) seal(secret []byte, userID string) ([]byte, error) {
	aead := b.keys[b.keyID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("totp: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, secret, []byte(aadPrefix+userID)), nil
}

func (b *box) open(keyID string, ct []byte, userID string) ([]byte, error) {
	aead, ok := b.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("secret encrypted with unknown key %q", keyID)
	}
	if len(ct) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("secret ciphertext too short")
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, ct[:n], ct[n:], []byte(aadPrefix+userID))
	if err != nil {
		return nil, fmt.Errorf("decrypt secret: %w", err)
	}
	return pt, nil
}
