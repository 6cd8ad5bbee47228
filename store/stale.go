package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL codes of a connection the server ended (restart, failover, pg_terminate_backend):
// the statement sent on it never ran.
const (
	codeAdminShutdown    = "57P01"
	codeCrashShutdown    = "57P02"
	codeCannotConnectNow = "57P03"
	maxStaleConnRetries  = 3
)

// staleConn reports whether err means the pooled connection was already dead when the
// statement was sent, so that running the statement again on another connection is safe.
func staleConn(err error) bool {
	if err == nil {
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) &&
		(pgErr.Code == codeAdminShutdown || pgErr.Code == codeCrashShutdown || pgErr.Code == codeCannotConnectNow)
}

// stale handles a statement that failed on a dead connection: the server ended it, so it most
// likely ended the other idle ones too (a restart); drop them all rather than meet them one by
// one. It reports whether to try again.
func (p retryPool) stale(err error, attempt int) bool {
	if !staleConn(err) || attempt == maxStaleConnRetries {
		return false
	}
	p.Pool.Reset()
	return true
}

// retryPool is the pool as the store's queries use it: a statement that fails because its pooled
// connection died under it (a PostgreSQL restart) is sent again on a fresh connection, so a
// restart costs no request once the server is back. Transactions are retried whole by Tx.
type retryPool struct {
	*pgxpool.Pool
}

func (p retryPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	for attempt := 1; ; attempt++ {
		tag, err := p.Pool.Exec(ctx, sql, args...)
		if !p.stale(err, attempt) {
			return tag, err
		}
	}
}

func (p retryPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	for attempt := 1; ; attempt++ {
		rows, err := p.Pool.Query(ctx, sql, args...)
		if err != nil {
			if !p.stale(err, attempt) {
				return rows, err
			}
			continue
		}
		// A dead connection shows on the first read: peek before handing the rows out.
		if rows.Next() {
			return &peeked{Rows: rows}, nil
		}
		if p.stale(rows.Err(), attempt) {
			continue
		}
		return rows, nil // closed: no rows, or the error for the caller's Err
	}
}

func (p retryPool) Begin(ctx context.Context) (pgx.Tx, error) {
	for attempt := 1; ; attempt++ {
		tx, err := p.Pool.Begin(ctx)
		if !p.stale(err, attempt) {
			return tx, err
		}
	}
}

func (p retryPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return staleRow{p: p, ctx: ctx, sql: sql, args: args}
}

// staleRow runs the query when scanned, again on a fresh connection if the first was dead.
type staleRow struct {
	p    retryPool
	ctx  context.Context
	sql  string
	args []any
}

func (r staleRow) Scan(dest ...any) error {
	for attempt := 1; ; attempt++ {
		err := r.p.Pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
		if !r.p.stale(err, attempt) {
			return err
		}
	}
}

// peeked is Rows whose first row was already read by Next.
type peeked struct {
	pgx.Rows
	started bool
}

func (p *peeked) Next() bool {
	if !p.started {
		p.started = true
		return true
	}
	return p.Rows.Next()
}
