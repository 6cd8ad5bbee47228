package ldapstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/connectors/ldapstore/slapdtest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	people = "ou=people,dc=example,dc=org"
	groups = "ou=groups,dc=example,dc=org"

	claimEmail     = "http://wso2.org/claims/emailaddress"
	claimGivenName = "http://wso2.org/claims/givenname"
	claimLastName  = "http://wso2.org/claims/lastname"
)

func baseConfig(srv *slapdtest.Server) ldapstore.Config {
	return ldapstore.Config{
		Domain: "EMPLOYEES", Type: store.UserStoreLDAP, URL: srv.URL,
		BindDN: srv.AdminDN, BindPassword: srv.AdminPassword,
		UserSearchBase: people, UserObjectClass: "inetOrgPerson", UsernameAttribute: "uid",
		GroupSearchBase: groups, GroupObjectClass: "groupOfNames", MembershipAttribute: store.MembershipMember,
		ClaimMappings:  map[string]string{claimEmail: "mail", claimGivenName: "givenName", claimLastName: "sn"},
		ConnectTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second, PoolSize: 2,
	}
}

func newClient(t *testing.T, cfg ldapstore.Config) *ldapstore.Client {
	t.Helper()
	c, err := ldapstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestAuthenticate(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	// The read-only service account: what a production read-only store would bind as.
	cfg := baseConfig(srv)
	cfg.BindDN, cfg.BindPassword = srv.ReaderDN, slapdtest.ReaderPassword
	c := newClient(t, cfg)
	tests := []struct {
		name, username, password string
		wantErr                  error
		wantUser                 string
	}{
		{name: "right password", username: "alice", password: "wonderland", wantUser: "alice"},
		{name: "username ignoring case", username: "ALICE", password: "wonderland", wantUser: "alice"},
		{name: "wrong password", username: "alice", password: "looking-glass", wantErr: ldapstore.ErrInvalidCredentials, wantUser: "alice"},
		{name: "another user's password", username: "alice", password: "builder", wantErr: ldapstore.ErrInvalidCredentials, wantUser: "alice"},
		{name: "unknown user", username: "mallory", password: "x", wantErr: ldapstore.ErrNoSuchUser},
		{name: "empty password refused (unauthenticated bind trap)", username: "alice", password: "", wantErr: ldapstore.ErrInvalidCredentials},
		{name: "filter injection", username: "*)(uid=*", password: "wonderland", wantErr: ldapstore.ErrNoSuchUser},
		{name: "wildcard username", username: "*", password: "wonderland", wantErr: ldapstore.ErrNoSuchUser},
		{name: "injection closing the filter", username: "alice)(|(uid=*", password: "wonderland", wantErr: ldapstore.ErrNoSuchUser},
		{name: "empty username", username: "", password: "wonderland", wantErr: ldapstore.ErrNoSuchUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := c.Authenticate(t.Context(), tt.username, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Authenticate = %v, want %v", err, tt.wantErr)
			}
			if e.Username != tt.wantUser {
				t.Errorf("Username = %q, want %q", e.Username, tt.wantUser)
			}
			if tt.wantUser == "alice" && e.Claims[claimEmail] != "alice@example.org" {
				t.Errorf("claims = %v", e.Claims)
			}
		})
	}
	// After user binds the pooled connections are the service account's again: a search that
	// only the service account may make still works (anonymous and users may not read others).
	for range 3 {
		if _, err := c.Authenticate(t.Context(), "bob", "builder"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.User(t.Context(), "carol"); err != nil {
			t.Fatalf("look-up after user binds: %v", err)
		}
	}
}

func TestSearch(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	c := newClient(t, baseConfig(srv))
	names := func(es []ldapstore.Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Username)
		}
		return out
	}
	tests := []struct {
		name   string
		filter ldapstore.Filter
		limit  int
		want   []string
	}{
		{name: "eq", filter: ldapstore.Filter{Op: "eq", Value: "bob"}, want: []string{"bob"}},
		{name: "sw", filter: ldapstore.Filter{Op: "sw", Value: "c"}, want: []string{"carol"}},
		{name: "all", filter: ldapstore.Filter{}, want: []string{"alice", "bob", "carol"}},
		{name: "limit", filter: ldapstore.Filter{}, limit: 2, want: []string{"alice", "bob"}},
		{name: "star is literal", filter: ldapstore.Filter{Op: "eq", Value: "*"}, want: nil},
		{name: "injection in sw", filter: ldapstore.Filter{Op: "sw", Value: "*)(uid=*"}, want: nil},
		{name: "no match", filter: ldapstore.Filter{Op: "eq", Value: "zed"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Search(t.Context(), tt.filter, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if tt.limit > 0 && len(got) != tt.limit {
				t.Fatalf("Search = %v, want %d entries", names(got), tt.limit)
			}
			if tt.limit == 0 && !slices.Equal(names(got), tt.want) {
				t.Errorf("Search = %v, want %v", names(got), tt.want)
			}
		})
	}
	if _, err := c.Search(t.Context(), ldapstore.Filter{Op: "co", Value: "a"}, 0); err == nil {
		t.Error("Search with operator co: no error")
	}
}

