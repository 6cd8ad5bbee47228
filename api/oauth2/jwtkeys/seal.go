package jwtkeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KEK is a key-encryption key: 32 bytes for AES-256-GCM and an id stored
// next to everything it seals.
type KEK struct {
	ID  string
	Key []byte
}

func (k KEK) validate() error {
	switch {
	case k.ID == "" || len(k.ID) > 64:
		return fmt.Errorf("KEK id %q: empty or longer than 64 bytes", k.ID)
	case len(k.Key) != 32:
		return fmt.Errorf("KEK %s: need 32 bytes, got %d", k.ID, len(k.Key))
	}
	return nil
}

// sealVersion prefixes the associated data so that a future format cannot be
// confused with this one.
const sealVersion = "keyflow.jwtkey.v1"

func associatedData(kid, alg string) []byte {
	return []byte(sealVersion + "\x00" + kid + "\x00" + alg)
}

// seal returns nonce ‖ AES-256-GCM(plaintext) ‖ tag, binding kid and alg.
func seal(kek KEK, kid, alg string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(kek.Key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("jwtkeys: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, associatedData(kid, alg)), nil
}

// open reverses seal.
func open(kek KEK, kid, alg string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(kek.Key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("jwtkeys: sealed key too short")
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, associatedData(kid, alg))
	if err != nil {
		// Wrong KEK, or the row was tampered with or moved.
		return nil, fmt.Errorf("jwtkeys: unseal key %s with KEK %s: authentication failed", kid, kek.ID)
	}
	return pt, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("jwtkeys: %w", err)
	}
	return aead, nil
}
