package store_test

import (
	"slices"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// TestFilterElementTypes checks filters on the type of a user's groups (direct or indirect) and
// of a group's members (User or Group), alone and together with other fields of the same
// element, on the nested-group fixture: all ⊃ eng ⊃ backend, alice in backend, bob in eng and
// all, carol in nothing.
func TestFilterElementTypes(t *testing.T) {
	t.Parallel()
	n := newNesting(t)
	s, ctx := n.s, t.Context()

	cmp := func(op store.FilterOp, field string, v any) store.Filter {
		return store.Filter{Op: op, Field: field, Value: v}
	}
	and := func(fs ...store.Filter) store.Filter { return store.Filter{Op: store.FilterAnd, Sub: fs} }
	not := func(f store.Filter) store.Filter { return store.Filter{Op: store.FilterNot, Sub: []store.Filter{f}} }
	anyOf := func(set string, f store.Filter) store.Filter {
		return store.Filter{Op: store.FilterAny, Field: set, Sub: []store.Filter{f}}
	}
	groups := func(f store.Filter) store.Filter { return anyOf(store.UserFieldGroups, f) }
	members := func(f store.Filter) store.Filter { return anyOf(store.GroupFieldMembers, f) }
	gType, gName := store.UserFieldGroupType, store.UserFieldGroupName
	mType, mName, mID := store.GroupFieldMemberType, store.GroupFieldMemberName, store.GroupFieldMemberID

	// alice: backend (direct), eng and all (indirect); bob: eng and all (direct); carol: none.
	for _, tc := range []struct {
		name   string
		filter store.Filter
		want   []string
	}{
		{"type eq indirect", cmp(store.FilterEq, gType, "indirect"), []string{"alice"}},
		{"type eq direct", cmp(store.FilterEq, gType, "direct"), []string{"alice", "bob"}},
		{"type ignores case", cmp(store.FilterEq, gType, "DIRECT"), []string{"alice", "bob"}},
		{"type pr", cmp(store.FilterPresent, gType, nil), []string{"alice", "bob"}},
		{"not type pr", not(cmp(store.FilterPresent, gType, nil)), []string{"carol"}},
		{"type ne: no group of that type", cmp(store.FilterNe, gType, "indirect"), []string{"bob", "carol"}},
		{"type sw", cmp(store.FilterSw, gType, "in"), []string{"alice"}},
		{"element: indirect and eng", groups(and(cmp(store.FilterEq, gType, "indirect"), cmp(store.FilterEq, gName, "eng"))), []string{"alice"}},
		{"element: direct and eng", groups(and(cmp(store.FilterEq, gType, "direct"), cmp(store.FilterEq, gName, "eng"))), []string{"bob"}},
		{"element: indirect and backend (no such element)", groups(and(cmp(store.FilterEq, gType, "indirect"), cmp(store.FilterEq, gName, "backend"))), []string{}},
		{"element: type ne direct", groups(cmp(store.FilterNe, gType, "direct")), []string{"alice"}},
		{"element: not direct and name sw e", groups(and(not(cmp(store.FilterEq, gType, "direct")), cmp(store.FilterSw, gName, "e"))), []string{"alice"}},
		{"not element: no indirect group", not(groups(cmp(store.FilterEq, gType, "indirect"))), []string{"bob", "carol"}},
		{"element: name only, through nesting", groups(cmp(store.FilterEq, gName, "all")), []string{"alice", "bob"}},
	} {
		t.Run("users "+tc.name, func(t *testing.T) {
			f := tc.filter
			us, total, err := s.ListUsers(ctx, store.ListQuery{OrgID: n.org.ID, Filter: &f, SortField: store.UserFieldUsername, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, u := range us {
				got = append(got, u.Username)
			}
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("users = %v (total %d), want %v", got, total, tc.want)
			}
		})
	}

	// all: bob (User), eng (Group); eng: bob (User), backend (Group); backend: alice (User).
	for _, tc := range []struct {
		name   string
		filter store.Filter
		want   []string
	}{
		{"type eq Group", cmp(store.FilterEq, mType, "Group"), []string{"all", "eng"}},
		{"type eq User", cmp(store.FilterEq, mType, "User"), []string{"all", "backend", "eng"}},
		{"type pr", cmp(store.FilterPresent, mType, nil), []string{"all", "backend", "eng"}},
		{"type ne: no member of that type", cmp(store.FilterNe, mType, "Group"), []string{"backend"}},
		{"element: Group and backend", members(and(cmp(store.FilterEq, mType, "Group"), cmp(store.FilterEq, mName, "backend"))), []string{"eng"}},
		{"element: User and eng (no such element)", members(and(cmp(store.FilterEq, mType, "User"), cmp(store.FilterEq, mName, "eng"))), []string{}},
		{"element: Group and a user's id (no such element)", members(and(cmp(store.FilterEq, mType, "Group"), cmp(store.FilterEq, mID, n.bob.ID))), []string{}},
		{"element: type ne Group", members(cmp(store.FilterNe, mType, "Group")), []string{"all", "backend", "eng"}},
		{"element: not User", members(not(cmp(store.FilterEq, mType, "User"))), []string{"all", "eng"}},
		{"not element: no Group member", not(members(cmp(store.FilterEq, mType, "Group"))), []string{"backend"}},
	} {
		t.Run("groups "+tc.name, func(t *testing.T) {
			f := tc.filter
			gs, total, err := s.ListGroups(ctx, store.ListQuery{OrgID: n.org.ID, Filter: &f, SortField: store.GroupFieldName, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got := groupNames(gs); !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("groups = %v (total %d), want %v", got, total, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		filter store.Filter
	}{
		{"a field of another set", groups(cmp(store.FilterEq, store.UserFieldUsername, "alice"))},
		{"an unknown set", anyOf("roles", cmp(store.FilterEq, gType, "direct"))},
		{"any inside any", groups(groups(cmp(store.FilterEq, gType, "direct")))},
		{"a claim inside any", groups(store.Filter{Op: store.FilterPresent, Claim: "http://wso2.org/claims/emailaddress"})},
		{"any without operand", store.Filter{Op: store.FilterAny, Field: store.UserFieldGroups}},
	} {
		t.Run("refused "+tc.name, func(t *testing.T) {
			f := tc.filter
			if _, _, err := s.ListUsers(ctx, store.ListQuery{OrgID: n.org.ID, Filter: &f, Limit: 10}); err == nil {
				t.Error("ListUsers succeeded, want an error")
			}
		})
	}
	t.Run("refused sort on an element field", func(t *testing.T) {
		if _, _, err := s.ListGroups(ctx, store.ListQuery{OrgID: n.org.ID, SortField: store.GroupFieldMemberType, Limit: 10}); err == nil {
			t.Error("ListGroups succeeded, want an error")
		}
	})
}
