package basic_test

import (
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

// TestAdminAccountStates drives the account states an administrator sets (store.ChangeAccount,
// as SCIM's accountLocked, accountDisabled and forcePasswordReset do) through logins with the
// right password: each refusal says why.
func TestAdminAccountStates(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.user(t, store.NewUser{Username: "carol"}, "Right-pw1")
	a := e.auth(t, basic.Config{MaxFailures: 3})
	yes, no := true, false
	change := func(ch store.AccountChange) {
		t.Helper()
		ch.OrgID, ch.UserID = e.org.ID, u.ID
		if _, err := e.s.ChangeAccount(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name       string
		before     func()
		wantReason connectors.Reason // "" for success
		wantMsg    string
	}{
		{name: "active", wantReason: ""},
		{name: "admin lock", before: func() { change(store.AccountChange{Locked: &yes}) },
			wantReason: connectors.ReasonAccountLocked, wantMsg: "user.account.locked"},
		{name: "still locked much later", before: func() { e.clock.t = e.clock.t.Add(365 * 24 * time.Hour) },
			wantReason: connectors.ReasonAccountLocked, wantMsg: "user.account.locked"},
		{name: "unlocked", before: func() { change(store.AccountChange{Locked: &no}) }, wantReason: ""},
		{name: "disabled", before: func() { change(store.AccountChange{Disabled: &yes}) },
			wantReason: connectors.ReasonAccountDisabled, wantMsg: "user.account.disabled"},
		{name: "enabled", before: func() { change(store.AccountChange{Disabled: &no}) }, wantReason: ""},
		{name: "forced reset", before: func() { change(store.AccountChange{ForcePasswordReset: &yes}) },
			wantReason: basic.ReasonPasswordResetRequired, wantMsg: "user.password.reset.required"},
		{name: "password reset by the user", before: func() {
			// A new hash (new salt) of the same password is a new password for the store.
			h, err := password.Hash("Right-pw1", cheap)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.s.SetUserPasswordHash(ctx, u.ID, h, store.Actor{}); err != nil {
				t.Fatal(err)
			}
		}, wantReason: ""},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		out := login(t, a, "carol", "Right-pw1")
		if st.wantReason == "" {
			if out.Status != connectors.StatusSuccess {
				t.Fatalf("%s: %+v, want success", st.name, out)
			}
			continue
		}
		if out.Status != connectors.StatusFailed || out.Reason != st.wantReason {
			t.Fatalf("%s: status %q reason %q, want failed %q", st.name, out.Status, out.Reason, st.wantReason)
		}
		if st.wantMsg != "" && (len(out.Messages) != 1 || out.Messages[0].Message != st.wantMsg) {
			t.Errorf("%s: messages %+v, want %s", st.name, out.Messages, st.wantMsg)
		}
	}
	got, err := e.s.UserByID(ctx, e.org.ID, u.ID)
	if err != nil || got.Status != store.UserActive {
		t.Errorf("after the reset: %+v, %v", got, err)
	}
}

// TestPasswordExpiry: a password older than the organization's maximum age is refused with its
// own reason; a wrong password still looks like any other failure.
func TestPasswordExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	u := e.user(t, store.NewUser{Username: "dave"}, "Right-pw1")
	a := e.auth(t, basic.Config{})
	e.clock.t = u.PasswordUpdatedAt.Add(29 * 24 * time.Hour)
	if _, err := e.s.PutPasswordPolicy(ctx, e.org.ID, store.PasswordPolicy{ExpiryEnabled: true, MaxAgeDays: 30}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if out := login(t, a, "dave", "Right-pw1"); out.Status != connectors.StatusSuccess {
		t.Fatalf("29 days old: %+v", out)
	}
	e.clock.t = u.PasswordUpdatedAt.Add(30 * 24 * time.Hour)
	out := login(t, a, "dave", "Right-pw1")
	if out.Status != connectors.StatusFailed || out.Reason != basic.ReasonPasswordExpired ||
		len(out.Messages) != 1 || out.Messages[0].Message != "user.password.expired" {
		t.Fatalf("30 days old: %+v", out)
	}
	if out := login(t, a, "dave", "wrong"); out.Reason != connectors.ReasonInvalidCredentials {
		t.Errorf("wrong password: %q", out.Reason)
	}
	// Expiry switched off: usable again.
	if _, err := e.s.PutPasswordPolicy(ctx, e.org.ID, store.PasswordPolicy{MaxAgeDays: 30}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if out := login(t, a, "dave", "Right-pw1"); out.Status != connectors.StatusSuccess {
		t.Fatalf("expiry off: %+v", out)
	}
	idle, err := e.s.IdleUsers(ctx, store.IdleQuery{OrgID: e.org.ID, InactiveSince: e.clock.t})
	if err != nil {
		t.Fatal(err)
	}
	for _, iu := range idle {
		if iu.ID == u.ID {
			t.Errorf("a user who just logged in is idle: %+v", iu)
		}
	}
}
