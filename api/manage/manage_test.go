package manage_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/manage"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const base = "/api/server/v1"

// cheap keeps test password hashing fast; verification reads the parameters from the hash.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type env struct {
	s      *store.Store
	org    store.Organization
	h      *manage.Handler
	keys   *jwtkeys.Manager
	srv    *httptest.Server
	sealed []manage.SealKey
}

// Authorizations used by the tests.
const (
	adminBasic    = "Basic admin:admin-pw"
	operatorBasic = "Basic operator:operator-pw" // holds the admin role
	aliceBasic    = "Basic alice:alice-pw"       // no admin
	wrongBasic    = "Basic admin:wrong"
	adminToken    = "Bearer admin"    // all scopes
	aliceToken    = "Bearer alice"    // all scopes, not an administrator
	clientToken   = "Bearer client"   // a client acting for itself, all scopes
	noScopesToken = "Bearer noscopes" // admin without scopes
	viewerToken   = "Bearer viewer"   // admin with view scopes only
)

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{s: storetest.New(t)}
	ctx := t.Context()
	var err error
	if e.org, err = e.s.EnsureRootOrganization(ctx); err != nil {
		t.Fatal(err)
	}
	user := func(name, pw string) store.User {
		hash, err := password.Hash(pw, cheap)
		if err != nil {
			t.Fatal(err)
		}
		u, err := e.s.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: name, PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	admin, alice, operator := user("admin", "admin-pw"), user("alice", "alice-pw"), user("operator", "operator-pw")
	if _, err := e.s.CreateRole(ctx, store.NewRole{OrgID: e.org.ID, Name: "admin", Users: []string{operator.ID}}); err != nil {
		t.Fatal(err)
	}
	all := []string{manage.ScopeIdPView, manage.ScopeIdPCreate, manage.ScopeIdPUpdate, manage.ScopeIdPDelete,
		manage.ScopeClaimView, manage.ScopeClaimCreate, manage.ScopeClaimUpdate, manage.ScopeClaimDelete,
		manage.ScopeLibView, manage.ScopeLibCreate, manage.ScopeLibUpdate, manage.ScopeLibDelete,
		manage.ScopeKeysView, manage.ScopeKeysUpdate, manage.ScopeAuditView}
	views := []string{manage.ScopeIdPView, manage.ScopeClaimView, manage.ScopeLibView, manage.ScopeKeysView}
	toks := bearertest.Tokens{
		"admin":    {Subject: admin.ID, ClientID: "console", Scopes: all},
		"alice":    {Subject: alice.ID, ClientID: "console", Scopes: all},
		"client":   {Subject: "automation", ClientID: "automation", ClientOnly: true, Scopes: all},
		"noscopes": {Subject: admin.ID, ClientID: "console"},
		"viewer":   {Subject: admin.ID, ClientID: "console", Scopes: views},
	}
	if e.keys, err = jwtkeys.New(ctx, jwtkeys.Config{Store: e.s, Algorithms: []string{"ES256"},
		KEKs: []jwtkeys.KEK{{ID: "kek1", Key: bytes.Repeat([]byte{7}, 32)}}}); err != nil {
		t.Fatal(err)
	}
	e.sealed = []manage.SealKey{{ID: "s2", Key: bytes.Repeat([]byte{2}, 32)}, {ID: "s1", Key: bytes.Repeat([]byte{1}, 32)}}
	passwords, err := basic.New(basic.Config{HashParams: cheap}, basic.Deps{Users: e.s, Organizations: e.s})
	if err != nil {
		t.Fatal(err)
	}
	tokens := bearertest.Passwords{Tokens: toks, Auth: passwords}
	if e.h, err = manage.New(manage.Config{Store: e.s, Tokens: tokens, SealKeys: e.sealed, Keys: e.keys,
		BaseURL: "https://id.example.com"}); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.h.Register(r)
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// code is the WSO2 error code of an error response.
func (r response) code(t *testing.T) string {
	t.Helper()
	var e struct{ Code string }
	r.json(t, &e)
	return e.Code
}

func (e *env) do(t *testing.T, method, path, auth, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user, pw, ok := strings.Cut(strings.TrimPrefix(auth, "Basic "), ":"); strings.HasPrefix(auth, "Basic ") && ok {
		req.SetBasicAuth(user, pw)
	} else if auth != "" {
		req.Header.Set("Authorization", auth)
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
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *env) call(t *testing.T, method, path, auth, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return e.do(t, method, path, auth, "application/json", r)
}

// want fails unless r has status (and, for errors, code).
func want(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if code != "" {
		if got := r.code(t); got != code {
			t.Fatalf("%s: code %s, want %s: %s", what, got, code, r.body)
		}
	}
}

type auditEvent struct {
	Action string `json:"action"`
	Actor  struct {
		Type, ID string
	} `json:"actor"`
	Target struct {
		Type, ID string
	} `json:"target"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// audit returns the events of an action (newest first) and the raw body.
func (e *env) audit(t *testing.T, action string) ([]auditEvent, string) {
	t.Helper()
	r := e.call(t, http.MethodGet, base+"/audit-events?action="+action, adminToken, "")
	want(t, "audit events", r, http.StatusOK, "")
	var out struct {
		TotalResults int          `json:"totalResults"`
		Events       []auditEvent `json:"events"`
	}
	r.json(t, &out)
	if out.TotalResults != len(out.Events) {
		t.Fatalf("audit: totalResults %d for %d events", out.TotalResults, len(out.Events))
	}
	return out.Events, r.body
}
