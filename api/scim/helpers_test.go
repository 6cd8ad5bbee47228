package scim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// cheap keeps argon2id fast in tests; production uses password.OWASP.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type env struct {
	t      *testing.T
	s      *store.Store
	h      http.Handler
	org    store.Organization
	admin  string // Authorization header value
	tokens *fakeTokens
}

type fakeTokens map[string]Token

func (f *fakeTokens) VerifyAccessToken(_ context.Context, tok string) (Token, error) {
	if t, ok := (*f)[tok]; ok {
		return t, nil
	}
	return Token{}, errors.New("unknown token")
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, storetest.New(t))
}

func newEnvWith(t *testing.T, s *store.Store) *env {
	t.Helper()
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, org: org, tokens: &fakeTokens{}}
	e.createLocalUser("admin", "admin-pw")
	h, err := New(Config{Store: s, PasswordParams: cheap, BaseURL: "https://id.example.com", Tokens: e.tokens, MaxCount: 50})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	h.Register(r)
	e.h = r
	e.admin = basic("admin", "admin-pw")
	return e
}

func (e *env) createLocalUser(name, pw string) store.User {
	e.t.Helper()
	hash, err := password.Hash(pw, cheap)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.s.CreateUser(e.t.Context(), store.NewUser{OrgID: e.org.ID, Username: name, PasswordHash: hash})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request as the admin unless headers set Authorization ("" to
// send none).
func (e *env) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequestWithContext(e.t.Context(), method, path, rd)
	req.Header.Set("Content-Type", MediaType)
	req.Header.Set("Authorization", e.admin)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	r := resp{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &r.body); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, w.Body.String())
		}
	}
	return r
}

// must checks the status and returns the response.
func (r resp) must(t *testing.T, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// checkError asserts an RFC 7644 §3.12 error.
func (r resp) checkError(t *testing.T, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if got, _ := r.body["status"].(string); got != itoa(status) {
		t.Errorf("body status %q, want %q", got, itoa(status))
	}
	if got, _ := r.body["scimType"].(string); got != scimType {
		t.Errorf("scimType %q, want %q (%s)", got, scimType, r.raw)
	}
	if s, _ := r.body["schemas"].([]any); len(s) != 1 || s[0] != SchemaError {
		t.Errorf("schemas = %v", r.body["schemas"])
	}
	if d, _ := r.body["detail"].(string); d == "" {
		t.Error("no detail")
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, MediaType) {
		t.Errorf("Content-Type %q", ct)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// get walks a decoded JSON value by keys and indexes ("emails", 0, "value").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str0(v any) string { s, _ := v.(string); return s }

// ids lists the ids of a ListResponse's resources, sorted.
func ids(t *testing.T, r resp) []string {
	t.Helper()
	var out []string
	for _, res := range get(r.body, "Resources").([]any) {
		out = append(out, str0(get(res, "id")))
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// newUser creates a user through SCIM and returns its resource.
func (e *env) newUser(res map[string]any) map[string]any {
	e.t.Helper()
	if _, ok := res["schemas"]; !ok {
		res["schemas"] = []string{SchemaUser}
	}
	return e.do("POST", "/scim2/Users", res).must(e.t, http.StatusCreated).body
}
