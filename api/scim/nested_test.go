package scim

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// memberTypes maps each member's value to its type, and checks its $ref.
func memberTypes(t *testing.T, b map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range asList(b["members"]) {
		id, typ := str0(get(m, "value")), str0(get(m, "type"))
		out[id] = typ
		if want := "https://id.example.com/scim2/" + typ + "s/" + id; get(m, "$ref") != want {
			t.Errorf("member %s: $ref %v, want %s", id, get(m, "$ref"), want)
		}
	}
	return out
}

// userGroups maps each of a User's groups to its membership type.
func userGroups(b map[string]any) map[string]string {
	out := map[string]string{}
	for _, g := range asList(b["groups"]) {
		out[str0(get(g, "display"))] = str0(get(g, "type"))
	}
	return out
}

// TestNestedGroups drives nested groups through SCIM: groups as members (by type, by $ref or
// by id alone), PATCH of member groups, cycles refused, users' direct and indirect groups, and a
// permission held through a nested group.
func TestNestedGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.createLocalUser("dev", "dev-pw")
	ops := str0(e.newUser(map[string]any{"userName": "ops"})["id"])
	group := func(name string, members ...any) string {
		t.Helper()
		return str0(e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": name,
			"members": members}).must(t, 201).body["id"])
	}
	backend := group("backend", map[string]any{"value": dev.ID})
	frontend := group("frontend")

	// A group member by type, a user member by $ref only.
	created := e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "eng",
		"members": []any{
			map[string]any{"value": backend, "type": "Group"},
			map[string]any{"value": ops, "$ref": "https://id.example.com/scim2/Users/" + ops},
		}}).must(t, 201)
	eng := str0(created.body["id"])
	if got, want := memberTypes(t, created.body), map[string]string{backend: "Group", ops: "User"}; !maps.Equal(got, want) {
		t.Fatalf("eng members %v, want %v: %s", got, want, created.raw)
	}
	if get(created.body, "members", 1, "display") != "backend" {
		t.Errorf("group member display: %s", created.raw)
	}
	// A group member by id alone; by $ref only.
	all := group("all", map[string]any{"value": eng})
	got := e.do("GET", "/scim2/Groups/"+all, nil).must(t, 200)
	if m := memberTypes(t, got.body); !maps.Equal(m, map[string]string{eng: "Group"}) {
		t.Errorf("all members %v", m)
	}

	t.Run("user groups direct and indirect", func(t *testing.T) {
		u := e.do("GET", "/scim2/Users/"+dev.ID, nil).must(t, 200)
		want := map[string]string{"backend": "direct", "eng": "indirect", "all": "indirect"}
		if g := userGroups(u.body); !maps.Equal(g, want) {
			t.Errorf("dev's groups %v, want %v", g, want)
		}
		for _, g := range asList(u.body["groups"]) {
			if !strings.HasSuffix(str0(get(g, "$ref")), "/Groups/"+str0(get(g, "value"))) {
				t.Errorf("group $ref %v", get(g, "$ref"))
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		for _, q := range []struct {
			path, filter string
			want         []string
		}{
			{"/scim2/Groups", `members.value eq "` + backend + `"`, []string{eng}},
			{"/scim2/Groups", `members.display eq "ENG"`, []string{all}},
			{"/scim2/Users", `groups.value eq "` + all + `"`, []string{dev.ID, ops}},
			{"/scim2/Users", `groups.display eq "backend"`, []string{dev.ID}},
			// Types: members are users or groups, a user's groups direct or indirect. Inside [...]
			// every comparison tests the same element.
			{"/scim2/Groups", `members[type eq "Group"]`, []string{eng, all}},
			// RFC 7643 §8.7.1: members.type is not case-exact.
			{"/scim2/Groups", `members[type eq "group"]`, []string{eng, all}},
			{"/scim2/Groups", `members.type eq "User"`, []string{backend, eng}},
			{"/scim2/Groups", `members[type eq "Group" and display eq "backend"]`, []string{eng}},
			{"/scim2/Groups", `members[type eq "User" and value eq "` + backend + `"]`, nil},
			{"/scim2/Groups", `members[type eq "Group" and not (display eq "backend")]`, []string{all}},
			{"/scim2/Groups", `members[type ne "Group"]`, []string{backend, eng}},
			{"/scim2/Groups", `members.type ne "Group"`, []string{backend, frontend}},
			{"/scim2/Groups", `members.type pr`, []string{backend, eng, all}},
			{"/scim2/Groups", `not (members.type pr)`, []string{frontend}},
			{"/scim2/Users", `groups[type eq "indirect" and display eq "eng"]`, []string{dev.ID}},
			{"/scim2/Users", `groups[type eq "direct" and display eq "eng"]`, []string{ops}},
			{"/scim2/Users", `groups[type eq "indirect" and display eq "backend"]`, nil},
			{"/scim2/Users", `groups.type eq "direct"`, []string{dev.ID, ops}},
			{"/scim2/Users", `groups[type eq "direct" and value eq "` + all + `"]`, nil},
			{"/scim2/Users", `groups[not (type eq "direct") and value eq "` + all + `"]`, []string{dev.ID, ops}},
			{"/scim2/Users", `(userName eq "dev" or userName eq "ops") and not (groups[type eq "direct" and display eq "backend"])`, []string{ops}},
		} {
			r := e.do("GET", q.path+"?filter="+url.QueryEscape(q.filter), nil).must(t, 200)
			if got := ids(t, r); !slices.Equal(got, sorted(q.want...)) {
				t.Errorf("%s %s: got %v want %v", q.path, q.filter, got, sorted(q.want...))
			}
		}
	})

	t.Run("a permission through a nested group", func(t *testing.T) {
		if _, err := e.s.CreateRole(t.Context(), store.NewRole{OrgID: e.org.ID, Name: "lister", Groups: []string{all},
			Permissions: []string{"internal_user_mgt_list"}}); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/scim2/Users?filter="+url.QueryEscape(`userName eq "dev"`), nil, "Authorization", basic("dev", "dev-pw")).must(t, 200)
		if get(r.body, "totalResults") != float64(1) {
			t.Errorf("dev lists users: %s", r.raw)
		}
		u := e.do("GET", "/scim2/Users/"+dev.ID, nil).must(t, 200)
		if get(u.body, "roles", 0, "display") != "lister" {
			t.Errorf("dev's roles: %v", u.body["roles"])
		}
		e.do("GET", "/scim2/Groups", nil, "Authorization", basic("dev", "dev-pw")).checkError(t, 403, "")
	})

	t.Run("patch member groups", func(t *testing.T) {
		steps := []struct {
			name string
			op   map[string]any
			want map[string]string
		}{
			{"add a group by $ref", op("add", "members", []any{map[string]any{"value": frontend, "$ref": "https://id.example.com/scim2/Groups/" + frontend}}),
				map[string]string{backend: "Group", frontend: "Group", ops: "User"}},
			{"remove a group by filter", op("remove", `members[value eq "`+backend+`"]`, nil),
				map[string]string{frontend: "Group", ops: "User"}},
			{"remove a group Azure style", op("remove", "members", []any{map[string]any{"value": frontend}}),
				map[string]string{ops: "User"}},
			{"replace with a user and a group", op("replace", "members", []any{map[string]any{"value": backend, "type": "Group"}, map[string]any{"value": dev.ID}}),
				map[string]string{backend: "Group", dev.ID: "User"}},
		}
		for _, s := range steps {
			r := e.do("PATCH", "/scim2/Groups/"+eng, patchBody(s.op)).must(t, 200)
			if got := memberTypes(t, r.body); !maps.Equal(got, s.want) {
				t.Errorf("%s: members %v, want %v", s.name, got, s.want)
			}
		}
		// ops left eng, so is no longer in all.
		if g := userGroups(e.do("GET", "/scim2/Users/"+ops, nil).must(t, 200).body); len(g) != 0 {
			t.Errorf("ops's groups %v, want none", g)
		}
		// dev is in eng directly and through backend: direct wins.
		if g := userGroups(e.do("GET", "/scim2/Users/"+dev.ID, nil).must(t, 200).body); g["eng"] != "direct" || g["all"] != "indirect" {
			t.Errorf("dev's groups %v", g)
		}
	})

	t.Run("errors", func(t *testing.T) {
		unknown := "6f1c4b4e-8a9b-4c7e-9d2a-000000000000"
		for _, tc := range []struct {
			name, method, path string
			body               any
			detail             string
		}{
			{"cycle through PATCH", "PATCH", "/scim2/Groups/" + backend, patchBody(op("add", "members", []any{map[string]any{"value": all, "type": "Group"}})), "contains it"},
			{"direct cycle through PUT", "PUT", "/scim2/Groups/" + backend, map[string]any{"schemas": []string{SchemaGroup}, "displayName": "backend",
				"members": []any{map[string]any{"value": eng}}}, "contains it"},
			{"group in itself", "PATCH", "/scim2/Groups/" + eng, patchBody(op("add", "members", []any{map[string]any{"value": eng}})), "member of itself"},
			{"unknown group member", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "x",
				"members": []any{map[string]any{"value": unknown, "type": "Group"}}}, "is not a group"},
			{"unknown untyped member", "PATCH", "/scim2/Groups/" + eng, patchBody(op("add", "members", []any{map[string]any{"value": unknown}})), "not a user or a group"},
			{"user typed as a group", "PATCH", "/scim2/Groups/" + eng, patchBody(op("add", "members", []any{map[string]any{"value": ops, "type": "Group"}})), "is not a group"},
			{"$ref naming another id", "PATCH", "/scim2/Groups/" + eng, patchBody(op("add", "members", []any{map[string]any{"value": ops, "$ref": "https://id.example.com/scim2/Groups/" + all}})), "$ref"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(tc.method, tc.path, tc.body)
				r.checkError(t, 400, TypeInvalidValue)
				if d := str0(r.body["detail"]); !strings.Contains(d, tc.detail) {
					t.Errorf("detail %q, want it to mention %q", d, tc.detail)
				}
			})
		}
		// Nothing changed.
		if m := memberTypes(t, e.do("GET", "/scim2/Groups/"+backend, nil).must(t, 200).body); !maps.Equal(m, map[string]string{dev.ID: "User"}) {
			t.Errorf("backend members after refused writes: %v", m)
		}
	})

	t.Run("deleting a middle group", func(t *testing.T) {
		e.do("DELETE", "/scim2/Groups/"+eng, nil).must(t, 204)
		u := e.do("GET", "/scim2/Users/"+dev.ID, nil).must(t, 200)
		if g := userGroups(u.body); !maps.Equal(g, map[string]string{"backend": "direct"}) {
			t.Errorf("dev's groups %v, want backend only", g)
		}
		if u.body["roles"] != nil {
			t.Errorf("dev still holds %v", u.body["roles"])
		}
		if all := e.do("GET", "/scim2/Groups/"+all, nil).must(t, 200); all.body["members"] != nil {
			t.Errorf("all still has members %v", all.body["members"])
		}
	})
}
