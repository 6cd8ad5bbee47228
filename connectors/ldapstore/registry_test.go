package ldapstore_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/connectors/ldapstore/slapdtest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

// registryEnv is a PostgreSQL store with the root organization, a slapd with the example seed,
// and the EMPLOYEES user store pointing at it (bind password sealed).
type registryEnv struct {
	s    *store.Store
	org  store.Organization
	srv  *slapdtest.Server
	keys *ldapstore.Keyring
	us   store.UserStore
	reg  *ldapstore.Registry
}

func newRegistryEnv(t *testing.T) *registryEnv {
	t.Helper()
	e := &registryEnv{s: storetest.New(t), srv: slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e.keys, err = ldapstore.NewKeyring(ldapstore.Key{ID: "k1", Key: []byte(strings.Repeat("k", 32))}); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(e.srv)
	us := store.UserStore{OrgID: e.org.ID, Domain: "employees", Type: store.UserStoreLDAP, ReadOnly: true,
		URL: cfg.URL, BindDN: e.srv.ReaderDN, UserSearchBase: cfg.UserSearchBase,
		UserObjectClass: cfg.UserObjectClass, UsernameAttribute: cfg.UsernameAttribute,
		GroupSearchBase: cfg.GroupSearchBase, GroupObjectClass: cfg.GroupObjectClass,
		MembershipAttribute: cfg.MembershipAttribute, ClaimMappings: cfg.ClaimMappings,
		ConnectTimeout: cfg.ConnectTimeout, RequestTimeout: cfg.RequestTimeout}
	if us.BindPassword, us.BindPasswordKeyID, err = e.keys.SealBindPassword(e.org.ID, "EMPLOYEES", slapdtest.ReaderPassword); err != nil {
		t.Fatal(err)
	}
	if e.us, err = e.s.CreateUserStore(t.Context(), us, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = ldapstore.NewRegistry(ldapstore.RegistryConfig{Store: e.s, Keys: e.keys}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.reg.Close)
	return e
}

func TestRegistryLogin(t *testing.T) {
	e := newRegistryEnv(t)
	ctx := t.Context()
	dir, ok, err := e.reg.Directory(ctx, e.org.ID, "Employees")
	if err != nil || !ok {
		t.Fatalf("Directory = %v, %v", ok, err)
	}
	login, err := dir.Login(ctx, "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if login.User.Domain != "EMPLOYEES" || login.User.Username != "alice" || login.User.PasswordHash != "" {
		t.Errorf("shadow = %+v", login.User)
	}
	if !slices.Equal(login.Groups, []string{"EMPLOYEES/admins", "EMPLOYEES/engineers"}) {
		t.Errorf("groups = %v", login.Groups)
	}
	claims, err := e.s.UserClaims(ctx, login.User.ID)
	if err != nil || claims[claimEmail] != "alice@example.org" || claims[claimGivenName] != "Alice" {
		t.Errorf("stored claims = %v, %v", claims, err)
	}
	byName, err := e.s.UserByUsername(ctx, e.org.ID, "EMPLOYEES", "Alice")
	if err != nil || byName.ID != login.User.ID {
		t.Errorf("shadow by username = %+v, %v", byName, err)
	}

	// The directory changes; the next login refreshes the shadow, keeping its id.
	e.srv.Add("dn: cn=ops,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\ncn: ops\nmember: uid=alice,ou=people,dc=example,dc=org\n")
	again, err := dir.Login(ctx, "ALICE", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if again.User.ID != login.User.ID || !slices.Contains(again.Groups, "EMPLOYEES/ops") {
		t.Errorf("second login = %+v", again)
	}

	wrong, err := dir.Login(ctx, "alice", "nope")
	if !errors.Is(err, ldapstore.ErrInvalidCredentials) || wrong.User.ID != login.User.ID {
		t.Errorf("wrong password = %+v, %v; want ErrInvalidCredentials with the shadow user", wrong, err)
	}
	// bob has never logged in: a wrong password still gives him a shadow row to count against.
	bob, err := dir.Login(ctx, "bob", "nope")
	if !errors.Is(err, ldapstore.ErrInvalidCredentials) || bob.User.ID == "" || bob.User.Username != "bob" {
		t.Errorf("bob's wrong password = %+v, %v", bob, err)
	}
	if _, err := dir.Login(ctx, "mallory", "x"); !errors.Is(err, ldapstore.ErrNoSuchUser) {
		t.Errorf("unknown user = %v", err)
	}
	if _, err := e.s.UserByUsername(ctx, e.org.ID, "EMPLOYEES", "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown user got a shadow row: %v", err)
	}
}

func TestRegistryResolves(t *testing.T) {
	e := newRegistryEnv(t)
	ctx := t.Context()
	if _, ok, err := e.reg.Directory(ctx, e.org.ID, "OTHER"); ok || err != nil {
		t.Errorf("unknown domain = %v, %v", ok, err)
	}
	first, _, err := e.reg.Directory(ctx, e.org.ID, "EMPLOYEES")
	if err != nil {
		t.Fatal(err)
	}
	same, _, err := e.reg.Directory(ctx, e.org.ID, "EMPLOYEES")
	if err != nil || same != first {
		t.Errorf("unchanged settings gave a new Directory (%v)", err)
	}

	// A changed bind password (sealed with the wrong value) takes effect at once.
	upd := e.us
	upd.BindPassword, upd.BindPasswordKeyID, err = e.keys.SealBindPassword(e.org.ID, "EMPLOYEES", "not-the-password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UpdateUserStore(ctx, upd, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	dir, ok, err := e.reg.Directory(ctx, e.org.ID, "EMPLOYEES")
	if err != nil || !ok || dir == first {
		t.Fatalf("after update = %v, %v, same %v", ok, err, dir == first)
	}
	_, err = dir.Login(ctx, "alice", "wonderland")
	if err == nil || errors.Is(err, ldapstore.ErrInvalidCredentials) || strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("login with a wrong service password = %v, want a service bind error without the password", err)
	}

	// A disabled store is no store.
	upd.Disabled, upd.BindPassword = true, nil
	if _, err := e.s.UpdateUserStore(ctx, upd, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := e.reg.Directory(ctx, e.org.ID, "EMPLOYEES"); ok || err != nil {
		t.Errorf("disabled store = %v, %v", ok, err)
	}

	// A bind password sealed for another store does not open.
	other := e.us
	other.Domain, other.Disabled = "COPY", false
	if _, err := e.s.CreateUserStore(ctx, other, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.reg.Directory(ctx, e.org.ID, "COPY"); err == nil {
		t.Error("a bind password copied from another store opened")
	}
}
