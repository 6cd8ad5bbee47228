package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length in bytes of every payload key: AES-256.
const KeySize = 32

// maxKeyIDLen bounds key ids because every payload carries its key id in
// metadata; a long id costs bytes in every history event.
const maxKeyIDLen = 64

// Keyring holds the payload keys of one deployment: exactly one active key,
// used for every new encryption, and any number of older keys kept only so
// that histories written before a rotation can still be decrypted.
//
// A Keyring is immutable after construction and safe for concurrent use.
type Keyring struct {
	activeID string
	ids      []string // in configuration order, active first
	aeads    map[string]cipher.AEAD
}

// ActiveKeyID returns the id of the key that encrypts new payloads.
func (k *Keyring) ActiveKeyID() string { return k.activeID }

// KeyIDs returns the ids of all known keys, active first, in configuration
// order.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// ParseKeys builds a Keyring from a configuration value of the form
//
//	k2:BASE64KEY,k1:BASE64KEY
//
// The first entry is the active key; the others only decrypt. Each key must
// decode (standard or URL base64, padding optional) to exactly 32 bytes. Key
// ids are 1–64 characters from [A-Za-z0-9._-] and must be unique. Spaces
// around entries are ignored.
//
// Errors name the entry (by position and id) and what is wrong with it; they
// never contain key material, so they are safe to log.
func ParseKeys(spec string) (*Keyring, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("codec: key spec is empty: want id:base64key[,id:base64key...]")
	}
	entries := strings.Split(spec, ",")
	ids := make([]string, 0, len(entries))
	keys := make([][]byte, 0, len(entries))
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		pos := i + 1
		if entry == "" {
			return nil, fmt.Errorf("codec: key spec entry %d is empty (stray comma?)", pos)
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			// Do not echo the entry: it may be a bare key.
			return nil, fmt.Errorf("codec: key spec entry %d has no ':' separator: want id:base64key", pos)
		}
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if err := validateKeyID(id); err != nil {
			return nil, fmt.Errorf("codec: key spec entry %d: %w", pos, err)
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("codec: key spec entry %d (id %q): %w", pos, id, err)
		}
		ids = append(ids, id)
		keys = append(keys, key)
	}
	return newKeyring(ids, keys)
}

// newKeyring builds a Keyring from parallel slices of ids and raw keys; the
// first is active.
func newKeyring(ids []string, keys [][]byte) (*Keyring, error) {
	if len(ids) == 0 || len(ids) != len(keys) {
		return nil, errors.New("codec: keyring needs at least one key")
	}
	k := &Keyring{activeID: ids[0], aeads: make(map[string]cipher.AEAD, len(ids))}
	for i, id := range ids {
		if err := validateKeyID(id); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("codec: key id %q appears more than once", id)
		}
		if len(keys[i]) != KeySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes, AES-256 needs exactly %d", id, len(keys[i]), KeySize)
		}
		block, err := aes.NewCipher(keys[i])
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", id, err)
		}
		// NewGCMWithRandomNonce draws a fresh 96-bit nonce from crypto/rand
		// for every Seal and prepends it to the ciphertext, so nonce handling
		// cannot be got wrong here. Random nonces bound one key to about 2^32
		// encryptions before the collision risk matters; rotate well before.
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", id, err)
		}
		k.aeads[id] = aead
		k.ids = append(k.ids, id)
	}
	return k, nil
}

func validateKeyID(id string) error {
	switch {
	case id == "":
		return errors.New("key id is empty")
	case len(id) > maxKeyIDLen:
		return fmt.Errorf("key id is %d characters, at most %d allowed", len(id), maxKeyIDLen)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("key id %q contains %q: only letters, digits, '.', '_' and '-' are allowed", id, r)
		}
	}
	return nil
}

// decodeKey accepts standard and URL-safe base64, with or without padding,
// because keys are pasted from many tools (openssl rand -base64 32, etc.).
func decodeKey(b64 string) ([]byte, error) {
	if b64 == "" {
		return nil, errors.New("key is empty")
	}
	raw := strings.TrimRight(b64, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(raw, "-_") {
		enc = base64.RawURLEncoding
	}
	key, err := enc.DecodeString(raw)
	if err != nil {
		// The base64 error names an offset only, never the input.
		return nil, fmt.Errorf("key is not valid base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key decodes to %d bytes, AES-256 needs exactly %d", len(key), KeySize)
	}
	return key, nil
}
