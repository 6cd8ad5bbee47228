package store_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// TestAPIResourceScopesForClients checks what the OAuth2 provider reads: the scopes a client's
// application is authorized for, and the permissions a user holds for that application —
// organization roles and the application's own, directly or through nested groups, never
// another application's.
func TestAPIResourceScopesForClients(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	for _, id := range []string{"travel-client", "other-client"} {
		if _, err := s.CreateOAuth2Client(ctx, newOAuth2Client(org.ID, id)); err != nil {
			t.Fatal(err)
		}
	}
	app, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: org.ID, Name: "travel", ClientID: "travel-client"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: org.ID, Name: "other", ClientID: "other-client"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateAPIResource(ctx, store.APIResource{OrgID: org.ID, Identifier: "urn:bookings", Name: "Bookings",
		Scopes: []store.APIScope{{Name: "b:read", DisplayName: "R"}, {Name: "b:write", DisplayName: "W"}, {Name: "b:admin", DisplayName: "A"}}}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIResource(ctx, store.APIResource{OrgID: org.ID, Identifier: "urn:other", Name: "Other",
		Scopes: []store.APIScope{{Name: "b:read", DisplayName: "R"}}}, store.Actor{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("scope name used twice in the organization: %v, want ErrConflict", err)
	}
	if err := s.AuthorizeAPI(ctx, org.ID, app.ID, r.ID, store.PolicyRBAC, []string{"b:read", "b:write"}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AuthorizeAPI(ctx, org.ID, app.ID, r.ID, store.PolicyRBAC, nil, store.Actor{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second authorization: %v, want ErrConflict", err)
	}
	if err := s.AuthorizeAPI(ctx, org.ID, other.ID, r.ID, store.PolicyNone, []string{"b:nothing"}, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown scope: %v, want ErrNotFound", err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM application_authorized_apis WHERE application_id = $1`, other.ID); n != 0 {
		t.Errorf("a refused authorization left %d rows", n)
	}
	got, err := s.ClientAPIScopes(ctx, "travel-client")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ClientAPIScope{{Name: "b:read", Identifier: "urn:bookings", Policy: store.PolicyRBAC},
		{Name: "b:write", Identifier: "urn:bookings", Policy: store.PolicyRBAC}}
	if !slices.Equal(got, want) {
		t.Errorf("ClientAPIScopes = %v, want %v", got, want)
	}
	if got, err := s.ClientAPIScopes(ctx, "other-client"); err != nil || len(got) != 0 {
		t.Errorf("other client's scopes = %v, %v; want none", got, err)
	}

	alice, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "inner", Members: []string{alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	outer, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "outer", MemberGroups: []string{inner.ID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, nr := range []store.NewRole{
		{Name: "org-readers", Groups: []string{outer.ID}, Permissions: []string{"b:read"}},
		{Name: "writers", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Users: []string{alice.ID}, Permissions: []string{"b:write"}},
		{Name: "other-admins", AudienceType: store.RoleAudienceApplication, AudienceID: other.ID, Users: []string{alice.ID}, Permissions: []string{"b:admin"}},
	} {
		nr.OrgID = org.ID
		if _, err := s.CreateRole(ctx, nr); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, user, client string
		want               []string
	}{
		{"travel", alice.ID, "travel-client", []string{"b:read", "b:write"}},
		{"other", alice.ID, "other-client", []string{"b:admin", "b:read"}},
		{"no such client", alice.ID, "nobody", []string{"b:read"}},
		{"not a user id", "alice", "travel-client", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.UserClientPermissions(ctx, tc.user, tc.client)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("UserClientPermissions = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
