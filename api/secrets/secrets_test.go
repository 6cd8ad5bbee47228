package secrets_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/secrets"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const base = "/api/server/v1/secret-type/" + secrets.TypeAdaptiveAuth + "/secrets"

type env struct {
	s     *store.Store
	vault *secrets.Vault
	srv   *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{s: storetest.New(t)}
	org, err := e.s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{secrets.ScopeView, secrets.ScopeAdd, secrets.ScopeUpdate, secrets.ScopeDelete}
	toks := bearertest.Tokens{
		"admin":    {Subject: admin.ID, ClientID: "console", Scopes: all},
		"alice":    {Subject: alice.ID, ClientID: "console", Scopes: all},
		"viewer":   {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: []string{secrets.ScopeView}},
		"noscopes": {Subject: admin.ID, ClientID: "console"},
	}
	e.vault, err = secrets.NewVault(e.s, []secrets.Key{{ID: "k2", Key: bytes.Repeat([]byte{2}, 32)}, {ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := secrets.New(secrets.Config{Store: e.s, Vault: e.vault, Tokens: toks, BaseURL: "https://id.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	h.Register(r)
	e.srv = httptest.NewServer(r)
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

func TestSecretLifecycle(t *testing.T) {
	e := newEnv(t)
	status, hdr, body := e.call(t, http.MethodPost, base, "admin", `{"name":"riskKey","value":"s3cr3t-value","description":"risk API"}`)
	if status != http.StatusCreated || hdr.Get("Location") != "https://id.example.com"+base+"/riskKey" {
		t.Fatalf("create: %d %s (Location %q)", status, body, hdr.Get("Location"))
	}
	var created secrets.Secret
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.Name != "riskKey" || created.ID == "" ||
		created.Type != secrets.TypeAdaptiveAuth || created.Description != "risk API" {
		t.Fatalf("created = %s", body)
	}
	if strings.Contains(body, "s3cr3t") {
		t.Fatal("the value came back")
	}
	for _, path := range []string{base, base + "/riskKey"} {
		status, _, body := e.call(t, http.MethodGet, path, "viewer", "")
		if status != http.StatusOK || !strings.Contains(body, "riskKey") || strings.Contains(body, "s3cr3t") {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	if status, _, body := e.call(t, http.MethodPost, base, "admin", `{"name":"riskKey","value":"x"}`); status != http.StatusConflict ||
		!strings.Contains(body, "SCM-60005") {
		t.Errorf("duplicate: %d %s", status, body)
	}

	// Scripts' HTTP calls get the value through the vault, and only there.
	got, err := e.vault.Secret(t.Context(), store.RootOrganizationHandle, "riskKey")
	if err != nil || got != "s3cr3t-value" {
		t.Fatalf("vault.Secret = %q, %v", got, err)
	}
	var seen string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("X-Api-Key")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(api.Close)
	caller := &wfhost.HTTPCaller{Secrets: e.vault}
	res, err := caller.Call(t.Context(), scripting.HTTPRequest{Method: http.MethodGet, URL: api.URL,
		TenantDomain: store.RootOrganizationHandle, Headers: map[string]string{"X-Api-Key": scripting.SecretRef("riskKey")}})
	if err != nil || seen != "s3cr3t-value" {
		t.Fatalf("script call: %+v %v, the API saw %q", res, err, seen)
	}

	// Replace the value; the description follows.
	if status, _, body := e.call(t, http.MethodPut, base+"/riskKey", "admin", `{"value":"rotated","description":"v2"}`); status != http.StatusOK ||
		!strings.Contains(body, `"description":"v2"`) {
		t.Fatalf("update: %d %s", status, body)
	}
	if got, _ := e.vault.Secret(t.Context(), store.RootOrganizationHandle, "riskKey"); got != "rotated" {
		t.Errorf("after update the value is %q", got)
	}
	if status, _, _ := e.call(t, http.MethodDelete, base+"/riskKey", "admin", ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if _, err := e.vault.Secret(t.Context(), store.RootOrganizationHandle, "riskKey"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted secret: %v", err)
	}
}

// TestSealedValueBoundToItsRow: a ciphertext copied to another secret does not open there, and
// a key the vault no longer has cannot open anything.
func TestSealedValueBoundToItsRow(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"one", "two"} {
		if status, _, body := e.call(t, http.MethodPost, base, "admin", `{"name":"`+name+`","value":"v-`+name+`"}`); status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, status, body)
		}
	}
	org, err := e.s.OrganizationByHandle(t.Context(), store.RootOrganizationHandle)
	if err != nil {
		t.Fatal(err)
	}
	one, err := e.s.SecretByName(t.Context(), org.ID, secrets.TypeAdaptiveAuth, "one")
	if err != nil {
		t.Fatal(err)
	}
	two, err := e.s.SecretByName(t.Context(), org.ID, secrets.TypeAdaptiveAuth, "two")
	if err != nil {
		t.Fatal(err)
	}
	if one.KeyID != "k2" {
		t.Errorf("sealed with %q, want the first key k2", one.KeyID)
	}
	two.Ciphertext = one.Ciphertext
	if v, err := e.vault.Open(two); err == nil {
		t.Fatalf("a moved ciphertext opened as %q", v)
	}
	other, err := secrets.NewVault(e.s, []secrets.Key{{ID: "k3", Key: bytes.Repeat([]byte{3}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(one); err == nil {
		t.Fatal("opened with an unknown key")
	}
}

func TestSecretRefusals(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", http.MethodGet, base, "", "", http.StatusUnauthorized, "SCM-60001"},
		{"no scope", http.MethodGet, base, "noscopes", "", http.StatusForbidden, "SCM-60002"},
		{"not an administrator", http.MethodGet, base, "alice", "", http.StatusForbidden, "SCM-60002"},
		{"view scope cannot add", http.MethodPost, base, "viewer", `{"name":"a","value":"b"}`, http.StatusForbidden, "SCM-60002"},
		{"unknown type", http.MethodGet, "/api/server/v1/secret-type/OTHER/secrets", "admin", "", http.StatusNotFound, "SCM-60003"},
		{"unknown secret", http.MethodGet, base + "/nope", "admin", "", http.StatusNotFound, "SCM-60004"},
		{"bad name", http.MethodPost, base, "admin", `{"name":"1bad name","value":"x"}`, http.StatusBadRequest, "SCM-60006"},
		{"no value", http.MethodPost, base, "admin", `{"name":"novalue"}`, http.StatusBadRequest, "SCM-60006"},
		{"unknown field", http.MethodPost, base, "admin", `{"name":"a","value":"b","x":1}`, http.StatusBadRequest, "SCM-60006"},
		{"not JSON", http.MethodPost, base, "admin", `name=a`, http.StatusBadRequest, "SCM-60006"},
		{"rename", http.MethodPut, base + "/a", "admin", `{"name":"b","value":"c"}`, http.StatusBadRequest, "SCM-60006"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, c.method, c.path, c.token, c.body)
			var got secrets.Error
			if err := json.Unmarshal([]byte(body), &got); err != nil || status != c.status || got.Code != c.code {
				t.Errorf("%d %s, want %d %s", status, body, c.status, c.code)
			}
		})
	}
}
