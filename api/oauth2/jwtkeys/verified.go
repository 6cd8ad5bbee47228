package jwtkeys

import (
	"crypto/sha256"
	"sync"
)

// DefaultVerifiedCacheSize bounds the verified-token cache (Config.VerifiedCacheSize).
const DefaultVerifiedCacheSize = 16384

// verifiedCache remembers tokens whose signature Verify checked, so a resource
// server that introspects the same access token on every API call pays for one
// signature verification (an ES256 verification is about three quarters of an
// introspection's CPU) and a SHA-256 afterwards.
//
// Entries are keyed by the SHA-256 of the typ and the whole compact token, so
// only the exact bytes that verified can hit; a tampered token misses and is
// verified in full. An entry names the key that verified it and is used only
// while that key is still published, so removing a key takes effect at once.
// Claims (exp, nbf, iss, revocation) are the caller's to check on every use, as
// without the cache. When the cache is full it is emptied: the bound matters,
// the hit rate after a reset recovers with one verification per token.
type verifiedCache struct {
	max     int // ≤ 0: disabled
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]verifiedToken
}

type verifiedToken struct {
	payload []byte // shared; never modified
	key     *key
}

func verifiedKey(token, typ string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write([]byte(token))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *verifiedCache) get(k [sha256.Size]byte) (verifiedToken, bool) {
	if c.max <= 0 {
		return verifiedToken{}, false
	}
	c.mu.RLock()
	v, ok := c.entries[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *verifiedCache) put(k [sha256.Size]byte, v verifiedToken) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= c.max {
		c.entries = make(map[[sha256.Size]byte]verifiedToken, min(c.max, 1024))
	}
	c.entries[k] = v
	c.mu.Unlock()
}

// len reports the number of cached tokens (for tests).
func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
