package oauth2_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

var cheapHash = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// newPasswordEnv is a provider whose password grant checks passwords with
// a BasicAuthenticator locking accounts after three failures.
func newPasswordEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, func(c *op.Config) {
		a, err := basic.New(basic.Config{MaxFailures: 3, HashParams: cheapHash, Now: c.Now},
			basic.Deps{Users: c.Store.(*store.Store), Organizations: c.Store.(*store.Store)})
		if err != nil {
			t.Fatal(err)
		}
		c.Passwords = a
	})
}

func (e *env) user(t *testing.T, username, pw string, claims map[string]string) store.User {
	t.Helper()
	h, err := password.Hash(pw, cheapHash)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.store.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: username, PasswordHash: h, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func passwordForm(username, pw, scope string) url.Values {
	f := url.Values{"grant_type": {op.GrantPassword}, "username": {username}, "password": {pw}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

func TestPasswordGrant(t *testing.T) {
	e := newPasswordEnv(t)
	alice := e.user(t, "alice", "correct horse", map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"})
	e.user(t, "bob", "bob's password", nil)
	id, secret := e.client(t, op.NewClient{GrantTypes: []string{op.GrantPassword, op.GrantRefreshToken},
		Scopes: []string{op.ScopeOpenID, "email", "read"}})
	creds := []string{id, secret}

	r := e.post(t, "/oauth2/token", passwordForm("alice", "correct horse", "openid email write"), creds)
	if r.status != http.StatusOK {
		t.Fatalf("password grant: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["scope"] != "openid email" || body["refresh_token"] == nil || body["id_token"] == nil {
		t.Fatalf("response %s", r.body)
	}
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: id}).Verify(t.Context(), body["id_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email string   `json:"email"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != alice.ID || claims.Email != "alice@example.com" || !slices.Equal(claims.AMR, []string{"BasicAuthenticator"}) {
		t.Errorf("ID token sub %q email %q", idt.Subject, claims.Email)
	}
	// The refresh token works like one from a code.
	rr := e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantRefreshToken},
		"refresh_token": {body["refresh_token"].(string)}}, creds)
	if rr.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", rr.status, rr.body)
	}
	// The access token identifies alice at introspection.
	in := e.post(t, "/oauth2/introspect", url.Values{"token": {body["access_token"].(string)}}, creds).json(t)
	if in["active"] != true || in["sub"] != alice.ID {
		t.Errorf("introspection %v", in)
	}

	// Unknown user, wrong password: the same answer (no user enumeration).
	unknown := e.post(t, "/oauth2/token", passwordForm("nobody", "whatever", ""), creds)
	wrong := e.post(t, "/oauth2/token", passwordForm("bob", "wrong", ""), creds)
	wantError(t, unknown, http.StatusBadRequest, op.CodeInvalidGrant)
	if !bytes.Equal(unknown.body, wrong.body) || unknown.status != wrong.status {
		t.Errorf("unknown user %s vs wrong password %s", unknown.body, wrong.body)
	}
	// Two more failures lock bob: then even the right password fails, with
	// the same answer.
	for range 2 {
		wantError(t, e.post(t, "/oauth2/token", passwordForm("bob", "wrong", ""), creds), http.StatusBadRequest, op.CodeInvalidGrant)
	}
	locked := e.post(t, "/oauth2/token", passwordForm("bob", "bob's password", ""), creds)
	if !bytes.Equal(locked.body, wrong.body) || locked.status != wrong.status {
		t.Errorf("locked account %d %s, want the wrong-password answer", locked.status, locked.body)
	}
	u, err := e.store.UserByID(t.Context(), e.org.ID, alice.ID)
	if err != nil || u.FailedLoginAttempts != 0 {
		t.Errorf("alice failures %d, %v", u.FailedLoginAttempts, err)
	}

	t.Run("missing parameters", func(t *testing.T) {
		wantError(t, e.post(t, "/oauth2/token", passwordForm("alice", "", ""), creds), http.StatusBadRequest, op.CodeInvalidRequest)
	})
	t.Run("client without the grant", func(t *testing.T) {
		other := e.clientCreds(t, op.NewClient{})
		wantError(t, e.post(t, "/oauth2/token", passwordForm("alice", "correct horse", ""), other),
			http.StatusBadRequest, op.CodeUnauthorizedClient)
	})
	t.Run("bad client secret", func(t *testing.T) {
		wantError(t, e.post(t, "/oauth2/token", passwordForm("alice", "correct horse", ""), []string{id, "nope"}),
			http.StatusUnauthorized, op.CodeInvalidClient)
	})
	t.Run("discovery", func(t *testing.T) {
		md := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration")).json(t)
		if g := toStrings(md["grant_types_supported"]); !slices.Contains(g, op.GrantPassword) {
			t.Errorf("grant_types_supported %v lacks password", g)
		}
	})
}

func TestPasswordGrantDisabled(t *testing.T) {
	e := newEnv(t) // no password authenticator
	id, secret := e.client(t, op.NewClient{GrantTypes: []string{op.GrantPassword}})
	wantError(t, e.post(t, "/oauth2/token", passwordForm("alice", "pw", ""), []string{id, secret}),
		http.StatusBadRequest, op.CodeUnsupportedGrantType)
}

func (e *env) clientCreds(t *testing.T, nc op.NewClient) []string {
	t.Helper()
	id, secret := e.client(t, nc)
	return []string{id, secret}
}

// TestClaimsFollowTheOIDCDialect: with the claim store as the dialect source, an ID token's
// claims follow the organization's OIDC dialect (an administrator remapped email), and an
// organization without the dialect gets the default mappings.
func TestClaimsFollowTheOIDCDialect(t *testing.T) {
	e := newEnv(t, func(c *op.Config) {
		s := c.Store.(*store.Store)
		a, err := basic.New(basic.Config{HashParams: cheapHash, Now: c.Now}, basic.Deps{Users: s, Organizations: s})
		if err != nil {
			t.Fatal(err)
		}
		c.Passwords, c.ClaimDialects = a, s
	})
	const work = "http://wso2.org/claims/workEmail"
	e.user(t, "alice", "pw-alice", map[string]string{"http://wso2.org/claims/emailaddress": "alice@home.example", work: "alice@work.example"})
	id, secret := e.client(t, op.NewClient{GrantTypes: []string{op.GrantPassword}, Scopes: []string{op.ScopeOpenID, "email"}})
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	email := func() string {
		t.Helper()
		r := e.post(t, "/oauth2/token", passwordForm("alice", "pw-alice", "openid email"), []string{id, secret})
		if r.status != http.StatusOK {
			t.Fatalf("password grant: %d %s", r.status, r.body)
		}
		idt, err := p.Verifier(&oidc.Config{ClientID: id}).Verify(t.Context(), r.json(t)["id_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Email string `json:"email"`
		}
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		return c.Email
	}
	if got := email(); got != "alice@home.example" {
		t.Fatalf("email from the seeded dialect = %q", got)
	}
	if _, err := e.store.CreateLocalClaim(t.Context(), store.LocalClaim{OrgID: e.org.ID, URI: work, DisplayName: "Work email"}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateExternalClaim(t.Context(), store.ExternalClaim{OrgID: e.org.ID, DialectURI: op.OIDCDialect,
		URI: "email", MappedLocalURI: work}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(31 * time.Second) // past the provider's dialect cache
	if got := email(); got != "alice@work.example" {
		t.Fatalf("email after remapping = %q, want the work address", got)
	}
}
