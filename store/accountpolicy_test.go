package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

// fakeHash stands in for argon2id: the store never hashes, it only keeps what it is given and
// hands it back to the caller's comparison.
func fakeHash(pw string) string { return "h:" + pw }

func sameFake(pw, hash string) (bool, error) { return hash == fakeHash(pw), nil }

func TestPasswordPolicyCheck(t *testing.T) {
	t.Parallel()
	p := store.PasswordPolicy{Enabled: true, MinLength: 8, MaxLength: 16, MinUpper: 1, MinLower: 2, MinDigits: 1,
		MinSpecial: 1, Pattern: `^[^ ]+$`}
	tests := []struct {
		name, pw, rule string
	}{
		{"ok", "Abcdef1!", ""},
		{"too short", "Ab1!c", store.RuleMinLength},
		{"too long", "Abcdefgh1!xxxxxxx", store.RuleMaxLength},
		{"no upper", "abcdef1!", store.RuleMinUpper},
		{"one lower", "ABCDEFa1!", store.RuleMinLower},
		{"no digit", "Abcdefg!", store.RuleMinDigits},
		{"no special", "Abcdefg1", store.RuleMinSpecial},
		{"pattern", "Abc def1", store.RulePattern},
		{"non-ASCII letters count", "Ääkköset1!", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := p.Check(tc.pw)
			switch {
			case tc.rule == "" && v != nil:
				t.Errorf("refused: %v", v)
			case tc.rule != "" && (v == nil || v.Rule != tc.rule):
				t.Errorf("violation %+v, want rule %s", v, tc.rule)
			case v != nil && (v.Detail == "" || strings.Contains(v.Detail, tc.pw)):
				t.Errorf("detail %q", v.Detail)
			}
		})
	}
	if v := (store.PasswordPolicy{MinLength: 50}).Check("x"); v != nil {
		t.Errorf("disabled policy refused: %v", v)
	}
	if v := (store.PasswordPolicy{}).Check(strings.Repeat("x", store.MaxPasswordLength+1)); v == nil || v.Rule != store.RuleMaxLength {
		t.Errorf("absurd length accepted: %v", v)
	}
	p.ErrorMessage = "no spaces please"
	if v := p.Check("Abc def1"); v == nil || v.Detail != "no spaces please" {
		t.Errorf("custom message: %+v", v)
	}
}

