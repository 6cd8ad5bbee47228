package apiresources_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/apiresources"
	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const tenantPath = "/t/carbon.super" + apiresources.Path

type env struct {
	s   *store.Store
	org store.Organization
	srv *httptest.Server
}

// newEnv serves the API behind the whole HTTP edge (api.New), whose tenant prefix
// /t/carbon.super reaches it too.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{s: storetest.New(t)}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	admin, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{apiresources.ScopeView, apiresources.ScopeCreate, apiresources.ScopeUpdate, apiresources.ScopeDelete}
	toks := bearertest.Tokens{
		"admin":  {Subject: admin.ID, ClientID: "console", Scopes: all},
		"m2m":    {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: all},
		"viewer": {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: []string{apiresources.ScopeView}},
	}
	h, err := apiresources.New(apiresources.Config{Store: e.s, Tokens: toks, BaseURL: "https://id.example"})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := api.New(api.Config{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
		Routes: []api.Routes{h}, RootTenant: "carbon.super"})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(handler)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) call(t *testing.T, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

type scopeView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

type resourceView struct {
	ID                    string      `json:"id"`
	Name                  string      `json:"name"`
	Description           string      `json:"description"`
	Identifier            string      `json:"identifier"`
	Type                  string      `json:"type"`
	RequiresAuthorization bool        `json:"requiresAuthorization"`
	Scopes                []scopeView `json:"scopes"`
	Self                  string      `json:"self"`
}

type listView struct {
	TotalResults int `json:"totalResults"`
	Links        []struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
	} `json:"links"`
	APIResources []resourceView `json:"apiResources"`
}

func names(ss []scopeView) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

type errorView struct {
	Code    string `json:"code"`
	TraceID string `json:"traceId"`
}

