package userstores_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/userstores"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/connectors/ldapstore/slapdtest"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	s    *store.Store
	org  store.Organization
	keys *ldapstore.Keyring
	srv  *httptest.Server
	ldap *slapdtest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{s: storetest.New(t), ldap: slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	admin, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if e.keys, err = ldapstore.NewKeyring(ldapstore.Key{ID: "k1", Key: []byte(strings.Repeat("k", 32))}); err != nil {
		t.Fatal(err)
	}
	all := []string{userstores.ScopeView, userstores.ScopeCreate, userstores.ScopeUpdate, userstores.ScopeDelete}
	toks := bearertest.Tokens{
		"admin":  {Subject: admin.ID, ClientID: "console", Scopes: all},
		"viewer": {Subject: admin.ID, ClientID: "console", Scopes: []string{userstores.ScopeView}},
	}
	h, err := userstores.New(userstores.Config{Store: e.s, Tokens: toks, Keys: e.keys, BaseURL: "https://id.example"})
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

func (e *env) call(t *testing.T, method, path, token string, body any) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+userstores.Path+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	_ = json.Unmarshal(raw, &obj)
	return resp.StatusCode, obj, raw
}

func readWriteLDAP() string {
	return base64.RawURLEncoding.EncodeToString([]byte("UniqueIDReadWriteLDAPUserStoreManager"))
}

func (e *env) request(pw string) userstores.Request {
	return userstores.Request{TypeID: readWriteLDAP(), Name: "employees", Description: "Staff directory",
		Properties: []userstores.Property{
			{Name: "ConnectionURL", Value: e.ldap.URL}, {Name: "ConnectionName", Value: e.ldap.AdminDN},
			{Name: "ConnectionPassword", Value: pw}, {Name: "UserSearchBase", Value: "ou=people,dc=example,dc=org"},
			{Name: "UserEntryObjectClass", Value: "inetOrgPerson"}, {Name: "UserNameAttribute", Value: "uid"},
			{Name: "GroupSearchBase", Value: "ou=groups,dc=example,dc=org"}, {Name: "GroupEntryObjectClass", Value: "groupOfNames"},
			{Name: "MembershipAttribute", Value: "member"}, {Name: "LDAPConnectionTimeout", Value: "2000"},
		},
		ClaimAttributeMappings: []userstores.ClaimAttributeMapping{{ClaimURI: "http://wso2.org/claims/emailaddress", MappedAttribute: "mail"}}}
}

