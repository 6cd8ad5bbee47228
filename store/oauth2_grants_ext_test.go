package store_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func TestOAuth2ClientAuthMetadata(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	nc := newOAuth2Client(org.ID, "pkjwt")
	nc.SecretHash = ""
	nc.TokenEndpointAuthMethod = "private_key_jwt"
	nc.TokenEndpointAuthSigningAlg = "ES256"
	nc.JWKS = []byte(`{"keys":[]}`)
	nc.JWTBearerIssuers = []store.JWTBearerIssuer{{Issuer: "https://idp.example", JWKSURI: "https://idp.example/jwks",
		SubjectType: store.SubjectUsername}}
	if _, err := s.CreateOAuth2Client(t.Context(), nc); err != nil {
		t.Fatal(err)
	}
	got, err := s.OAuth2Client(t.Context(), "pkjwt")
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenEndpointAuthMethod != "private_key_jwt" || got.TokenEndpointAuthSigningAlg != "ES256" ||
		string(got.JWKS) != `{"keys": []}` || got.SecretHash != "" || len(got.JWTBearerIssuers) != 1 ||
		got.JWTBearerIssuers[0].JWKSURI != "https://idp.example/jwks" || got.SecretSealed != nil {
		t.Errorf("read back %+v", got)
	}
	plain, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "plain"))
	if err != nil || plain.JWKS != nil || plain.JWTBearerIssuers == nil || len(plain.JWTBearerIssuers) != 0 {
		t.Errorf("plain client %+v, %v", plain, err)
	}
	sealed := newOAuth2Client(org.ID, "hs")
	sealed.TokenEndpointAuthMethod = "client_secret_jwt"
	sealed.SecretSealed = []byte{1, 2, 3}
	if c, err := s.CreateOAuth2Client(t.Context(), sealed); err != nil || string(c.SecretSealed) != "\x01\x02\x03" {
		t.Errorf("sealed secret %v, %v", c.SecretSealed, err)
	}

	bad := map[string]func(*store.NewOAuth2Client){
		"confidential without secret": func(c *store.NewOAuth2Client) { c.SecretHash = "" },
		"unknown method":              func(c *store.NewOAuth2Client) { c.TokenEndpointAuthMethod = "tls_client_auth" },
		"jwks and uri": func(c *store.NewOAuth2Client) {
			c.JWKS, c.JWKSURI = []byte(`{"keys":[]}`), "https://a.example/jwks"
		},
		"issuer without keys": func(c *store.NewOAuth2Client) {
			c.JWTBearerIssuers = []store.JWTBearerIssuer{{Issuer: "x", SubjectType: store.SubjectUserID}}
		},
	}
	for name, mut := range bad {
		c := newOAuth2Client(org.ID, "bad")
		mut(&c)
		if _, err := s.CreateOAuth2Client(t.Context(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUseOAuth2AssertionJTI(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app")); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Minute)
	if err := s.UseOAuth2AssertionJTI(t.Context(), "app", "j1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.UseOAuth2AssertionJTI(t.Context(), "app", "j1", exp); !errors.Is(err, store.ErrConflict) {
		t.Errorf("reuse: %v, want ErrConflict", err)
	}
	if err := s.UseOAuth2AssertionJTI(t.Context(), "nobody", "j1", exp); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v, want ErrNotFound", err)
	}
	if err := s.UseOAuth2AssertionJTI(t.Context(), "app", "", exp); err == nil {
		t.Error("empty jti accepted")
	}
	// Expired records go with the other expired rows.
	if err := s.UseOAuth2AssertionJTI(t.Context(), "app", "old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredOAuth2Tokens(t.Context(), time.Now())
	if err != nil || n != 1 {
		t.Errorf("deleted %d, %v; want 1", n, err)
	}
	if err := s.UseOAuth2AssertionJTI(t.Context(), "app", "old", exp); err != nil {
		t.Errorf("jti after its record expired: %v", err)
	}
}

func TestOrganizationByID(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	got, err := s.OrganizationByID(t.Context(), org.ID)
	if err != nil || got.Handle != org.Handle {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, id := range []string{"nope", "00000000-0000-0000-0000-000000000000"} {
		if _, err := s.OrganizationByID(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", id, err)
		}
	}
}

func TestAddOAuth2GrantIssued(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "app")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	if err := s.CreateOAuth2Grant(t.Context(), store.NewOAuth2Grant{Grant: store.OAuth2Grant{ID: "g1", ClientID: "app",
		Subject: "u1", AuthTime: now, ExpiresAt: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	issued := store.OAuth2Issued{JTIs: []store.OAuth2GrantJTI{{JTI: "x1", ExpiresAt: now.Add(time.Hour)}}}
	if err := s.AddOAuth2GrantIssued(t.Context(), "g1", issued); err != nil {
		t.Fatal(err)
	}
	if g, err := s.OAuth2GrantByJTI(t.Context(), "x1"); err != nil || g.ID != "g1" {
		t.Errorf("grant of x1: %+v, %v", g, err)
	}
	jtis, err := s.RevokeOAuth2Grant(t.Context(), "g1")
	if err != nil || len(jtis) != 1 {
		t.Fatalf("revoke: %v, %v", jtis, err)
	}
	more := store.OAuth2Issued{JTIs: []store.OAuth2GrantJTI{{JTI: "x2", ExpiresAt: now.Add(time.Hour)}}}
	if err := s.AddOAuth2GrantIssued(t.Context(), "g1", more); !errors.Is(err, store.ErrConflict) {
		t.Errorf("revoked grant: %v, want ErrConflict", err)
	}
	if err := s.AddOAuth2GrantIssued(t.Context(), "nope", more); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown grant: %v, want ErrNotFound", err)
	}
}

func TestOAuth2DeviceCodes(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "tv")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	hash := sha256.Sum256([]byte("device"))
	d := store.OAuth2DeviceCode{Hash: hash[:], UserCode: "BCDFGHJK", ClientID: "tv", Scope: "openid",
		Interval: 5 * time.Second, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.CreateOAuth2DeviceCode(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("other"))
	taken := d
	taken.Hash = other[:]
	if err := s.CreateOAuth2DeviceCode(t.Context(), taken); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken user code: %v, want ErrConflict", err)
	}
	got, slow, err := s.PollOAuth2DeviceCode(t.Context(), hash[:], now)
	if err != nil || slow || got.Status != store.DeviceCodePending || got.UserCode != "BCDFGHJK" {
		t.Fatalf("first poll %+v %v %v", got, slow, err)
	}
	if _, slow, _ := s.PollOAuth2DeviceCode(t.Context(), hash[:], now.Add(4*time.Second)); !slow {
		t.Error("poll within the interval is not slow_down")
	}
	if got, slow, _ := s.PollOAuth2DeviceCode(t.Context(), hash[:], now.Add(14*time.Second)); slow || got.Interval != 10*time.Second {
		t.Errorf("poll after the grown interval: slow %v, interval %v", slow, got.Interval)
	}
	if err := s.RedeemOAuth2DeviceCode(t.Context(), hash[:], store.OAuth2Issued{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("redeem pending: %v, want ErrConflict", err)
	}
	grant := store.NewOAuth2Grant{Grant: store.OAuth2Grant{ID: "g1", ClientID: "tv", Subject: "u1", Scope: "openid",
		AuthTime: now, ExpiresAt: now.Add(time.Hour)}}
	if err := s.ApproveOAuth2DeviceCode(t.Context(), "BCDFGHJK", now.Add(11*time.Minute), grant); !errors.Is(err, store.ErrConflict) {
		t.Errorf("approve expired: %v, want ErrConflict", err)
	}
	if err := s.ApproveOAuth2DeviceCode(t.Context(), "BCDFGHJK", now, grant); err != nil {
		t.Fatal(err)
	}
	if err := s.DenyOAuth2DeviceCode(t.Context(), "BCDFGHJK", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("deny approved: %v, want ErrConflict", err)
	}
	if err := s.DenyOAuth2DeviceCode(t.Context(), "NOPE", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deny unknown: %v, want ErrNotFound", err)
	}
	issued := store.OAuth2Issued{JTIs: []store.OAuth2GrantJTI{{JTI: "j1", ExpiresAt: now.Add(time.Hour)}}}
	if err := s.RedeemOAuth2DeviceCode(t.Context(), hash[:], issued); err != nil {
		t.Fatal(err)
	}
	if err := s.RedeemOAuth2DeviceCode(t.Context(), hash[:], store.OAuth2Issued{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("redeem twice: %v, want ErrConflict", err)
	}
	if g, err := s.OAuth2GrantByJTI(t.Context(), "j1"); err != nil || g.ID != "g1" {
		t.Errorf("grant of redeemed token %+v %v", g, err)
	}
	if d, err := s.OAuth2DeviceCodeByUserCode(t.Context(), "BCDFGHJK"); err != nil || d.Status != store.DeviceCodeRedeemed || d.GrantID != "g1" {
		t.Errorf("by user code %+v %v", d, err)
	}
}
