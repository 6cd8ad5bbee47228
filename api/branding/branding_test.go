package branding_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/branding"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
	"github.com/keyflow/keyflow/ui"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	s   *store.Store
	org store.Organization
	h   *branding.Handler
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{s: storetest.New(t)}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.h, err = branding.New(branding.Config{Store: e.s, Tokens: bearertest.Tokens{
		"admin":   {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: []string{branding.ScopeUpdate}},
		"noscope": {Subject: "console", ClientID: "console", ClientOnly: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.h.Register(r)
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) call(t *testing.T, method, query, token string, body any) (int, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+branding.Path+query, bytes.NewReader(raw))
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
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestAPI: the refusals of WSO2's branding preference API, each in its error body.
func TestAPI(t *testing.T) {
	e := newEnv(t)
	good := map[string]any{"type": "ORG", "preference": map[string]any{"name": "Acme"}}
	tests := []struct {
		name, method, query, token string
		body                       any
		status                     int
		code                       string
	}{
		{name: "GET before any", method: http.MethodGet, status: http.StatusNotFound, code: "BPM-60002"},
		{name: "no token", method: http.MethodPost, body: good, status: http.StatusUnauthorized, code: "BPM-60010"},
		{name: "no scope", method: http.MethodPost, token: "noscope", body: good, status: http.StatusForbidden, code: "BPM-60011"},
		{name: "PUT before POST", method: http.MethodPut, token: "admin", body: good, status: http.StatusNotFound, code: "BPM-60002"},
		{name: "unsupported type", method: http.MethodPost, token: "admin", body: map[string]any{"type": "CUSTOM", "preference": map[string]any{}},
			status: http.StatusBadRequest, code: "BPM-60001"},
		{name: "unknown application", method: http.MethodPost, token: "admin",
			body:   map[string]any{"type": "APP", "name": "00000000-0000-0000-0000-000000000000", "preference": map[string]any{}},
			status: http.StatusBadRequest, code: "BPM-60001"},
		{name: "bad colour", method: http.MethodPost, token: "admin", body: map[string]any{"type": "ORG", "preference": map[string]any{"backgroundColor": "#12345"}},
			status: http.StatusBadRequest, code: "BPM-60001"},
		{name: "malformed body", method: http.MethodPost, token: "admin", body: "nope", status: http.StatusBadRequest, code: "BPM-60001"},
		{name: "create", method: http.MethodPost, token: "admin", body: good, status: http.StatusCreated},
		{name: "conflict", method: http.MethodPost, token: "admin", body: good, status: http.StatusConflict, code: "BPM-60003"},
		{name: "GET", method: http.MethodGet, query: "?type=ORG", status: http.StatusOK},
		{name: "other locale", method: http.MethodGet, query: "?type=ORG&locale=fr-FR", status: http.StatusNotFound, code: "BPM-60002"},
		{name: "delete", method: http.MethodDelete, query: "?type=ORG", token: "admin", status: http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body := e.call(t, tc.method, tc.query, tc.token, tc.body)
			if st != tc.status {
				t.Fatalf("status %d %v, want %d", st, body, tc.status)
			}
			if tc.code == "" {
				return
			}
			if body["code"] != tc.code || body["message"] == "" || body["description"] == nil {
				t.Fatalf("body %v, want code %s with message and description", body, tc.code)
			}
			if _, ok := body["traceId"]; !ok {
				t.Errorf("body %v without traceId", body)
			}
		})
	}
}

// TestResolve: Branding merges the application's preference over the organization's.
func TestResolve(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if got := e.h.Branding(ctx, "", ""); got != (ui.Branding{}) {
		t.Fatalf("without preferences: %+v", got)
	}
	if _, err := e.s.CreateOAuth2Client(ctx, store.NewOAuth2Client{OAuth2Client: store.OAuth2Client{ClientID: "web", OrgID: e.org.ID,
		Name: "web", Public: true, GrantTypes: []string{"authorization_code"}, TokenFormat: store.TokenFormatJWT, AccessTokenLifetime: time.Hour, SigningAlg: "ES256"}}); err != nil {
		t.Fatal(err)
	}
	app, err := e.s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "Web", ClientID: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := e.call(t, http.MethodPost, "", "admin", map[string]any{"type": "ORG",
		"preference": map[string]any{"name": "Acme", "primaryColor": "#111111", "logoUrl": "/acme.png"}}); st != http.StatusCreated {
		t.Fatalf("ORG: %d %v", st, body)
	}
	if st, body := e.call(t, http.MethodPost, "", "admin", map[string]any{"type": "APP", "name": app.ID,
		"preference": map[string]any{"primaryColor": "#222222"}}); st != http.StatusCreated {
		t.Fatalf("APP: %d %v", st, body)
	}
	tests := []struct {
		name, org, app string
		want           ui.Branding
	}{
		{name: "default organization", want: ui.Branding{Name: "Acme", PrimaryColor: "#111111", LogoURL: "/acme.png"}},
		{name: "organization", org: e.org.ID, want: ui.Branding{Name: "Acme", PrimaryColor: "#111111", LogoURL: "/acme.png"}},
		{name: "application over organization", org: e.org.ID, app: app.ID, want: ui.Branding{Name: "Acme", PrimaryColor: "#222222", LogoURL: "/acme.png"}},
		{name: "unknown application", org: e.org.ID, app: "nope", want: ui.Branding{Name: "Acme", PrimaryColor: "#111111", LogoURL: "/acme.png"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.h.Branding(ctx, tc.org, tc.app); got != tc.want {
				t.Fatalf("Branding = %+v, want %+v", got, tc.want)
			}
		})
	}
}
