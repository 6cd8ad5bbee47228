package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func newUser(t *testing.T, s *store.Store, username string) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), store.NewUser{OrgID: rootOrg(t, s).ID, Username: username})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestOrganizationByHandle(t *testing.T) {
	s, _ := newStore(t)
	root := rootOrg(t, s)
	tests := []struct {
		name    string
		handle  string
		wantErr error
	}{
		{name: "root", handle: store.RootOrganizationHandle},
		{name: "unknown", handle: "nope.example", wantErr: store.ErrNotFound},
		{name: "empty", handle: "", wantErr: store.ErrNotFound},
		{name: "case differs", handle: "CARBON.SUPER", wantErr: store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			org, err := s.OrganizationByHandle(t.Context(), tc.handle)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && org.ID != root.ID {
				t.Errorf("got %s, want %s", org.ID, root.ID)
			}
		})
	}
}

func TestRecordLoginFailureLocks(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		policy     store.LockPolicy
		failures   int
		wantLocked bool
		wantUntil  time.Time
		wantCount  int
	}{
		{name: "no policy never locks", policy: store.LockPolicy{}, failures: 7, wantCount: 7},
		{name: "below threshold", policy: store.LockPolicy{MaxFailures: 3, Duration: time.Minute}, failures: 2, wantCount: 2},
		{name: "at threshold, timed", policy: store.LockPolicy{MaxFailures: 3, Duration: time.Minute}, failures: 3,
			wantLocked: true, wantUntil: now.Add(time.Minute), wantCount: 3},
		{name: "past threshold does not count while locked", policy: store.LockPolicy{MaxFailures: 3, Duration: time.Minute},
			failures: 5, wantLocked: true, wantUntil: now.Add(time.Minute), wantCount: 3},
		{name: "until an administrator unlocks", policy: store.LockPolicy{MaxFailures: 1}, failures: 1, wantLocked: true, wantCount: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, conn := newStore(t)
			u := newUser(t, s, "alice")
			var last store.LoginFailure
			locks := 0
			for range tc.failures {
				var err error
				last, err = s.RecordLoginFailure(t.Context(), u.ID, tc.policy, now)
				if err != nil {
					t.Fatal(err)
				}
				if last.Locked {
					locks++
				}
			}
			if last.User.Locked != tc.wantLocked || !last.User.LockedUntil.Equal(tc.wantUntil) {
				t.Errorf("locked = %v until %v, want %v until %v", last.User.Locked, last.User.LockedUntil, tc.wantLocked, tc.wantUntil)
			}
			if last.User.FailedLoginAttempts != tc.wantCount {
				t.Errorf("failed attempts = %d, want %d", last.User.FailedLoginAttempts, tc.wantCount)
			}
			if wantLocks := map[bool]int{true: 1}[tc.wantLocked]; locks != wantLocks {
				t.Errorf("%d failures reported locking, want %d", locks, wantLocks)
			}
			claims, err := s.UserClaims(t.Context(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := claims[store.FailedLoginAttemptsBeforeSuccessClaim], last.BeforeSuccess; got == "" || got != strconv.Itoa(want) {
				t.Errorf("claim = %q, BeforeSuccess = %d", got, want)
			}
			if got := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`,
				store.AuditUserLock, u.ID); got != locks {
				t.Errorf("%d lock audit events, want %d", got, locks)
			}
		})
	}
}

func TestLoginLockExpiryAndSuccess(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	u := newUser(t, s, "bob")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := store.LockPolicy{MaxFailures: 2, Duration: 10 * time.Minute}
	for range 2 {
		if _, err := s.RecordLoginFailure(ctx, u.ID, policy, now); err != nil {
			t.Fatal(err)
		}
	}
	// A success while the lock is in force changes nothing.
	if err := s.RecordLoginSuccess(ctx, u.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByUsername(ctx, u.OrgID, "", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !got.LockedAt(now.Add(time.Minute)) || got.FailedLoginAttempts != 2 {
		t.Fatalf("lock cleared too early: %+v", got)
	}
	if got.LockedAt(now.Add(10 * time.Minute)) {
		t.Error("LockedAt still true when the lock expires")
	}
	// After expiry a failure restarts the count at one.
	f, err := s.RecordLoginFailure(ctx, u.ID, policy, now.Add(11*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if f.Locked || f.User.Locked || f.User.FailedLoginAttempts != 1 || f.BeforeSuccess != 3 {
		t.Fatalf("after expiry: %+v", f)
	}
	// A success resets the counter but not the before-success claim (the script's job in WSO2).
	if err := s.RecordLoginSuccess(ctx, u.ID, now.Add(12*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err = s.UserByUsername(ctx, u.OrgID, "", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got.Locked || got.FailedLoginAttempts != 0 {
		t.Errorf("after success: %+v", got)
	}
	claims, _ := s.UserClaims(ctx, u.ID)
	if claims[store.FailedLoginAttemptsBeforeSuccessClaim] != "3" {
		t.Errorf("before-success claim = %q, want 3", claims[store.FailedLoginAttemptsBeforeSuccessClaim])
	}
	// A success on an expired lock clears it and is audited.
	for range 2 {
		if _, err := s.RecordLoginFailure(ctx, u.ID, policy, now.Add(20*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordLoginSuccess(ctx, u.ID, now.Add(31*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.UserByUsername(ctx, u.OrgID, "", "bob")
	if got.Locked || !got.LockedUntil.IsZero() {
		t.Errorf("expired lock not cleared: %+v", got)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditUserUnlock); n != 1 {
		t.Errorf("%d unlock audit events, want 1", n)
	}

	for _, id := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if _, err := s.RecordLoginFailure(ctx, id, policy, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("failure for %q: %v, want ErrNotFound", id, err)
		}
		if err := s.RecordLoginSuccess(ctx, id, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("success for %q: %v, want ErrNotFound", id, err)
		}
	}
}

func TestTOTPCredential(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	u := newUser(t, s, "carol")
	if _, err := s.TOTPCredential(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before enrolment: %v", err)
	}
	ct := bytes.Repeat([]byte{7}, 48)
	if err := s.PutTOTPSecret(ctx, u.ID, ct, "k1", store.Actor{}); err != nil {
		t.Fatal(err)
	}
	c, err := s.TOTPCredential(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Confirmed() || !bytes.Equal(c.SecretCiphertext, ct) || c.KeyID != "k1" || c.LastUsedStep != 0 {
		t.Fatalf("pending credential: %+v", c)
	}
	if ok, err := s.UseTOTPStep(ctx, u.ID, 100); ok || err != nil {
		t.Fatalf("unconfirmed credential accepted a code: %v %v", ok, err)
	}
	// A secret other than the stored one (replaced by another enrolment) is not confirmed.
	if err := s.ConfirmTOTP(ctx, u.ID, bytes.Repeat([]byte{8}, 48), 100, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("confirm with another secret: %v, want ErrNotFound", err)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, ct, 100, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, ct, 101, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second confirm: %v, want ErrNotFound", err)
	}
	steps := []struct {
		name string
		step int64
		want bool
	}{
		{name: "step used to confirm", step: 100, want: false},
		{name: "older step", step: 99, want: false},
		{name: "next step", step: 101, want: true},
		{name: "same step again", step: 101, want: false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ok, err := s.UseTOTPStep(ctx, u.ID, st.step)
			if err != nil || ok != st.want {
				t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", st.step, ok, err, st.want)
			}
		})
	}
	// Concurrent submissions of one code: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			ok, err := s.UseTOTPStep(ctx, u.ID, 200)
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d concurrent uses of one step succeeded, want 1", n)
	}
	// Re-enrolment replaces the credential and forgets the used step.
	if err := s.PutTOTPSecret(ctx, u.ID, bytes.Repeat([]byte{8}, 48), "k2", store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.TOTPCredential(ctx, u.ID); c.Confirmed() || c.LastUsedStep != 0 || c.KeyID != "k2" {
		t.Errorf("after re-enrolment: %+v", c)
	}
	if err := s.DeleteTOTPCredential(ctx, u.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTOTPCredential(ctx, u.ID, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if err := s.PutTOTPSecret(ctx, "00000000-0000-0000-0000-000000000000", ct, "", store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action LIKE 'credential.totp.%'`); n != 4 {
		t.Errorf("%d totp audit events, want 4 (enrol, confirm, enrol, delete)", n)
	}
	// The ciphertext never reaches the audit trail.
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE after::text LIKE '%BwcH%' OR before::text LIKE '%BwcH%'`); n != 0 {
		t.Error("ciphertext in the audit trail")
	}
}

func TestBackupCodes(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	u := newUser(t, s, "dave")
	hash := func(code string) []byte { h := sha256.Sum256([]byte(code)); return h[:] }
	if err := s.ReplaceBackupCodes(ctx, u.ID, [][]byte{hash("a"), hash("b"), hash("c")}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.UnusedBackupCodes(ctx, u.ID); n != 3 {
		t.Fatalf("unused = %d, want 3", n)
	}
	uses := []struct {
		name string
		code string
		want bool
	}{
		{name: "valid", code: "a", want: true},
		{name: "spent", code: "a", want: false},
		{name: "unknown", code: "z", want: false},
		{name: "another valid", code: "b", want: true},
	}
	for _, tc := range uses {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := s.UseBackupCode(ctx, u.ID, hash(tc.code)); err != nil || ok != tc.want {
				t.Errorf("UseBackupCode(%s) = %v, %v; want %v", tc.code, ok, err, tc.want)
			}
		})
	}
	if n, _ := s.UnusedBackupCodes(ctx, u.ID); n != 1 {
		t.Errorf("unused = %d, want 1", n)
	}
	var wg sync.WaitGroup
	wins := make(chan bool, 6)
	for range 6 {
		wg.Go(func() {
			ok, err := s.UseBackupCode(ctx, u.ID, hash("c"))
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d concurrent uses of one code succeeded, want 1", n)
	}
	// Replacing drops the old set.
	if err := s.ReplaceBackupCodes(ctx, u.ID, [][]byte{hash("d")}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.UseBackupCode(ctx, u.ID, hash("b")); ok {
		t.Error("a code of the replaced set still works")
	}
	if err := s.ReplaceBackupCodes(ctx, u.ID, [][]byte{hash("e"), hash("e")}, store.Actor{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate hashes: %v, want ErrConflict", err)
	}
	if err := s.ReplaceBackupCodes(ctx, u.ID, [][]byte{[]byte("short")}, store.Actor{}); err == nil {
		t.Error("a short hash was accepted")
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditBackupCodeUse); n != 3 {
		t.Errorf("%d backup code use audit events, want 3", n)
	}
}
