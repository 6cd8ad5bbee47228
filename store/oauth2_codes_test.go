package store_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

// TestOAuth2Grants: a grant with its code, single-use redemption, refresh
// rotation, and revocation reaching every token issued from the grant.
func TestOAuth2Grants(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	refresh := func(v string) store.OAuth2Token {
		return store.OAuth2Token{Hash: hash(v), Kind: store.TokenKindRefresh, TokenID: v, ClientID: "app",
			Subject: "u1", Scope: "openid", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	g := store.OAuth2Grant{ID: "g1", ClientID: "app", Subject: "u1", Scope: "openid email",
		Claims: map[string]any{"email": "a@example.com", "email_verified": true}, ACR: "acr1", AMR: []string{"pwd"},
		AuthTime: now, SessionID: "s1", Nonce: "n1", ExpiresAt: now.Add(2 * time.Hour)}
	code := &store.OAuth2Code{Hash: hash("code"), RedirectURI: "https://a/cb", CodeChallenge: "c", CodeChallengeMethod: "S256",
		IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateOAuth2Grant(t.Context(), store.NewOAuth2Grant{Grant: g, Code: code}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOAuth2Grant(t.Context(), store.NewOAuth2Grant{Grant: g}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken grant id: %v", err)
	}
	orphan := g
	orphan.ID, orphan.ClientID = "g2", "nobody"
	if err := s.CreateOAuth2Grant(t.Context(), store.NewOAuth2Grant{Grant: orphan}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}

	c, got, err := s.OAuth2CodeByHash(t.Context(), hash("code"))
	if err != nil || c.GrantID != "g1" || c.ClientID != "app" || c.CodeChallengeMethod != "S256" || !c.UsedAt.IsZero() ||
		got.Subject != "u1" || got.Claims["email_verified"] != true || !slices.Equal(got.AMR, []string{"pwd"}) || !got.AuthTime.Equal(now) {
		t.Fatalf("code %+v grant %+v, %v", c, got, err)
	}
	issued := store.OAuth2Issued{Tokens: []store.OAuth2Token{refresh("r1")},
		JTIs: []store.OAuth2GrantJTI{{JTI: "j1", ExpiresAt: now.Add(time.Hour)}}}
	if err := s.RedeemOAuth2Code(t.Context(), hash("code"), issued); err != nil {
		t.Fatal(err)
	}
	if err := s.RedeemOAuth2Code(t.Context(), hash("code"), store.OAuth2Issued{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second redemption: %v, want ErrConflict", err)
	}
	if err := s.RedeemOAuth2Code(t.Context(), hash("other"), store.OAuth2Issued{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown code: %v", err)
	}
	if byJTI, err := s.OAuth2GrantByJTI(t.Context(), "j1"); err != nil || byJTI.ID != "g1" {
		t.Errorf("grant by jti: %+v, %v", byJTI, err)
	}
	if tok, err := s.OAuth2TokenByHash(t.Context(), hash("r1")); err != nil || tok.GrantID != "g1" {
		t.Errorf("refresh token grant id %q, %v", tok.GrantID, err)
	}

	if err := s.RotateOAuth2RefreshToken(t.Context(), hash("r1"), store.OAuth2Issued{Tokens: []store.OAuth2Token{refresh("r2")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateOAuth2RefreshToken(t.Context(), hash("r1"), store.OAuth2Issued{Tokens: []store.OAuth2Token{refresh("r3")}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rotating a rotated token: %v, want ErrConflict", err)
	}
	if _, err := s.OAuth2TokenByHash(t.Context(), hash("r3")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused rotation stored its token: %v", err)
	}

	for range 2 { // idempotent
		jtis, err := s.RevokeOAuth2Grant(t.Context(), "g1")
		if err != nil || len(jtis) != 1 || jtis[0].JTI != "j1" || jtis[0].ClientID != "app" {
			t.Fatalf("revoke grant: %+v, %v", jtis, err)
		}
	}
	if tok, _ := s.OAuth2TokenByHash(t.Context(), hash("r2")); tok.RevokedAt.IsZero() {
		t.Error("refresh token of a revoked grant not revoked")
	}
	if all, _ := s.RevokedOAuth2JTIs(t.Context(), time.Time{}); !slices.ContainsFunc(all, func(r store.RevokedJTI) bool { return r.JTI == "j1" }) {
		t.Errorf("revoked jtis %+v lack the grant's access token", all)
	}
	if err := s.RotateOAuth2RefreshToken(t.Context(), hash("r2"), store.OAuth2Issued{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rotating in a revoked grant: %v", err)
	}
	if _, err := s.RevokeOAuth2Grant(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown grant: %v", err)
	}

	if _, err := s.DeleteExpiredOAuth2Tokens(t.Context(), now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OAuth2Grant(t.Context(), "g1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired grant not deleted: %v", err)
	}
}
