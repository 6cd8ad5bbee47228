package scim

import (
	"net/url"
	"slices"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fred := e.createLocalUser("fred", "fred-pw")
	gina := e.createLocalUser("gina", "gina-pw")
	g := str0(e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Auditors",
		"members": []any{map[string]any{"value": gina.ID}}}).must(t, 201).body["id"])

	// fred is not an administrator until a role named admin is assigned to him.
	e.do("GET", "/scim2/Users", nil, "Authorization", basic("fred", "fred-pw")).checkError(t, 403, "")
	created := e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "admin",
		"audience": map[string]any{"type": "organization", "value": e.org.ID},
		"users":    []any{map[string]any{"value": fred.ID}}}).must(t, 201)
	id := str0(created.body["id"])
	if created.header.Get("Location") != "https://id.example.com/scim2/v2/Roles/"+id || get(created.body, "audience", "value") != e.org.ID ||
		get(created.body, "audience", "type") != "organization" || get(created.body, "users", 0, "display") != "fred" {
		t.Fatalf("created: %s", created.raw)
	}
	e.do("GET", "/scim2/Users", nil, "Authorization", basic("fred", "fred-pw")).must(t, 200)
	u := e.do("GET", "/scim2/Users/"+fred.ID, nil).must(t, 200)
	if get(u.body, "roles", 0, "display") != "admin" {
		t.Errorf("fred's roles: %v", u.body["roles"])
	}

	r := e.do("PATCH", "/scim2/v2/Roles/"+id, patchBody(op("add", "groups", []any{map[string]any{"value": g}}),
		op("remove", `users[value eq "`+fred.ID+`"]`, nil)), "If-Match", created.header.Get("ETag")).must(t, 200)
	if get(r.body, "groups", 0, "display") != "Auditors" || r.body["users"] != nil {
		t.Errorf("patched: %s", r.raw)
	}
	e.do("GET", "/scim2/Users", nil, "Authorization", basic("gina", "gina-pw")).must(t, 200)
	e.do("GET", "/scim2/Users", nil, "Authorization", basic("fred", "fred-pw")).checkError(t, 403, "")

	other := str0(e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "viewer"}).must(t, 201).body["id"])
	for _, q := range []struct {
		filter string
		want   []string
	}{
		{`displayName eq "ADMIN"`, []string{id}},
		{`groups.value eq "` + g + `"`, []string{id}},
		{`not (groups pr)`, []string{other}},
		{`displayName sw "v"`, []string{other}},
	} {
		got := ids(t, e.do("GET", "/scim2/v2/Roles?filter="+url.QueryEscape(q.filter), nil).must(t, 200))
		if !slices.Equal(got, sorted(q.want...)) {
			t.Errorf("%s: got %v want %v", q.filter, got, q.want)
		}
	}

	errs := []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"duplicate name", "POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "Admin"}, 409, TypeUniqueness},
		{"bad permission", "POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "p", "permissions": []any{map[string]any{"value": "not a scope"}}}, 400, TypeInvalidValue},
		{"unknown user", "POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "p", "users": []any{map[string]any{"value": "nope"}}}, 400, TypeInvalidValue},
		{"unknown group", "PUT", "/scim2/v2/Roles/" + other, map[string]any{"schemas": []string{SchemaRole}, "displayName": "viewer", "groups": []any{map[string]any{"value": "6f1c4b4e-8a9b-4c7e-9d2a-000000000000"}}}, 400, TypeInvalidValue},
		{"audience is read-only", "PATCH", "/scim2/v2/Roles/" + other, patchBody(op("replace", "audience.value", "x")), 400, TypeMutability},
		{"rename onto another", "PATCH", "/scim2/v2/Roles/" + other, patchBody(op("replace", "displayName", "admin")), 409, TypeUniqueness},
		{"unknown role", "GET", "/scim2/v2/Roles/6f1c4b4e-8a9b-4c7e-9d2a-000000000000", nil, 404, ""},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			e.do(tc.method, tc.path, tc.body).checkError(t, tc.status, tc.scimType)
		})
	}
	e.do("DELETE", "/scim2/v2/Roles/"+id, nil).must(t, 204)
	e.do("GET", "/scim2/Users", nil, "Authorization", basic("gina", "gina-pw")).checkError(t, 403, "")
}

