package store_test

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/keyflow/keyflow/store"
)

const (
	claimEmail     = "http://wso2.org/claims/emailaddress"
	claimGivenName = "http://wso2.org/claims/givenname"
	claimLastName  = "http://wso2.org/claims/lastname"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	org := rootOrg(t, s)
	in := store.NewUser{
		OrgID:        org.ID,
		Username:     "Alice",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Claims: map[string]string{
			claimEmail:     "alice@example.com",
			claimGivenName: "Alice",
			claimLastName:  "", // empty: not stored
		},
		Actor: store.Actor{Type: store.ActorUser, ID: "admin-id"},
	}
	u, err := s.CreateUser(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(u.ID); err != nil {
		t.Errorf("ID %q is not a UUID", u.ID)
	}
	if u.OrgID != org.ID || u.Domain != store.DefaultDomain || u.Username != in.Username ||
		u.PasswordHash != in.PasswordHash || u.Status != store.UserActive || u.Locked || u.Disabled ||
		u.PasswordUpdatedAt.IsZero() || u.CreatedAt.IsZero() {
		t.Errorf("created user = %+v", u)
	}

	got, err := s.UserByUsername(t.Context(), org.ID, "", in.Username)
	if err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Errorf("UserByUsername = %+v, want %+v", got, u)
	}

	claims, err := s.UserClaims(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(in.Claims)
	delete(want, claimLastName)
	if !maps.Equal(claims, want) {
		t.Errorf("UserClaims = %v, want %v", claims, want)
	}

	var actorType, actorID string
	var after []byte
	if err := conn.QueryRow(t.Context(), `
		SELECT actor_type, actor_id, after FROM audit_events
		WHERE action = $1 AND target_type = 'user' AND target_id = $2 AND org_id = $3`,
		store.AuditUserCreate, u.ID, org.ID).Scan(&actorType, &actorID, &after); err != nil {
		t.Fatalf("audit event: %v", err)
	}
	if actorType != in.Actor.Type || actorID != in.Actor.ID {
		t.Errorf("audit actor = %s/%s, want %+v", actorType, actorID, in.Actor)
	}
	var event map[string]any
	if err := json.Unmarshal(after, &event); err != nil {
		t.Fatal(err)
	}
	if event["username"] != in.Username || event["hasPassword"] != true {
		t.Errorf("audit after = %s", after)
	}
	for _, secret := range []string{in.PasswordHash, "alice@example.com"} {
		if strings.Contains(string(after), secret) {
			t.Errorf("audit after %s contains %q", after, secret)
		}
	}
}

func TestCreateUserDefaults(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	u, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Domain: "secondary", Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Domain != "SECONDARY" || u.PasswordHash != "" || !u.PasswordUpdatedAt.IsZero() {
		t.Errorf("user = %+v, want domain SECONDARY, no password", u)
	}
	claims, err := s.UserClaims(t.Context(), u.ID)
	if err != nil || len(claims) != 0 {
		t.Errorf("UserClaims = %v, %v; want empty, nil", claims, err)
	}
	if _, err := s.UserByUsername(t.Context(), org.ID, "Secondary", "BOB"); err != nil {
		t.Errorf("lookup with other-case domain and username: %v", err)
	}
}

func TestUserByUsernameCaseInsensitive(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	tests := []struct {
		name    string
		created string
		lookups []string
	}{
		{name: "ASCII", created: "Carol", lookups: []string{"carol", "CAROL", "cArOl"}},
		{name: "non-ASCII letters", created: "Ärger", lookups: []string{"ärger", "ÄRGER"}},
		{name: "sharp s folds to ss", created: "straße", lookups: []string{"STRASSE", "strasse"}},
		{name: "decomposed accents", created: "Jos\u00e9", lookups: []string{"jose\u0301", "JOSE\u0301"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: tc.created})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range tc.lookups {
				got, err := s.UserByUsername(t.Context(), org.ID, store.DefaultDomain, l)
				if err != nil || got.ID != u.ID {
					t.Errorf("UserByUsername(%q) = %s, %v; want %s", l, got.ID, err, u.ID)
				}
			}
		})
	}
}

