package store_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/store"
)

// nesting is the fixture of the nested-group tests: all ⊃ eng ⊃ backend, alice a direct member
// of backend, bob of eng and all, carol of nothing; the organization role "staff" (with a
// permission) is assigned to all.
type nesting struct {
	s                 *store.Store
	conn              *pgx.Conn
	org               store.Organization
	alice, bob, carol store.User
	all, eng, backend store.Group
	staff             store.Role
}

func newNesting(t *testing.T) nesting {
	t.Helper()
	s, conn := newStore(t)
	ctx := t.Context()
	n := nesting{s: s, conn: conn, org: rootOrg(t, s)}
	for _, u := range []struct {
		dst  *store.User
		name string
	}{{&n.alice, "alice"}, {&n.bob, "bob"}, {&n.carol, "carol"}} {
		var err error
		if *u.dst, err = s.CreateUser(ctx, store.NewUser{OrgID: n.org.ID, Username: u.name}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if n.backend, err = s.CreateGroup(ctx, store.NewGroup{OrgID: n.org.ID, Name: "backend", Members: []string{n.alice.ID}}); err != nil {
		t.Fatal(err)
	}
	if n.eng, err = s.CreateGroup(ctx, store.NewGroup{OrgID: n.org.ID, Name: "eng", Members: []string{n.bob.ID},
		MemberGroups: []string{n.backend.ID, n.backend.ID}}); err != nil {
		t.Fatal(err)
	}
	if n.all, err = s.CreateGroup(ctx, store.NewGroup{OrgID: n.org.ID, Name: "all", Members: []string{n.bob.ID},
		MemberGroups: []string{n.eng.ID}}); err != nil {
		t.Fatal(err)
	}
	if n.staff, err = s.CreateRole(ctx, store.NewRole{OrgID: n.org.ID, Name: "staff", Groups: []string{n.all.ID},
		Permissions: []string{"internal_user_mgt_view"}}); err != nil {
		t.Fatal(err)
	}
	return n
}

func groupNames(gs []store.Group) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Name
	}
	return out
}

