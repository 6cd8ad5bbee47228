package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// files holds the migrations. A //go:embed target has to be a package-level
// variable; nothing writes to it and it is never exported.
//
//go:embed *.sql
var files embed.FS

// Option configures Up.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger makes Up log each applied migration to l. Without it Up is silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Up applies every pending migration to the database at databaseURL and
// returns the resulting schema version. It is safe to run from several
// processes at once: a PostgreSQL advisory lock serialises them, and the ones
// that get the lock last find nothing left to do.
func Up(ctx context.Context, databaseURL string, opts ...Option) (version int64, err error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		return 0, errors.New("migrations: WithLogger: nil logger")
	}
	db, err := openDB(databaseURL)
	if err != nil {
		return 0, err
	}
	defer closeDB(db, &err)

	// Poll the lock every second (goose's default is every 5 s) for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return 0, fmt.Errorf("migrations: session locker: %w", err)
	}
	p, err := newProvider(db, goose.WithSessionLocker(locker), goose.WithSlog(o.logger))
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrations: up: %w", err)
	}
	version, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	return version, nil
}

// Version returns the schema version of the database at databaseURL: the
// highest applied migration, or 0 when none has been applied. It only reads:
// unlike goose it does not create its bookkeeping table on an empty database.
func Version(ctx context.Context, databaseURL string) (version int64, err error) {
	db, err := openDB(databaseURL)
	if err != nil {
		return 0, err
	}
	defer closeDB(db, &err)

	var exists bool
	if err := db.QueryRowContext(ctx,
		`SELECT to_regclass($1) IS NOT NULL`, goose.DefaultTablename).Scan(&exists); err != nil {
		return 0, fmt.Errorf("migrations: look for %s: %w", goose.DefaultTablename, err)
	}
	if !exists {
		return 0, nil
	}
	p, err := newProvider(db, goose.WithSlog(slog.New(slog.DiscardHandler)))
	if err != nil {
		return 0, err
	}
	version, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	return version, nil
}

// Latest returns the version of the newest embedded migration: what Up brings
// a database to.
func Latest() int64 {
	names := fileNames()
	v, err := goose.NumericComponent(names[len(names)-1])
	if err != nil {
		// fileNames only returns names that parse; see TestFiles.
		panic(fmt.Sprintf("migrations: %v", err))
	}
	return v
}

// Fingerprint returns a hex digest of the embedded migrations (names and
// contents). Two binaries with the same fingerprint build identical schemas,
// which lets test helpers cache a migrated template database across runs.
func Fingerprint() string {
	h := sha256.New()
	for _, name := range fileNames() {
		b, err := files.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("migrations: read embedded %s: %v", name, err))
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileNames lists the embedded migration files in version order.
func fileNames() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(fmt.Sprintf("migrations: read embedded files: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.SortFunc(names, func(a, b string) int {
		va, _ := goose.NumericComponent(a)
		vb, _ := goose.NumericComponent(b)
		return int(min(max(va-vb, -1), 1))
	})
	return names
}

func newProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	// No global registry: only the embedded SQL files are migrations.
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(goose.DialectPostgres, db, files, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: new provider: %w", err)
	}
	return p, nil
}

// openDB opens a database/sql handle through pgx's stdlib driver (goose works
// on database/sql). Parsing the URL here rather than in sql.Open surfaces a bad
// URL immediately; pgx's parse errors do not repeat the password.
func openDB(databaseURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("migrations: parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// Migrations run on one connection at a time; keep at most two open (the
	// advisory lock is held on its own session).
	db.SetMaxOpenConns(2)
	return db, nil
}

func closeDB(db *sql.DB, errp *error) {
	if cerr := db.Close(); cerr != nil && *errp == nil {
		*errp = fmt.Errorf("migrations: close database: %w", cerr)
	}
}
