package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func createApp(t *testing.T, s *store.Store, orgID, name, clientID string) store.Application {
	t.Helper()
	if clientID != "" {
		if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(orgID, clientID)); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: orgID, Name: name, ClientID: clientID}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestManagedApplications(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	createApp(t, s, org.ID, "web_shop", "shop-client")
	createApp(t, s, org.ID, "webXshop", "")
	createApp(t, s, org.ID, "100% app", "")
	createApp(t, s, org.ID, "admin", "")
	names := func(list []store.ManagedApplication) string {
		var out []string
		for _, a := range list {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name   string
		filter *store.ApplicationFilter
		offset int
		limit  int
		want   string
		total  int
	}{
		{"all", nil, 0, 10, "100% app,admin,webXshop,web_shop", 4},
		{"page", nil, 1, 2, "admin,webXshop", 4},
		{"underscore is literal", &store.ApplicationFilter{Attribute: store.AppFilterName, Operator: store.FilterSw, Value: "web_"}, 0, 10, "web_shop", 1},
		{"percent is literal", &store.ApplicationFilter{Attribute: store.AppFilterName, Operator: store.FilterCo, Value: "0%"}, 0, 10, "100% app", 1},
		{"eq", &store.ApplicationFilter{Attribute: store.AppFilterName, Operator: store.FilterEq, Value: "admin"}, 0, 10, "admin", 1},
		{"ew", &store.ApplicationFilter{Attribute: store.AppFilterName, Operator: store.FilterEw, Value: "shop"}, 0, 10, "webXshop,web_shop", 2},
		{"client id", &store.ApplicationFilter{Attribute: store.AppFilterClientID, Operator: store.FilterEq, Value: "shop-client"}, 0, 10, "web_shop", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			list, total, err := s.ManagedApplications(t.Context(), store.ApplicationQuery{OrgID: org.ID, Filter: c.filter, Offset: c.offset, Limit: c.limit})
			if err != nil || names(list) != c.want || total != c.total {
				t.Errorf("= %q %d %v, want %q %d", names(list), total, err, c.want, c.total)
			}
		})
	}
	if _, _, err := s.ManagedApplications(t.Context(), store.ApplicationQuery{OrgID: org.ID, Limit: 1,
		Filter: &store.ApplicationFilter{Attribute: "owner", Operator: store.FilterEq, Value: "x"}}); err == nil {
		t.Error("unknown attribute accepted")
	}
}

