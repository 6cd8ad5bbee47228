package store_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestIdentityProviders(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	who := store.Actor{Type: store.ActorUser, ID: "admin-id"}
	p := store.IdentityProvider{OrgID: org.ID, Name: "google", Enabled: true,
		Certificate: json.RawMessage(`{"jwksUri":"https://www.googleapis.com/oauth2/v3/certs"}`),
		Authenticators: store.IdPConnectors{DefaultID: "T0lEQw", Items: []store.IdPConnector{{ID: "T0lEQw", Name: "OIDC",
			Enabled: true, Properties: []store.IdPProperty{{Key: "ClientId", Value: "abc"},
				{Key: "ClientSecret", Sealed: []byte("ciphertext-bytes"), KeyID: "k1"}}}}}}
	created, err := s.CreateIdentityProvider(ctx, p, who)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Authenticators.Items[0].Properties[1].KeyID != "k1" {
		t.Errorf("created %+v", created)
	}
	if _, err := s.CreateIdentityProvider(ctx, p, who); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name: %v, want ErrConflict", err)
	}
	for _, name := range []string{"github", "gitlab", "okta"} {
		q := p
		q.Name, q.Enabled = name, name != "okta"
		if _, err := s.CreateIdentityProvider(ctx, q, who); err != nil {
			t.Fatal(err)
		}
	}
	off := false
	tests := []struct {
		name  string
		q     store.IdentityProviderQuery
		want  string
		total int
	}{
		{"all", store.IdentityProviderQuery{Limit: 2}, "github,gitlab", 4},
		{"page", store.IdentityProviderQuery{Limit: 2, Offset: 2}, "google,okta", 4},
		{"sw", store.IdentityProviderQuery{Limit: 9, Name: &store.ApplicationFilter{Operator: store.FilterSw, Value: "git"}}, "github,gitlab", 2},
		{"disabled", store.IdentityProviderQuery{Limit: 9, Enabled: &off}, "okta", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.OrgID = org.ID
			list, total, err := s.IdentityProviders(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range list {
				names = append(names, p.Name)
			}
			if got := strings.Join(names, ","); got != tt.want || total != tt.total {
				t.Errorf("got %s (%d), want %s (%d)", got, total, tt.want, tt.total)
			}
		})
	}
	created.Description = "Google Workspace"
	updated, err := s.UpdateIdentityProvider(ctx, created, who)
	if err != nil || updated.Description != "Google Workspace" {
		t.Fatalf("update %+v, %v", updated, err)
	}
	if err := s.DeleteIdentityProvider(ctx, org.ID, created.ID, who); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IdentityProvider(ctx, org.ID, created.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	// Audit events name the secret property but never carry its sealed value.
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE target_type = 'identity_provider'
		AND (coalesce(before::text, '') || coalesce(after::text, '')) LIKE '%Y2lwaGVy%'`); n != 0 {
		t.Errorf("%d audit events carry the sealed value", n)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE target_id = $1`, created.ID); n != 3 {
		t.Errorf("%d audit events for the provider, want 3 (create, update, delete)", n)
	}
}