func TestCreateUserConflict(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "dave"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "Ünal"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		domain   string
		username string
	}{
		{name: "same", username: "dave"},
		{name: "upper case", username: "DAVE"},
		{name: "mixed case", username: "Dave"},
		{name: "explicit default domain, other case", domain: "primary", username: "dAVE"},
		{name: "non-ASCII other case", username: "üNAL"},
		{name: "non-ASCII decomposed", username: "U\u0308nal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Domain: tc.domain, Username: tc.username})
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			if errors.Is(err, store.ErrNotFound) {
				t.Errorf("err %v is also ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), "users_org_domain_username_key") {
				t.Errorf("err %q does not name the constraint", err)
			}
		})
	}

	t.Run("other domain is another namespace", func(t *testing.T) {
		if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Domain: "LDAP", Username: "dave"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("failed create leaves nothing behind", func(t *testing.T) {
		_, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "DAVE",
			Claims: map[string]string{claimEmail: "x@example.com"}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		u, err := s.UserByUsername(t.Context(), org.ID, "", "dave")
		if err != nil {
			t.Fatal(err)
		}
		if claims, err := s.UserClaims(t.Context(), u.ID); err != nil || len(claims) != 0 {
			t.Errorf("existing user's claims = %v, %v; want untouched (none)", claims, err)
		}
	})
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "erin"}); err != nil {
		t.Fatal(err)
	}
	missingOrg := uuid.NewString()
	tests := []struct {
		name string
		call func() error
	}{
		{name: "unknown username", call: func() error {
			_, err := s.UserByUsername(t.Context(), org.ID, "", "nobody")
			return err
		}},
		{name: "other domain", call: func() error {
			_, err := s.UserByUsername(t.Context(), org.ID, "LDAP", "erin")
			return err
		}},
		{name: "other organization", call: func() error {
			_, err := s.UserByUsername(t.Context(), missingOrg, "", "erin")
			return err
		}},
		{name: "malformed organization id", call: func() error {
			_, err := s.UserByUsername(t.Context(), "not-a-uuid", "", "erin")
			return err
		}},
		{name: "invalid UTF-8 username", call: func() error {
			_, err := s.UserByUsername(t.Context(), org.ID, "", "er\xffin")
			return err
		}},
		{name: "claims of unknown user", call: func() error {
			_, err := s.UserClaims(t.Context(), uuid.NewString())
			return err
		}},
		{name: "claims of malformed user id", call: func() error {
			_, err := s.UserClaims(t.Context(), "42")
			return err
		}},
		{name: "create in unknown organization", call: func() error {
			_, err := s.CreateUser(t.Context(), store.NewUser{OrgID: missingOrg, Username: "frank"})
			return err
		}},
		{name: "create in malformed organization id", call: func() error {
			_, err := s.CreateUser(t.Context(), store.NewUser{OrgID: "", Username: "frank"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			if errors.Is(err, store.ErrConflict) {
				t.Errorf("err %v is also ErrConflict", err)
			}
		})
	}
}

func TestCreateUserInvalid(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	org := rootOrg(t, s)
	valid := store.NewUser{OrgID: org.ID, Username: "grace"}
	tests := []struct {
		name   string
		modify func(*store.NewUser)
	}{
		{name: "empty username", modify: func(u *store.NewUser) { u.Username = "" }},
		{name: "leading space", modify: func(u *store.NewUser) { u.Username = " grace" }},
		{name: "trailing space", modify: func(u *store.NewUser) { u.Username = "grace " }},
		{name: "control character", modify: func(u *store.NewUser) { u.Username = "gra\nce" }},
		{name: "invalid UTF-8", modify: func(u *store.NewUser) { u.Username = "gr\xffce" }},
		{name: "too long", modify: func(u *store.NewUser) { u.Username = strings.Repeat("g", store.MaxUsernameLength+1) }},
		{name: "slash in domain", modify: func(u *store.NewUser) { u.Domain = "A/B" }},
		{name: "unknown status", modify: func(u *store.NewUser) { u.Status = "SLEEPING" }},
		{name: "empty claim URI", modify: func(u *store.NewUser) { u.Claims = map[string]string{"": "x"} }},
		{name: "oversized claim value", modify: func(u *store.NewUser) {
			u.Claims = map[string]string{claimEmail: strings.Repeat("x", store.MaxClaimValueLength+1)}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := valid
			tc.modify(&in)
			_, err := s.CreateUser(t.Context(), in)
			if err == nil {
				t.Fatal("CreateUser accepted invalid input")
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				t.Errorf("err = %v, want a plain validation error", err)
			}
		})
	}
	if n := countRows(t, conn, `SELECT count(*) FROM users`); n != 0 {
		t.Errorf("%d users created from invalid input", n)
	}
	if _, err := s.CreateUser(t.Context(), valid); err != nil {
		t.Errorf("the valid base case fails: %v", err)
	}
}
