package wfhost

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/keyflow/keyflow/scripting"
)

// CookieCodec implements scripting.Cookies with one server key: signatures are HMAC-SHA256 of
// the plain value, encryption is AES-256-GCM with a random nonce (nonce ‖ ciphertext, base64).
// Both sub-keys are derived from the configured key, so one secret serves both. It runs inside
// the cookie activities, never in the workflow: the key stays out of workflow code and the
// nonce's randomness out of replay.
type CookieCodec struct {
	signKey []byte
	aead    cipher.AEAD
}

var _ scripting.Cookies = (*CookieCodec)(nil)

// cookieAAD binds ciphertexts to their use.
var cookieAAD = []byte("keyflow script cookie")

// NewCookieCodec returns a codec for key, which must be at least 32 random bytes.
func NewCookieCodec(key []byte) (*CookieCodec, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("wfhost: the cookie key must be at least 32 bytes, got %d", len(key))
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("keyflow cookie encryption"))
	if err != nil {
		return nil, fmt.Errorf("wfhost: cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("wfhost: cookie cipher: %w", err)
	}
	return &CookieCodec{signKey: derive("keyflow cookie signing"), aead: aead}, nil
}

func (c *CookieCodec) sign(value string) string {
	m := hmac.New(sha256.New, c.signKey)
	m.Write([]byte(value))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Seal implements scripting.Cookies.
func (c *CookieCodec) Seal(_ context.Context, value string, sign, encrypt bool) (string, error) {
	sig := ""
	if sign {
		sig = c.sign(value)
	}
	if encrypt {
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return "", fmt.Errorf("wfhost: cookie nonce: %w", err)
		}
		value = base64.StdEncoding.EncodeToString(c.aead.Seal(nonce, nonce, []byte(value), cookieAAD))
	}
	return scripting.EncodeCookie(value, sig), nil
}

// Open implements scripting.Cookies.
func (c *CookieCodec) Open(_ context.Context, stored string, decrypt, validateSignature bool) (string, bool, error) {
	value, sig, ok := scripting.DecodeCookie(stored)
	if !ok {
		return "", false, nil
	}
	if decrypt {
		plain, err := c.decrypt(value)
		if err != nil {
			return "", false, nil // an undecryptable cookie reads as null, not as a failure
		}
		value = plain
	}
	if validateSignature && (sig == "" || !hmac.Equal([]byte(sig), []byte(c.sign(value)))) {
		return "", false, nil
	}
	return value, true, nil
}

func (c *CookieCodec) decrypt(value string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", fmt.Errorf("cookie value: %w", err)
	}
	n := c.aead.NonceSize()
	if len(raw) < n {
		return "", errors.New("cookie value too short")
	}
	plain, err := c.aead.Open(nil, raw[:n], raw[n:], cookieAAD)
	if err != nil {
		return "", fmt.Errorf("cookie value: %w", err)
	}
	return string(plain), nil
}
