package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func TestSAMLLogout(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	l, err := s.SaveSAMLLogout(ctx, store.SAMLLogout{OrgID: org.ID, State: json.RawMessage(`{"a":1}`),
		PendingRequestID: "_req1", ExpiresAt: now.Add(time.Minute)})
	if err != nil || l.ID == "" {
		t.Fatalf("create = %+v, %v", l, err)
	}
	other, err := s.SaveSAMLLogout(ctx, store.SAMLLogout{OrgID: org.ID, State: json.RawMessage(`{}`), ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveSAMLLogout(ctx, store.SAMLLogout{ID: other.ID, OrgID: org.ID, State: json.RawMessage(`{}`),
		PendingRequestID: "_req1", ExpiresAt: now.Add(time.Minute)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("pending id reused: %v", err)
	}
	got, err := s.TakeSAMLLogoutByRequest(ctx, "_req1", now)
	if err != nil || got.ID != l.ID || string(got.State) != `{"a": 1}` {
		t.Fatalf("take = %+v, %v", got, err)
	}
	if _, err := s.TakeSAMLLogoutByRequest(ctx, "_req1", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second take: %v", err)
	}
	// The next step.
	if _, err := s.SaveSAMLLogout(ctx, store.SAMLLogout{ID: l.ID, OrgID: org.ID, State: json.RawMessage(`{"a":2}`),
		PendingRequestID: "_req2", ExpiresAt: l.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeSAMLLogoutByRequest(ctx, "_req2", now.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired logout taken: %v", err)
	}
	if _, err := s.TakeSAMLLogout(ctx, l.ID, other.OrgID+"x", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bad org: %v", err)
	}
	resumed, err := s.TakeSAMLLogout(ctx, l.ID, org.ID, now)
	if err != nil || resumed.PendingRequestID != "_req2" {
		t.Fatalf("resume = %+v, %v", resumed, err)
	}
	if _, err := s.TakeSAMLLogoutByRequest(ctx, "_req2", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("answer after resume accepted: %v", err)
	}
	if err := s.DeleteSAMLLogout(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeSAMLLogout(ctx, l.ID, org.ID, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted logout: %v", err)
	}
	if _, err := s.SaveSAMLLogout(ctx, store.SAMLLogout{ID: l.ID, OrgID: org.ID, State: json.RawMessage(`{}`), ExpiresAt: now}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of deleted: %v", err)
	}
}

func TestSAMLArtifact(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	now := time.Now().UTC()
	handle := bytes.Repeat([]byte{7}, 20)
	a := store.SAMLArtifact{Handle: handle, OrgID: org.ID, SPEntityID: "https://sp.example.com", Message: []byte("sealed"), ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateSAMLArtifact(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSAMLArtifact(ctx, a); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same handle: %v", err)
	}
	tests := []struct {
		name     string
		sp       string
		at       time.Time
		wantSeen bool
	}{
		{"another SP", "https://other.example.com", now, false},
		{"expired", a.SPEntityID, now.Add(2 * time.Minute), false},
		{"the SP", a.SPEntityID, now, true},
		{"again", a.SPEntityID, now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TakeSAMLArtifact(ctx, handle, org.ID, tc.sp, tc.at)
			if tc.wantSeen != (err == nil) || (err != nil && !errors.Is(err, store.ErrNotFound)) {
				t.Fatalf("take = %+v, %v", got, err)
			}
			if err == nil && string(got.Message) != "sealed" {
				t.Errorf("message %q", got.Message)
			}
		})
	}
}
