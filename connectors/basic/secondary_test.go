package basic_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/connectors/ldapstore/slapdtest"
	"github.com/keyflow/keyflow/store"
)

const claimEmail = "http://wso2.org/claims/emailaddress"

// ldapEnv is newEnv plus a slapd with the example seed attached to the root organization as the
// read-write EMPLOYEES store.
type ldapEnv struct {
	*env
	srv *slapdtest.Server
	reg *ldapstore.Registry
}

func newLDAPEnv(t *testing.T) *ldapEnv {
	t.Helper()
	e := &ldapEnv{env: newEnv(t), srv: slapdtest.Start(t, slapdtest.Config{Seed: slapdtest.Example})}
	keys, err := ldapstore.NewKeyring(ldapstore.Key{ID: "k1", Key: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	sealed, keyID, err := keys.SealBindPassword(e.org.ID, "EMPLOYEES", e.srv.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.CreateUserStore(t.Context(), store.UserStore{OrgID: e.org.ID, Domain: "EMPLOYEES",
		Type: store.UserStoreLDAP, URL: e.srv.URL, BindDN: e.srv.AdminDN, BindPassword: sealed, BindPasswordKeyID: keyID,
		UserSearchBase: "ou=people,dc=example,dc=org", UserObjectClass: "inetOrgPerson", UsernameAttribute: "uid",
		GroupSearchBase: "ou=groups,dc=example,dc=org", GroupObjectClass: "groupOfNames",
		MembershipAttribute: store.MembershipMember, ClaimMappings: map[string]string{claimEmail: "mail"},
		ConnectTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second}, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if e.reg, err = ldapstore.NewRegistry(ldapstore.RegistryConfig{Store: e.s, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.reg.Close)
	return e
}

func (e *ldapEnv) auth(t *testing.T, cfg basic.Config) *basic.Authenticator {
	t.Helper()
	cfg.HashParams, cfg.Now = cheap, e.clock.now
	a, err := basic.New(cfg, basic.Deps{Users: e.s, Organizations: e.s, Secondary: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSecondaryStoreLogin(t *testing.T) {
	e := newLDAPEnv(t)
	local := e.user(t, store.NewUser{Username: "alice"}, "local-pw") // PRIMARY/alice is someone else
	a := e.auth(t, basic.Config{MaxFailures: 5})

	tests := []struct {
		name, username, pw string
		wantStatus         connectors.Status
		wantReason         connectors.Reason
		wantFailedUser     bool
	}{
		{name: "directory user", username: "EMPLOYEES/alice", pw: "wonderland", wantStatus: connectors.StatusSuccess},
		{name: "domain ignoring case", username: "employees/Alice", pw: "wonderland", wantStatus: connectors.StatusSuccess},
		{name: "wrong password", username: "EMPLOYEES/alice", pw: "local-pw",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials, wantFailedUser: true},
		{name: "unknown directory user", username: "EMPLOYEES/mallory", pw: "x",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials},
		{name: "filter injection", username: "EMPLOYEES/*)(uid=*", pw: "wonderland",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials},
		{name: "empty password", username: "EMPLOYEES/alice", pw: "",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidInput},
		{name: "PRIMARY is the built-in store", username: "PRIMARY/alice", pw: "local-pw", wantStatus: connectors.StatusSuccess},
		{name: "unqualified is the built-in store", username: "alice", pw: "wonderland",
			wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidCredentials, wantFailedUser: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := login(t, a, tc.username, tc.pw)
			if out.Status != tc.wantStatus || out.Reason != tc.wantReason {
				t.Fatalf("status %q reason %q, want %q %q", out.Status, out.Reason, tc.wantStatus, tc.wantReason)
			}
			if (out.FailedUser != nil) != tc.wantFailedUser {
				t.Errorf("failed user %+v, want set = %v", out.FailedUser, tc.wantFailedUser)
			}
		})
	}

	out := login(t, a, "EMPLOYEES/alice", "wonderland")
	shadow, err := e.s.UserByUsername(t.Context(), e.org.ID, "EMPLOYEES", "alice")
	if err != nil {
		t.Fatal(err)
	}
	u := out.User
	if u.ID != shadow.ID || u.ID == local.ID || u.Username != "alice" || u.UserStoreDomain != "EMPLOYEES" ||
		u.TenantDomain != "carbon.super" || u.IdP != connectors.LocalIdP {
		t.Errorf("user %+v, want the EMPLOYEES shadow %s", u, shadow.ID)
	}
	if !slices.Equal(u.Groups, []string{"EMPLOYEES/admins", "EMPLOYEES/engineers"}) || u.Claims[claimEmail] != "alice@example.org" {
		t.Errorf("groups %v claims %v", u.Groups, u.Claims)
	}
}

// TestSecondaryUnknownDomain: a domain with no store fails exactly like an unknown user.
func TestSecondaryUnknownDomain(t *testing.T) {
	e := newLDAPEnv(t)
	a := e.auth(t, basic.Config{MaxFailures: 5})
	unknownUser, _ := json.Marshal(login(t, a, "EMPLOYEES/mallory", "wonderland"))
	for _, name := range []string{"OTHER/alice", "PRIMARY/mallory", "mallory"} {
		got, _ := json.Marshal(login(t, a, name, "wonderland"))
		if string(got) != string(unknownUser) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, unknownUser)
		}
	}
}

func TestSecondaryStoreLock(t *testing.T) {
	e := newLDAPEnv(t)
	a := e.auth(t, basic.Config{MaxFailures: 2, LockDuration: time.Hour})
	if out := login(t, a, "EMPLOYEES/bob", "wrong-1"); out.Reason != connectors.ReasonInvalidCredentials || out.FailedUser == nil ||
		out.FailedUser.Claims[basic.FailedAttemptsClaim] != "1" {
		t.Fatalf("first failure: %+v", out)
	}
	if out := login(t, a, "EMPLOYEES/bob", "wrong-2"); out.Reason != connectors.ReasonAccountLocked {
		t.Fatalf("second failure: %+v, want locked", out)
	}
	// Locked: even the right password is refused, and the directory is not asked.
	e.srv.Stop()
	if out := login(t, a, "EMPLOYEES/bob", "builder"); out.Reason != connectors.ReasonAccountLocked || out.Status != connectors.StatusFailed {
		t.Fatalf("right password while locked: %+v", out)
	}
	e.srv.Restart()
	e.clock.t = e.clock.t.Add(2 * time.Hour)
	if out := login(t, a, "EMPLOYEES/bob", "builder"); out.Status != connectors.StatusSuccess {
		t.Fatalf("after the lock expired: %+v", out)
	}
	u, err := e.s.UserByUsername(t.Context(), e.org.ID, "EMPLOYEES", "bob")
	if err != nil || u.FailedLoginAttempts != 0 || u.Locked {
		t.Errorf("after success: %+v, %v", u, err)
	}
}

// TestSecondaryStoreWrites: a user created and updated in the read-write store logs in at once.
func TestSecondaryStoreWrites(t *testing.T) {
	e := newLDAPEnv(t)
	a := e.auth(t, basic.Config{})
	dir, ok, err := e.reg.Directory(t.Context(), e.org.ID, "EMPLOYEES")
	if err != nil || !ok {
		t.Fatalf("Directory = %v, %v", ok, err)
	}
	if _, err := dir.CreateUser(t.Context(), ldapstore.NewUser{Username: "dave", Password: "d4ve-pw",
		Claims: map[string]string{claimEmail: "dave@example.org"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.UpdateUser(t.Context(), "dave", map[string]string{claimEmail: "dave@corp.example.org"}); err != nil {
		t.Fatal(err)
	}
	out := login(t, a, "EMPLOYEES/dave", "d4ve-pw")
	if out.Status != connectors.StatusSuccess || out.User.UserStoreDomain != "EMPLOYEES" || out.User.Claims[claimEmail] != "dave@corp.example.org" {
		t.Fatalf("new user's login: %+v", out)
	}
	if out.User.Groups == nil || len(out.User.Groups) != 0 {
		t.Errorf("groups %v, want loaded and empty", out.User.Groups)
	}
}

// TestSecondaryStoreDown: with the directory down the login cannot be decided: Process returns
// an error (the flow shows a server error), not a wrong-password verdict.
func TestSecondaryStoreDown(t *testing.T) {
	e := newLDAPEnv(t)
	a := e.auth(t, basic.Config{MaxFailures: 1})
	e.srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := a.Process(ctx, connectors.ProcessInput{
		StepContext: connectors.StepContext{FlowID: "f", TenantDomain: "carbon.super", Step: 1, IdP: connectors.LocalIdP},
		Params:      map[string]string{basic.ParamUsername: "EMPLOYEES/alice", basic.ParamPassword: "wonderland"}, Attempt: 1})
	if err == nil || strings.Contains(err.Error(), "wonderland") || ctx.Err() != nil {
		t.Fatalf("Process with slapd down = %+v, %v", out, err)
	}
	// Nothing was counted against anyone.
	if _, err := e.s.UserByUsername(t.Context(), e.org.ID, "EMPLOYEES", "alice"); err == nil {
		t.Error("a shadow user appeared without the directory")
	}
}
