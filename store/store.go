package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults applied by Open.
const (
	// DefaultStatementTimeout bounds every statement: an identity server's
	// queries are point look-ups, so anything slower is a bug or a lock pile-up
	// that should fail rather than hold a connection.
	DefaultStatementTimeout = 15 * time.Second
	// DefaultTxAttempts is how many times Tx runs a transaction that keeps
	// failing with a serialization failure or deadlock.
	DefaultTxAttempts = 5
	// idleInTxTimeout ends sessions left idle inside a transaction (a leaked
	// Tx), releasing their locks.
	idleInTxTimeout = time.Minute
)

// Option configures Open.
type Option func(*options)

type options struct {
	logger           *slog.Logger
	maxConns         int
	statementTimeout time.Duration
	txAttempts       int
}

// WithLogger sets the logger (default: discard). The store never logs
// connection strings, query arguments or row data.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxConns sets the pool size. The default is max(8, 4×GOMAXPROCS),
// unless the URL sets pool_max_conns.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithStatementTimeout overrides DefaultStatementTimeout (PostgreSQL's
// statement_timeout, set per session). A statement_timeout in the URL wins
// over the default but not over this option.
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) { o.statementTimeout = d }
}

// WithTxAttempts overrides DefaultTxAttempts.
func WithTxAttempts(n int) Option { return func(o *options) { o.txAttempts = n } }

// Store is Keyflow's PostgreSQL database: a connection pool plus typed
// operations. It is safe for concurrent use. The operations are methods of
// both Store (each its own transaction) and Tx (part of a larger one).
type Store struct {
	queries
	pool       *pgxpool.Pool
	log        *slog.Logger
	txAttempts int
}

// Open connects to the database at databaseURL (a PostgreSQL URL or DSN,
// as pgx accepts) and checks that it answers. The schema is not touched:
// apply migrations first (package migrations).
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	o := options{logger: slog.New(slog.DiscardHandler), txAttempts: DefaultTxAttempts}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.logger == nil:
		return nil, errors.New("store: WithLogger: nil logger")
	case o.maxConns < 0 || o.maxConns > 10000:
		return nil, fmt.Errorf("store: WithMaxConns(%d) out of range", o.maxConns)
	case o.statementTimeout < 0:
		return nil, fmt.Errorf("store: WithStatementTimeout(%v) is negative", o.statementTimeout)
	case o.txAttempts < 1:
		return nil, fmt.Errorf("store: WithTxAttempts(%d): need at least 1", o.txAttempts)
	}

	cfg, err := poolConfig(databaseURL, o)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: create pool: %w", err)
	}
	s := &Store{queries: queries{db: retryPool{pool}, clientCaches: &clientCaches{}}, pool: pool, log: o.logger, txAttempts: o.txAttempts}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	o.logger.Info("store: connected", "host", cfg.ConnConfig.Host, "port", cfg.ConnConfig.Port,
		"database", cfg.ConnConfig.Database, "max_conns", cfg.MaxConns)
	return s, nil
}

// poolConfig parses databaseURL and applies the options and session defaults.
func poolConfig(databaseURL string, o options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors do not repeat the password.
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = int32(o.maxConns)
	case !strings.Contains(databaseURL, "pool_max_conns"):
		// pgxpool's default, max(4, NumCPU), starves a server whose requests
		// wait on the database far more than they compute.
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	params := cfg.ConnConfig.RuntimeParams
	if _, set := params["statement_timeout"]; !set || o.statementTimeout > 0 {
		params["statement_timeout"] = strconv.FormatInt(cmp.Or(o.statementTimeout, DefaultStatementTimeout).Milliseconds(), 10)
	}
	if _, set := params["idle_in_transaction_session_timeout"]; !set {
		params["idle_in_transaction_session_timeout"] = strconv.FormatInt(idleInTxTimeout.Milliseconds(), 10)
	}
	if _, set := params["application_name"]; !set {
		params["application_name"] = "keyflow"
	}
	return cfg, nil
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close waits for borrowed connections to come back and closes the pool.
func (s *Store) Close() { s.pool.Close() }

// dbtx is what both the pool and a transaction offer. Begin on a
// transaction opens a savepoint.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// queries carries the operations shared by Store and Tx (their exported
// methods are promoted from here), running on whichever dbtx it holds.
type queries struct {
	db dbtx
	// clientCaches are told which OAuth2 clients a transaction wrote once it ends
	// (oauth2_client_events.go); changed collects them inside a transaction (nil outside).
	clientCaches *clientCaches
	changed      *changedClients
}