// TestAPIResources runs WSO2's API resource API: create (with its 400 and 409 answers), read,
// list with filters and cursors, PATCH names and scopes, replace and delete scopes, delete,
// through both /api/server/v1/… and /t/carbon.super/api/server/v1/….
func TestAPIResources(t *testing.T) {
	e := newEnv(t)
	bookings := `{"name":"Bookings","identifier":"https://bookings.example.com","description":"Trips",
		"requiresAuthorization":true,"scopes":[{"name":"bookings:read","displayName":"Read bookings","description":"See them"},
		{"name":"bookings:write","displayName":"Write bookings"}]}`

	status, hdr, body := e.call(t, http.MethodPost, tenantPath, "admin", bookings)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	r := decode[resourceView](t, body)
	if hdr.Get("Location") != "https://id.example"+apiresources.Path+"/"+r.ID || r.Self != hdr.Get("Location") {
		t.Errorf("Location %q, self %q", hdr.Get("Location"), r.Self)
	}
	if r.Name != "Bookings" || r.Identifier != "https://bookings.example.com" || r.Description != "Trips" || r.Type != "BUSINESS" ||
		!r.RequiresAuthorization || !slices.Equal(names(r.Scopes), []string{"bookings:read", "bookings:write"}) ||
		r.Scopes[0].DisplayName != "Read bookings" || r.Scopes[0].Description != "See them" || r.Scopes[0].ID == "" {
		t.Errorf("created %+v", r)
	}

	for _, tc := range []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no identifier", "admin", `{"name":"X","scopes":[]}`, 400, "APR-60001"},
		{"no name", "admin", `{"identifier":"urn:x"}`, 400, "APR-60001"},
		{"malformed JSON", "admin", `{"name":`, 400, "APR-60001"},
		{"bad scope name", "admin", `{"name":"X","identifier":"urn:x","scopes":[{"name":"has space"}]}`, 400, "APR-60001"},
		{"internal scope name", "admin", `{"name":"X","identifier":"urn:x","scopes":[{"name":"internal_user_mgt_view"}]}`, 400, "APR-60001"},
		{"duplicate scope in the body", "admin", `{"name":"X","identifier":"urn:x","scopes":[{"name":"a:b"},{"name":"a:b"}]}`, 400, "APR-60001"},
		{"identifier taken", "admin", `{"name":"Other","identifier":"https://bookings.example.com"}`, 409, "APR-60005"},
		{"scope name taken in the organization", "admin", `{"name":"Other","identifier":"urn:other","scopes":[{"name":"bookings:read"}]}`, 409, "APR-60005"},
		{"no token", "", `{"name":"X","identifier":"urn:x"}`, 401, "APR-60010"},
		{"view scope only", "viewer", `{"name":"X","identifier":"urn:x"}`, 403, "APR-60011"},
	} {
		t.Run("POST "+tc.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPost, apiresources.Path, tc.token, tc.body)
			if status != tc.status || decode[errorView](t, body).Code != tc.code {
				t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}

	t.Run("GET", func(t *testing.T) {
		for _, p := range []string{apiresources.Path, tenantPath} {
			status, _, body := e.call(t, http.MethodGet, p+"/"+r.ID, "viewer", "")
			if status != http.StatusOK || decode[resourceView](t, body).Identifier != r.Identifier {
				t.Errorf("GET %s: %d %s", p, status, body)
			}
		}
		for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
			if status, _, body := e.call(t, http.MethodGet, apiresources.Path+"/"+id, "viewer", ""); status != 404 {
				t.Errorf("GET %s: %d %s, want 404", id, status, body)
			}
		}
	})

	// Two more, for the list.
	for _, b := range []string{`{"name":"Inventory","identifier":"urn:inventory"}`, `{"name":"Payments","identifier":"urn:payments","requiresAuthorization":false}`} {
		if status, _, body := e.call(t, http.MethodPost, apiresources.Path, "m2m", b); status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, body)
		}
	}

	t.Run("list", func(t *testing.T) {
		status, _, body := e.call(t, http.MethodGet, apiresources.Path, "viewer", "")
		all := decode[listView](t, body)
		if status != http.StatusOK || all.TotalResults != 3 || len(all.APIResources) != 3 || len(all.Links) != 0 {
			t.Fatalf("list: %d %s", status, body)
		}
		// Pages of two, forward then back, by the links.
		status, _, body = e.call(t, http.MethodGet, tenantPath+"?limit=2", "viewer", "")
		p1 := decode[listView](t, body)
		if status != http.StatusOK || len(p1.APIResources) != 2 || len(p1.Links) != 1 || p1.Links[0].Rel != "next" {
			t.Fatalf("page 1: %d %s", status, body)
		}
		next, _ := url.Parse(p1.Links[0].Href)
		status, _, body = e.call(t, http.MethodGet, apiresources.Path+"?"+next.RawQuery, "viewer", "")
		p2 := decode[listView](t, body)
		if status != http.StatusOK || len(p2.APIResources) != 1 || p2.APIResources[0].ID != all.APIResources[2].ID ||
			len(p2.Links) != 1 || p2.Links[0].Rel != "previous" {
			t.Fatalf("page 2: %d %s", status, body)
		}
		prev, _ := url.Parse(p2.Links[0].Href)
		status, _, body = e.call(t, http.MethodGet, apiresources.Path+"?"+prev.RawQuery, "viewer", "")
		back := decode[listView](t, body)
		if status != http.StatusOK || len(back.APIResources) != 2 || back.APIResources[0].ID != p1.APIResources[0].ID ||
			back.APIResources[1].ID != p1.APIResources[1].ID {
			t.Fatalf("back to page 1: %d %s", status, body)
		}

		for _, tc := range []struct {
			name, query string
			status      int
			ids         []string
		}{
			{"identifier eq", "filter=" + url.QueryEscape(`identifier eq https://bookings.example.com`), 200, []string{r.ID}},
			{"name eq", "filter=" + url.QueryEscape(`name eq "Bookings"`), 200, []string{r.ID}},
			{"no match", "filter=" + url.QueryEscape(`name eq Nothing`), 200, []string{}},
			{"unsupported attribute", "filter=" + url.QueryEscape(`type eq BUSINESS`), 400, nil},
			{"unsupported operator", "filter=" + url.QueryEscape(`name co Book`), 400, nil},
			{"bad limit", "limit=0", 400, nil},
			{"bad cursor", "after=!!", 400, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := e.call(t, http.MethodGet, apiresources.Path+"?"+tc.query, "viewer", "")
				if status != tc.status {
					t.Fatalf("%d %s, want %d", status, body, tc.status)
				}
				if tc.ids == nil {
					return
				}
				ids := []string{}
				for _, r := range decode[listView](t, body).APIResources {
					ids = append(ids, r.ID)
				}
				if !slices.Equal(ids, tc.ids) {
					t.Errorf("ids %v, want %v", ids, tc.ids)
				}
			})
		}
	})

	one := apiresources.Path + "/" + r.ID
	get := func(t *testing.T) resourceView {
		t.Helper()
		status, _, body := e.call(t, http.MethodGet, one, "viewer", "")
		if status != http.StatusOK {
			t.Fatalf("GET: %d %s", status, body)
		}
		return decode[resourceView](t, body)
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		scopes           []string
	}{
		{"rename and add a scope", one, `{"name":"Trips","description":"All trips","addedScopes":[{"name":"bookings:cancel","displayName":"Cancel"}]}`,
			200, []string{"bookings:cancel", "bookings:read", "bookings:write"}},
		{"remove a scope", one, `{"removedScopes":["bookings:cancel"]}`, 200, []string{"bookings:read", "bookings:write"}},
		{"remove an unknown scope", one, `{"removedScopes":["bookings:nothing"]}`, 404, []string{"bookings:read", "bookings:write"}},
		{"add a taken scope", one, `{"addedScopes":[{"name":"bookings:read"}]}`, 409, []string{"bookings:read", "bookings:write"}},
		{"empty name", one, `{"name":" "}`, 400, []string{"bookings:read", "bookings:write"}},
		{"unknown resource", apiresources.Path + "/00000000-0000-4000-8000-000000000000", `{"name":"X"}`, 404, []string{"bookings:read", "bookings:write"}},
	} {
		t.Run("PATCH "+tc.name, func(t *testing.T) {
			if status, _, body := e.call(t, http.MethodPatch, tc.path, "admin", tc.body); status != tc.status {
				t.Errorf("%d %s, want %d", status, body, tc.status)
			}
			if got := get(t); !slices.Equal(names(got.Scopes), tc.scopes) {
				t.Errorf("scopes %v, want %v", names(got.Scopes), tc.scopes)
			}
		})
	}
	if got := get(t); got.Name != "Trips" || got.Description != "All trips" {
		t.Errorf("after PATCH: %+v", got)
	}

	t.Run("scopes", func(t *testing.T) {
		status, _, body := e.call(t, http.MethodPut, one+"/scopes", "admin",
			`[{"name":"trips:read","displayName":"Read"},{"name":"trips:write","displayName":"Write"}]`)
		if status != http.StatusNoContent {
			t.Fatalf("PUT scopes: %d %s", status, body)
		}
		status, _, body = e.call(t, http.MethodGet, one+"/scopes", "viewer", "")
		if status != http.StatusOK || !slices.Equal(names(decode[[]scopeView](t, body)), []string{"trips:read", "trips:write"}) {
			t.Fatalf("GET scopes: %d %s", status, body)
		}
		if status, _, body := e.call(t, http.MethodPut, one+"/scopes", "admin", `[{"name":"bad name"}]`); status != 400 {
			t.Errorf("PUT bad scopes: %d %s, want 400", status, body)
		}
		if status, _, body := e.call(t, http.MethodDelete, tenantPath+"/"+r.ID+"/scopes/trips:write", "admin", ""); status != http.StatusNoContent {
			t.Fatalf("DELETE scope: %d %s", status, body)
		}
		if status, _, body := e.call(t, http.MethodDelete, one+"/scopes/trips:write", "admin", ""); status != 404 ||
			decode[errorView](t, body).Code != "APR-60004" {
			t.Errorf("DELETE scope again: %d %s, want 404 APR-60004", status, body)
		}
		// The freed name can be used by another API resource.
		if status, _, body := e.call(t, http.MethodPost, apiresources.Path, "admin",
			`{"name":"Other","identifier":"urn:other","scopes":[{"name":"trips:write"}]}`); status != http.StatusCreated {
			t.Errorf("reuse of a deleted scope name: %d %s", status, body)
		}
	})

	t.Run("DELETE", func(t *testing.T) {
		if status, _, body := e.call(t, http.MethodDelete, one, "viewer", ""); status != http.StatusForbidden {
			t.Errorf("viewer DELETE: %d %s, want 403", status, body)
		}
		if status, _, body := e.call(t, http.MethodDelete, one, "admin", ""); status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", status, body)
		}
		if status, _, _ := e.call(t, http.MethodDelete, one, "admin", ""); status != http.StatusNotFound {
			t.Errorf("second DELETE: %d, want 404", status)
		}
	})
}

