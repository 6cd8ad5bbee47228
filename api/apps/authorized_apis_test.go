package apps_test

import (
	"net/http"
	"testing"

	"github.com/keyflow/keyflow/store"
)

type authorizedAPIView struct {
	ID               string `json:"id"`
	Identifier       string `json:"identifier"`
	DisplayName      string `json:"displayName"`
	PolicyID         string `json:"policyId"`
	Type             string `json:"type"`
	AuthorizedScopes []struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	} `json:"authorizedScopes"`
}

func scopeNames(v authorizedAPIView) []string {
	out := []string{}
	for _, s := range v.AuthorizedScopes {
		out = append(out, s.Name)
	}
	return out
}

// TestAuthorizedAPIs authorizes an application for an API resource over HTTP (WSO2's
// /applications/{id}/authorized-apis), changes the authorized scopes with PATCH, and removes
// the authorization, with the errors of each step.
func TestAuthorizedAPIs(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	id := e.create(t, `{"name":"travel","inboundProtocolConfiguration":{"oidc":{"grantTypes":["client_credentials"]}}}`)
	other := e.create(t, `{"name":"other"}`)
	r, err := e.s.CreateAPIResource(ctx, store.APIResource{OrgID: e.org.ID, Identifier: "https://bookings.example.com",
		Name: "Bookings", Scopes: []store.APIScope{{Name: "bookings:read", DisplayName: "Read"},
			{Name: "bookings:write", DisplayName: "Write"}}}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	path := base + "/" + id + "/authorized-apis"
	list := func(t *testing.T) []authorizedAPIView {
		t.Helper()
		status, _, body := e.call(t, http.MethodGet, path, "viewer", "")
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, body)
		}
		return decode[[]authorizedAPIView](t, body)
	}
	if got := list(t); len(got) != 0 {
		t.Fatalf("new application's authorized APIs = %v, want []", got)
	}

	for _, tc := range []struct {
		name, token, path, body string
		status                  int
	}{
		{"unknown API resource", "admin", path, `{"id":"00000000-0000-4000-8000-000000000000","policyIdentifier":"RBAC","scopes":[]}`, 400},
		{"scope of no such name", "admin", path, `{"id":"` + r.ID + `","policyIdentifier":"RBAC","scopes":["bookings:delete"]}`, 400},
		{"bad policy", "admin", path, `{"id":"` + r.ID + `","policyIdentifier":"ABAC","scopes":[]}`, 400},
		{"no id", "admin", path, `{"policyIdentifier":"RBAC"}`, 400},
		{"unknown application", "admin", base + "/00000000-0000-4000-8000-000000000000/authorized-apis", `{"id":"` + r.ID + `"}`, 404},
		{"view scope only", "viewer", path, `{"id":"` + r.ID + `","policyIdentifier":"RBAC","scopes":["bookings:read"]}`, 403},
		{"created", "admin", path, `{"id":"` + r.ID + `","policyIdentifier":"RBAC","scopes":["bookings:read"]}`, 201},
		{"twice", "admin", path, `{"id":"` + r.ID + `","policyIdentifier":"RBAC","scopes":["bookings:read"]}`, 409},
		{"other application", "m2m", base + "/" + other + "/authorized-apis", `{"id":"` + r.ID + `","policyIdentifier":"NO POLICY"}`, 201},
	} {
		t.Run("POST "+tc.name, func(t *testing.T) {
			if status, _, body := e.call(t, http.MethodPost, tc.path, tc.token, tc.body); status != tc.status {
				t.Errorf("status %d (%s), want %d", status, body, tc.status)
			}
		})
	}
	got := list(t)
	if len(got) != 1 || got[0].ID != r.ID || got[0].Identifier != "https://bookings.example.com" || got[0].DisplayName != "Bookings" ||
		got[0].PolicyID != "RBAC" || got[0].Type != "BUSINESS" || len(got[0].AuthorizedScopes) != 1 ||
		got[0].AuthorizedScopes[0].Name != "bookings:read" || got[0].AuthorizedScopes[0].DisplayName != "Read" {
		t.Fatalf("authorized APIs = %+v", got)
	}

	one := path + "/" + r.ID
	for _, tc := range []struct {
		name, path, body string
		status           int
		scopes           []string
	}{
		{"unknown scope", one, `{"addedScopes":["bookings:delete"]}`, 404, []string{"bookings:read"}},
		{"not authorized", path + "/00000000-0000-4000-8000-000000000000", `{"addedScopes":["bookings:write"]}`, 404, []string{"bookings:read"}},
		{"malformed", one, `{"addedScopes":"bookings:write"}`, 400, []string{"bookings:read"}},
		{"swap", one, `{"addedScopes":["bookings:write"],"removedScopes":["bookings:read"]}`, 200, []string{"bookings:write"}},
		{"add again", one, `{"addedScopes":["bookings:write","bookings:read"]}`, 200, []string{"bookings:read", "bookings:write"}},
	} {
		t.Run("PATCH "+tc.name, func(t *testing.T) {
			if status, _, body := e.call(t, http.MethodPatch, tc.path, "admin", tc.body); status != tc.status {
				t.Errorf("status %d (%s), want %d", status, body, tc.status)
			}
			if got := list(t); len(got) != 1 || !equal(scopeNames(got[0]), tc.scopes) {
				t.Errorf("authorized APIs = %+v, want scopes %v", got, tc.scopes)
			}
		})
	}

	t.Run("deleting a scope of the API resource removes it from the authorization", func(t *testing.T) {
		if _, err := e.s.UpdateAPIResource(ctx, e.org.ID, r.ID, store.APIResourceUpdate{RemoveScopes: []string{"bookings:write"}}); err != nil {
			t.Fatal(err)
		}
		if got := list(t); len(got) != 1 || !equal(scopeNames(got[0]), []string{"bookings:read"}) {
			t.Errorf("authorized APIs = %+v, want bookings:read only", got)
		}
	})

	t.Run("DELETE", func(t *testing.T) {
		if status, _, body := e.call(t, http.MethodDelete, one, "admin", ""); status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", status, body)
		}
		if status, _, _ := e.call(t, http.MethodDelete, one, "admin", ""); status != http.StatusNotFound {
			t.Errorf("second delete: %d, want 404", status)
		}
		if got := list(t); len(got) != 0 {
			t.Errorf("after delete: %+v", got)
		}
	})

	t.Run("deleting the API resource removes the other application's authorization", func(t *testing.T) {
		if err := e.s.DeleteAPIResource(ctx, e.org.ID, r.ID, store.Actor{}); err != nil {
			t.Fatal(err)
		}
		status, _, body := e.call(t, http.MethodGet, base+"/"+other+"/authorized-apis", "admin", "")
		if status != http.StatusOK || body != "[]" {
			t.Errorf("other application's authorized APIs: %d %s, want 200 []", status, body)
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
