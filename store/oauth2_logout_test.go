package store_test

import (
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyflow/keyflow/store"
)

// TestOAuth2ClientLogoutMetadata: the logout members of a client round-trip.
func TestOAuth2ClientLogoutMetadata(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	nc := newOAuth2Client(org.ID, "rp")
	nc.PostLogoutRedirectURIs = []string{"https://rp.example/bye", "com.example.app:/bye"}
	nc.BackchannelLogoutURI, nc.BackchannelLogoutSessionRequired = "https://rp.example/bcl", true
	nc.FrontchannelLogoutURI, nc.FrontchannelLogoutSessionRequired = "https://rp.example/fcl", true
	if _, err := s.CreateOAuth2Client(t.Context(), nc); err != nil {
		t.Fatal(err)
	}
	c, err := s.OAuth2Client(t.Context(), "rp")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.PostLogoutRedirectURIs, nc.PostLogoutRedirectURIs) || c.BackchannelLogoutURI != nc.BackchannelLogoutURI ||
		!c.BackchannelLogoutSessionRequired || c.FrontchannelLogoutURI != nc.FrontchannelLogoutURI || !c.FrontchannelLogoutSessionRequired {
		t.Errorf("client %+v", c)
	}
	plain, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.PostLogoutRedirectURIs == nil || len(plain.PostLogoutRedirectURIs) != 0 || plain.BackchannelLogoutURI != "" {
		t.Errorf("defaults %+v", plain)
	}
}

// TestRevokeOAuth2SessionGrants: logging a session out revokes its grants' tokens, except
// offline_access grants and other sessions' grants.
func TestRevokeOAuth2SessionGrants(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	sid, other := uuid.NewString(), uuid.NewString()
	hash := func(v string) []byte { h := sha256.Sum256([]byte(v)); return h[:] }
	grant := func(id, session, scope string) {
		t.Helper()
		g := store.OAuth2Grant{ID: id, ClientID: "app", Subject: "u1", Scope: scope, AuthTime: now, SessionID: session,
			ExpiresAt: now.Add(time.Hour)}
		issued := store.OAuth2Issued{
			Tokens: []store.OAuth2Token{{Hash: hash(id), Kind: store.TokenKindRefresh, TokenID: id, ClientID: "app",
				Subject: "u1", Scope: scope, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}},
			JTIs: []store.OAuth2GrantJTI{{JTI: "jti-" + id, ExpiresAt: now.Add(time.Hour)}},
		}
		if err := s.CreateOAuth2Grant(t.Context(), store.NewOAuth2Grant{Grant: g, Issued: issued}); err != nil {
			t.Fatal(err)
		}
	}
	grant("g-online", sid, "openid")
	grant("g-offline", sid, "openid offline_access")
	grant("g-other", other, "openid")

	jtis, err := s.RevokeOAuth2SessionGrants(t.Context(), sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(jtis) != 1 || jtis[0].JTI != "jti-g-online" {
		t.Errorf("revoked JTIs %+v, want jti-g-online", jtis)
	}
	for id, wantRevoked := range map[string]bool{"g-online": true, "g-offline": false, "g-other": false} {
		tok, err := s.OAuth2TokenByHash(t.Context(), hash(id))
		if err != nil {
			t.Fatal(err)
		}
		if got := !tok.RevokedAt.IsZero(); got != wantRevoked {
			t.Errorf("%s: revoked %v, want %v", id, got, wantRevoked)
		}
	}
	// Again: nothing left to revoke; no session id means no session.
	if jtis, err := s.RevokeOAuth2SessionGrants(t.Context(), sid); err != nil || len(jtis) != 0 {
		t.Errorf("second revocation: %v %v", jtis, err)
	}
	grant("g-none", "", "openid")
	if jtis, err := s.RevokeOAuth2SessionGrants(t.Context(), ""); err != nil || len(jtis) != 0 {
		t.Errorf("empty session id: %v %v", jtis, err)
	}
}
