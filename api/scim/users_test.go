package scim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()

	created := e.do("POST", "/scim2/Users", map[string]any{
		"schemas":  []string{SchemaUser, SchemaEnterprise, SchemaWSO2},
		"userName": "bjensen", "password": "s3cret!", "externalId": "ext-1",
		"name":           map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails":         []any{map[string]any{"value": "bjensen@example.com", "primary": true}, map[string]any{"value": "babs@work.example", "type": "work"}},
		"phoneNumbers":   []any{map[string]any{"value": "+1-555-0100", "type": "mobile"}},
		"id":             "client-chosen-id-is-ignored",
		"meta":           map[string]any{"version": "x"},
		SchemaEnterprise: map[string]any{"employeeNumber": "701984", "manager": map[string]any{"value": "m-1"}},
		SchemaWSO2:       map[string]any{"country": "Denmark"},
	}).must(t, http.StatusCreated)
	id := str0(created.body["id"])
	loc := "https://id.example.com/scim2/Users/" + id
	if created.header.Get("Location") != loc || get(created.body, "meta", "location") != loc {
		t.Errorf("Location %q, meta.location %v, want %s", created.header.Get("Location"), get(created.body, "meta", "location"), loc)
	}
	if id == "client-chosen-id-is-ignored" || created.header.Get("ETag") == "" || created.header.Get("ETag") != get(created.body, "meta", "version") {
		t.Errorf("id %q, ETag %q, version %v", id, created.header.Get("ETag"), get(created.body, "meta", "version"))
	}
	if _, ok := created.body["password"]; ok || strings.Contains(created.raw, "s3cret") {
		t.Error("password returned")
	}
	if get(created.body, SchemaEnterprise, "manager", "$ref") != "https://id.example.com/scim2/Users/m-1" || get(created.body, "active") != true {
		t.Errorf("body %s", created.raw)
	}

	// Stored as WSO2 local claims, password hashed with argon2id.
	claims, err := e.s.UserClaims(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for uri, want := range map[string]string{
		"http://wso2.org/claims/givenname": "Barbara", "http://wso2.org/claims/lastname": "Jensen",
		"http://wso2.org/claims/emailaddress": "bjensen@example.com", "http://wso2.org/claims/emails.work": "babs@work.example",
		"http://wso2.org/claims/mobile": "+1-555-0100", "http://wso2.org/claims/employeeNumber": "701984",
		"http://wso2.org/claims/country": "Denmark", "http://wso2.org/claims/externalid": "ext-1", "http://wso2.org/claims/managerId": "m-1",
	} {
		if claims[uri] != want {
			t.Errorf("claim %s = %q, want %q", uri, claims[uri], want)
		}
	}
	u, err := e.s.UserByID(ctx, e.org.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify("s3cret!", u.PasswordHash); !ok || err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("password hash %q does not verify: %v", u.PasswordHash, err)
	}

	got := e.do("GET", "/scim2/Users/"+id, nil).must(t, http.StatusOK)
	if get(got.body, "emails", 0, "value") != "bjensen@example.com" || get(got.body, "name", "givenName") != "Barbara" ||
		!slices.Contains(got.body["schemas"].([]any), any(SchemaWSO2)) || get(got.body, SchemaWSO2, "accountLocked") != false {
		t.Errorf("GET body %s", got.raw)
	}
	e.do("GET", "/scim2/Users/"+id, nil, "If-None-Match", got.header.Get("ETag")).must(t, http.StatusNotModified)

	// PUT replaces: attributes left out are cleared (their claims deleted).
	put := e.do("PUT", "/scim2/Users/"+id, map[string]any{
		"schemas": []string{SchemaUser}, "userName": "bjensen", "name": map[string]any{"givenName": "Babs"},
		"emails": []any{map[string]any{"value": "b@example.com"}},
	}, "If-Match", got.header.Get("ETag")).must(t, http.StatusOK)
	if put.header.Get("ETag") == got.header.Get("ETag") || get(put.body, "phoneNumbers") != nil || get(put.body, SchemaEnterprise) != nil {
		t.Errorf("PUT body %s", put.raw)
	}
	claims, _ = e.s.UserClaims(ctx, id)
	if claims["http://wso2.org/claims/mobile"] != "" || claims["http://wso2.org/claims/givenname"] != "Babs" {
		t.Errorf("claims after PUT %v", claims)
	}
	// The password was kept; the user can authenticate with it.
	e.do("GET", "/scim2/Me", nil, "Authorization", basic("bjensen", "s3cret!")).must(t, http.StatusOK)

	// A stale ETag fails every write.
	for _, m := range []string{"PUT", "PATCH", "DELETE"} {
		body := map[string]any{"schemas": []string{SchemaUser}, "userName": "bjensen"}
		if m == "PATCH" {
			body = map[string]any{"schemas": []string{SchemaPatchOp}, "Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "x"}}}
		}
		e.do(m, "/scim2/Users/"+id, body, "If-Match", got.header.Get("ETag")).checkError(t, http.StatusPreconditionFailed, "")
	}

	e.do("DELETE", "/scim2/Users/"+id, nil, "If-Match", put.header.Get("ETag")).must(t, http.StatusNoContent)
	e.do("GET", "/scim2/Users/"+id, nil).checkError(t, http.StatusNotFound, "")
	e.do("DELETE", "/scim2/Users/"+id, nil).checkError(t, http.StatusNotFound, "")
}

func patchBody(ops ...map[string]any) map[string]any {
	l := make([]any, len(ops))
	for i, o := range ops {
		l[i] = o
	}
	return map[string]any{"schemas": []string{SchemaPatchOp}, "Operations": l}
}

func op(kind, path string, value any) map[string]any {
	m := map[string]any{"op": kind}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

func TestPatchUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		ops   []map[string]any
		check func(t *testing.T, body map[string]any)
	}{
		{"replace simple", []map[string]any{op("replace", "displayName", "Babs")}, func(t *testing.T, b map[string]any) {
			if b["displayName"] != "Babs" {
				t.Errorf("displayName %v", b["displayName"])
			}
		}},
		{"add sub-attribute", []map[string]any{op("add", "name.middleName", "Q")}, func(t *testing.T, b map[string]any) {
			if get(b, "name", "middleName") != "Q" || get(b, "name", "givenName") != "Barbara" {
				t.Errorf("name %v", b["name"])
			}
		}},
		{"add without path merges", []map[string]any{op("add", "", map[string]any{"title": "Boss", "name": map[string]any{"honorificPrefix": "Dr"}})}, func(t *testing.T, b map[string]any) {
			if b["title"] != "Boss" || get(b, "name", "honorificPrefix") != "Dr" || get(b, "name", "givenName") != "Barbara" {
				t.Errorf("body %v", b)
			}
		}},
		{"replace filtered value", []map[string]any{op("replace", `emails[type eq "work"].value`, "new@work.example")}, func(t *testing.T, b map[string]any) {
			if !hasEmail(b, "work", "new@work.example") || !hasEmail(b, "", "bjensen@example.com") {
				t.Errorf("emails %v", b["emails"])
			}
		}},
		{"add filtered value creates the element", []map[string]any{op("add", `emails[type eq "home"].value`, "home@example.com")}, func(t *testing.T, b map[string]any) {
			if !hasEmail(b, "home", "home@example.com") {
				t.Errorf("emails %v", b["emails"])
			}
		}},
		{"remove filtered element", []map[string]any{op("remove", `emails[type eq "work"]`, nil)}, func(t *testing.T, b map[string]any) {
			if hasEmail(b, "work", "babs@work.example") || len(b["emails"].([]any)) != 1 {
				t.Errorf("emails %v", b["emails"])
			}
		}},
		{"add to multi-valued appends", []map[string]any{op("add", "phoneNumbers", []any{map[string]any{"type": "work", "value": "+1"}})}, func(t *testing.T, b map[string]any) {
			if len(b["phoneNumbers"].([]any)) != 2 {
				t.Errorf("phoneNumbers %v", b["phoneNumbers"])
			}
		}},
		{"replace multi-valued", []map[string]any{op("replace", "phoneNumbers", []any{map[string]any{"type": "home", "value": "+2"}})}, func(t *testing.T, b map[string]any) {
			if len(b["phoneNumbers"].([]any)) != 1 || get(b, "phoneNumbers", 0, "type") != "home" {
				t.Errorf("phoneNumbers %v", b["phoneNumbers"])
			}
		}},
		{"remove attribute", []map[string]any{op("remove", "name.familyName", nil), op("remove", "phoneNumbers", nil)}, func(t *testing.T, b map[string]any) {
			if get(b, "name", "familyName") != nil || b["phoneNumbers"] != nil {
				t.Errorf("body %v", b)
			}
		}},
		{"extension attribute by urn", []map[string]any{op("add", SchemaEnterprise+":department", "R&D"), op("replace", SchemaWSO2, map[string]any{"country": "Norway"})}, func(t *testing.T, b map[string]any) {
			if get(b, SchemaEnterprise, "department") != "R&D" || get(b, SchemaWSO2, "country") != "Norway" {
				t.Errorf("body %v", b)
			}
		}},
		{"case-insensitive op and names (Azure AD style)", []map[string]any{op("Replace", "", map[string]any{"ACTIVE": "False", "Title": "T"})}, func(t *testing.T, b map[string]any) {
			if b["active"] != false || b["title"] != "T" {
				t.Errorf("body %v", b)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := e.newUser(map[string]any{"userName": "u-" + strings.ReplaceAll(tc.name, " ", "-")[:10] + itoa(len(tc.name)),
				"name":         map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
				"emails":       []any{map[string]any{"value": "bjensen@example.com", "primary": true}, map[string]any{"value": "babs@work.example", "type": "work"}},
				"phoneNumbers": []any{map[string]any{"value": "+1-555-0100", "type": "mobile"}},
			})
			r := e.do("PATCH", "/scim2/Users/"+str0(u["id"]), patchBody(tc.ops...)).must(t, http.StatusOK)
			tc.check(t, r.body)
			// The response is what a later GET sees.
			again := e.do("GET", "/scim2/Users/"+str0(u["id"]), nil).must(t, http.StatusOK)
			delete(again.body, "meta")
			delete(r.body, "meta")
			tc.check(t, again.body)
		})
	}

	t.Run("password and active", func(t *testing.T) {
		e.createLocalUser("carol", "old-pw")
		carol := e.do("GET", "/scim2/Users?filter="+url.QueryEscape(`userName eq "carol"`), nil).must(t, http.StatusOK)
		id := str0(get(carol.body, "Resources", 0, "id"))
		e.do("PATCH", "/scim2/Users/"+id, patchBody(op("replace", "password", "new-pw"))).must(t, http.StatusOK)
		e.do("GET", "/scim2/Me", nil, "Authorization", basic("carol", "old-pw")).checkError(t, http.StatusUnauthorized, "")
		me := e.do("GET", "/scim2/Me", nil, "Authorization", basic("carol", "new-pw")).must(t, http.StatusOK)
		if me.body["id"] != id {
			t.Errorf("Me = %v", me.body["id"])
		}
		e.do("PATCH", "/scim2/Users/"+id, patchBody(op("replace", "active", false))).must(t, http.StatusOK)
		e.do("GET", "/scim2/Me", nil, "Authorization", basic("carol", "new-pw")).checkError(t, http.StatusUnauthorized, "")
	})
}

func hasEmail(b map[string]any, typ, value string) bool {
	for _, e := range b["emails"].([]any) {
		m := e.(map[string]any)
		t, _ := m["type"].(string)
		if t == typ && m["value"] == value {
			return true
		}
	}
	return false
}

func TestUserErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.newUser(map[string]any{"userName": "alice", "emails": []any{map[string]any{"value": "a@example.com", "type": "work"}}})
	id := str0(u["id"])
	users := "/scim2/Users"
	one := users + "/" + id
	core := []string{SchemaUser}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		scimType           string
	}{
		{"duplicate userName ignoring case", "POST", users, map[string]any{"schemas": core, "userName": "ALICE"}, 409, TypeUniqueness},
		{"rename onto another user", "PATCH", "", patchBody(op("replace", "userName", "admin")), 409, TypeUniqueness},
		{"body not JSON", "POST", users, `{"userName":`, 400, TypeInvalidSyntax},
		{"body not an object", "POST", users, `[1]`, 400, TypeInvalidSyntax},
		{"trailing data", "POST", users, `{"schemas":["` + SchemaUser + `"],"userName":"x"} {}`, 400, TypeInvalidSyntax},
		{"no schemas", "POST", users, map[string]any{"userName": "bob"}, 400, TypeInvalidSyntax},
		{"unknown schema", "POST", users, map[string]any{"schemas": []string{SchemaUser, "urn:x"}, "userName": "bob"}, 400, TypeInvalidSyntax},
		{"unknown attribute", "POST", users, map[string]any{"schemas": core, "userName": "bob", "shoeSize": 42}, 400, TypeInvalidSyntax},
		{"wrong type", "POST", users, map[string]any{"schemas": core, "userName": "bob", "active": "maybe"}, 400, TypeInvalidValue},
		{"string expected", "POST", users, map[string]any{"schemas": core, "userName": 7}, 400, TypeInvalidValue},
		{"missing userName", "POST", users, map[string]any{"schemas": core, "displayName": "Bob"}, 400, TypeInvalidValue},
		{"userName with spaces", "POST", users, map[string]any{"schemas": core, "userName": " bob"}, 400, TypeInvalidValue},
		{"unknown user store domain", "POST", users, map[string]any{"schemas": core, "userName": "LDAP/bob"}, 400, TypeInvalidValue},
		{"unsupported email type", "POST", users, map[string]any{"schemas": core, "userName": "bob", "emails": []any{map[string]any{"value": "x@y", "type": "carrier-pigeon"}}}, 400, TypeInvalidValue},
		{"two primary emails", "POST", users, map[string]any{"schemas": core, "userName": "bob", "emails": []any{map[string]any{"value": "x@y"}, map[string]any{"value": "z@y", "primary": true}}}, 400, TypeInvalidValue},
		{"claim too long", "POST", users, map[string]any{"schemas": core, "userName": "bob", "title": strings.Repeat("x", 3000)}, 400, TypeInvalidValue},
		{"count not an integer", "GET", users + "?count=ten", nil, 400, TypeInvalidValue},
		{"get unknown id", "GET", users + "/6f1c4b4e-8a9b-4c7e-9d2a-000000000000", nil, 404, ""},
		{"get malformed id", "GET", users + "/not-a-uuid", nil, 404, ""},
		{"put unknown id", "PUT", users + "/6f1c4b4e-8a9b-4c7e-9d2a-000000000000", map[string]any{"schemas": core, "userName": "x"}, 404, ""},
		{"patch wrong schema", "PATCH", "", map[string]any{"schemas": core, "Operations": []any{}}, 400, TypeInvalidSyntax},
		{"patch no operations", "PATCH", "", patchBody(), 400, TypeInvalidValue},
		{"patch unknown op", "PATCH", "", patchBody(op("move", "title", "x")), 400, TypeInvalidSyntax},
		{"patch read-only id", "PATCH", "", patchBody(op("replace", "id", "x")), 400, TypeMutability},
		{"patch read-only groups", "PATCH", "", patchBody(op("add", "groups", []any{map[string]any{"value": "g"}})), 400, TypeMutability},
		{"patch read-only in value", "PATCH", "", patchBody(op("replace", "", map[string]any{"meta": map[string]any{}})), 400, TypeMutability},
		{"patch read-only extension sub-attribute", "PATCH", "", patchBody(op("replace", SchemaEnterprise+":manager.$ref", "x")), 400, TypeMutability},
		{"patch accountLocked not boolean", "PATCH", "", patchBody(op("replace", SchemaWSO2+":accountLocked", "yes")), 400, TypeInvalidValue},
		{"patch invalid path syntax", "PATCH", "", patchBody(op("replace", "emails[type eq", "x")), 400, TypeInvalidPath},
		{"patch unknown attribute", "PATCH", "", patchBody(op("replace", "shoeSize", "x")), 400, TypeInvalidPath},
		{"patch filter on singular", "PATCH", "", patchBody(op("replace", `title[value eq "x"]`, "x")), 400, TypeInvalidPath},
		{"patch filter matches nothing", "PATCH", "", patchBody(op("remove", `emails[type eq "home"]`, nil)), 400, TypeNoTarget},
		{"patch remove without path", "PATCH", "", patchBody(op("remove", "", nil)), 400, TypeNoTarget},
		{"patch remove required", "PATCH", "", patchBody(op("remove", "userName", nil)), 400, TypeInvalidValue},
		{"patch bad value type", "PATCH", "", patchBody(op("replace", "active", 3)), 400, TypeInvalidValue},
		{"patch bad filter attribute", "PATCH", "", patchBody(op("replace", `emails[colour eq "x"].value`, "x")), 400, TypeInvalidFilter},
		{"patch bad filter operator", "PATCH", "", patchBody(op("replace", `emails[primary gt true].value`, "x")), 400, TypeInvalidFilter},
		{"patch value without path not object", "PATCH", "", patchBody(op("add", "", "x")), 400, TypeInvalidValue},
		{"search wrong schema", "POST", users + "/.search", map[string]any{"schemas": core}, 400, TypeInvalidSyntax},
		{"attributes and excluded", "GET", users + "?attributes=userName&excludedAttributes=emails", nil, 400, TypeInvalidSyntax},
		{"bad sortOrder", "GET", users + "?sortOrder=sideways", nil, 400, TypeInvalidValue},
		{"unknown sortBy", "GET", users + "?sortBy=shoeSize", nil, 400, TypeInvalidValue},
		{"unsortable sortBy", "GET", users + "?sortBy=groups", nil, 400, TypeInvalidValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = one
			}
			e.do(tc.method, path, tc.body).checkError(t, tc.status, tc.scimType)
		})
	}
	t.Run("failed patch changes nothing", func(t *testing.T) {
		e.do("PATCH", one, patchBody(op("replace", "title", "changed"), op("remove", "userName", nil))).checkError(t, 400, TypeInvalidValue)
		if got := e.do("GET", one, nil).must(t, 200); got.body["title"] != nil {
			t.Errorf("title = %v", got.body["title"])
		}
	})
	t.Run("body too large", func(t *testing.T) {
		big := `{"schemas":["` + SchemaUser + `"],"userName":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
		r := e.do("POST", users, big)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d", r.status)
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob := e.createLocalUser("bob", "bob-pw")
	carol := e.createLocalUser("carol", "carol-pw")
	// carol is an administrator through a group holding the admin role.
	g := e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Ops",
		"members": []any{map[string]any{"value": carol.ID}}}).must(t, 201)
	grantRole(t, e, "admin", str0(g.body["id"]))
	(*e.tokens)["admin-token"] = Token{UserID: carol.ID, Scopes: []string{"internal_user_mgt_list"}}
	(*e.tokens)["bob-token"] = Token{UserID: bob.ID, Scopes: []string{"internal_user_mgt_list"}}
	(*e.tokens)["app-token"] = Token{Scopes: []string{"internal_user_mgt_list"}}

	tests := []struct {
		name, method, path, authz string
		status                    int
	}{
		{"no credentials", "GET", "/scim2/Users", "", 401},
		{"wrong password", "GET", "/scim2/Users", basic("admin", "nope"), 401},
		{"unknown user", "GET", "/scim2/Users", basic("mallory", "x"), 401},
		{"malformed basic", "GET", "/scim2/Users", "Basic !!!", 401},
		{"unknown scheme", "GET", "/scim2/Users", "Digest x", 401},
		{"admin by name", "GET", "/scim2/Users", e.admin, 200},
		{"admin by domain-qualified name", "GET", "/scim2/Users", basic("PRIMARY/admin", "admin-pw"), 200},
		{"admin through a group role", "GET", "/scim2/Users", basic("carol", "carol-pw"), 200},
		{"non-admin is forbidden", "GET", "/scim2/Users", basic("bob", "bob-pw"), 403},
		{"non-admin may read Me", "GET", "/scim2/Me", basic("bob", "bob-pw"), 200},
		{"bearer admin with scope", "GET", "/scim2/Users", "Bearer admin-token", 200},
		{"bearer admin without scope", "GET", "/scim2/Groups", "Bearer admin-token", 403},
		{"bearer non-admin", "GET", "/scim2/Users", "Bearer bob-token", 403},
		{"bearer application with scope", "GET", "/scim2/Users", "Bearer app-token", 200},
		{"bearer application without scope", "GET", "/scim2/Groups", "Bearer app-token", 403},
		{"bearer client has no Me", "GET", "/scim2/Me", "Bearer app-token", 404},
		{"bad bearer", "GET", "/scim2/Users", "Bearer forged", 401},
		{"discovery is public", "GET", "/scim2/ServiceProviderConfig", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, nil, "Authorization", tc.authz)
			if tc.status >= 400 {
				r.checkError(t, tc.status, "")
				if tc.status == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				return
			}
			r.must(t, tc.status)
		})
	}
}

func grantRole(t *testing.T, e *env, role, groupID string) {
	t.Helper()
	if _, err := e.s.CreateRole(t.Context(), store.NewRole{OrgID: e.org.ID, Name: role, Groups: []string{groupID}}); err != nil {
		t.Fatal(err)
	}
}

func TestMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createLocalUser("dan", "dan-pw")
	dan := basic("dan", "dan-pw")
	me := e.do("GET", "/scim2/Me", nil, "Authorization", dan).must(t, 200)
	if me.body["userName"] != "dan" || me.header.Get("ETag") == "" {
		t.Fatalf("Me: %s", me.raw)
	}
	r := e.do("PATCH", "/scim2/Me", patchBody(op("add", "name.givenName", "Daniel"), op("replace", "password", "new-pw")),
		"Authorization", dan, "If-Match", me.header.Get("ETag")).must(t, 200)
	if get(r.body, "name", "givenName") != "Daniel" {
		t.Errorf("PATCH Me: %s", r.raw)
	}
	dan = basic("dan", "new-pw")
	tests := []struct {
		name, method string
		body         any
		status       int
		scimType     string
	}{
		{"rename self", "PATCH", patchBody(op("replace", "userName", "root")), 400, TypeMutability},
		{"deactivate self", "PATCH", patchBody(op("replace", "active", false)), 400, TypeMutability},
		{"put rename self", "PUT", map[string]any{"schemas": []string{SchemaUser}, "userName": "root"}, 400, TypeMutability},
		{"delete self", "DELETE", nil, 501, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.do(tc.method, "/scim2/Me", tc.body, "Authorization", dan).checkError(t, tc.status, tc.scimType)
		})
	}
	put := e.do("PUT", "/scim2/Me", map[string]any{"schemas": []string{SchemaUser}, "userName": "dan", "title": "Dr"}, "Authorization", dan).must(t, 200)
	if put.body["title"] != "Dr" || get(put.body, "name") != nil {
		t.Errorf("PUT Me: %s", put.raw)
	}
	// An administrator may rename itself.
	e.do("PATCH", "/scim2/Me", patchBody(op("replace", "displayName", "The Admin"))).must(t, 200)
}

// TestConcurrentCreations: users created at the same time (provisioning, several Bulk requests)
// all succeed: a creation is one atomic insert, not a serializable transaction that concurrent
// ones could abort.
func TestConcurrentCreations(t *testing.T) {
	e := newEnv(t)
	const workers, each = 6, 8
	statuses := make(chan int, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := e.do("POST", "/scim2/Users", map[string]any{"schemas": []string{SchemaUser},
					"userName": fmt.Sprintf("c-%d-%d", w, i), "password": "Conc-pw-123"})
				statuses <- r.status
			}
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 201 {
			t.Fatalf("a concurrent creation answered %d", s)
		}
	}
	list := e.do("GET", "/scim2/Users?filter="+url.QueryEscape(`userName sw "c-"`)+"&count=1", nil).must(t, 200)
	if list.body["totalResults"] != float64(workers*each) {
		t.Fatalf("totalResults %v, want %d", list.body["totalResults"], workers*each)
	}
}