func TestGroups(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	tests := []struct {
		name       string
		membership string
		user       string
		want       []string
	}{
		{name: "member: two groups", membership: store.MembershipMember, user: "alice", want: []string{"admins", "engineers"}},
		{name: "member: one group", membership: store.MembershipMember, user: "bob", want: []string{"engineers"}},
		{name: "member: none", membership: store.MembershipMember, user: "carol", want: nil},
		{name: "memberOf", membership: store.MembershipMemberOf, user: "alice", want: []string{"admins", "engineers"}},
		{name: "memberOf: none", membership: store.MembershipMemberOf, user: "carol", want: nil},
		{name: "groups not read", membership: "", user: "alice", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv)
			cfg.MembershipAttribute = tt.membership
			c := newClient(t, cfg)
			e, err := c.User(t.Context(), tt.user)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Groups(t.Context(), e)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Groups(%s) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

func TestReadWrite(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	c := newClient(t, baseConfig(srv))
	ctx := t.Context()

	e, err := c.CreateUser(ctx, ldapstore.NewUser{Username: "dave", Password: "d4ve-pw",
		Claims: map[string]string{claimEmail: "dave@example.org", claimGivenName: "Dave"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.DN != "uid=dave,"+people || e.Claims[claimEmail] != "dave@example.org" || e.Claims[claimLastName] != "dave" {
		t.Errorf("created %+v", e)
	}
	if _, err := c.Authenticate(ctx, "dave", "d4ve-pw"); err != nil {
		t.Fatalf("new user cannot log in: %v", err)
	}
	if _, err := c.Authenticate(ctx, "dave", "wrong"); !errors.Is(err, ldapstore.ErrInvalidCredentials) {
		t.Fatalf("wrong password for the new user: %v", err)
	}
	if _, err := c.CreateUser(ctx, ldapstore.NewUser{Username: "dave", Password: "x"}); !errors.Is(err, ldapstore.ErrExists) {
		t.Errorf("second create = %v, want ErrExists", err)
	}
	if _, err := c.CreateUser(ctx, ldapstore.NewUser{Username: "erin", Password: "x",
		Claims: map[string]string{"http://wso2.org/claims/unmapped": "v"}}); err == nil {
		t.Error("create with an unmapped claim: no error")
	}
	// A DN-special username is escaped, not interpreted.
	if _, err := c.CreateUser(ctx, ldapstore.NewUser{Username: "o'neil,ou=admins+x", Password: "pw-1"}); err != nil {
		t.Fatalf("create with DN specials: %v", err)
	}
	if _, err := c.Authenticate(ctx, "o'neil,ou=admins+x", "pw-1"); err != nil {
		t.Errorf("log in with DN specials: %v", err)
	}

	e, err = c.UpdateUser(ctx, "dave", map[string]string{claimEmail: "d@example.org", claimGivenName: ""})
	if err != nil {
		t.Fatal(err)
	}
	if e.Claims[claimEmail] != "d@example.org" || e.Claims[claimGivenName] != "" {
		t.Errorf("after update: %v", e.Claims)
	}
	if err := c.SetPassword(ctx, "dave", "new-pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, "dave", "new-pw"); err != nil {
		t.Errorf("log in with the new password: %v", err)
	}
	if _, err := c.Authenticate(ctx, "dave", "d4ve-pw"); !errors.Is(err, ldapstore.ErrInvalidCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	if err := c.DeleteUser(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.User(ctx, "dave"); !errors.Is(err, ldapstore.ErrNoSuchUser) {
		t.Errorf("after delete: %v", err)
	}
	if err := c.DeleteUser(ctx, "dave"); !errors.Is(err, ldapstore.ErrNoSuchUser) {
		t.Errorf("second delete: %v", err)
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	cfg := baseConfig(srv)
	cfg.ReadOnly = true
	c := newClient(t, cfg)
	ctx := t.Context()
	writes := []struct {
		name string
		do   func() error
	}{
		{"create", func() error {
			_, err := c.CreateUser(ctx, ldapstore.NewUser{Username: "dave", Password: "pw"})
			return err
		}},
		{"update", func() error {
			_, err := c.UpdateUser(ctx, "alice", map[string]string{claimEmail: "x@example.org"})
			return err
		}},
		{"set password", func() error { return c.SetPassword(ctx, "alice", "pw") }},
		{"delete", func() error { return c.DeleteUser(ctx, "alice") }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.do(); !errors.Is(err, ldapstore.ErrReadOnly) {
				t.Errorf("%s = %v, want ErrReadOnly", w.name, err)
			}
		})
	}
	e, err := c.Authenticate(ctx, "alice", "wonderland")
	if err != nil || e.Claims[claimEmail] != "alice@example.org" {
		t.Errorf("alice after refused writes: %+v, %v", e, err)
	}
	if _, err := c.User(ctx, "dave"); !errors.Is(err, ldapstore.ErrNoSuchUser) {
		t.Errorf("dave exists after a refused create: %v", err)
	}
}

// TestDirectoryDown: with slapd stopped every operation fails promptly with an error that is not
// a verdict on the password; once slapd is back, the pool reconnects by itself.
func TestDirectoryDown(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	c := newClient(t, baseConfig(srv))
	if _, err := c.Authenticate(t.Context(), "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"authenticate", func() error { _, err := c.Authenticate(ctx, "alice", "wonderland"); return err }},
		{"look-up", func() error { _, err := c.User(ctx, "alice"); return err }},
		{"search", func() error { _, err := c.Search(ctx, ldapstore.Filter{}, 0); return err }},
	} {
		err := op.do()
		if err == nil || errors.Is(err, ldapstore.ErrInvalidCredentials) || errors.Is(err, ldapstore.ErrNoSuchUser) {
			t.Errorf("%s with slapd down = %v, want an infrastructure error", op.name, err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("operations against a stopped slapd outlived their context")
	}

	// A context that ends first bounds the call too.
	short, cancelShort := context.WithCancel(t.Context())
	cancelShort()
	if _, err := c.Authenticate(short, "alice", "wonderland"); !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate with a cancelled context = %v", err)
	}

	srv.Restart()
	if _, err := c.Authenticate(t.Context(), "alice", "wonderland"); err != nil {
		t.Fatalf("after slapd restarted: %v", err)
	}
}

// TestPoolBounded: more concurrent operations than connections all complete (they wait for a
// connection) and none fails.
func TestPoolBounded(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	cfg := baseConfig(srv)
	cfg.PoolSize = 1
	c := newClient(t, cfg)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			user, pw := "alice", "wonderland"
			if i%2 == 1 {
				user, pw = "bob", "builder"
			}
			_, errs[i] = c.Authenticate(t.Context(), user, pw)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("login %d: %v", i, err)
		}
	}
}

func TestNewRejects(t *testing.T) {
	srv := &slapdtest.Server{URL: "ldap://127.0.0.1:1"}
	tests := []struct {
		name   string
		mutate func(*ldapstore.Config)
	}{
		{"bad URL", func(c *ldapstore.Config) { c.URL = "http://example.org" }},
		{"no search base", func(c *ldapstore.Config) { c.UserSearchBase = "" }},
		{"bad filter", func(c *ldapstore.Config) { c.UserSearchFilter = "(uid=" }},
		{"attribute injection", func(c *ldapstore.Config) { c.UsernameAttribute = "uid=*)(cn" }},
		{"member groups without base", func(c *ldapstore.Config) { c.GroupSearchBase = "" }},
		{"domain with slash", func(c *ldapstore.Config) { c.Domain = "A/B" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv)
			tt.mutate(&cfg)
			if _, err := ldapstore.New(cfg); err == nil {
				t.Error("New: no error")
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	key := func(id string, b byte) ldapstore.Key {
		return ldapstore.Key{ID: id, Key: []byte(strings.Repeat(string(rune(b)), 32))}
	}
	old, err := ldapstore.NewKeyring(key("k1", 'a'))
	if err != nil {
		t.Fatal(err)
	}
	sealed, id, err := old.SealBindPassword("org-1", "employees", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "s3cret") || id != "k1" {
		t.Fatalf("sealed = %q, %s", sealed, id)
	}
	rotated, err := ldapstore.NewKeyring(key("k2", 'b'), key("k1", 'a'))
	if err != nil {
		t.Fatal(err)
	}
	pw, err := rotated.OpenBindPassword(store.UserStore{OrgID: "org-1", Domain: "EMPLOYEES", BindPassword: sealed, BindPasswordKeyID: id})
	if err != nil || pw != "s3cret" {
		t.Fatalf("open after rotation = %q, %v", pw, err)
	}
	if _, err := rotated.OpenBindPassword(store.UserStore{OrgID: "org-2", Domain: "EMPLOYEES", BindPassword: sealed, BindPasswordKeyID: id}); err == nil {
		t.Error("a bind password copied to another organization's store opens")
	}
	if _, err := ldapstore.NewKeyring(ldapstore.Key{ID: "short", Key: []byte("x")}); err == nil {
		t.Error("NewKeyring accepted a short key")
	}
}

// TestDirectoryHung: a directory that accepts connections but never answers fails each request
// after RequestTimeout instead of holding the login until the caller's (much longer) deadline.
func TestDirectoryHung(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})
	cfg := baseConfig(srv)
	cfg.RequestTimeout, cfg.ConnectTimeout = 300*time.Millisecond, 300*time.Millisecond
	c := newClient(t, cfg)
	if _, err := c.Authenticate(t.Context(), "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.Authenticate(ctx, "alice", "wonderland")
	if err == nil || errors.Is(err, ldapstore.ErrInvalidCredentials) || errors.Is(err, ldapstore.ErrNoSuchUser) {
		t.Fatalf("Authenticate against a hung slapd = %v, want an infrastructure error", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the request timeout did not bound the call: the caller's deadline passed first")
	}
	srv.Resume()
	if _, err := c.Authenticate(t.Context(), "alice", "wonderland"); err != nil {
		t.Fatalf("after slapd resumed: %v", err)
	}
}