// TestRolePermissions: a role's permissions are stored, shown, patched, and let a user who is
// not an administrator do exactly what they name.
func TestRolePermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hal := e.createLocalUser("hal", "hal-pw")
	asHal := []string{"Authorization", basic("hal", "hal-pw")}
	e.do("GET", "/scim2/Users", nil, asHal...).checkError(t, 403, "")

	created := e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "user-readers",
		"users":       []any{map[string]any{"value": hal.ID}},
		"permissions": []any{map[string]any{"value": "internal_user_mgt_list"}, map[string]any{"value": "internal_user_mgt_view"}}}).must(t, 201)
	if get(created.body, "permissions", 0, "value") != "internal_user_mgt_list" || get(created.body, "permissions", 1, "value") != "internal_user_mgt_view" {
		t.Fatalf("created: %s", created.raw)
	}
	id := str0(created.body["id"])
	e.do("GET", "/scim2/Users", nil, asHal...).must(t, 200)
	e.do("GET", "/scim2/Users/"+hal.ID, nil, asHal...).must(t, 200)
	e.do("POST", "/scim2/Users", map[string]any{"schemas": []string{SchemaUser}, "userName": "ivy"}, asHal...).checkError(t, 403, "")
	e.do("GET", "/scim2/Groups", nil, asHal...).checkError(t, 403, "")

	r := e.do("PATCH", "/scim2/v2/Roles/"+id, patchBody(op("replace", "permissions", []any{map[string]any{"value": "internal_group_mgt_view"}})),
		"If-Match", created.header.Get("ETag")).must(t, 200)
	if get(r.body, "permissions", 0, "value") != "internal_group_mgt_view" || len(asList(r.body["permissions"])) != 1 {
		t.Fatalf("patched: %s", r.raw)
	}
	e.do("GET", "/scim2/Users", nil, asHal...).checkError(t, 403, "")
	e.do("GET", "/scim2/Groups", nil, asHal...).must(t, 200)
	got := e.do("GET", "/scim2/v2/Roles/"+id, nil).must(t, 200)
	if get(got.body, "permissions", 0, "value") != "internal_group_mgt_view" {
		t.Fatalf("read back: %s", got.raw)
	}
}

// TestApplicationRoles: a role's audience may be one of the organization's applications, set at
// creation and immutable; an application's "admin" role makes no administrator.
func TestApplicationRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	app, err := e.s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "crm"}})
	if err != nil {
		t.Fatal(err)
	}
	ivan := e.createLocalUser("ivan", "ivan-pw")
	created := e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "admin",
		"audience": map[string]any{"type": "application", "value": app.ID},
		"users":    []any{map[string]any{"value": ivan.ID}}}).must(t, 201)
	if get(created.body, "audience", "type") != "application" || get(created.body, "audience", "value") != app.ID {
		t.Fatalf("created: %s", created.raw)
	}
	id := str0(created.body["id"])
	// The organization's admin role is another role of the same name.
	e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "admin"}).must(t, 201)
	e.do("GET", "/scim2/Users", nil, "Authorization", basic("ivan", "ivan-pw")).checkError(t, 403, "")

	e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "x",
		"audience": map[string]any{"type": "application", "value": "00000000-0000-0000-0000-000000000000"}}).checkError(t, 400, TypeInvalidValue)
	e.do("POST", "/scim2/v2/Roles", map[string]any{"schemas": []string{SchemaRole}, "displayName": "y",
		"audience": map[string]any{"type": "tenant", "value": "x"}}).checkError(t, 400, TypeInvalidValue)
	e.do("PUT", "/scim2/v2/Roles/"+id, map[string]any{"schemas": []string{SchemaRole}, "displayName": "admin",
		"audience": map[string]any{"type": "organization", "value": e.org.ID}}).checkError(t, 400, TypeMutability)
	e.do("PATCH", "/scim2/v2/Roles/"+id, patchBody(op("replace", "audience.value", e.org.ID))).checkError(t, 400, TypeMutability)
	// A PUT that leaves the audience out, or repeats it, keeps it.
	r := e.do("PUT", "/scim2/v2/Roles/"+id, map[string]any{"schemas": []string{SchemaRole}, "displayName": "crm-admin"}).must(t, 200)
	if get(r.body, "audience", "type") != "application" || r.body["displayName"] != "crm-admin" {
		t.Fatalf("after PUT: %s", r.raw)
	}
}
