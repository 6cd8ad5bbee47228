package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyflow/keyflow/migrations"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/pgserver"
)

// EnvDatabaseURL names the environment variable pointing the helpers at an
// existing PostgreSQL server (URL form, e.g.
// postgres://user:pass@127.0.0.1:5432/postgres) instead of a private
// cluster. Its user needs CREATEDB; the server PostgreSQL 13 or later.
const EnvDatabaseURL = "KEYFLOW_TEST_DATABASE_URL"

const (
	setupTimeout = 3 * time.Minute // starting the cluster and building the template
	opTimeout    = time.Minute     // creating or dropping one database
	// Cluster directories of killed test binaries older than this are swept.
	sweepAge = time.Minute
	// Per-test pools stay small: many tests run in parallel on one cluster
	// (default max_connections 100).
	testMaxConns = 4
)

// shared is the test binary's one cluster: the singleton described in doc.go.
// Only this file touches it; tests never replace it.
var shared cluster

type cluster struct {
	mainRunning atomic.Bool // set by Main; helpers refuse to run without it

	once     sync.Once
	err      error
	srv      *pgserver.Server // nil when EnvDatabaseURL is used
	dir      string           // the private cluster's data directory
	admin    *pgxpool.Pool    // for CREATE/DROP DATABASE
	base     *url.URL         // server URL; tests get copies naming their database
	template string           // migrated template database
}

// Main runs the tests of a package that uses this helper and then stops the
// private cluster, if one was started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
// It does not return.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with set-up or tear-down of its own: it runs the
// tests, stops the cluster and returns the exit code for os.Exit.
func Run(m *testing.M) int {
	shared.mainRunning.Store(true)
	code := m.Run()
	if err := shared.shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// New returns a Store on a fresh, migrated, empty database of its own,
// closed and dropped when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	dbURL := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	s, err := store.Open(ctx, dbURL, store.WithMaxConns(testMaxConns))
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(s.Close) // runs before URL's cleanup drops the database
	return s
}

// URL returns the URL of a fresh database with every migration applied and
// no data, dropped when the test ends. It is a clone of a template database
// migrated once per migration set, so it costs one CREATE DATABASE.
func URL(t testing.TB) string {
	t.Helper()
	c := shared.get(t)
	return c.newDatabase(t, c.template)
}

// EmptyURL returns the URL of a fresh database without any migration
// applied (a copy of template0), dropped when the test ends; for testing
// migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return shared.get(t).newDatabase(t, "template0")
}

// get returns the cluster, starting it on first use.
func (c *cluster) get(t testing.TB) *cluster {
	t.Helper()
	if !c.mainRunning.Load() {
		t.Fatal("storetest: this package's TestMain must call storetest.Main(m) (or Run), which stops the " +
			"shared PostgreSQL cluster after the tests; add:\n\tfunc TestMain(m *testing.M) { storetest.Main(m) }")
	}
	c.once.Do(func() { c.err = c.start() })
	if c.err != nil {
		t.Fatalf("storetest: %v", c.err)
	}
	return c
}

func (c *cluster) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	serverURL := os.Getenv(EnvDatabaseURL)
	if serverURL == "" {
		base := filepath.Join(os.TempDir(), "keyflow-storetest")
		if err := os.MkdirAll(base, 0o700); err != nil {
			return err
		}
		sweep(ctx, base)
		dir, err := os.MkdirTemp(base, "cluster-")
		if err != nil {
			return err
		}
		srv, err := pgserver.Start(ctx, pgserver.Config{DataDir: dir, NoFsync: true})
		if err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("start private PostgreSQL (or set %s): %w", EnvDatabaseURL, err)
		}
		c.srv, c.dir, serverURL = srv, dir, srv.URL()
	}
	base, err := url.Parse(serverURL)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		// Do not echo the value: it holds a password.
		return fmt.Errorf("%s must be a postgres:// URL", EnvDatabaseURL)
	}
	c.base = base
	cfg, err := pgxpool.ParseConfig(serverURL)
	if err != nil {
		return fmt.Errorf("parse server URL: %w", err)
	}
	cfg.MaxConns = 4
	if c.admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	c.template, err = c.ensureTemplate(ctx)
	return err
}

// ensureTemplate returns the template database for this binary's migration
// set, building it if needed. Its name carries the migrations' fingerprint,
// so on a shared server it is built once and reused by every test binary and
// run with the same migrations. Building happens under a temporary name and
// ends with a rename, so a template under the final name is always complete;
// two binaries racing both build, one rename wins.
func (c *cluster) ensureTemplate(ctx context.Context) (string, error) {
	name := "keyflow_tmpl_" + migrations.Fingerprint()[:16]
	var exists bool
	if err := c.admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for template %s: %w", name, err)
	}
	if exists {
		return name, nil
	}
	build := "keyflow_tmpl_build_" + randomHex(4)
	if _, err := c.admin.Exec(ctx, "CREATE DATABASE "+ident(build)+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("create %s: %w", build, err)
	}
	if _, err := migrations.Up(ctx, c.urlFor(build)); err != nil {
		c.drop(ctx, build)
		return "", fmt.Errorf("migrate template: %w", err)
	}
	_, err := c.admin.Exec(ctx, "ALTER DATABASE "+ident(build)+" RENAME TO "+ident(name))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: another binary won
		c.drop(ctx, build)
		return name, nil
	}
	if err != nil {
		c.drop(ctx, build)
		return "", fmt.Errorf("rename %s to %s: %w", build, name, err)
	}
	// Nobody may connect to it: a single session would make cloning fail.
	if _, err := c.admin.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("mark %s as template: %w", name, err)
	}
	return name, nil
}

// newDatabase creates a database from template for t and drops it (whatever
// connections remain) when t ends.
func (c *cluster) newDatabase(t testing.TB, template string) string {
	t.Helper()
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := c.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := c.drop(ctx, name); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return c.urlFor(name)
}

func (c *cluster) drop(ctx context.Context, name string) error {
	if _, err := c.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func (c *cluster) urlFor(database string) string {
	u := *c.base
	u.Path = "/" + database
	u.RawPath = ""
	return u.String()
}

// shutdown stops what start started. Test databases are gone by now (each
// test drops its own); the template stays on a shared server for next time.
func (c *cluster) shutdown() error {
	if c.admin != nil {
		c.admin.Close()
	}
	if c.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.srv.Stop(ctx); err != nil {
		return err
	}
	return os.RemoveAll(c.dir)
}

// sweep removes clusters left behind by test binaries that died before Main
// could stop them (a panic, a -timeout, a kill), stopping their postgres
// first. pgserver's directory lock tells abandoned from in use; the age
// check spares a directory another binary made a moment ago and has not
// locked yet.
func sweep(ctx context.Context, base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || !strings.HasPrefix(e.Name(), "cluster-") ||
			time.Since(info.ModTime()) < sweepAge {
			continue
		}
		if _, err := pgserver.RemoveAbandoned(ctx, filepath.Join(base, e.Name()), nil); err != nil {
			fmt.Fprintf(os.Stderr, "storetest: sweeping %s: %v\n", e.Name(), err)
		}
	}
}

// databaseName derives a valid, unique database name from a test name:
// kt_<sanitised name>_<random>, within PostgreSQL's 63-byte limit.
func databaseName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	const maxName = 63 - len("kt_") - len("_") - 8
	if len(name) > maxName {
		name = name[:maxName]
	}
	return "kt_" + name + "_" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
