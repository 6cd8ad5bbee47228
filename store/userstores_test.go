package store_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func ldapStore(orgID string) store.UserStore {
	return store.UserStore{
		OrgID: orgID, Domain: "employees", Type: store.UserStoreLDAP, URL: "ldap://127.0.0.1:389",
		BindDN: "cn=admin,dc=example,dc=org", BindPassword: []byte("sealed-bytes"), BindPasswordKeyID: "k1",
		UserSearchBase: "ou=people,dc=example,dc=org", UserObjectClass: "inetOrgPerson", UsernameAttribute: "uid",
		GroupSearchBase: "ou=groups,dc=example,dc=org", GroupObjectClass: "groupOfNames",
		MembershipAttribute: store.MembershipMember,
		ClaimMappings:       map[string]string{"http://wso2.org/claims/emailaddress": "mail"},
	}
}

func TestUserStoreCRUD(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()

	created, err := s.CreateUserStore(ctx, ldapStore(org.ID), store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Domain != "EMPLOYEES" || created.PoolSize != store.DefaultUserStorePoolSize ||
		created.ConnectTimeout != store.DefaultUserStoreConnectTimeout || created.GroupNameAttribute != "cn" ||
		string(created.BindPassword) != "sealed-bytes" || created.BindPasswordKeyID != "k1" {
		t.Errorf("created = %+v", created)
	}
	if _, err := s.CreateUserStore(ctx, ldapStore(org.ID), store.Actor{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create = %v, want ErrConflict", err)
	}
	got, err := s.UserStoreByDomain(ctx, org.ID, "Employees")
	if err != nil || got.ID != created.ID || got.ClaimMappings["http://wso2.org/claims/emailaddress"] != "mail" {
		t.Fatalf("by domain = %+v, %v", got, err)
	}
	if _, err := s.UserStoreByDomain(ctx, org.ID, "OTHER"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown domain = %v", err)
	}

	// Update without a new password keeps the sealed one.
	upd := got
	upd.BindPassword, upd.BindPasswordKeyID = nil, ""
	upd.ReadOnly, upd.PoolSize, upd.RequestTimeout = false, 7, 3*time.Second
	after, err := s.UpdateUserStore(ctx, upd, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ReadOnly || after.PoolSize != 7 || after.RequestTimeout != 3*time.Second ||
		string(after.BindPassword) != "sealed-bytes" || after.BindPasswordKeyID != "k1" {
		t.Errorf("after update = %+v", after)
	}
	upd.BindPassword, upd.BindPasswordKeyID = []byte("other"), "k2"
	if after, err = s.UpdateUserStore(ctx, upd, store.Actor{}); err != nil || string(after.BindPassword) != "other" || after.BindPasswordKeyID != "k2" {
		t.Errorf("password update = %+v, %v", after, err)
	}
	list, err := s.UserStores(ctx, org.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}

	// The audit trail never holds the sealed password.
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action LIKE 'userstore.%'
		AND (coalesce(before::text, '') || coalesce(after::text, '')) ~ '(sealed-bytes|other|c2VhbGVk)'`); n != 0 {
		t.Errorf("%d audit events contain the bind password", n)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action LIKE 'userstore.%'`); n != 3 {
		t.Errorf("%d user store audit events, want 3", n)
	}

	if err := s.DeleteUserStore(ctx, org.ID, "employees", store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUserStore(ctx, org.ID, "employees", store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
}

func TestUserStoreInvalid(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	tests := []struct {
		name   string
		mutate func(*store.UserStore)
	}{
		{"PRIMARY", func(us *store.UserStore) { us.Domain = "primary" }},
		{"slash in domain", func(us *store.UserStore) { us.Domain = "A/B" }},
		{"empty domain", func(us *store.UserStore) { us.Domain = "" }},
		{"type", func(us *store.UserStore) { us.Type = "JDBC" }},
		{"URL scheme", func(us *store.UserStore) { us.URL = "http://ldap.example.org" }},
		{"StartTLS on ldaps", func(us *store.UserStore) { us.URL, us.StartTLS = "ldaps://ldap.example.org", true }},
		{"no search base", func(us *store.UserStore) { us.UserSearchBase = "" }},
		{"membership attribute", func(us *store.UserStore) { us.MembershipAttribute = "isMemberOf" }},
		{"pool size", func(us *store.UserStore) { us.PoolSize = 1000 }},
		{"password without key id", func(us *store.UserStore) { us.BindPasswordKeyID = "" }},
		{"unknown organization", func(us *store.UserStore) { us.OrgID = "7d8a4b1e-8d6c-4e6a-9c59-0d4f1f0f6a11" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := ldapStore(org.ID)
			tt.mutate(&us)
			if _, err := s.CreateUserStore(t.Context(), us, store.Actor{}); err == nil {
				t.Error("CreateUserStore: no error")
			}
		})
	}
}

func TestUpsertShadowUser(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	const (
		email = "http://wso2.org/claims/emailaddress"
		given = "http://wso2.org/claims/givenname"
	)
	managed := []string{email, given}

	first, err := s.UpsertShadowUser(ctx, store.ShadowUser{OrgID: org.ID, Domain: "employees", Username: "alice",
		Claims: map[string]string{email: "alice@example.org", given: "Alice"}, ClaimURIs: managed,
		Groups: []string{"engineers", "admins"}})
	if err != nil {
		t.Fatal(err)
	}
	if first.Domain != "EMPLOYEES" || first.PasswordHash != "" || first.Status != store.UserActive {
		t.Errorf("shadow = %+v", first)
	}
	// A claim Keyflow owns (identity claims) survives refreshes.
	if _, err := conn.Exec(ctx, `INSERT INTO user_claims (user_id, claim_uri, value) VALUES ($1, 'http://wso2.org/claims/identity/lastLoginTime', '1')`, first.ID); err != nil {
		t.Fatal(err)
	}

	again, err := s.UpsertShadowUser(ctx, store.ShadowUser{OrgID: org.ID, Domain: "EMPLOYEES", Username: "ALICE",
		Claims: map[string]string{email: "a@example.org"}, ClaimURIs: managed, Groups: []string{"engineers"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID {
		t.Errorf("id changed: %s → %s", first.ID, again.ID)
	}
	claims, err := s.UserClaims(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{email: "a@example.org", "http://wso2.org/claims/identity/lastLoginTime": "1"}
	if !maps.Equal(claims, want) {
		t.Errorf("claims = %v, want %v", claims, want)
	}
	groupsOf := func() []string {
		t.Helper()
		gs, err := s.GroupsOfUsers(ctx, []string{first.ID})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range gs[first.ID] {
			names = append(names, g.Domain+"/"+g.Name)
		}
		slices.Sort(names)
		return names
	}
	if got := groupsOf(); !slices.Equal(got, []string{"EMPLOYEES/engineers"}) {
		t.Errorf("groups = %v", got)
	}

	// Memberships outside the domain are not the directory's to change; nil groups change nothing.
	local, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "local", Members: []string{first.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertShadowUser(ctx, store.ShadowUser{OrgID: org.ID, Domain: "EMPLOYEES", Username: "alice",
		ClaimURIs: managed}); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(); !slices.Equal(got, []string{"EMPLOYEES/engineers", "PRIMARY/" + local.Name}) {
		t.Errorf("groups after a refresh without groups = %v", got)
	}
	if _, err := s.UpsertShadowUser(ctx, store.ShadowUser{OrgID: org.ID, Domain: "EMPLOYEES", Username: "alice",
		ClaimURIs: managed, Groups: []string{}}); err != nil {
		t.Fatal(err)
	}
	if got := groupsOf(); !slices.Equal(got, []string{"PRIMARY/local"}) {
		t.Errorf("groups after leaving every directory group = %v", got)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = 'user.create' AND target_id = $1`, first.ID); n != 1 {
		t.Errorf("%d user.create audit events, want 1 (refreshes are not audited)", n)
	}

	// The same username in PRIMARY is another user; PRIMARY itself cannot be shadowed.
	if _, err := s.UpsertShadowUser(ctx, store.ShadowUser{OrgID: org.ID, Domain: "PRIMARY", Username: "alice"}); err == nil ||
		!strings.Contains(err.Error(), "built-in") {
		t.Errorf("shadow in PRIMARY = %v", err)
	}
	if _, err := s.UpsertShadowUser(ctx, store.ShadowUser{OrgID: org.ID, Domain: "EMPLOYEES", Username: "bob",
		Groups: []string{""}}); err == nil {
		t.Error("an empty group name was accepted")
	}
}