func TestUpdateAndDeleteApplication(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	a := createApp(t, s, org.ID, "one", "one-client")
	createApp(t, s, org.ID, "two", "")

	name, desc, api := "uno", "the first", true
	seq := store.AuthenticationSequence{Type: store.SequenceUserDefined, Script: "x", Steps: []store.AuthenticationStep{
		{ID: 1, Options: []store.AuthenticationOption{{IdP: store.LocalIdP, Authenticator: "BasicAuthenticator"}}}}}
	actor := store.Actor{Type: store.ActorUser, ID: "someone"}
	m, err := s.UpdateApplication(t.Context(), a.ID, store.ApplicationUpdate{Name: &name, Description: &desc,
		Sequence: &seq, APIBasedAuthentication: &api, Actor: actor})
	if err != nil || m.Name != "uno" || m.Description != "the first" || !m.APIBasedAuthentication ||
		m.Sequence.Script != "x" || m.ClientID != "one-client" {
		t.Fatalf("update = %+v %v", m, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND actor_id = 'someone'
		AND before->>'name' = 'one' AND after->>'name' = 'uno'`, store.AuditApplicationUpdate); n != 1 {
		t.Errorf("%d update audit events", n)
	}
	taken := "two"
	if _, err := s.UpdateApplication(t.Context(), a.ID, store.ApplicationUpdate{Name: &taken}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken name: %v", err)
	}
	long := strings.Repeat("d", store.MaxApplicationDescription+1)
	if _, err := s.UpdateApplication(t.Context(), a.ID, store.ApplicationUpdate{Description: &long}); err == nil {
		t.Error("long description accepted")
	}
	missing := "nope"
	if _, err := s.UpdateApplication(t.Context(), a.ID, store.ApplicationUpdate{ClientID: &missing}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := s.UpdateApplication(t.Context(), "6f1c3a52-3a52-4c4b-9a52-3a523a523a52", store.ApplicationUpdate{Name: &name}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown application: %v", err)
	}

	if err := s.PutApplicationPendingSecret(t.Context(), a.ID, "one-client", []byte("sealed"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApplication(t.Context(), a.ID, actor); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ManagedApplication(t.Context(), a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("application after delete: %v", err)
	}
	if _, err := s.OAuth2Client(t.Context(), "one-client"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client after delete: %v", err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM application_pending_secrets`); n != 0 {
		t.Errorf("%d pending secrets after delete", n)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action IN ($1, $2)`,
		store.AuditApplicationDelete, store.AuditOAuth2ClientDelete); n != 2 {
		t.Errorf("%d delete audit events", n)
	}
	if err := s.DeleteApplication(t.Context(), a.ID, actor); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestUpdateOAuth2Client(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "c1")); err != nil {
		t.Fatal(err)
	}
	nc := newOAuth2Client(org.ID, "c1")
	nc.GrantTypes = []string{"authorization_code"}
	nc.RedirectURIs = []string{"https://app.example.com/cb"}
	nc.PKCERequired = true
	nc.AccessTokenLifetime = 10 * time.Minute
	got, err := s.UpdateOAuth2Client(t.Context(), nc)
	if err != nil || !got.PKCERequired || got.AccessTokenLifetime != 10*time.Minute || got.RedirectURIs[0] != "https://app.example.com/cb" ||
		got.SecretHash != "hmac-sha256$x$y" {
		t.Fatalf("update = %+v %v", got, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND NOT (after ? 'secretHash')`,
		store.AuditOAuth2ClientUpdate); n != 1 {
		t.Errorf("%d update audit events", n)
	}
	nc.ClientID = "c2"
	if _, err := s.UpdateOAuth2Client(t.Context(), nc); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	bad := newOAuth2Client(org.ID, "c1")
	bad.Public = true // with a secret hash
	if _, err := s.UpdateOAuth2Client(t.Context(), bad); err == nil {
		t.Error("public client with a secret accepted")
	}

	// The client authentication settings (migration 00013) are written too.
	pkj := newOAuth2Client(org.ID, "c1")
	pkj.SecretHash, pkj.TokenEndpointAuthMethod, pkj.TokenEndpointAuthSigningAlg = "", "private_key_jwt", "ES256"
	pkj.JWKS = []byte(`{"keys": []}`)
	pkj.JWTBearerIssuers = []store.JWTBearerIssuer{{Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/jwks", SubjectType: store.SubjectUsername}}
	if _, err := s.UpdateOAuth2Client(t.Context(), pkj); err != nil {
		t.Fatal(err)
	}
	got, err = s.OAuth2Client(t.Context(), "c1")
	if err != nil || got.TokenEndpointAuthMethod != "private_key_jwt" || got.TokenEndpointAuthSigningAlg != "ES256" ||
		!strings.Contains(string(got.JWKS), "keys") || got.SecretHash != "" || len(got.JWTBearerIssuers) != 1 {
		t.Fatalf("client auth = %+v %v", got, err)
	}
	jwtSecret := newOAuth2Client(org.ID, "c1")
	jwtSecret.TokenEndpointAuthMethod, jwtSecret.JWKSURI, jwtSecret.SecretSealed = "client_secret_jwt", "", []byte("sealed")
	if got, err = s.UpdateOAuth2Client(t.Context(), jwtSecret); err != nil || string(got.SecretSealed) != "sealed" ||
		len(got.JWKS) != 0 || len(got.JWTBearerIssuers) != 0 || got.SecretHash != "hmac-sha256$x$y" {
		t.Fatalf("client_secret_jwt = %+v %v", got, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND (after->>'secretChanged')::boolean`,
		store.AuditOAuth2ClientUpdate); n != 2 {
		t.Errorf("%d update audit events with a changed secret, want 2", n)
	}
}

func TestApplicationPendingSecret(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	a := createApp(t, s, org.ID, "one", "one-client")
	if _, _, err := s.TakeApplicationPendingSecret(t.Context(), a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("none yet: %v", err)
	}
	if err := s.PutApplicationPendingSecret(t.Context(), a.ID, "one-client", []byte("v1"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutApplicationPendingSecret(t.Context(), a.ID, "one-client", []byte("v2"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	client, sealed, err := s.TakeApplicationPendingSecret(t.Context(), a.ID)
	if err != nil || client != "one-client" || string(sealed) != "v2" {
		t.Fatalf("take = %q %q %v", client, sealed, err)
	}
	if _, _, err := s.TakeApplicationPendingSecret(t.Context(), a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("taken twice: %v", err)
	}
	if err := s.PutApplicationPendingSecret(t.Context(), a.ID, "one-client", []byte("old"), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TakeApplicationPendingSecret(t.Context(), a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired: %v", err)
	}
	if err := s.PutApplicationPendingSecret(t.Context(), a.ID, "no-such-client", []byte("x"), time.Now().Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
}
