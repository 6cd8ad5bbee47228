package manage_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	list := base + "/identity-providers"
	tests := []struct {
		name, auth, method, path string
		status                   int
		code                     string
	}{
		{"no credentials", "", http.MethodGet, list, http.StatusUnauthorized, "IDP-60401"},
		{"basic admin", adminBasic, http.MethodGet, list, http.StatusOK, ""},
		{"basic admin role", operatorBasic, http.MethodGet, list, http.StatusOK, ""},
		{"basic wrong password", wrongBasic, http.MethodGet, list, http.StatusUnauthorized, "IDP-60401"},
		{"basic unknown user", "Basic mallory:pw", http.MethodGet, list, http.StatusUnauthorized, "IDP-60401"},
		{"basic non-admin (no role permission)", aliceBasic, http.MethodGet, list, http.StatusForbidden, "IDP-60403"},
		{"basic non-admin on claims", aliceBasic, http.MethodGet, base + "/claim-dialects", http.StatusForbidden, "CMT-60403"},
		{"unknown token", "Bearer nope", http.MethodGet, list, http.StatusUnauthorized, "IDP-60401"},
		{"token admin", adminToken, http.MethodGet, list, http.StatusOK, ""},
		{"token without scope", noScopesToken, http.MethodGet, list, http.StatusForbidden, "IDP-60403"},
		{"token view scope only", viewerToken, http.MethodDelete, list + "/00000000-0000-0000-0000-000000000001", http.StatusForbidden, "IDP-60403"},
		{"token of a non-admin", aliceToken, http.MethodGet, list, http.StatusForbidden, "IDP-60403"},
		{"client for itself", clientToken, http.MethodGet, list, http.StatusOK, ""},
		{"audit needs its scope", viewerToken, http.MethodGet, base + "/audit-events", http.StatusForbidden, "AUD-60403"},
		{"audit by basic admin", adminBasic, http.MethodGet, base + "/audit-events", http.StatusOK, ""},
		{"audit by non-admin", aliceToken, http.MethodGet, base + "/audit-events", http.StatusForbidden, "AUD-60403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, tt.method, tt.path, tt.auth, "")
			want(t, tt.name, r, tt.status, tt.code)
			if tt.status == http.StatusUnauthorized && !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), ","), "Basic") {
				t.Errorf("WWW-Authenticate %q does not offer Basic", r.header.Values("WWW-Authenticate"))
			}
		})
	}
}

func TestAuditEventsQuery(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		want(t, "create", e.call(t, http.MethodPost, base+"/identity-providers", adminBasic, `{"name":"`+name+`"}`), http.StatusCreated, "")
	}
	r := e.call(t, http.MethodGet, base+"/audit-events?action=identity_provider.create&limit=2&offset=1", adminToken, "")
	want(t, "page", r, http.StatusOK, "")
	var out struct {
		TotalResults, StartIndex, Count int
		Links                           []struct{ Rel string }
		Events                          []auditEvent
	}
	r.json(t, &out)
	if out.TotalResults != 3 || out.StartIndex != 2 || out.Count != 2 || len(out.Links) != 1 || out.Links[0].Rel != "previous" {
		t.Errorf("page %s", r.body)
	}
	if out.Events[0].Target.Type != "identity_provider" || string(out.Events[0].Before) != "null" {
		t.Errorf("event %+v", out.Events[0])
	}
	r = e.call(t, http.MethodGet, base+"/audit-events?action=identity_provider.create&since=2999-01-01T00:00:00Z", adminToken, "")
	want(t, "since", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"totalResults":0`) {
		t.Errorf("future since %s", r.body)
	}
	want(t, "bad since", e.call(t, http.MethodGet, base+"/audit-events?since=yesterday", adminToken, ""), http.StatusBadRequest, "AUD-60001")
	want(t, "bad limit", e.call(t, http.MethodGet, base+"/audit-events?limit=0", adminToken, ""), http.StatusBadRequest, "AUD-60001")
}
