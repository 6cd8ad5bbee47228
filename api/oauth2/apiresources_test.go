package oauth2_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// TestAPIResourceScopes: an application authorized for API resources obtains their scopes —
// under RBAC only those a role of the user (organization audience or the application's) holds
// as a permission, under NO POLICY all of them, with client_credentials all the authorized
// ones — and its JWT access tokens name the API resources in aud. Scopes not granted are
// dropped silently; withdrawing the authorization withdraws the scopes from new and refreshed
// tokens.
func TestAPIResourceScopes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	s := e.store
	cfg := e.codeClient(t, op.NewClient{Name: "travel",
		GrantTypes: []string{op.GrantAuthorizationCode, op.GrantRefreshToken, op.GrantClientCredentials}})
	app, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "travel", ClientID: cfg.ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	const bookingsID, inventoryID = "https://bookings.example.com/api", "urn:inventory"
	bookings, err := s.CreateAPIResource(ctx, store.APIResource{OrgID: e.org.ID, Identifier: bookingsID, Name: "Bookings",
		RequiresAuthorization: true, Scopes: []store.APIScope{
			{Name: "bookings:read", DisplayName: "Read"}, {Name: "bookings:write", DisplayName: "Write"},
			{Name: "bookings:admin", DisplayName: "Administer"},
		}}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	inventory, err := s.CreateAPIResource(ctx, store.APIResource{OrgID: e.org.ID, Identifier: inventoryID, Name: "Inventory",
		RequiresAuthorization: true, Scopes: []store.APIScope{{Name: "inventory:read", DisplayName: "Read"}}}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	// bookings:admin is the resource's, but not authorized for the application.
	if err := s.AuthorizeAPI(ctx, e.org.ID, app.ID, bookings.ID, store.PolicyRBAC, []string{"bookings:read", "bookings:write"}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AuthorizeAPI(ctx, e.org.ID, app.ID, inventory.ID, store.PolicyNone, []string{"inventory:read"}, store.Actor{}); err != nil {
		t.Fatal(err)
	}

	users := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol"} {
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: n})
		if err != nil {
			t.Fatal(err)
		}
		users[n] = u.ID
	}
	// alice reads through an organization role; bob writes through the application's role and
	// administers through an organization role (not authorized for the app); carol has no role.
	for _, r := range []store.NewRole{
		{Name: "readers", Users: []string{users["alice"]}, Permissions: []string{"bookings:read"}},
		{Name: "writers", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Users: []string{users["bob"]},
			Permissions: []string{"bookings:write"}},
		{Name: "admins", Users: []string{users["bob"]}, Permissions: []string{"bookings:admin"}},
	} {
		r.OrgID = e.org.ID
		if _, err := s.CreateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	requested := []string{oidc.ScopeOpenID, "bookings:read", "bookings:write", "bookings:admin", "inventory:read", "unknown:scope"}
	login := func(t *testing.T, user string) (scope string, aud []string, refresh string) {
		t.Helper()
		c := cfg
		c.Scopes = requested
		resp, err := e.authorize(t, c.AuthCodeURL("st-1"), op.Authenticated{Subject: users[user]})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Exchange(ctx, callback(t, resp).Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		scope, _ = tok.Extra("scope").(string)
		at := jwtPayload(t, tok.AccessToken)
		if at["scope"] != scope {
			t.Errorf("access token scope %q, response scope %q", at["scope"], scope)
		}
		return scope, audiences(at["aud"]), tok.RefreshToken
	}
	clientCredentials := func(t *testing.T) (string, []string) {
		t.Helper()
		r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"},
			"scope": {strings.Join(requested[1:], " ")}}, []string{cfg.ClientID, cfg.ClientSecret})
		if r.status != 200 {
			t.Fatalf("client_credentials: %d %s", r.status, r.body)
		}
		m := r.json(t)
		scope, _ := m["scope"].(string)
		return scope, audiences(jwtPayload(t, m["access_token"].(string))["aud"])
	}

	var aliceRefresh string
	for _, tc := range []struct {
		name, user, scope string
		aud               []string
	}{
		{"organization role", "alice", "openid bookings:read inventory:read", []string{cfg.ClientID, bookingsID, inventoryID}},
		{"application role; unauthorized scope dropped", "bob", "openid bookings:write inventory:read", []string{cfg.ClientID, bookingsID, inventoryID}},
		{"no role: NO POLICY only", "carol", "openid inventory:read", []string{cfg.ClientID, inventoryID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scope, aud, refresh := login(t, tc.user)
			if scope != tc.scope {
				t.Errorf("scope %q, want %q", scope, tc.scope)
			}
			if !sameSet(aud, tc.aud) {
				t.Errorf("aud %v, want %v", aud, tc.aud)
			}
			if tc.user == "alice" {
				aliceRefresh = refresh
			}
		})
	}

	t.Run("client_credentials gets the authorized scopes", func(t *testing.T) {
		scope, aud := clientCredentials(t)
		if want := "bookings:read bookings:write inventory:read"; scope != want {
			t.Errorf("scope %q, want %q", scope, want)
		}
		if !sameSet(aud, []string{cfg.ClientID, bookingsID, inventoryID}) {
			t.Errorf("aud %v, want client id and both identifiers", aud)
		}
	})

	t.Run("removing the authorization removes the scopes", func(t *testing.T) {
		if err := s.DeauthorizeAPI(ctx, e.org.ID, app.ID, bookings.ID, store.Actor{}); err != nil {
			t.Fatal(err)
		}
		if scope, aud, _ := login(t, "alice"); scope != "openid inventory:read" || !sameSet(aud, []string{cfg.ClientID, inventoryID}) {
			t.Errorf("login after deauthorization: scope %q aud %v", scope, aud)
		}
		if scope, _ := clientCredentials(t); scope != "inventory:read" {
			t.Errorf("client_credentials after deauthorization: scope %q", scope)
		}
		r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {aliceRefresh}},
			[]string{cfg.ClientID, cfg.ClientSecret})
		if r.status != 200 {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		if scope := r.json(t)["scope"]; scope != "openid inventory:read" {
			t.Errorf("refreshed scope %q, want %q", scope, "openid inventory:read")
		}
	})
}

// audiences reads a JWT aud (a string or an array).
func audiences(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	return anyStrings(v)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
