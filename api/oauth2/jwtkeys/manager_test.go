package jwtkeys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var testKEK = jwtkeys.KEK{ID: "k1", Key: bytes.Repeat([]byte{7}, 32)}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func newManager(t *testing.T, s jwtkeys.Store, c *clock, keks ...jwtkeys.KEK) *jwtkeys.Manager {
	t.Helper()
	if len(keks) == 0 {
		keks = []jwtkeys.KEK{testKEK}
	}
	m, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: s, KEKs: keks, Now: c.Now, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func jwks(t *testing.T, m *jwtkeys.Manager) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(t.Context()), &set); err != nil {
		t.Fatal(err)
	}
	return set
}

func TestFirstStartCreatesKeysOnce(t *testing.T) {
	s := storetest.New(t)
	c := newClock()
	m1 := newManager(t, s, c)
	m2 := newManager(t, s, c) // a second replica starting on the same database
	rows, err := s.OAuth2SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("stored %d keys, want current+next for 3 algorithms", len(rows))
	}
	for _, row := range rows {
		if bytes.Contains(row.PrivateKey, []byte("PRIVATE")) || row.KEKID != testKEK.ID {
			t.Errorf("key %s not sealed with %s", row.KID, testKEK.ID)
		}
	}
	if !bytes.Equal(m1.JWKS(t.Context()), m2.JWKS(t.Context())) {
		t.Error("replicas publish different JWKS")
	}
	set := jwks(t, m1)
	if len(set.Keys) != 6 {
		t.Fatalf("JWKS has %d keys, want 6", len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID == "" || k.Algorithm == "" {
			t.Errorf("published key %+v: want public, use=sig, kid, alg", k.KeyID)
		}
	}
}

func TestSignVerify(t *testing.T) {
	s := storetest.New(t)
	m := newManager(t, s, newClock())
	payload := []byte(`{"sub":"x"}`)
	for _, alg := range []string{jwtkeys.ES256, jwtkeys.RS256, jwtkeys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			tok, err := m.Sign(t.Context(), alg, jwtkeys.TypeAccessToken, payload)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if got := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; got != jwtkeys.TypeAccessToken {
				t.Errorf("typ = %v", got)
			}
			got, err := m.Verify(t.Context(), tok, jwtkeys.TypeAccessToken)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("Verify = %s, %v", got, err)
			}
			if _, err := m.Verify(t.Context(), tok, jwtkeys.TypeJWT); err == nil {
				t.Error("Verify accepted the wrong typ")
			}
			parts := strings.Split(tok, ".")
			tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
			if _, err := m.Verify(t.Context(), tampered, ""); err == nil {
				t.Error("Verify accepted a tampered payload")
			}
		})
	}
}

func TestRotate(t *testing.T) {
	s := storetest.New(t)
	c := newClock()
	m := newManager(t, s, c)
	other := newManager(t, s, c) // another replica with its own cache

	before, err := m.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	kidBefore := kidOf(t, before)
	if err := m.Rotate(t.Context(), jwtkeys.ES256); err != nil {
		t.Fatal(err)
	}
	after, err := m.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, after) == kidBefore {
		t.Fatal("rotation did not change the signing key")
	}
	if _, err := m.Verify(t.Context(), before, ""); err != nil {
		t.Errorf("token signed before rotation no longer verifies: %v", err)
	}
	// The other replica signs with its cached key until the TTL passes, and
	// already verifies tokens of the new key (it was published as next).
	if _, err := other.Verify(t.Context(), after, ""); err != nil {
		t.Errorf("other replica rejects new key: %v", err)
	}
	c.Add(2 * time.Minute)
	fresh, err := other.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, fresh) != kidOf(t, after) {
		t.Error("other replica did not pick up the rotation after the TTL")
	}

	// A second rotation drops the key that signed "before".
	if err := m.Rotate(t.Context(), jwtkeys.ES256); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(t.Context(), before, ""); err == nil {
		t.Error("token of a dropped key still verifies")
	}
	if n := len(jwks(t, m).Keys); n != 7 {
		t.Errorf("JWKS has %d keys after rotating ES256, want 3 ES256 + 2 RS256 + 2 EdDSA", n)
	}
}

