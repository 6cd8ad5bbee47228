package jwtkeys_test

import (
	"slices"
	"testing"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store/storetest"
)

// TestRotateOlderThan: scheduled rotation rotates exactly the algorithms whose current key has
// signed for the rotation period, and the keys it makes current are young again.
func TestRotateOlderThan(t *testing.T) {
	s := storetest.New(t)
	// Keys are activated by the database's clock: compare with the real one.
	m, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: s, KEKs: []jwtkeys.KEK{testKEK}})
	if err != nil {
		t.Fatal(err)
	}
	before, err := m.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.RotateOlderThan(t.Context(), 24*time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("fresh keys rotated: %v, %v", got, err)
	}
	// Every current key is older than a nanosecond.
	got, err := m.RotateOlderThan(t.Context(), time.Nanosecond)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{jwtkeys.ES256, jwtkeys.EdDSA, jwtkeys.RS256}) {
		t.Fatalf("RotateOlderThan = %v, %v; want every algorithm", got, err)
	}
	after, err := m.Sign(t.Context(), jwtkeys.ES256, jwtkeys.TypeAccessToken, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, after) == kidOf(t, before) {
		t.Fatal("the signing key did not change")
	}
	if got, err := m.RotateOlderThan(t.Context(), 24*time.Hour); err != nil || len(got) != 0 {
		t.Errorf("second round rotated %v, %v", got, err)
	}
}
