package store_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

// TestOAuth2PushedRequests: stored once, taken once, expired ones refused
// and purged, unknown clients refused.
func TestOAuth2PushedRequests(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	hash := func(v string) []byte { h := sha256.Sum256([]byte(v)); return h[:] }
	params := map[string]string{"response_type": "code", "state": "s"}
	for _, id := range []string{"a", "old"} {
		r := store.OAuth2PushedRequest{Hash: hash(id), ClientID: "app", Params: params, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateOAuth2PushedRequest(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	err := s.CreateOAuth2PushedRequest(t.Context(), store.OAuth2PushedRequest{Hash: hash("b"), ClientID: "nobody", ExpiresAt: now})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	got, err := s.TakeOAuth2PushedRequest(t.Context(), hash("a"), now)
	if err != nil || got.ClientID != "app" || got.Params["state"] != "s" || !got.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("take: %+v, %v", got, err)
	}
	if _, err := s.TakeOAuth2PushedRequest(t.Context(), hash("a"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second take: %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteExpiredOAuth2PushedRequests(t.Context(), now); err != nil || n != 0 {
		t.Errorf("purge before expiry: %d, %v", n, err)
	}
	if n, err := s.DeleteExpiredOAuth2PushedRequests(t.Context(), now.Add(2*time.Minute)); err != nil || n != 1 {
		t.Errorf("purge after expiry: %d, %v", n, err)
	}
	if _, err := s.TakeOAuth2PushedRequest(t.Context(), hash("old"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged: %v", err)
	}
	r := store.OAuth2PushedRequest{Hash: hash("late"), ClientID: "app", ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateOAuth2PushedRequest(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeOAuth2PushedRequest(t.Context(), hash("late"), now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired take: %v, want ErrNotFound", err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM oauth2_pushed_requests`); n != 0 {
		t.Errorf("%d rows left, want 0 (used and expired ones are deleted)", n)
	}
}
