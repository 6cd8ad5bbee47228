package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The two conditions callers branch on. Errors returned by the store wrap
// them (test with errors.Is) and add what was not found or what collided.
var (
	// ErrNotFound: the row asked for, or one a write refers to, does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the write collides with existing data (a unique constraint).
	ErrConflict = errors.New("store: conflict")
)

// PostgreSQL error codes the store reacts to (Appendix A of its manual).
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// mapErr turns driver errors into the store's: no rows becomes ErrNotFound,
// a unique violation ErrConflict naming the constraint. The constraint's
// DETAIL (the colliding key values) is left out on purpose: errors get
// logged, and keys may be personal data or token hashes. Other errors are
// wrapped unchanged, so Tx can still recognise retryable ones.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
		return fmt.Errorf("%s: %w (%s)", what, ErrConflict, pgErr.ConstraintName)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isForeignKeyViolation reports a write referring to a missing row; callers
// know which reference it was and turn it into ErrNotFound.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeForeignKeyViolation
}

// isRetryable reports errors after which the whole transaction may succeed
// when run again: serialisation failures, deadlocks, and a connection that
// was dead before the transaction began (staleConn).
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return staleConn(err) || errors.As(err, &pgErr) &&
		(pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected)
}
