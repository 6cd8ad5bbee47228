package store_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func TestSSOSessionLifecycle(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "sso-alice"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	token := sha256.Sum256([]byte("cookie-token"))
	steps := json.RawMessage(`[{"step":1,"authenticator":"BasicAuthenticator"}]`)
	created, err := s.CreateSSOSession(ctx, token[:], store.SSOSession{
		OrgID: org.ID, UserID: u.ID, Subject: u.ID, Steps: steps, AuthTime: now, LastActiveAt: now,
		IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(10 * time.Hour),
		UserAgent: "test-agent", IP: "192.0.2.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.UserID != u.ID || !created.AuthTime.Equal(now) {
		t.Fatalf("created = %+v", created)
	}
	if _, err := s.CreateSSOSession(ctx, token[:], store.SSOSession{OrgID: org.ID, Subject: "x",
		IdleExpiresAt: now.Add(time.Minute), ExpiresAt: now.Add(time.Minute)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second session with the same token: %v, want ErrConflict", err)
	}

	got, err := s.SSOSessionByToken(ctx, token[:], now.Add(time.Minute))
	if err != nil || got.ID != created.ID {
		t.Fatalf("SSOSessionByToken = %+v, %v", got, err)
	}
	var gotSteps []map[string]any
	if err := json.Unmarshal(got.Steps, &gotSteps); err != nil || len(gotSteps) != 1 || gotSteps[0]["authenticator"] != "BasicAuthenticator" {
		t.Errorf("steps = %s, %v", got.Steps, err)
	}
	other := sha256.Sum256([]byte("other"))
	if _, err := s.SSOSessionByToken(ctx, other[:], now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	// Idle expiry voids the session unless it is refreshed.
	if _, err := s.SSOSessionByToken(ctx, token[:], now.Add(31*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("idle-expired session: %v, want ErrNotFound", err)
	}
	later := now.Add(20 * time.Minute)
	steps2 := json.RawMessage(`[{"step":1},{"step":2}]`)
	if err := s.RefreshSSOSession(ctx, created.ID, steps2, later, later.Add(30*time.Minute),
		store.SSOParticipant{Protocol: "oidc", RelyingParty: "client-a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSSOParticipant(ctx, created.ID, store.SSOParticipant{Protocol: "saml", RelyingParty: "urn:sp", RPSession: "idx-1"}, later); err != nil {
		t.Fatal(err)
	}
	got, err = s.SSOSessionByToken(ctx, token[:], now.Add(31*time.Minute))
	if err != nil {
		t.Fatalf("refreshed session: %v", err)
	}
	if string(got.Steps) != `[{"step": 1}, {"step": 2}]` {
		t.Errorf("steps after refresh = %s", got.Steps)
	}
	// The idle expiry never passes the absolute one.
	if err := s.RefreshSSOSession(ctx, created.ID, nil, later, now.Add(48*time.Hour), store.SSOParticipant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SSOSessionByToken(ctx, token[:], now.Add(11*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session past its absolute expiry: %v, want ErrNotFound", err)
	}

	list, err := s.UserSSOSessions(ctx, u.ID, later)
	if err != nil || len(list) != 1 || len(list[0].Participants) != 2 {
		t.Fatalf("UserSSOSessions = %+v, %v", list, err)
	}
	if p := list[0].Participants[1]; p.Protocol != "saml" || p.RPSession != "idx-1" {
		t.Errorf("participant = %+v", p)
	}

	stranger, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "sso-mallory"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TerminateSSOSession(ctx, created.ID, stranger.ID, later, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("terminating another user's session: %v, want ErrNotFound", err)
	}
	ended, err := s.TerminateSSOSession(ctx, created.ID, u.ID, later, store.Actor{})
	if err != nil || len(ended.Participants) != 2 {
		t.Fatalf("TerminateSSOSession = %+v, %v", ended, err)
	}
	if _, err := s.SSOSessionByToken(ctx, token[:], later); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("terminated session still found: %v", err)
	}
	if _, err := s.TerminateSSOSession(ctx, created.ID, "", later, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("terminating twice: %v, want ErrNotFound", err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`,
		store.AuditSessionTerminate, created.ID); n != 1 {
		t.Errorf("%d audit events for the termination, want 1", n)
	}
	n, err := s.DeleteExpiredSSOSessions(ctx, later.Add(time.Second))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredSSOSessions = %d, %v; want 1", n, err)
	}
}
