package scim

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestUserQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mk := func(res map[string]any) string { return str0(e.newUser(res)["id"]) }
	adminID := str0(get(e.do("GET", "/scim2/Users?filter="+url.QueryEscape(`userName eq "admin"`), nil).must(t, 200).body, "Resources", 0, "id"))
	before := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	bjensen := mk(map[string]any{"userName": "bjensen", "title": "Tour Guide", "userType": "Employee",
		"name":    map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails":  []any{map[string]any{"value": "bjensen@example.com", "primary": true}, map[string]any{"value": "babs@work.example.org", "type": "work"}},
		"schemas": []string{SchemaUser, SchemaEnterprise}, SchemaEnterprise: map[string]any{"employeeNumber": "701984", "department": "Tours"}})
	jsmith := mk(map[string]any{"userName": "jsmith", "userType": "Contractor", "active": false,
		"name":   map[string]any{"givenName": "John", "familyName": "Smith"},
		"emails": []any{map[string]any{"value": "john@example.org", "type": "home"}}})
	kwong := mk(map[string]any{"userName": "Kwong", "userType": "Employee", "name": map[string]any{"givenName": "Kim"},
		"phoneNumbers": []any{map[string]any{"value": "+45 1234", "type": "work"}}})
	g := e.do("POST", "/scim2/Groups", map[string]any{"schemas": []string{SchemaGroup}, "displayName": "Tour Guides",
		"members": []any{map[string]any{"value": bjensen}, map[string]any{"value": kwong}}}).must(t, 201)
	gid := str0(g.body["id"])
	all := []string{adminID, bjensen, jsmith, kwong}

	tests := []struct {
		name, filter string
		want         []string
	}{
		{"eq ignores case", `userName eq "BJENSEN"`, []string{bjensen}},
		{"ne", `userName ne "bjensen"`, []string{adminID, jsmith, kwong}},
		{"co", `name.familyName co "mit"`, []string{jsmith}},
		{"sw", `userName sw "j"`, []string{jsmith}},
		{"ew", `userName ew "ONG"`, []string{kwong}},
		{"pr", `title pr`, []string{bjensen}},
		{"gt string", `userName gt "jsmith"`, []string{kwong}},
		{"ge string", `userName ge "jsmith"`, []string{jsmith, kwong}},
		{"lt string", `userName lt "b"`, []string{adminID}},
		{"le string", `userName le "bjensen"`, []string{adminID, bjensen}},
		{"gt dateTime", `meta.created gt "` + before + `"`, all},
		{"lt dateTime", `meta.lastModified lt "` + before + `"`, nil},
		{"boolean", `active eq false`, []string{jsmith}},
		{"boolean ne", `active ne false`, []string{adminID, bjensen, kwong}},
		{"and", `userType eq "Employee" and name.givenName sw "K"`, []string{kwong}},
		{"or", `userType eq "Contractor" or title pr`, []string{bjensen, jsmith}},
		{"not", `not (userType eq "Employee")`, []string{adminID, jsmith}},
		{"precedence", `userName eq "admin" or userType eq "Employee" and title pr`, []string{adminID, bjensen}},
		{"multi-valued shorthand", `emails co "example.org"`, []string{bjensen, jsmith}},
		{"multi-valued sub-attribute", `emails.value ew ".com"`, []string{bjensen}},
		{"multi-valued type", `emails.type eq "work"`, []string{bjensen}},
		{"multi-valued primary", `emails.primary eq true`, []string{bjensen}},
		{"value path", `emails[type eq "work" and value co "@work"]`, []string{bjensen}},
		{"value path is per element", `emails[type eq "home" and value co "bjensen"]`, nil},
		{"value path or", `emails[type eq "home"] or phoneNumbers[type eq "work"]`, []string{jsmith, kwong}},
		{"complex attribute present", `name pr`, []string{bjensen, jsmith, kwong}},
		{"extension by urn", SchemaEnterprise + `:employeeNumber eq "701984"`, []string{bjensen}},
		{"extension by short name", `department eq "tours"`, []string{bjensen}},
		{"core urn prefix", SchemaUser + `:name.givenName eq "john"`, []string{jsmith}},
		{"id", `id eq "` + kwong + `"`, []string{kwong}},
		{"groups", `groups eq "` + gid + `"`, []string{bjensen, kwong}},
		{"groups display", `groups.display eq "tour guides"`, []string{bjensen, kwong}},
		{"eq null is absent", `title eq null`, []string{adminID, jsmith, kwong}},
		{"resource type", `meta.resourceType eq "User"`, all},
		{"wso2 extension derived", SchemaWSO2 + `:accountDisabled eq true`, []string{jsmith}},
		{"injection is a value", `userName eq "x\" or 1=1 --"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/scim2/Users?filter="+url.QueryEscape(tc.filter), nil).must(t, http.StatusOK)
			got := ids(t, r)
			if !slices.Equal(got, sorted(tc.want...)) || get(r.body, "totalResults") != float64(len(tc.want)) {
				t.Errorf("filter %s: got %v (total %v), want %v", tc.filter, got, r.body["totalResults"], sorted(tc.want...))
			}
		})
	}

	badFilters := []struct{ name, filter string }{
		{"syntax", `userName eq`},
		{"unknown attribute", `shoeSize eq "42"`},
		{"unknown sub-attribute", `name.nickname eq "x"`},
		{"unknown schema", `urn:x:y:userName eq "x"`},
		{"boolean ordered", `active gt true`},
		{"boolean with string", `active eq "true"`},
		{"string with number", `userName eq 42`},
		{"bad dateTime", `meta.created gt "yesterday"`},
		{"dateTime co", `meta.created co "2020"`},
		{"complex without sub-attribute", `name eq "x"`},
		{"not filterable", `password eq "x"`},
		{"roles", `roles eq "x"`},
		{"meta version", `meta.version eq "x"`},
		{"value path on singular", `title[value eq "x"]`},
		{"value path unknown sub", `emails[colour eq "red"]`},
		{"value path urn inside", `emails[` + SchemaUser + `:userName eq "x"]`},
		{"too complex", func() string {
			s := `userName eq "a"`
			for range 120 {
				s += ` or userName eq "a"`
			}
			return s
		}()},
	}
	for _, tc := range badFilters {
		t.Run("invalid "+tc.name, func(t *testing.T) {
			e.do("GET", "/scim2/Users?filter="+url.QueryEscape(tc.filter), nil).checkError(t, http.StatusBadRequest, TypeInvalidFilter)
		})
	}

	t.Run("paging", func(t *testing.T) {
		names := func(r resp) []string {
			var out []string
			for _, res := range get(r.body, "Resources").([]any) {
				out = append(out, str0(get(res, "userName")))
			}
			return out
		}
		cases := []struct {
			query      string
			want       []string
			startIndex float64
		}{
			{"sortBy=userName&count=2", []string{"admin", "bjensen"}, 1},
			{"sortBy=userName&count=2&startIndex=3", []string{"jsmith", "Kwong"}, 3},
			{"sortBy=userName&count=2&startIndex=4", []string{"Kwong"}, 4},
			{"sortBy=userName&startIndex=9", nil, 9},
			{"sortBy=userName&startIndex=0&count=1", []string{"admin"}, 1},
			{"sortBy=userName&sortOrder=descending&count=1", []string{"Kwong"}, 1},
			{"sortBy=name.givenName&count=4", []string{"bjensen", "jsmith", "Kwong", "admin"}, 1},
			{"sortBy=emails&count=1", []string{"bjensen"}, 1},
			{"count=0", nil, 1},
			{"count=-5", nil, 1},
		}
		for _, c := range cases {
			r := e.do("GET", "/scim2/Users?"+c.query, nil).must(t, 200)
			got := names(r)
			if !slices.Equal(got, c.want) || get(r.body, "totalResults") != float64(4) ||
				get(r.body, "itemsPerPage") != float64(len(c.want)) || get(r.body, "startIndex") != c.startIndex {
				t.Errorf("%s: got %v total %v items %v start %v; want %v", c.query, got, r.body["totalResults"], r.body["itemsPerPage"], r.body["startIndex"], c.want)
			}
		}
		// count is capped at MaxCount (50 here).
		r := e.do("GET", "/scim2/Users?count=100000", nil).must(t, 200)
		if get(r.body, "itemsPerPage") != float64(4) {
			t.Errorf("itemsPerPage %v", r.body["itemsPerPage"])
		}
	})

	t.Run("attributes", func(t *testing.T) {
		r := e.do("GET", "/scim2/Users/"+bjensen+"?attributes=userName,emails.value,"+url.QueryEscape(SchemaEnterprise+":department"), nil).must(t, 200)
		b := r.body
		if b["id"] != bjensen || b["userName"] != "bjensen" || b["name"] != nil || b["meta"] != nil ||
			get(b, "emails", 0, "value") != "bjensen@example.com" || get(b, "emails", 0, "primary") != nil ||
			get(b, SchemaEnterprise, "department") != "Tours" || get(b, SchemaEnterprise, "employeeNumber") != nil {
			t.Errorf("attributes: %s", r.raw)
		}
		if !slices.Equal(b["schemas"].([]any), []any{SchemaUser, SchemaEnterprise}) {
			t.Errorf("schemas %v", b["schemas"])
		}
		r = e.do("GET", "/scim2/Users?filter="+url.QueryEscape(`userName eq "bjensen"`)+"&excludedAttributes=emails,name.givenName,id,"+SchemaEnterprise, nil).must(t, 200)
		res := get(r.body, "Resources", 0).(map[string]any)
		if res["emails"] != nil || get(res, "name", "givenName") != nil || get(res, "name", "familyName") != "Jensen" ||
			res["id"] != bjensen || res[SchemaEnterprise] != nil || res["meta"] == nil {
			t.Errorf("excludedAttributes: %s", r.raw)
		}
	})

	t.Run("search", func(t *testing.T) {
		r := e.do("POST", "/scim2/Users/.search", map[string]any{"schemas": []string{SchemaSearch},
			"filter": `userType eq "Employee"`, "attributes": []string{"userName"}, "sortBy": "userName", "startIndex": 1, "count": 1}).must(t, 200)
		if get(r.body, "totalResults") != float64(2) || get(r.body, "Resources", 0, "userName") != "bjensen" || get(r.body, "Resources", 0, "title") != nil {
			t.Errorf("search: %s", r.raw)
		}
		e.do("POST", "/scim2/Users/.search", map[string]any{"schemas": []string{SchemaSearch}, "filter": "bad"}).checkError(t, 400, TypeInvalidFilter)
	})
}