// login runs BasicAuthenticator as the login engine does, with the stores the API configured.
func (e *env) login(t *testing.T, username, pw string) connectors.Outcome {
	t.Helper()
	reg, err := ldapstore.NewRegistry(ldapstore.RegistryConfig{Store: e.s, Keys: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	a, err := basic.New(basic.Config{HashParams: password.Params{Time: 1, Memory: 64, Threads: 1, KeyLen: 16, SaltLen: 16}},
		basic.Deps{Users: e.s, Organizations: e.s, Secondary: reg})
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Process(t.Context(), connectors.ProcessInput{
		StepContext: connectors.StepContext{Step: 1, IdP: connectors.LocalIdP},
		Params:      map[string]string{"username": username, "password": pw}, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUserStoreLifecycle creates an LDAP user store over the API, logs a directory user in
// through it, reads it back without its password, changes it (keeping the password), breaks its
// password and deletes it — each change visible to the next login.
func TestUserStoreLifecycle(t *testing.T) {
	e := newEnv(t)
	status, created, raw := e.call(t, http.MethodPost, "", "admin", e.request(e.ldap.AdminPassword))
	if status != http.StatusCreated || created["name"] != "EMPLOYEES" {
		t.Fatalf("create: %d %s", status, raw)
	}
	id := created["id"].(string)
	if id != base64.RawURLEncoding.EncodeToString([]byte("EMPLOYEES")) {
		t.Errorf("id %q is not WSO2's base64url of the domain", id)
	}
	if out := e.login(t, "EMPLOYEES/alice", "wonderland"); out.Status != connectors.StatusSuccess {
		t.Fatalf("directory login after create: %+v", out)
	}

	status, got, raw := e.call(t, http.MethodGet, "/"+id, "viewer", nil)
	if status != http.StatusOK || got["typeName"] != "UniqueIDReadWriteLDAPUserStoreManager" {
		t.Fatalf("get: %d %s", status, raw)
	}
	if strings.Contains(string(raw), e.ldap.AdminPassword) || !strings.Contains(string(raw), `"ENCRYPTED"`) {
		t.Fatalf("the bind password is not masked: %s", raw)
	}
	status, _, raw = e.call(t, http.MethodGet, "", "viewer", nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"self":"https://id.example/api/server/v1/userstores/`+id+`"`) {
		t.Fatalf("list: %d %s", status, raw)
	}

	// A PUT that echoes the mask keeps the password.
	req := e.request("ENCRYPTED")
	req.Description = "Renamed"
	if status, _, raw := e.call(t, http.MethodPut, "/"+id, "admin", req); status != http.StatusOK {
		t.Fatalf("put: %d %s", status, raw)
	}
	if out := e.login(t, "EMPLOYEES/alice", "wonderland"); out.Status != connectors.StatusSuccess {
		t.Fatalf("directory login after an update keeping the password: %+v", out)
	}
	// A wrong bind password makes logins fail with an error, never as a wrong user password.
	if status, _, raw := e.call(t, http.MethodPut, "/"+id, "admin", e.request("wrong")); status != http.StatusOK {
		t.Fatalf("put: %d %s", status, raw)
	}
	reg, err := ldapstore.NewRegistry(ldapstore.RegistryConfig{Store: e.s, Keys: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	dir, ok, err := reg.Directory(t.Context(), e.org.ID, "EMPLOYEES")
	if err != nil || !ok {
		t.Fatalf("directory: %v %v", ok, err)
	}
	if err := dir.Ping(t.Context()); err == nil {
		t.Fatal("ping with a wrong bind password succeeded")
	}

	if status, _, raw := e.call(t, http.MethodDelete, "/"+id, "admin", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, raw)
	}
	if status, body, _ := e.call(t, http.MethodGet, "/"+id, "admin", nil); status != http.StatusNotFound || body["code"] != "SUS-60002" {
		t.Fatalf("get after delete: %d %v", status, body)
	}
	if out := e.login(t, "EMPLOYEES/alice", "wonderland"); out.Status == connectors.StatusSuccess {
		t.Fatal("a deleted store still logs users in")
	}
	n, _, err := e.s.AuditEvents(t.Context(), store.AuditQuery{OrgID: e.org.ID, Action: "userstore.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(n) != 4 {
		t.Errorf("%d user store audit events, want 4 (create, 2 updates, delete)", len(n))
	}
	for _, ev := range n {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), e.ldap.AdminPassword) || strings.Contains(string(b), `"wrong"`) {
			t.Errorf("audit event carries the bind password: %s", b)
		}
	}
}

func TestUserStoreRefusals(t *testing.T) {
	e := newEnv(t)
	if status, _, raw := e.call(t, http.MethodPost, "", "admin", e.request("x")); status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, raw)
	}
	bad := func(mut func(*userstores.Request)) userstores.Request {
		r := e.request("x")
		mut(&r)
		return r
	}
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		status int
		code   string
	}{
		{"duplicate domain", http.MethodPost, "", "admin", e.request("x"), 409, "SUS-60003"},
		{"unknown type", http.MethodPost, "", "admin", bad(func(r *userstores.Request) { r.TypeID = "SkRCQw"; r.Name = "OTHER" }), 400, "SUS-60001"},
		{"unknown property", http.MethodPost, "", "admin", bad(func(r *userstores.Request) {
			r.Name = "OTHER"
			r.Properties = append(r.Properties, userstores.Property{Name: "Nonsense", Value: "1"})
		}), 400, "SUS-60001"},
		{"not ldap", http.MethodPost, "", "admin", bad(func(r *userstores.Request) { r.Name = "OTHER"; r.Properties[0].Value = "http://x" }), 400, "SUS-60001"},
		{"primary domain", http.MethodPost, "", "admin", bad(func(r *userstores.Request) { r.Name = "PRIMARY" }), 400, "SUS-60001"},
		{"bad timeout", http.MethodPost, "", "admin", bad(func(r *userstores.Request) {
			r.Name = "OTHER"
			r.Properties[9].Value = "soon"
		}), 400, "SUS-60001"},
		{"rename", http.MethodPut, "/" + base64.RawURLEncoding.EncodeToString([]byte("EMPLOYEES")), "admin",
			bad(func(r *userstores.Request) { r.Name = "OTHER" }), 400, "SUS-60001"},
		{"unknown id", http.MethodGet, "/Tk9ORQ", "admin", nil, 404, "SUS-60002"},
		{"missing scope", http.MethodPost, "", "viewer", e.request("x"), 403, "SUS-60011"},
		{"no token", http.MethodGet, "", "nobody", nil, 401, "SUS-60010"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, raw := e.call(t, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || body["code"] != tc.code {
				t.Fatalf("%d %s, want %d %s", status, raw, tc.status, tc.code)
			}
		})
	}
}

func TestConnectionTest(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, pw string
		want     bool
	}{{"right password", e.ldap.AdminPassword, true}, {"wrong password", "nope", false}} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, raw := e.call(t, http.MethodPost, "/test-connection", "admin", userstores.ConnectionTest{
				TypeID: readWriteLDAP(), ConnectionURL: e.ldap.URL, Username: e.ldap.AdminDN, ConnectionPassword: tc.pw})
			if status != http.StatusOK || body["connection"] != tc.want {
				t.Fatalf("%d %s, want connection %v", status, raw, tc.want)
			}
		})
	}
	status, body, _ := e.call(t, http.MethodPost, "/test-connection", "admin", userstores.ConnectionTest{ConnectionURL: "http://x"})
	if status != http.StatusBadRequest || body["code"] != "SUS-60001" {
		t.Fatalf("a non-LDAP URL: %d %v", status, body)
	}
}
