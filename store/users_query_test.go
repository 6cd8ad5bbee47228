package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

const (
	qClaimEmail = "http://wso2.org/claims/emailaddress"
	qClaimGiven = "http://wso2.org/claims/givenname"
	qClaimOther = "http://example.com/claims/internal"
)

func TestListUsersFilters(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	mk := func(name, email, given string) store.User {
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: name,
			Claims: map[string]string{qClaimEmail: email, qClaimGiven: given}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	alice := mk("Alice", "alice@example.com", "Alice")
	bob := mk("bob", "bob@example.org", "Robert")
	carol := mk("carol", "", "Carol")
	g, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "Staff", Members: []string{alice.ID, bob.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplaceUser(ctx, store.UserReplace{OrgID: org.ID, ID: carol.ID, Username: "carol", Disabled: true,
		Claims: map[string]string{qClaimGiven: "Carol"}, ClaimScope: []string{qClaimGiven, qClaimEmail}}); err != nil {
		t.Fatal(err)
	}
	cmp := func(op store.FilterOp, field, claim string, v any) *store.Filter {
		return &store.Filter{Op: op, Field: field, Claim: claim, Value: v}
	}
	tests := []struct {
		name   string
		filter *store.Filter
		want   []string
	}{
		{"all", nil, []string{"Alice", "bob", "carol"}},
		{"username eq ignores case", cmp(store.FilterEq, store.UserFieldUsername, "", "ALICE"), []string{"Alice"}},
		{"username eq case-exact", &store.Filter{Op: store.FilterEq, Field: store.UserFieldUsername, Value: "alice", CaseExact: true}, nil},
		{"username ne", cmp(store.FilterNe, store.UserFieldUsername, "", "alice"), []string{"bob", "carol"}},
		{"username sw", cmp(store.FilterSw, store.UserFieldUsername, "", "B"), []string{"bob"}},
		{"username ew", cmp(store.FilterEw, store.UserFieldUsername, "", "OL"), []string{"carol"}},
		{"username co", cmp(store.FilterCo, store.UserFieldUsername, "", "li"), []string{"Alice"}},
		{"username gt", cmp(store.FilterGt, store.UserFieldUsername, "", "b"), []string{"bob", "carol"}},
		{"username le", cmp(store.FilterLe, store.UserFieldUsername, "", "bob"), []string{"Alice", "bob"}},
		{"claim co", cmp(store.FilterCo, "", qClaimEmail, "EXAMPLE.COM"), []string{"Alice"}},
		{"claim pr", cmp(store.FilterPresent, "", qClaimEmail, nil), []string{"Alice", "bob"}},
		{"claim ne matches absent", cmp(store.FilterNe, "", qClaimEmail, "bob@example.org"), []string{"Alice", "carol"}},
		{"active", cmp(store.FilterEq, store.UserFieldActive, "", false), []string{"carol"}},
		{"created after", cmp(store.FilterGt, store.UserFieldCreated, "", time.Now().Add(-time.Hour)), []string{"Alice", "bob", "carol"}},
		{"group id", cmp(store.FilterEq, store.UserFieldGroupID, "", g.ID), []string{"Alice", "bob"}},
		{"group name ne", cmp(store.FilterNe, store.UserFieldGroupName, "", "staff"), []string{"carol"}},
		{"and", &store.Filter{Op: store.FilterAnd, Sub: []store.Filter{*cmp(store.FilterPresent, "", qClaimEmail, nil), *cmp(store.FilterSw, "", qClaimGiven, "rob")}}, []string{"bob"}},
		{"or", &store.Filter{Op: store.FilterOr, Sub: []store.Filter{*cmp(store.FilterEq, store.UserFieldUsername, "", "carol"), *cmp(store.FilterEw, "", qClaimEmail, ".org")}}, []string{"bob", "carol"}},
		{"not", &store.Filter{Op: store.FilterNot, Sub: []store.Filter{*cmp(store.FilterPresent, "", qClaimEmail, nil)}}, []string{"carol"}},
		{"false", &store.Filter{Op: store.FilterFalse}, nil},
		{"invalid utf-8 matches nothing", cmp(store.FilterEq, "", qClaimEmail, "\xff"), nil},
		{"injection attempt is a value", cmp(store.FilterEq, store.UserFieldUsername, "", "x' OR '1'='1"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, total, err := s.ListUsers(ctx, store.ListQuery{OrgID: org.ID, Filter: tc.filter, SortField: store.UserFieldUsername, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range users {
				got = append(got, u.Username)
			}
			slices.SortFunc(got, func(a, b string) int { return cmpFold(a, b) })
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}

	t.Run("paging and sort by claim", func(t *testing.T) {
		users, total, err := s.ListUsers(ctx, store.ListQuery{OrgID: org.ID, SortClaim: qClaimGiven, Descending: true, Offset: 1, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 || len(users) != 1 || users[0].Username != "carol" {
			t.Errorf("got %v total %d, want [carol] of 3 (Robert, Carol, Alice)", users, total)
		}
	})
	t.Run("count only", func(t *testing.T) {
		users, total, err := s.ListUsers(ctx, store.ListQuery{OrgID: org.ID})
		if err != nil || total != 3 || len(users) != 0 {
			t.Errorf("got %v, %d, %v", users, total, err)
		}
	})
	t.Run("wrong value type is an error", func(t *testing.T) {
		if _, _, err := s.ListUsers(ctx, store.ListQuery{OrgID: org.ID, Limit: 1, Filter: cmp(store.FilterCo, store.UserFieldCreated, "", "x")}); err == nil {
			t.Error("want error")
		}
	})
}

func cmpFold(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }

func TestReplaceAndDeleteUser(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "dave", PasswordHash: "h1",
		Claims: map[string]string{qClaimEmail: "d@x", qClaimGiven: "Dave", qClaimOther: "keep"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "erin"}); err != nil {
		t.Fatal(err)
	}
	scope := []string{qClaimEmail, qClaimGiven}
	got, err := s.ReplaceUser(ctx, store.UserReplace{OrgID: org.ID, ID: u.ID, Username: "David",
		Claims: map[string]string{qClaimGiven: "David"}, ClaimScope: scope})
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != "David" || got.PasswordHash != "h1" || !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("replaced user = %+v", got)
	}
	claims, err := s.UserClaims(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{qClaimGiven: "David", qClaimOther: "keep"}
	if len(claims) != len(want) || claims[qClaimGiven] != "David" || claims[qClaimOther] != "keep" {
		t.Errorf("claims = %v, want %v", claims, want)
	}
	tests := []struct {
		name string
		r    store.UserReplace
		want error
	}{
		{"username taken ignoring case", store.UserReplace{OrgID: org.ID, ID: u.ID, Username: "ERIN"}, store.ErrConflict},
		{"unknown user", store.UserReplace{OrgID: org.ID, ID: "6f1c4b4e-8a9b-4c7e-9d2a-000000000000", Username: "x"}, store.ErrNotFound},
		{"malformed id", store.UserReplace{OrgID: org.ID, ID: "nope", Username: "x"}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.ReplaceUser(ctx, tc.r); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("claim outside scope", func(t *testing.T) {
		_, err := s.ReplaceUser(ctx, store.UserReplace{OrgID: org.ID, ID: u.ID, Username: "David",
			Claims: map[string]string{qClaimOther: "x"}, ClaimScope: scope})
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			t.Errorf("err = %v, want a plain error", err)
		}
	})
	t.Run("empty claims clear the scope", func(t *testing.T) {
		if _, err := s.ReplaceUser(ctx, store.UserReplace{OrgID: org.ID, ID: u.ID, Username: "David", ClaimScope: scope}); err != nil {
			t.Fatal(err)
		}
		claims, err := s.UserClaims(ctx, u.ID)
		if err != nil || len(claims) != 1 || claims[qClaimOther] != "keep" {
			t.Errorf("claims = %v, %v", claims, err)
		}
	})
	if err := s.DeleteUser(ctx, org.ID, u.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, org.ID, u.ID, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE target_id = $1 AND action = $2`, u.ID, store.AuditUserDelete); n != 1 {
		t.Errorf("%d delete audit events", n)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	a, _ := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "a"})
	b, _ := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "b"})
	g, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "Admins", Members: []string{a.ID, a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "ADMINS"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := s.CreateGroup(ctx, store.NewGroup{OrgID: org.ID, Name: "x", Members: []string{"6f1c4b4e-8a9b-4c7e-9d2a-000000000000"}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown member: %v", err)
	}
	g2, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: org.ID, ID: g.ID, Name: "Operators", Members: []string{b.ID}})
	if err != nil {
		t.Fatal(err)
	}
	members, err := s.MembersOfGroups(ctx, []string{g.ID})
	if err != nil || len(members[g.ID]) != 1 || members[g.ID][0].Username != "b" || g2.Name != "Operators" {
		t.Errorf("members %v, group %+v, err %v", members, g2, err)
	}
	of, err := s.GroupsOfUsers(ctx, []string{a.ID, b.ID})
	if err != nil || len(of[a.ID]) != 0 || len(of[b.ID]) != 1 {
		t.Errorf("groups of users %v, %v", of, err)
	}
	groups, total, err := s.ListGroups(ctx, store.ListQuery{OrgID: org.ID, Limit: 5,
		Filter: &store.Filter{Op: store.FilterEq, Field: store.GroupFieldMemberName, Value: "B"}})
	if err != nil || total != 1 || groups[0].ID != g.ID {
		t.Errorf("list by member: %v %d %v", groups, total, err)
	}
	if _, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: org.ID, ID: g.ID, Name: "Operators"}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.MembersOfGroups(ctx, []string{g.ID}); err != nil || len(m[g.ID]) != 0 {
		t.Errorf("members after emptying: %v, %v", m, err)
	}
	if _, err := s.ReplaceGroup(ctx, store.GroupReplace{OrgID: org.ID, ID: g.ID, Name: "Operators", Members: []string{b.ID}}); err != nil {
		t.Fatal(err)
	}
	missing, err := s.MissingUsers(ctx, org.ID, []string{a.ID, "zzz", "6f1c4b4e-8a9b-4c7e-9d2a-000000000000"})
	if err != nil || len(missing) != 2 {
		t.Errorf("missing = %v, %v", missing, err)
	}

	// Roles: through a group and directly.
	var roleID string
	if err := conn.QueryRow(ctx, `INSERT INTO roles (org_id, name, name_key, audience_id) VALUES ($1, 'admin', 'admin', $1) RETURNING id`, org.ID).Scan(&roleID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO role_assignments (org_id, role_id, group_id) VALUES ($1, $2, $3)`, org.ID, roleID, g.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		user string
		want bool
	}{{"member of the group", b.ID, true}, {"not a member", a.ID, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := s.UserHasRole(ctx, tc.user, "Admin")
			if err != nil || ok != tc.want {
				t.Errorf("UserHasRole = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	roles, err := s.RolesOfUsers(ctx, []string{b.ID})
	if err != nil || len(roles[b.ID]) != 1 || roles[b.ID][0].Name != "admin" {
		t.Errorf("roles = %v, %v", roles, err)
	}
	if err := s.DeleteGroup(ctx, org.ID, g.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GroupByID(ctx, org.ID, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted group: %v", err)
	}
}