func TestConcurrentRotateOneWins(t *testing.T) {
	s := storetest.New(t)
	c := newClock()
	a, b := newManager(t, s, c), newManager(t, s, c)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*jwtkeys.Manager{a, b} {
		wg.Go(func() { errs[i] = m.Rotate(context.Background(), jwtkeys.EdDSA) })
	}
	wg.Wait()
	// Either both ran one after the other (each saw the other's result on
	// reload), or one lost with ErrConflict; never a broken chain.
	for _, err := range errs {
		if err != nil && !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Rotate: %v", err)
		}
	}
	rows, err := s.OAuth2SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	states := map[store.SigningKeyState]int{}
	for _, r := range rows {
		if r.Alg == jwtkeys.EdDSA {
			states[r.State]++
		}
	}
	if states[store.SigningKeyCurrent] != 1 || states[store.SigningKeyNext] != 1 || states[store.SigningKeyPrevious] != 1 {
		t.Errorf("EdDSA chain after concurrent rotation: %v", states)
	}
}

func TestKEKs(t *testing.T) {
	s := storetest.New(t)
	c := newClock()
	newManager(t, s, c) // creates keys sealed with k1
	k2 := jwtkeys.KEK{ID: "k2", Key: bytes.Repeat([]byte{9}, 32)}
	tests := []struct {
		name    string
		keks    []jwtkeys.KEK
		wantErr bool
	}{
		{"new KEK first, old one kept", []jwtkeys.KEK{k2, testKEK}, false},
		{"old KEK missing", []jwtkeys.KEK{k2}, true},
		{"same id, wrong key", []jwtkeys.KEK{{ID: "k1", Key: k2.Key}}, true},
		{"short key", []jwtkeys.KEK{{ID: "k3", Key: []byte("short")}}, true},
		{"none", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: s, KEKs: tc.keks, Now: c.Now})
			if (err != nil) != tc.wantErr {
				t.Fatalf("New: err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected.KeyID
}

// A verified token is remembered, but only the exact token: a copy with another
// signature, or with the same signature over another payload, is verified in full
// and refused, also after the genuine token was cached.
func TestVerifyCacheNeverAcceptsAlteredTokens(t *testing.T) {
	s := storetest.New(t)
	m := newManager(t, s, newClock())
	tok, err := m.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := m.Verify(t.Context(), tok, jwtkeys.TypeAccessToken); err != nil {
			t.Fatal(err)
		}
	}
	other, err := m.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{"sub":"mallory"}`))
	if err != nil {
		t.Fatal(err)
	}
	p, q := strings.Split(tok, "."), strings.Split(other, ".")
	for name, forged := range map[string]string{
		"other payload, cached signature": p[0] + "." + q[1] + "." + p[2],
		"cached payload, other signature": p[0] + "." + p[1] + "." + q[2],
	} {
		if _, err := m.Verify(t.Context(), forged, jwtkeys.TypeAccessToken); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, err := m.Verify(t.Context(), tok, jwtkeys.TypeJWT); err == nil {
		t.Error("a cached access token verified as another typ")
	}
}

// BenchmarkVerify compares a first verification (a signature check) with a
// token verified before (a SHA-256 and a map lookup).
func BenchmarkVerify(b *testing.B) {
	s := storetest.New(b)
	for _, cached := range []bool{false, true} {
		size := -1
		if cached {
			size = 0
		}
		m, err := jwtkeys.New(b.Context(), jwtkeys.Config{Store: s, KEKs: []jwtkeys.KEK{testKEK}, VerifiedCacheSize: size})
		if err != nil {
			b.Fatal(err)
		}
		for _, alg := range []string{jwtkeys.ES256, jwtkeys.RS256, jwtkeys.EdDSA} {
			b.Run(fmt.Sprintf("%s/cached=%t", alg, cached), func(b *testing.B) {
				tok, err := m.Sign(b.Context(), alg, jwtkeys.TypeAccessToken, []byte(`{"sub":"alice","exp":4102444800}`))
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := m.Verify(b.Context(), tok, jwtkeys.TypeAccessToken); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
