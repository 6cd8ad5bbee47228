package bearer_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestBasic checks HTTP Basic for administrators: the password is checked by the login's
// BasicAuthenticator, so wrong passwords count towards its lock, and a locked account is refused
// even with the right password.
func TestBasic(t *testing.T) {
	s := storetest.New(t)
	ctx := t.Context()
	org, err := s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cheap := password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	for _, name := range []string{"admin", "bob", "carl"} {
		hash, err := password.Hash(name+"-pw", cheap)
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: name, PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		if name == "carl" { // an administrator through the admin role
			if _, err := s.CreateRole(ctx, store.NewRole{OrgID: org.ID, Name: bearer.AdminRole, Users: []string{u.ID}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	auth, err := basic.New(basic.Config{MaxFailures: 3, HashParams: cheap}, basic.Deps{Users: s, Organizations: s})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(tokens bearer.Tokens) *httptest.Server {
		a := &bearer.Authenticator{Tokens: tokens, Users: s,
			Fail: func(c *gin.Context, f bearer.Failure, _ error) { c.AbortWithStatus(f.Status()) }}
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		r.GET("/x", a.Authenticate, a.Need("some_scope", bearer.Admin), func(c *gin.Context) {
			cl := bearer.Get(c)
			if !cl.Basic || cl.Actor().Type != store.ActorUser {
				c.Status(http.StatusTeapot)
				return
			}
			c.Header("X-Admin", strconv.FormatBool(cl.Admin))
			c.Status(http.StatusNoContent)
		})
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv
	}
	full, hidden := serve(bearertest.Passwords{Tokens: bearertest.Tokens{}, Auth: auth}), serve(bearertest.Tokens{})
	call := func(t *testing.T, srv *httptest.Server, user, pw string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, strings.Join(resp.Header.Values("WWW-Authenticate"), ", ")
	}
	tests := []struct {
		name     string
		srv      *httptest.Server
		user, pw string
		status   int
	}{
		{"admin", full, "admin", "admin-pw", http.StatusNoContent},
		{"admin with domain", full, "PRIMARY/admin", "admin-pw", http.StatusNoContent},
		{"admin role", full, "carl", "carl-pw", http.StatusNoContent},
		{"wrong password", full, "admin", "bob-pw", http.StatusUnauthorized},
		{"not an administrator", full, "bob", "bob-pw", http.StatusForbidden},
		{"unknown user", full, "dave", "x", http.StatusUnauthorized},
		{"no password checker", hidden, "admin", "admin-pw", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, challenge := call(t, tt.srv, tt.user, tt.pw)
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if status == http.StatusUnauthorized && (tt.srv == full) != strings.Contains(challenge, "Basic") {
				t.Errorf("WWW-Authenticate %q", challenge)
			}
		})
	}
	t.Run("role permission", func(t *testing.T) {
		bob, err := s.UserByUsername(ctx, org.ID, "", "bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRole(ctx, store.NewRole{OrgID: org.ID, Name: "operators", Users: []string{bob.ID},
			Permissions: []string{"some_scope"}}); err != nil {
			t.Fatal(err)
		}
		if status, _ := call(t, full, "bob", "bob-pw"); status != http.StatusNoContent {
			t.Fatalf("bob with the scope as a role permission: %d, want 204", status)
		}
	})
	t.Run("lockout", func(t *testing.T) {
		for range 3 {
			if status, _ := call(t, full, "carl", "guess"); status != http.StatusUnauthorized {
				t.Fatalf("a wrong password: %d", status)
			}
		}
		if status, _ := call(t, full, "carl", "carl-pw"); status != http.StatusUnauthorized {
			t.Fatalf("the right password after 3 failures (the lock): %d, want 401", status)
		}
		u, err := s.UserByUsername(ctx, org.ID, "", "carl")
		if err != nil || !u.Locked {
			t.Fatalf("carl is not locked: %+v %v", u, err)
		}
	})
}
