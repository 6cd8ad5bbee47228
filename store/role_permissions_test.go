package store_test

import (
	"slices"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// TestRolePermissions checks that a role's permissions are stored, read back, replaced and
// audited, and that a user holds the union of its roles' permissions, direct and through groups.
func TestRolePermissions(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	alice, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	staff, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "staff", Members: []string{alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := s.CreateRole(ctx, store.NewRole{OrgID: org.ID, Name: "viewer", Users: []string{alice.ID},
		Permissions: []string{"internal_user_mgt_view", "internal_user_mgt_list", "internal_user_mgt_view"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"internal_user_mgt_list", "internal_user_mgt_view"}; !slices.Equal(viewer.Permissions, want) {
		t.Fatalf("created role permissions %v, want %v (sorted, no duplicates)", viewer.Permissions, want)
	}
	if _, err := s.CreateRole(ctx, store.NewRole{OrgID: org.ID, Name: "editors", Groups: []string{staff.ID},
		Permissions: []string{"internal_user_mgt_update"}}); err != nil {
		t.Fatal(err)
	}
	perms := func(u store.User) []string {
		t.Helper()
		p, err := s.UserPermissions(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, want := perms(alice), []string{"internal_user_mgt_list", "internal_user_mgt_update", "internal_user_mgt_view"}; !slices.Equal(got, want) {
		t.Fatalf("alice holds %v, want %v", got, want)
	}
	if got := perms(bob); len(got) != 0 {
		t.Fatalf("bob holds %v, want none", got)
	}

	got, err := s.RoleByID(ctx, org.ID, viewer.ID)
	if err != nil || !slices.Equal(got.Permissions, viewer.Permissions) {
		t.Fatalf("read back %v (%v), want %v", got.Permissions, err, viewer.Permissions)
	}
	replaced, err := s.ReplaceRole(ctx, store.RoleReplace{OrgID: org.ID, ID: viewer.ID, Name: "viewer",
		Users: []string{alice.ID, bob.ID}, Permissions: []string{"internal_group_mgt_view"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(replaced.Permissions, []string{"internal_group_mgt_view"}) {
		t.Fatalf("replaced permissions %v", replaced.Permissions)
	}
	if got := perms(bob); !slices.Equal(got, []string{"internal_group_mgt_view"}) {
		t.Fatalf("bob holds %v after the replace", got)
	}
	list, _, err := s.ListRoles(ctx, store.ListQuery{OrgID: org.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.Permissions == nil || len(r.Permissions) != 1 {
			t.Errorf("listed role %s has permissions %v", r.Name, r.Permissions)
		}
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2
		AND before->'permissions' ? 'internal_user_mgt_view' AND after->'permissions' ? 'internal_group_mgt_view'`,
		store.AuditRoleUpdate, viewer.ID); n != 1 {
		t.Errorf("%d update audit events record the permissions before and after, want 1", n)
	}

	for _, bad := range []string{"", "has space", "semi;colon", string(make([]byte, 300))} {
		if _, err := s.CreateRole(ctx, store.NewRole{OrgID: org.ID, Name: "bad", Permissions: []string{bad}}); err == nil {
			t.Errorf("permission %q accepted", bad)
		}
	}
	if err := s.DeleteRole(ctx, org.ID, viewer.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM role_permissions WHERE role_id = $1`, viewer.ID); n != 0 {
		t.Errorf("%d permissions outlived their role", n)
	}
}
