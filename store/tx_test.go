package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestTxCommit(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	var created []store.User
	err := s.Tx(t.Context(), func(tx *store.Tx) error {
		for _, name := range []string{"henry", "irene"} {
			u, err := tx.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: name})
			if err != nil {
				return err
			}
			created = append(created, u)
		}
		// The transaction sees its own writes.
		_, err := tx.UserByUsername(t.Context(), org.ID, "", "henry")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range created {
		if _, err := s.UserByUsername(t.Context(), org.ID, "", u.Username); err != nil {
			t.Errorf("%s after commit: %v", u.Username, err)
		}
	}
}

func TestTxRollback(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// fn runs after the Tx created a user; what it does decides the outcome.
		fn        func() error
		wantPanic bool
	}{
		{name: "error", fn: func() error { return errBoom }},
		{name: "wrapped error", fn: func() error { return fmt.Errorf("doing things: %w", errBoom) }},
		{name: "wrapped store error", fn: func() error { return fmt.Errorf("x: %w", store.ErrConflict) }},
		{name: "panic", fn: func() error { panic("boom") }, wantPanic: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, conn := newStore(t)
			org := rootOrg(t, s)
			var err, fnErr error
			panicked := func() (p any) {
				defer func() { p = recover() }()
				err = s.Tx(t.Context(), func(tx *store.Tx) error {
					if _, err := tx.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "jack"}); err != nil {
						t.Fatalf("CreateUser in Tx: %v", err)
					}
					fnErr = tc.fn()
					return fnErr
				})
				return nil
			}()
			if got := panicked != nil; got != tc.wantPanic {
				t.Fatalf("panicked = %v (%v), want %v", got, panicked, tc.wantPanic)
			}
			// Unchanged: the same error, not wrapped by Tx.
			if !tc.wantPanic && (!errors.Is(err, fnErr) || err.Error() != fnErr.Error()) {
				t.Errorf("Tx returned %v, want fn's error %v unchanged", err, fnErr)
			}
			if _, err := s.UserByUsername(t.Context(), org.ID, "", "jack"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("user after rollback: err = %v, want ErrNotFound", err)
			}
			if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditUserCreate); n != 0 {
				t.Errorf("%d user audit events survived the rollback", n)
			}
			// The pool is healthy afterwards.
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping after rollback: %v", err)
			}
		})
	}
}

// TestTxConflictKeepsTxUsable: a failed operation inside a Tx (its savepoint
// rolled back) does not doom the transaction.
func TestTxConflictKeepsTxUsable(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "kate"}); err != nil {
		t.Fatal(err)
	}
	err := s.Tx(t.Context(), func(tx *store.Tx) error {
		if _, err := tx.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "KATE"}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate in Tx: got %w, want ErrConflict", err)
		}
		_, err := tx.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "kate2"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByUsername(t.Context(), org.ID, "", "kate2"); err != nil {
		t.Errorf("kate2 after commit: %v", err)
	}
}

// writeSkew runs two transactions that each check the other's user is absent
// and then create their own, interleaved so both read before either writes:
// a write skew that SERIALIZABLE must refuse for one of them.
func writeSkew(t *testing.T, s *store.Store, orgID string) (errs [2]error, runs [2]int32) {
	t.Helper()
	names := [2]string{"left", "right"}
	read := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var attempts [2]atomic.Int32
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			errs[i] = s.Tx(t.Context(), func(tx *store.Tx) error {
				first := attempts[i].Add(1) == 1
				if _, err := tx.UserByUsername(t.Context(), orgID, "", names[1-i]); !errors.Is(err, store.ErrNotFound) {
					return err // the other one exists (a retry): nothing to check
				}
				if first {
					close(read[i])
					<-read[1-i] // both have read before either writes
				}
				_, err := tx.CreateUser(t.Context(), store.NewUser{OrgID: orgID, Username: names[i]})
				return err
			})
		})
	}
	wg.Wait()
	return errs, [2]int32{attempts[0].Load(), attempts[1].Load()}
}

func TestTxRetriesSerializationFailure(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	org := rootOrg(t, s)
	errs, runs := writeSkew(t, s, org.ID)
	for i, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", i, err)
		}
	}
	if runs[0]+runs[1] < 3 {
		t.Errorf("fn ran %v times: no retry happened, so no serialization failure was seen", runs)
	}
}

func TestTxAttemptsBounded(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, store.WithTxAttempts(1))
	org := rootOrg(t, s)
	errs, runs := writeSkew(t, s, org.ID)
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("errors %v: want exactly one transaction to fail", errs)
	}
	if runs != [2]int32{1, 1} {
		t.Errorf("fn runs = %v, want one each (no retries allowed)", runs)
	}
}