// TestDeleteCascades: deleting a scope or its API resource takes the permission away from the
// roles holding it (WSO2 deletes a scope with its uses) and records audit events.
func TestDeleteCascades(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	status, _, body := e.call(t, http.MethodPost, apiresources.Path, "admin",
		`{"name":"Bookings","identifier":"urn:bookings","scopes":[{"name":"bookings:read"},{"name":"bookings:write"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	r := decode[resourceView](t, body)
	role, err := e.s.CreateRole(ctx, store.NewRole{OrgID: e.org.ID, Name: "agents",
		Permissions: []string{"bookings:read", "bookings:write", "internal_user_mgt_view"}})
	if err != nil {
		t.Fatal(err)
	}
	perms := func(t *testing.T) []string {
		t.Helper()
		m, err := e.s.PermissionsOfRoles(ctx, []string{role.ID})
		if err != nil {
			t.Fatal(err)
		}
		return m[role.ID]
	}
	if status, _, body := e.call(t, http.MethodDelete, apiresources.Path+"/"+r.ID+"/scopes/bookings:write", "admin", ""); status != http.StatusNoContent {
		t.Fatalf("DELETE scope: %d %s", status, body)
	}
	if got := perms(t); !slices.Equal(got, []string{"bookings:read", "internal_user_mgt_view"}) {
		t.Errorf("after deleting the scope, role permissions %v", got)
	}
	if status, _, body := e.call(t, http.MethodDelete, apiresources.Path+"/"+r.ID, "admin", ""); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	if got := perms(t); !slices.Equal(got, []string{"internal_user_mgt_view"}) {
		t.Errorf("after deleting the API resource, role permissions %v", got)
	}
	events, _, err := e.s.AuditEvents(ctx, store.AuditQuery{OrgID: e.org.ID, TargetType: "api_resource", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		if ev.TargetType == "api_resource" {
			actions = append(actions, ev.Action)
		}
	}
	slices.Sort(actions)
	if want := []string{store.AuditAPIResourceCreate, store.AuditAPIResourceDelete, store.AuditAPIResourceUpdate}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %v, want %v", actions, want)
	}
}
