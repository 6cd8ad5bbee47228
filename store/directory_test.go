package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestDirectoryClaims(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	org, err := st.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{OrgID: org.ID, Domain: store.DefaultDomain, Username: "alice",
		Claims: map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com", "http://wso2.org/claims/country": "NL"}})
	if err != nil {
		t.Fatal(err)
	}
	err = st.SetUserClaims(ctx, u.ID, map[string]string{
		"http://wso2.org/claims/identity/failedLoginAttemptsBeforeSuccess": "0",
		"http://wso2.org/claims/country":                                   "",
		"http://wso2.org/claims/emailaddress":                              "alice@example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.UserClaims(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"http://wso2.org/claims/emailaddress":                              "alice@example.org",
		"http://wso2.org/claims/identity/failedLoginAttemptsBeforeSuccess": "0",
	}
	if len(got) != len(want) {
		t.Fatalf("claims %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("claim %s = %q, want %q", k, got[k], v)
		}
	}
	if err := st.SetUserClaims(ctx, "00000000-0000-0000-0000-000000000000", map[string]string{"a": "b"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
}

func TestDirectoryRolesAndGroups(t *testing.T) {
	ctx := context.Background()
	st, conn := newStore(t)
	org := rootOrg(t, st)
	u, err := st.CreateUser(ctx, store.NewUser{OrgID: org.ID, Domain: store.DefaultDomain, Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	// Fixtures through SQL: role and group management arrives with the SCIM/management work.
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO roles (id, org_id, name, name_key, audience_type, audience_id) VALUES
		('11111111-1111-1111-1111-111111111111', $1, 'manager', 'manager', 'ORGANIZATION', $1),
		('22222222-2222-2222-2222-222222222222', $1, 'admin', 'admin', 'ORGANIZATION', $1),
		('33333333-3333-3333-3333-333333333333', $1, 'editor', 'editor', 'APPLICATION', '44444444-4444-4444-4444-444444444444')`, org.ID)
	exec(`INSERT INTO groups (id, org_id, name, name_key) VALUES ('55555555-5555-5555-5555-555555555555', $1, 'employee', 'employee')`, org.ID)
	exec(`INSERT INTO groups (id, org_id, user_store_domain, name, name_key) VALUES ('66666666-6666-6666-6666-666666666666', $1, 'EMPLOYEES', 'eng', 'eng')`, org.ID)
	exec(`INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, '55555555-5555-5555-5555-555555555555', $2), ($1, '66666666-6666-6666-6666-666666666666', $2)`, org.ID, u.ID)
	exec(`INSERT INTO role_assignments (org_id, role_id, user_id) VALUES ($1, '11111111-1111-1111-1111-111111111111', $2)`, org.ID, u.ID)
	exec(`INSERT INTO role_assignments (org_id, role_id, group_id) VALUES ($1, '22222222-2222-2222-2222-222222222222', '55555555-5555-5555-5555-555555555555'),
		($1, '33333333-3333-3333-3333-333333333333', '66666666-6666-6666-6666-666666666666')`, org.ID)

	tests := []struct {
		name     string
		audience string
		want     []string
	}{
		{"organization roles, direct and through a group", "", []string{"admin", "manager"}},
		{"application roles", "44444444-4444-4444-4444-444444444444", []string{"editor"}},
		{"other application", "77777777-7777-7777-7777-777777777777", nil},
		{"malformed application id", "app-1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.UserRoleNames(ctx, u.ID, tc.audience)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("UserRoleNames = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	groups, err := st.UserGroupNames(ctx, u.ID)
	if err != nil || !slices.Equal(groups, []string{"EMPLOYEES/eng", "employee"}) {
		t.Fatalf("UserGroupNames = %v, %v", groups, err)
	}
}