func TestPutPasswordPolicy(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	if p, err := s.PasswordPolicy(ctx, org.ID); err != nil || p != (store.PasswordPolicy{}) {
		t.Fatalf("default policy %+v, %v", p, err)
	}
	for name, bad := range map[string]store.PasswordPolicy{
		"max below min":     {MinLength: 10, MaxLength: 5},
		"classes exceed":    {MaxLength: 3, MinUpper: 2, MinDigits: 2},
		"lookahead pattern": {Pattern: `^(?=.*\d).+$`},
		"negative":          {MinLength: -1},
		"history too long":  {HistoryCount: store.MaxPasswordHistory + 1},
	} {
		if _, err := s.PutPasswordPolicy(ctx, org.ID, bad, store.Actor{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	want := store.PasswordPolicy{Enabled: true, MinLength: 8, Pattern: `^\S+$`, HistoryEnabled: true, HistoryCount: 3,
		ExpiryEnabled: true, MaxAgeDays: 30, IdleEnabled: true, IdleDisableDays: 90}
	got, err := s.PutPasswordPolicy(ctx, org.ID, want, store.Actor{Type: store.ActorUser, ID: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.IsZero() {
		t.Error("no UpdatedAt")
	}
	got.UpdatedAt = time.Time{}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := s.PutPasswordPolicy(ctx, "6f1c4b4e-8a9b-4c7e-9d2a-000000000000", want, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown org: %v", err)
	}
}

func TestPasswordHistory(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	if _, err := s.PutPasswordPolicy(ctx, org.ID, store.PasswordPolicy{HistoryEnabled: true, HistoryCount: 3}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "alice", PasswordHash: fakeHash("one")})
	if err != nil {
		t.Fatal(err)
	}
	set := func(pw string) {
		t.Helper()
		if err := s.CheckPassword(ctx, org.ID, u.ID, pw, sameFake); err != nil {
			t.Fatalf("%s refused: %v", pw, err)
		}
		if err := s.SetUserPasswordHash(ctx, u.ID, fakeHash(pw), store.Actor{}); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(pw string) {
		t.Helper()
		var v *store.PasswordViolation
		if err := s.CheckPassword(ctx, org.ID, u.ID, pw, sameFake); !errors.As(err, &v) || v.Rule != store.RuleHistory {
			t.Errorf("%s: %v, want a history violation", pw, err)
		}
	}
	refused("one") // the current password
	set("two")
	set("three")
	refused("one")
	refused("two")
	set("four") // history is now four, three, two
	set("one")
	if n := countRows(t, conn, `SELECT count(*) FROM password_history WHERE user_id = $1`, u.ID); n != 3 {
		t.Errorf("%d history rows, want 3", n)
	}
	// A new user has no history to check.
	if err := s.CheckPassword(ctx, org.ID, "", "one", sameFake); err != nil {
		t.Errorf("creation: %v", err)
	}
}

func TestChangeAccount(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "bob", PasswordHash: fakeHash("pw")})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	admin := store.Actor{Type: store.ActorUser, ID: "admin"}
	if _, err := s.RecordLoginFailure(ctx, u.ID, store.LockPolicy{MaxFailures: 10}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChangeAccount(ctx, store.AccountChange{OrgID: org.ID, UserID: u.ID, Locked: &yes, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Locked || !got.LockedUntil.IsZero() || !got.LockedAt(time.Now().Add(1000*time.Hour)) {
		t.Errorf("lock: %+v", got)
	}
	got, err = s.ChangeAccount(ctx, store.AccountChange{OrgID: org.ID, UserID: u.ID, Locked: &no, Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if got.Locked || got.FailedLoginAttempts != 0 {
		t.Errorf("unlock: %+v", got)
	}
	got, err = s.ChangeAccount(ctx, store.AccountChange{OrgID: org.ID, UserID: u.ID, Disabled: &yes, ForcePasswordReset: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Disabled || got.Status != store.UserPendingForcedPasswordReset {
		t.Errorf("disable + force reset: %+v", got)
	}
	// A new password ends the forced reset, whoever sets it.
	if err := s.SetUserPasswordHash(ctx, u.ID, fakeHash("new"), store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if got, err = s.UserByID(ctx, org.ID, u.ID); err != nil || got.Status != store.UserActive {
		t.Errorf("after password change: %+v, %v", got, err)
	}
	if _, err := s.ChangeAccount(ctx, store.AccountChange{OrgID: org.ID, UserID: "6f1c4b4e-8a9b-4c7e-9d2a-000000000000", Locked: &yes}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestIdleUsers(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	now := time.Now().UTC()
	mk := func(name string, created time.Time, lastLogin time.Time) string {
		t.Helper()
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `UPDATE users SET created_at = $2 WHERE id = $1`, u.ID, created); err != nil {
			t.Fatal(err)
		}
		if !lastLogin.IsZero() {
			if err := s.RecordLoginSuccess(ctx, u.ID, lastLogin); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	days := func(n int) time.Time { return now.AddDate(0, 0, -n) }
	old := mk("old", days(400), days(200))         // last login 200 days ago
	never := mk("never", days(100), time.Time{})   // created 100 days ago, never logged in
	recent := mk("recent", days(400), days(5))     // active
	ancient := mk("ancient", days(900), days(800)) // idle since long ago
	_ = mk("newcomer", days(1), time.Time{})       // new, never logged in
	list := func(q store.IdleQuery) []string {
		t.Helper()
		q.OrgID = org.ID
		us, err := s.IdleUsers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return ids
	}
	if got := list(store.IdleQuery{InactiveSince: days(30)}); strings.Join(got, ",") != strings.Join([]string{ancient, old, never}, ",") {
		t.Errorf("idle since 30 days: %v", got)
	}
	if got := list(store.IdleQuery{InactiveSince: days(30), ExcludeBefore: days(500)}); strings.Join(got, ",") != old+","+never {
		t.Errorf("excluding before 500 days: %v", got)
	}
	_ = recent
	if ps, err := s.IdleDisablePolicies(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("idle policies before: %v %v", ps, err)
	}
	if _, err := s.PutPasswordPolicy(ctx, org.ID, store.PasswordPolicy{IdleEnabled: true, IdleDisableDays: 150}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	ps, err := s.IdleDisablePolicies(ctx)
	if err != nil || len(ps) != 1 || ps[0] != (store.IdleDisablePolicy{OrgID: org.ID, Days: 150}) {
		t.Fatalf("idle policies: %v %v", ps, err)
	}
	ids, err := s.DisableIdleUsers(ctx, org.ID, ps[0].Days, now, 0, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || countRows(t, conn, `SELECT count(*) FROM users WHERE disabled AND id IN ($1, $2)`, old, ancient) != 2 {
		t.Errorf("disabled %v, want old and ancient", ids)
	}
	yes := true
	if got := list(store.IdleQuery{InactiveSince: days(30), Disabled: &yes}); len(got) != 2 {
		t.Errorf("disabled idle users: %v", got)
	}
	if countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditUserDisable) != 2 {
		t.Error("no audit events for the idle disables")
	}
}
