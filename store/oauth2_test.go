package store_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func newOAuth2Client(orgID, id string) store.NewOAuth2Client {
	return store.NewOAuth2Client{OAuth2Client: store.OAuth2Client{
		ClientID: id, OrgID: orgID, Name: "app", SecretHash: "hmac-sha256$x$y",
		GrantTypes: []string{"client_credentials"}, TokenFormat: store.TokenFormatJWT,
		AccessTokenLifetime: time.Hour, SigningAlg: "ES256",
	}}
}

func TestCreateOAuth2Client(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	c, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.OAuth2Client(t.Context(), "app1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != c.ClientID || got.AccessTokenLifetime != time.Hour || got.SecretHash != "hmac-sha256$x$y" ||
		len(got.RedirectURIs) != 0 || got.RedirectURIs == nil {
		t.Errorf("read back %+v", got)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND NOT after::text LIKE '%hmac%'`,
		store.AuditOAuth2ClientCreate); n != 1 {
		t.Errorf("%d audit events without the secret hash, want 1", n)
	}

	public := newOAuth2Client(org.ID, "spa")
	public.Public = true
	tests := []struct {
		name string
		nc   store.NewOAuth2Client
		want error // nil: any plain error
	}{
		{"taken id", newOAuth2Client(org.ID, "app1"), store.ErrConflict},
		{"unknown organization", newOAuth2Client("00000000-0000-0000-0000-000000000000", "x"), store.ErrNotFound},
		{"malformed organization", newOAuth2Client("nope", "x"), store.ErrNotFound},
		{"public with secret", public, nil},
		{"empty id", newOAuth2Client(org.ID, ""), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateOAuth2Client(t.Context(), tc.nc)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := s.OAuth2Client(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing client: %v", err)
	}
}

func TestOAuth2Tokens(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	hash := sha256.Sum256([]byte("token"))
	tok := store.OAuth2Token{Hash: hash[:], Kind: store.TokenKindAccess, TokenID: "t1", ClientID: "app",
		Subject: "app", Scope: "read", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateOAuth2Token(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOAuth2Token(t.Context(), tok); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate hash: %v", err)
	}
	orphan := tok
	orphan.Hash, orphan.ClientID = make([]byte, 32), "nobody"
	if err := s.CreateOAuth2Token(t.Context(), orphan); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	got, err := s.OAuth2TokenByHash(t.Context(), hash[:])
	if err != nil || got.Scope != "read" || !got.ExpiresAt.Equal(tok.ExpiresAt) || !got.RevokedAt.IsZero() {
		t.Fatalf("read back %+v, %v", got, err)
	}
	for range 2 { // idempotent
		if err := s.RevokeOAuth2Token(t.Context(), hash[:]); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.OAuth2TokenByHash(t.Context(), hash[:]); got.RevokedAt.IsZero() {
		t.Error("not revoked")
	}
	if err := s.RevokeOAuth2Token(t.Context(), make([]byte, 32)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}

	for _, r := range []store.RevokedJTI{
		{JTI: "live", ClientID: "app", ExpiresAt: now.Add(time.Hour)},
		{JTI: "live", ClientID: "app", ExpiresAt: now.Add(time.Hour)}, // twice is fine
		{JTI: "dead", ClientID: "app", ExpiresAt: now.Add(-time.Minute)},
	} {
		if err := s.RevokeOAuth2JTI(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.RevokedOAuth2JTIs(t.Context(), time.Time{})
	if err != nil || len(all) != 1 || all[0].JTI != "live" {
		t.Fatalf("revoked jtis %+v, %v; want only the unexpired one", all, err)
	}
	later, err := s.RevokedOAuth2JTIs(t.Context(), all[0].RevokedAt)
	if err != nil || len(later) != 0 {
		t.Errorf("since the last one: %+v, %v", later, err)
	}

	n, err := s.DeleteExpiredOAuth2Tokens(t.Context(), now.Add(2*time.Hour))
	if err != nil || n != 3 {
		t.Errorf("deleted %d, %v; want the token and both jtis", n, err)
	}
}
