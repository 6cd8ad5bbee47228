package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// rollbackTimeout bounds a rollback, which runs even when the caller's
// context is already cancelled (a cancelled rollback would cost the connection).
const rollbackTimeout = 5 * time.Second

// Tx is a transaction opened by Store.Tx. It offers the same operations as
// Store; they see and make changes inside the transaction. A Tx is only valid
// inside the function Store.Tx passes it to, and not safe for concurrent use.
type Tx struct {
	queries
}

// Tx runs fn in a SERIALIZABLE transaction and commits it if fn returns nil.
// It rolls back when fn returns an error (returned unchanged) or panics (the
// panic continues after the rollback). When PostgreSQL aborts the transaction
// with a serialization failure or a deadlock, whether in fn or at commit, Tx
// runs fn again in a fresh transaction, up to the configured number of
// attempts (DefaultTxAttempts) with a short jittered backoff. fn must
// therefore confine its effects to tx: no sends, no writes elsewhere, no
// state that a second run would double.
//
// SERIALIZABLE is the default because callers compose read-then-write
// sequences (SCIM PATCH, approvals): PostgreSQL then guarantees they behave
// as if run one at a time, and the retry makes that invisible.
//
// Each operation of Tx that writes several rows runs in a savepoint, so a
// failed one (say ErrConflict) leaves the transaction usable.
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.runTx(ctx, fn)
		if err == nil || !isRetryable(err) {
			return err
		}
		if attempt >= s.txAttempts {
			return fmt.Errorf("store: transaction failed %d times: %w", attempt, err)
		}
		s.log.Debug("store: retrying transaction", "attempt", attempt, "error", err)
		if werr := sleepBackoff(ctx, attempt); werr != nil {
			return fmt.Errorf("store: transaction retry: %w (after %w)", werr, err)
		}
	}
}

func (s *Store) runTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		if staleConn(err) {
			s.pool.Reset() // the server ended it, and likely the other idle ones (retryPool.stale)
		}
		return fmt.Errorf("store: begin: %w", err)
	}
	changed := &changedClients{}
	defer s.clientCaches.endTx(changed)
	return finish(ctx, tx, func() error {
		return fn(&Tx{queries{db: tx, clientCaches: s.clientCaches, changed: changed}})
	})
}

// atomic runs fn as one unit: a READ COMMITTED transaction on the pool, or a
// savepoint inside a Tx. It is for operations writing several rows; their
// correctness rests on constraints, not on isolation.
func (q *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	tx, err := q.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	changed := q.changed
	if changed == nil { // the outermost transaction: it tells the caches when it ends
		changed = &changedClients{}
		defer q.clientCaches.endTx(changed)
	}
	return finish(ctx, tx, func() error { return fn(&queries{db: tx, clientCaches: q.clientCaches, changed: changed}) })
}

// finish runs fn and commits tx, or rolls it back on error or panic.
func finish(ctx context.Context, tx pgx.Tx, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			rollback(ctx, tx)
			panic(p)
		}
	}()
	if err := fn(); err != nil {
		rollback(ctx, tx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	// A failed rollback leaves nothing to do: pgx closes the connection, and
	// PostgreSQL discards the transaction with it.
	_ = tx.Rollback(ctx)
}

// sleepBackoff waits about 5ms·2^attempt (at most 200ms), jittered so that
// transactions that collided do not collide again in lockstep.
func sleepBackoff(ctx context.Context, attempt int) error {
	ceiling := min(5*time.Millisecond<<attempt, 200*time.Millisecond)
	d := ceiling/2 + rand.N(ceiling/2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
