package oauth2_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	xoauth2 "golang.org/x/oauth2"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// TestGroupsAndRolesClaims runs the code flow with x/oauth2 and go-oidc for a user whose groups
// nest and whose roles come through them: the ID token and userinfo carry "groups" (direct and
// nested) and "roles" (the application's roles only) exactly when the groups and roles scopes
// are granted, and so does the JWT access token; a refresh narrowed to one scope keeps only
// that claim.
func TestGroupsAndRolesClaims(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	s := e.store
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.codeClient(t, op.NewClient{Name: "shop"})
	cfg.Endpoint = p.Endpoint()
	cfg.Endpoint.AuthURL = e.srv.URL + "/oauth2/authorize"
	other := e.codeClient(t, op.NewClient{Name: "other"})
	app, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "shop", ClientID: cfg.ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	otherApp, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "other", ClientID: other.ClientID}})
	if err != nil {
		t.Fatal(err)
	}

	// alice ∈ backend ⊂ eng. eng holds the shop's "editor" role; alice holds the shop's
	// "buyer" role directly, the other application's "auditor" and the organization's "admin".
	alice, err := s.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	backend, err := s.CreateGroup(ctx, store.NewGroup{OrgID: e.org.ID, Name: "backend", Members: []string{alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := s.CreateGroup(ctx, store.NewGroup{OrgID: e.org.ID, Name: "eng", MemberGroups: []string{backend.ID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.NewRole{
		{Name: "editor", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Groups: []string{eng.ID}},
		{Name: "buyer", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Users: []string{alice.ID}},
		{Name: "auditor", AudienceType: store.RoleAudienceApplication, AudienceID: otherApp.ID, Users: []string{alice.ID}},
		{Name: "admin", Groups: []string{eng.ID}},
		{Name: "unheld", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID},
	} {
		r.OrgID = e.org.ID
		if _, err := s.CreateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	type claims struct {
		Groups []string `json:"groups"`
		Roles  []string `json:"roles"`
	}
	login := func(t *testing.T, scopes ...string) (*xoauth2.Token, claims) {
		t.Helper()
		c := cfg
		c.Scopes = scopes
		resp, err := e.authorize(t, c.AuthCodeURL("st-1"), op.Authenticated{Subject: alice.ID})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Exchange(ctx, callback(t, resp).Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := p.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc rejects the ID token: %v", err)
		}
		var got claims
		if err := idt.Claims(&got); err != nil {
			t.Fatal(err)
		}
		return tok, got
	}
	userinfo := func(t *testing.T, tok *xoauth2.Token) claims {
		t.Helper()
		ui, err := p.UserInfo(ctx, xoauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		var got claims
		if err := ui.Claims(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	wantGroups, wantRoles := []string{"backend", "eng"}, []string{"buyer", "editor"}

	for _, tc := range []struct {
		name          string
		scopes        []string
		groups, roles []string
	}{
		{"not requested", []string{oidc.ScopeOpenID, "profile"}, nil, nil},
		{"groups only", []string{oidc.ScopeOpenID, op.ScopeGroups}, wantGroups, nil},
		{"roles only", []string{oidc.ScopeOpenID, op.ScopeRoles}, nil, wantRoles},
		{"both", []string{oidc.ScopeOpenID, op.ScopeGroups, op.ScopeRoles}, wantGroups, wantRoles},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, id := login(t, tc.scopes...)
			if !slices.Equal(id.Groups, tc.groups) || !slices.Equal(id.Roles, tc.roles) {
				t.Errorf("ID token groups %v roles %v; want %v %v", id.Groups, id.Roles, tc.groups, tc.roles)
			}
			if ui := userinfo(t, tok); !slices.Equal(ui.Groups, tc.groups) || !slices.Equal(ui.Roles, tc.roles) {
				t.Errorf("userinfo groups %v roles %v; want %v %v", ui.Groups, ui.Roles, tc.groups, tc.roles)
			}
			at := jwtPayload(t, tok.AccessToken)
			if g, r := anyStrings(at["groups"]), anyStrings(at["roles"]); !slices.Equal(g, tc.groups) || !slices.Equal(r, tc.roles) {
				t.Errorf("JWT access token groups %v roles %v; want %v %v", g, r, tc.groups, tc.roles)
			}
		})
	}

	t.Run("refresh narrowed to groups", func(t *testing.T) {
		tok, _ := login(t, oidc.ScopeOpenID, op.ScopeGroups, op.ScopeRoles)
		r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
			"scope": {"openid groups"}}, []string{cfg.ClientID, cfg.ClientSecret})
		if r.status != 200 {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		raw, _ := r.json(t)["id_token"].(string)
		idt, err := p.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		var got claims
		if err := idt.Claims(&got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Groups, wantGroups) || got.Roles != nil {
			t.Errorf("refreshed ID token groups %v roles %v; want %v and no roles", got.Groups, got.Roles, wantGroups)
		}
		at := jwtPayload(t, r.json(t)["access_token"].(string))
		if g := anyStrings(at["groups"]); !slices.Equal(g, wantGroups) || at["roles"] != nil {
			t.Errorf("refreshed access token groups %v roles %v; want %v and no roles", g, at["roles"], wantGroups)
		}
	})

	t.Run("the other application sees its own roles", func(t *testing.T) {
		c := other
		c.Endpoint = p.Endpoint()
		c.Endpoint.AuthURL = e.srv.URL + "/oauth2/authorize"
		c.Scopes = []string{oidc.ScopeOpenID, op.ScopeRoles}
		resp, err := e.authorize(t, c.AuthCodeURL("st-1"), op.Authenticated{Subject: alice.ID})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Exchange(ctx, callback(t, resp).Get("code"))
		if err != nil {
			t.Fatal(err)
		}
		if ui := userinfo(t, tok); !slices.Equal(ui.Roles, []string{"auditor"}) || ui.Groups != nil {
			t.Errorf("other application's userinfo groups %v roles %v; want no groups, [auditor]", ui.Groups, ui.Roles)
		}
	})

	t.Run("removing the nesting drops the group and its roles from new tokens", func(t *testing.T) {
		if _, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: e.org.ID, ID: eng.ID, Name: "eng"}); err != nil {
			t.Fatal(err)
		}
		_, id := login(t, oidc.ScopeOpenID, op.ScopeGroups, op.ScopeRoles)
		if !slices.Equal(id.Groups, []string{"backend"}) || !slices.Equal(id.Roles, []string{"buyer"}) {
			t.Errorf("ID token groups %v roles %v; want [backend] [buyer]", id.Groups, id.Roles)
		}
	})
}

// anyStrings reads a decoded JSON array of strings (nil for none).
func anyStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
