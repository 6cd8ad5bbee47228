package scim

import (
	"strings"
	"testing"
)

func TestBulk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bulk := func(failOnErrors int, ops ...map[string]any) resp {
		l := make([]any, len(ops))
		for i, o := range ops {
			l[i] = o
		}
		return e.do("POST", "/scim2/Bulk", map[string]any{"schemas": []string{SchemaBulkRequest}, "failOnErrors": failOnErrors, "Operations": l}).must(t, 200)
	}
	r := bulk(0,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "u1", "data": map[string]any{"schemas": []string{SchemaUser}, "userName": "bulk1"}},
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g1", "data": map[string]any{"schemas": []string{SchemaGroup}, "displayName": "BulkGroup",
			"members": []any{map[string]any{"value": "bulkId:u1"}}}},
		map[string]any{"method": "PATCH", "path": "/Users/bulkId:u1", "data": patchBody(op("replace", "title", "T"))},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "dup", "data": map[string]any{"schemas": []string{SchemaUser}, "userName": "BULK1"}},
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g2", "data": map[string]any{"schemas": []string{SchemaGroup}, "displayName": "X",
			"members": []any{map[string]any{"value": "bulkId:nope"}}}},
		map[string]any{"method": "DELETE", "path": "/Groups/bulkId:g1", "version": `W/"stale"`},
		map[string]any{"method": "GET", "path": "/Users"},
		map[string]any{"method": "POST", "path": "/Widgets", "bulkId": "w"},
	)
	want := []string{"201", "201", "200", "409", "409", "412", "400", "400"}
	ops := get(r.body, "Operations").([]any)
	if len(ops) != len(want) {
		t.Fatalf("%d results: %s", len(ops), r.raw)
	}
	for i, w := range want {
		if got := get(ops[i], "status"); got != w {
			t.Errorf("operation %d: status %v, want %s (%v)", i+1, got, w, ops[i])
		}
	}
	if get(ops[3], "response", "scimType") != TypeUniqueness || !strings.HasPrefix(str0(get(ops[0], "location")), "https://id.example.com/scim2/Users/") ||
		get(ops[0], "bulkId") != "u1" || get(ops[0], "version") == nil {
		t.Errorf("results: %s", r.raw)
	}
	uid := strings.TrimPrefix(str0(get(ops[0], "location")), "https://id.example.com/scim2/Users/")
	u := e.do("GET", "/scim2/Users/"+uid, nil).must(t, 200)
	if u.body["title"] != "T" || get(u.body, "groups", 0, "display") != "BulkGroup" {
		t.Errorf("user after bulk: %s", u.raw)
	}

	// failOnErrors stops after that many failures.
	r = bulk(1,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": map[string]any{"schemas": []string{SchemaUser}, "userName": "bulk1"}},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "b", "data": map[string]any{"schemas": []string{SchemaUser}, "userName": "never"}},
	)
	if n := len(get(r.body, "Operations").([]any)); n != 1 {
		t.Errorf("failOnErrors 1 ran %d operations", n)
	}
	e.do("POST", "/scim2/Bulk", map[string]any{"schemas": []string{SchemaUser}}).checkError(t, 400, TypeInvalidSyntax)
	many := make([]any, MaxBulkOperations+1)
	for i := range many {
		many[i] = map[string]any{"method": "DELETE", "path": "/Users/x"}
	}
	e.do("POST", "/scim2/Bulk", map[string]any{"schemas": []string{SchemaBulkRequest}, "Operations": many}).checkError(t, 413, TypeTooMany)
	// Bulk needs an administrator.
	e.createLocalUser("eve", "eve-pw")
	e.do("POST", "/scim2/Bulk", map[string]any{"schemas": []string{SchemaBulkRequest}}, "Authorization", basic("eve", "eve-pw")).checkError(t, 403, "")
}
