package scim

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

func memberIDs(b map[string]any) []string {
	var out []string
	for _, m := range asList(b["members"]) {
		out = append(out, str0(get(m, "value")))
	}
	slices.Sort(out)
	return out
}

func TestGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := str0(e.newUser(map[string]any{"userName": "ann"})["id"])
	b := str0(e.newUser(map[string]any{"userName": "ben"})["id"])
	c := str0(e.newUser(map[string]any{"userName": "cat"})["id"])

	created := e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Engineering",
		"externalId": "ignored", "members": []any{map[string]any{"value": a, "display": "whatever"}, map[string]any{"value": b, "type": "User"}}}).must(t, 201)
	id := str0(created.body["id"])
	if created.header.Get("Location") != "https://id.example.com/scim2/Groups/"+id || !slices.Equal(memberIDs(created.body), sorted(a, b)) ||
		get(created.body, "members", 0, "$ref") == nil || created.header.Get("ETag") != get(created.body, "meta", "version") {
		t.Fatalf("created %s (Location %q)", created.raw, created.header.Get("Location"))
	}
	// The user's groups attribute shows the membership.
	ann := e.do("GET", "/scim2/Users/"+a, nil).must(t, 200)
	if get(ann.body, "groups", 0, "value") != id || get(ann.body, "groups", 0, "display") != "Engineering" {
		t.Errorf("ann's groups: %v", ann.body["groups"])
	}

	etag0 := created.header.Get("ETag")
	steps := []struct {
		name  string
		ops   []map[string]any
		want  []string
		title string
	}{
		{"add member", []map[string]any{op("add", "members", []any{map[string]any{"value": c}})}, sorted(a, b, c), "Engineering"},
		{"remove member by filter", []map[string]any{op("remove", `members[value eq "`+a+`"]`, nil)}, sorted(b, c), "Engineering"},
		{"remove member Azure style", []map[string]any{op("remove", "members", []any{map[string]any{"value": b}})}, sorted(c), "Engineering"},
		{"rename without path", []map[string]any{op("replace", "", map[string]any{"displayName": "Eng"})}, sorted(c), "Eng"},
		{"replace members", []map[string]any{op("replace", "members", []any{map[string]any{"value": a}, map[string]any{"value": b}})}, sorted(a, b), "Eng"},
		{"remove all members", []map[string]any{op("remove", "members", nil)}, nil, "Eng"},
	}
	for _, s := range steps {
		r := e.do("PATCH", "/scim2/Groups/"+id, patchBody(s.ops...)).must(t, 200)
		if !slices.Equal(memberIDs(r.body), s.want) || r.body["displayName"] != s.title {
			t.Errorf("%s: members %v name %v; want %v %v", s.name, memberIDs(r.body), r.body["displayName"], s.want, s.title)
		}
	}

	errs := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		scimType           string
	}{
		{"duplicate name", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "ENG"}, nil, 409, TypeUniqueness},
		{"unknown member", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "X", "members": []any{map[string]any{"value": "6f1c4b4e-8a9b-4c7e-9d2a-000000000000"}}}, nil, 400, TypeInvalidValue},
		{"malformed member", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "X", "members": []any{map[string]any{"value": "nope"}}}, nil, 400, TypeInvalidValue},
		{"unsupported member type", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "X", "members": []any{map[string]any{"value": id, "type": "Role"}}}, nil, 400, TypeInvalidValue},
		{"member group typed as a user", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "X", "members": []any{map[string]any{"value": id, "type": "User"}}}, nil, 400, TypeInvalidValue},
		{"no displayName", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}}, nil, 400, TypeInvalidValue},
		{"user schema", "POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaUser}, "displayName": "X"}, nil, 400, TypeInvalidSyntax},
		{"stale etag", "PATCH", "/scim2/Groups/" + id, patchBody(op("replace", "displayName", "Y")), []string{"If-Match", etag0}, 412, ""},
		{"stale etag delete", "DELETE", "/scim2/Groups/" + id, nil, []string{"If-Match", etag0}, 412, ""},
		{"immutable member value", "PATCH", "/scim2/Groups/" + id, patchBody(op("add", "members", []any{map[string]any{"value": a}}), op("replace", `members[value eq "`+a+`"].value`, b)), nil, 400, TypeMutability},
		{"read-only member display", "PATCH", "/scim2/Groups/" + id, patchBody(op("replace", "members.display", "x")), nil, 400, TypeMutability},
		{"unknown group", "GET", "/scim2/Groups/6f1c4b4e-8a9b-4c7e-9d2a-000000000000", nil, nil, 404, ""},
		{"filter on unknown attribute", "GET", "/scim2/Groups?filter=" + url.QueryEscape(`userName eq "x"`), nil, nil, 400, TypeInvalidFilter},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			e.do(tc.method, tc.path, tc.body, tc.headers...).checkError(t, tc.status, tc.scimType)
		})
	}

	// PUT replaces name and members.
	cur := e.do("GET", "/scim2/Groups/"+id, nil).must(t, 200)
	put := e.do("PUT", "/scim2/Groups/"+id, map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Platform",
		"members": []any{map[string]any{"value": c}}}, "If-Match", cur.header.Get("ETag")).must(t, 200)
	if put.body["displayName"] != "Platform" || !slices.Equal(memberIDs(put.body), []string{c}) {
		t.Errorf("PUT: %s", put.raw)
	}
	other := str0(e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Sales",
		"members": []any{map[string]any{"value": a}}}).must(t, 201).body["id"])

	queries := []struct {
		name, query string
		want        []string
	}{
		{"displayName eq", `displayName eq "platform"`, []string{id}},
		{"displayName sw", `displayName sw "S"`, []string{other}},
		{"member value", `members.value eq "` + c + `"`, []string{id}},
		{"member display", `members.display eq "ANN"`, []string{other}},
		{"member value path", `members[value eq "` + a + `"]`, []string{other}},
		{"members present", `members pr`, []string{id, other}},
		{"not", `not (displayName eq "Sales")`, []string{id}},
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			r := e.do("GET", "/scim2/Groups?filter="+url.QueryEscape(q.query), nil).must(t, 200)
			if got := ids(t, r); !slices.Equal(got, sorted(q.want...)) {
				t.Errorf("%s: got %v want %v", q.query, got, sorted(q.want...))
			}
		})
	}
	r := e.do("GET", "/scim2/Groups?sortBy=displayName&count=1&startIndex=2&excludedAttributes=members", nil).must(t, 200)
	if get(r.body, "totalResults") != float64(2) || get(r.body, "Resources", 0, "displayName") != "Sales" || get(r.body, "Resources", 0, "members") != nil {
		t.Errorf("paging: %s", r.raw)
	}
	r = e.do("POST", "/scim2/Groups/.search", map[string]any{"schemas": []string{SchemaSearch}, "filter": `displayName eq "Sales"`}).must(t, 200)
	if get(r.body, "totalResults") != float64(1) {
		t.Errorf("search: %s", r.raw)
	}

	e.do("DELETE", "/scim2/Groups/"+id, nil).must(t, http.StatusNoContent)
	e.do("GET", "/scim2/Groups/"+id, nil).checkError(t, 404, "")
	if cat := e.do("GET", "/scim2/Users/"+c, nil).must(t, 200); cat.body["groups"] != nil {
		t.Errorf("cat still in a deleted group: %v", cat.body["groups"])
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sp := e.do("GET", "/scim2/ServiceProviderConfig", nil, "Authorization", "").must(t, 200)
	if get(sp.body, "patch", "supported") != true || get(sp.body, "filter", "maxResults") != float64(50) ||
		get(sp.body, "etag", "supported") != true || get(sp.body, "authenticationSchemes", 0, "type") != "httpbasic" {
		t.Errorf("ServiceProviderConfig: %s", sp.raw)
	}
	schemas := e.do("GET", "/scim2/Schemas", nil).must(t, 200)
	var got []string
	for _, s := range asList(schemas.body["Resources"]) {
		got = append(got, str0(get(s, "id")))
	}
	if !slices.Equal(got, []string{SchemaUser, SchemaEnterprise, SchemaWSO2, SchemaGroup, SchemaRole}) || get(schemas.body, "totalResults") != float64(5) {
		t.Errorf("Schemas: %v", got)
	}
	user := e.do("GET", "/scim2/Schemas/"+SchemaUser, nil).must(t, 200)
	var userName, pw map[string]any
	for _, a := range asList(user.body["attributes"]) {
		switch get(a, "name") {
		case "userName":
			userName = a.(map[string]any)
		case "password":
			pw = a.(map[string]any)
		case "id", "meta":
			t.Errorf("common attribute %v listed", get(a, "name"))
		}
	}
	if userName["uniqueness"] != "server" || userName["required"] != true || pw["returned"] != "never" || pw["mutability"] != "writeOnly" {
		t.Errorf("userName %v, password %v", userName, pw)
	}
	rts := e.do("GET", "/scim2/ResourceTypes", nil).must(t, 200)
	if get(rts.body, "Resources", 0, "endpoint") != "/Users" || get(rts.body, "Resources", 0, "schemaExtensions", 0, "schema") != SchemaEnterprise ||
		get(rts.body, "Resources", 1, "schema") != SchemaGroup || get(rts.body, "Resources", 2, "endpoint") != "/v2/Roles" {
		t.Errorf("ResourceTypes: %s", rts.raw)
	}
	e.do("GET", "/scim2/ResourceTypes/Group", nil).must(t, 200)
	e.do("GET", "/scim2/ResourceTypes/Widget", nil).checkError(t, 404, "")
	e.do("GET", "/scim2/Schemas/urn:nope", nil).checkError(t, 404, "")
}