// TestNestedGroupMemberships checks that a user belongs to the groups containing its groups,
// with direct and indirect told apart, and holds their roles and permissions everywhere the
// store computes them.
func TestNestedGroupMemberships(t *testing.T) {
	t.Parallel()
	n := newNesting(t)
	s, ctx := n.s, t.Context()

	mg, err := s.MemberGroupsOfGroups(ctx, []string{n.all.ID, n.eng.ID, n.backend.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := groupNames(mg[n.all.ID]); !slices.Equal(got, []string{"eng"}) {
		t.Errorf("member groups of all = %v, want [eng]", got)
	}
	if got := groupNames(mg[n.eng.ID]); !slices.Equal(got, []string{"backend"}) {
		t.Errorf("member groups of eng = %v, want [backend] (duplicates ignored)", got)
	}
	if len(mg[n.backend.ID]) != 0 {
		t.Errorf("backend has member groups %v", mg[n.backend.ID])
	}

	ms, err := s.MembershipsOfUsers(ctx, []string{n.alice.ID, n.bob.ID, n.carol.ID})
	if err != nil {
		t.Fatal(err)
	}
	type m struct {
		name   string
		direct bool
	}
	flat := func(ms []store.Membership) []m {
		out := []m{}
		for _, x := range ms {
			out = append(out, m{x.Name, x.Direct})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		user store.User
		want []m
	}{
		{"alice: one direct group, two through nesting", n.alice, []m{{"all", false}, {"backend", true}, {"eng", false}}},
		{"bob: direct in all and eng, also indirect in all", n.bob, []m{{"all", true}, {"eng", true}}},
		{"carol: none", n.carol, []m{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := flat(ms[tc.user.ID]); !slices.Equal(got, tc.want) {
				t.Errorf("memberships = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("role and permissions of a parent group reach members of nested groups", func(t *testing.T) {
		ok, err := s.UserHasRole(ctx, n.alice.ID, "STAFF")
		if err != nil || !ok {
			t.Errorf("UserHasRole(alice, staff) = %v, %v; want true", ok, err)
		}
		if ok, err := s.UserHasRole(ctx, n.carol.ID, "staff"); err != nil || ok {
			t.Errorf("UserHasRole(carol, staff) = %v, %v; want false", ok, err)
		}
		perms, err := s.UserPermissions(ctx, n.alice.ID)
		if err != nil || !slices.Equal(perms, []string{"internal_user_mgt_view"}) {
			t.Errorf("UserPermissions(alice) = %v, %v", perms, err)
		}
		roles, err := s.RolesOfUsers(ctx, []string{n.alice.ID, n.carol.ID})
		if err != nil || len(roles[n.alice.ID]) != 1 || roles[n.alice.ID][0].Name != "staff" || len(roles[n.carol.ID]) != 0 {
			t.Errorf("RolesOfUsers = %v, %v; want staff for alice only", roles, err)
		}
		names, err := s.UserRoleNames(ctx, n.alice.ID, "")
		if err != nil || !slices.Equal(names, []string{"staff"}) {
			t.Errorf("UserRoleNames(alice) = %v, %v", names, err)
		}
		groups, err := s.UserGroupNames(ctx, n.alice.ID)
		if err != nil || !slices.Equal(groups, []string{"all", "backend", "eng"}) {
			t.Errorf("UserGroupNames(alice) = %v, %v", groups, err)
		}
	})

	users := func(t *testing.T, f store.Filter) []string {
		t.Helper()
		us, _, err := s.ListUsers(ctx, store.ListQuery{OrgID: n.org.ID, Filter: &f, SortField: store.UserFieldUsername, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		filter store.Filter
		want   []string
	}{
		{"group id through nesting", store.Filter{Op: store.FilterEq, Field: store.UserFieldGroupID, Value: n.all.ID}, []string{"alice", "bob"}},
		{"group id of a leaf group", store.Filter{Op: store.FilterEq, Field: store.UserFieldGroupID, Value: n.backend.ID}, []string{"alice"}},
		{"group name ignores case", store.Filter{Op: store.FilterEq, Field: store.UserFieldGroupName, Value: "ENG"}, []string{"alice", "bob"}},
		{"group name ne", store.Filter{Op: store.FilterNe, Field: store.UserFieldGroupName, Value: "eng"}, []string{"carol"}},
		{"group name sw", store.Filter{Op: store.FilterSw, Field: store.UserFieldGroupName, Value: "back"}, []string{"alice"}},
	} {
		t.Run("users filter "+tc.name, func(t *testing.T) {
			if got := users(t, tc.filter); !slices.Equal(got, tc.want) {
				t.Errorf("users = %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		filter store.Filter
		want   []string
	}{
		{"member id of a group", store.Filter{Op: store.FilterEq, Field: store.GroupFieldMemberID, Value: n.backend.ID}, []string{"eng"}},
		{"member id of a user", store.Filter{Op: store.FilterEq, Field: store.GroupFieldMemberID, Value: n.bob.ID}, []string{"all", "eng"}},
		{"member name of a group", store.Filter{Op: store.FilterEq, Field: store.GroupFieldMemberName, Value: "ENG"}, []string{"all"}},
	} {
		t.Run("groups filter "+tc.name, func(t *testing.T) {
			f := tc.filter
			gs, _, err := s.ListGroups(ctx, store.ListQuery{OrgID: n.org.ID, Filter: &f, SortField: store.GroupFieldName, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got := groupNames(gs); !slices.Equal(got, tc.want) {
				t.Errorf("groups = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNestedGroupCycles checks that no write can make a group contain itself.
func TestNestedGroupCycles(t *testing.T) {
	t.Parallel()
	n := newNesting(t)
	s, ctx := n.s, t.Context()
	for _, tc := range []struct {
		name          string
		group, member store.Group
	}{
		{"itself", n.eng, n.eng},
		{"its direct parent", n.backend, n.eng},
		{"its grandparent", n.backend, n.all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: n.org.ID, ID: tc.group.ID, Name: tc.group.Name,
				MemberGroups: []string{tc.member.ID}})
			var cycle *store.GroupCycleError
			if !errors.As(err, &cycle) || cycle.GroupID != tc.group.ID || cycle.MemberGroupID != tc.member.ID {
				t.Fatalf("ReplaceGroup = %v, want a GroupCycleError naming %s in %s", err, tc.member.Name, tc.group.Name)
			}
		})
	}
	// Nothing changed: the refused writes were all or nothing (backend kept alice).
	ms, err := s.MembershipsOfUsers(ctx, []string{n.alice.ID})
	if err != nil || len(ms[n.alice.ID]) != 3 {
		t.Fatalf("alice's memberships after refused writes = %v, %v; want 3", ms, err)
	}
	// Moving a group is fine: backend leaves eng and joins all directly.
	if _, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: n.org.ID, ID: n.eng.ID, Name: "eng", Members: []string{n.bob.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: n.org.ID, ID: n.all.ID, Name: "all",
		MemberGroups: []string{n.eng.ID, n.backend.ID}}); err != nil {
		t.Fatal(err)
	}
	// A diamond is no cycle: eng may now contain backend again.
	if _, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: n.org.ID, ID: n.eng.ID, Name: "eng",
		MemberGroups: []string{n.backend.ID}}); err != nil {
		t.Fatalf("diamond refused: %v", err)
	}

	t.Run("member group of another organization", func(t *testing.T) {
		var other, foreign string
		if err := n.conn.QueryRow(ctx, `INSERT INTO organizations (handle, name) VALUES ('other', 'Other') RETURNING id`).Scan(&other); err != nil {
			t.Fatal(err)
		}
		if err := n.conn.QueryRow(ctx, `INSERT INTO groups (org_id, name, name_key) VALUES ($1, 'x', 'x') RETURNING id`, other).Scan(&foreign); err != nil {
			t.Fatal(err)
		}
		if missing, err := s.MissingGroups(ctx, n.org.ID, []string{foreign, n.eng.ID, "nope"}); err != nil || !slices.Equal(missing, []string{"nope", foreign}) {
			t.Errorf("MissingGroups = %v, %v; want [nope %s]", missing, err, foreign)
		}
		_, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: n.org.ID, ID: n.all.ID, Name: "all", MemberGroups: []string{foreign}})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReplaceGroup with a foreign member group = %v, want ErrNotFound", err)
		}
	})
}

// TestNestedGroupDeletion checks that deleting a group in the middle of a nesting removes the
// memberships and roles held through it.
func TestNestedGroupDeletion(t *testing.T) {
	t.Parallel()
	n := newNesting(t)
	s, ctx := n.s, t.Context()
	if err := s.DeleteGroup(ctx, n.org.ID, n.eng.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	ms, err := s.MembershipsOfUsers(ctx, []string{n.alice.ID})
	if err != nil || len(ms[n.alice.ID]) != 1 || ms[n.alice.ID][0].Name != "backend" {
		t.Errorf("alice's memberships = %v, %v; want backend only", ms, err)
	}
	if ok, err := s.UserHasRole(ctx, n.alice.ID, "staff"); err != nil || ok {
		t.Errorf("UserHasRole(alice, staff) = %v, %v; want false once eng is gone", ok, err)
	}
	if perms, err := s.UserPermissions(ctx, n.alice.ID); err != nil || len(perms) != 0 {
		t.Errorf("UserPermissions(alice) = %v, %v; want none", perms, err)
	}
	if ok, err := s.UserHasRole(ctx, n.bob.ID, "staff"); err != nil || !ok {
		t.Errorf("UserHasRole(bob, staff) = %v, %v; bob is in all directly", ok, err)
	}
	if n := countRows(t, n.conn, `SELECT count(*) FROM group_member_groups`); n != 0 {
		t.Errorf("%d nesting rows left, want 0", n)
	}
}

// TestTokenMemberships checks the groups and roles claims of a user's tokens for an
// application: groups direct, nested and domain-qualified; only the application's roles, held
// directly or through (nested) groups. The same roles are the script's application roles
// (hasAnyOfTheRolesV2).
func TestTokenMemberships(t *testing.T) {
	t.Parallel()
	n := newNesting(t)
	s, ctx := n.s, t.Context()
	if _, err := n.conn.Exec(ctx, `INSERT INTO oauth2_clients (client_id, org_id, public, access_token_lifetime_seconds, signing_alg)
		VALUES ('shop-client', $1, true, 300, 'ES256'), ('other-client', $1, true, 300, 'ES256')`, n.org.ID); err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: n.org.ID, Name: "shop", ClientID: "shop-client"}})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := s.CreateGroup(ctx, store.NewGroup{OrgID: n.org.ID, Domain: "EXT", Name: "partners", MemberGroups: []string{n.backend.ID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.NewRole{
		{Name: "editor", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Groups: []string{n.all.ID}},
		{Name: "partner", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Groups: []string{ext.ID}},
		{Name: "buyer", AudienceType: store.RoleAudienceApplication, AudienceID: app.ID, Users: []string{n.bob.ID}},
	} {
		r.OrgID = n.org.ID
		if _, err := s.CreateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name          string
		user, client  string
		groups, roles []string
	}{
		{"nested groups and their application roles", n.alice.ID, "shop-client", []string{"EXT/partners", "all", "backend", "eng"}, []string{"editor", "partner"}},
		{"direct role, no organization role", n.bob.ID, "shop-client", []string{"all", "eng"}, []string{"buyer", "editor"}},
		{"client of no application", n.alice.ID, "other-client", []string{"EXT/partners", "all", "backend", "eng"}, []string{}},
		{"not a local user", "federated-sub", "shop-client", []string{}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := s.TokenMemberships(ctx, tc.user, tc.client)
			if err != nil || !slices.Equal(m.Groups, tc.groups) || !slices.Equal(m.Roles, tc.roles) {
				t.Errorf("TokenMemberships = %+v, %v; want groups %v roles %v", m, err, tc.groups, tc.roles)
			}
		})
	}
	roles, err := s.UserRoleNames(ctx, n.alice.ID, app.ID)
	if err != nil || !slices.Equal(roles, []string{"editor", "partner"}) {
		t.Errorf("UserRoleNames(alice, shop) = %v, %v; want [editor partner]", roles, err)
	}
}
