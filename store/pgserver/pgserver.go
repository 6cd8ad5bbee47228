package pgserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// Database is the database Start creates for Keyflow; URL points at it.
	Database = "keyflow"
	// Superuser is the cluster's bootstrap superuser, the user in URL.
	Superuser = "keyflow"
)

// Files pgserver keeps in the data directory next to PostgreSQL's own.
const (
	passwordFile = "keyflow.password" // the superuser's password, 0600
	confFile     = "keyflow.conf"     // rewritten at every start, included by postgresql.conf
	logFile      = "server.log"       // the postmaster's stdout/stderr (pg_ctl -l)
)

const (
	// pg_ctl's -t: how long start and stop may take.
	pgCtlTimeout = 60 * time.Second
	// Unix socket paths are limited by sockaddr_un.sun_path (108 bytes on Linux).
	maxSocketPath = 107
	// A log larger than this is rotated (once, to server.log.1) at start.
	maxLogSize = 10 << 20
	// Tries to start on a fresh free port when another process took the one picked.
	portAttempts = 3
)

// Config describes a private cluster. The zero value of every field but
// DataDir is usable.
type Config struct {
	// DataDir is the cluster's data directory (PGDATA). It is created and
	// initialised (initdb) on first use. Required.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free port at every start.
	Port int
	// Logger receives start/stop events; nil discards them. The password
	// and URL are never logged.
	Logger *slog.Logger
	// BinDirs are the directories searched for initdb, pg_ctl and postgres
	// (all three from one directory). Empty means PATH, then
	// /usr/lib/postgresql/<version>/bin, highest version first.
	BinDirs []string
	// OSUser is the system user the cluster runs as when this process runs
	// as root, which PostgreSQL refuses; default DefaultOSUser. Ignored when
	// not root: the cluster then runs as this process's user.
	OSUser string
	// NoFsync trades durability against OS crashes for speed (fsync and
	// full_page_writes off, initdb --no-sync). Only for throwaway clusters
	// such as tests: an OS crash or power loss can corrupt the data. A crash
	// of PostgreSQL itself still loses nothing committed.
	NoFsync bool
}

// Server is a running private cluster. Its methods are safe for concurrent use.
type Server struct {
	dataDir string
	port    int
	url     string
	bins    binaries
	owner   *osUser
	log     *slog.Logger

	mu      sync.Mutex
	lock    *os.File // flock on dataDir; nil once stopped
	stopped bool
}

// Start initialises the cluster on first use, starts it with pg_ctl, waits
// until it accepts connections and creates the database Database if missing.
// Leftovers of an owner that died without Stop (a running postmaster, a stale
// postmaster.pid) are cleaned up first; a data directory used by another live
// process is refused. Call Stop when done: the postmaster is a daemon and
// outlives this process otherwise.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("pgserver: Config.DataDir is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("pgserver: Config.Port %d out of range", cfg.Port)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: data directory: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dirs := cfg.BinDirs
	if len(dirs) == 0 {
		dirs = defaultBinDirs(os.Getenv("PATH"), libRoot)
	}
	candidates, err := findBinaries(dirs)
	if err != nil {
		return nil, err
	}
	owner, err := clusterUser(cfg.OSUser)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(dataDir, owner, log); err != nil {
		return nil, err
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close() // releases the flock
		}
	}()

	dataVersion, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	initialised := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	bins, version, err := pickBinaries(ctx, candidates, owner, strings.TrimSpace(string(dataVersion)))
	if err != nil {
		return nil, err
	}
	s := &Server{dataDir: dataDir, bins: bins, owner: owner, log: log, lock: lock}
	if !initialised {
		if err := s.initdb(ctx, cfg.NoFsync); err != nil {
			return nil, err
		}
	}
	password, err := os.ReadFile(filepath.Join(dataDir, passwordFile))
	if err != nil {
		return nil, fmt.Errorf("pgserver: %s was not initialised by pgserver (reading %s: %w); "+
			"point Config.DataDir at an empty or new directory", dataDir, passwordFile, err)
	}
	if err := clearLeftovers(ctx, dataDir, log); err != nil {
		return nil, err
	}
	if err := s.start(ctx, cfg.Port, cfg.NoFsync); err != nil {
		// pg_ctl may give up waiting (or be cancelled) while the postmaster
		// still comes up; do not leave it running unowned.
		if serr := s.pgCtlStop(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, err
	}
	s.url = s.urlFor(Database, strings.TrimSpace(string(password)))
	if err := s.ensureDatabase(ctx, strings.TrimSpace(string(password))); err != nil {
		if serr := s.pgCtlStop(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, err
	}
	ok = true
	log.Info("pgserver: PostgreSQL started", "data_dir", dataDir, "port", s.port, "version", version,
		"bin_dir", bins.dir)
	return s, nil
}

// URL returns a pgx connection URL for the database Database as Superuser.
// It holds the password: do not log it.
func (s *Server) URL() string { return s.url }

// Stop shuts the cluster down (pg_ctl stop -m fast: open sessions are
// disconnected, data is flushed) and releases the data directory. Calling it
// again is a no-op. It deliberately ignores ctx's cancellation, keeping only
// its values: callers typically stop on a shutdown signal with an already
// cancelled context, and giving up would leave the cluster running; pg_ctl's
// own timeout bounds it.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	if err := s.pgCtlStop(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	s.stopped = true
	s.lock.Close()
	s.log.Info("pgserver: PostgreSQL stopped", "data_dir", s.dataDir)
	return nil
}

// RemoveAbandoned deletes the data directory dataDir if no live process owns
// it (no Server holds it), first stopping any PostgreSQL a dead owner left
// running there. It reports whether it removed the directory. It exists for
// throwaway clusters (test helpers sweeping up after killed test binaries);
// pointed at real data it deletes that data.
func RemoveAbandoned(ctx context.Context, dataDir string, logger *slog.Logger) (bool, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lock, err := lockDir(dataDir)
	switch {
	case errors.Is(err, errInUse):
		return false, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	defer lock.Close()
	if err := clearLeftovers(ctx, dataDir, logger); err != nil {
		return false, err
	}
	if err := os.RemoveAll(dataDir); err != nil {
		return false, fmt.Errorf("pgserver: remove %s: %w", dataDir, err)
	}
	return true, nil
}

// prepareDataDir creates the data directory and, when the cluster runs as
// another user, hands it over and makes its ancestors traversable.
func prepareDataDir(dataDir string, owner *osUser, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return fmt.Errorf("pgserver: create parent of data directory: %w", err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pgserver: create data directory: %w", err)
	}
	if owner == nil {
		return nil
	}
	if err := ensureTraversable(filepath.Dir(dataDir), owner, log); err != nil {
		return err
	}
	st, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if uid, ok := statUID(st); !ok || uid != owner.uid {
		// New (made by root just now) or restored from elsewhere: PostgreSQL
		// requires its data directory to belong to the user it runs as.
		if err := chownTree(dataDir, owner); err != nil {
			return fmt.Errorf("pgserver: give %s to %s: %w", dataDir, owner.name, err)
		}
	}
	return nil
}

// initdb creates the cluster with a generated superuser password (see doc.go
// for why not trust authentication) and hooks keyflow.conf into postgresql.conf.
func (s *Server) initdb(ctx context.Context, noFsync bool) error {
	s.log.Info("pgserver: initialising a new PostgreSQL cluster", "data_dir", s.dataDir)
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("pgserver: generate password: %w", err)
	}
	password := hex.EncodeToString(secret)

	// initdb reads the password from a file, which cannot live in the data
	// directory (initdb wants it empty); the parent is traversable by the
	// cluster user by now.
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	pwPath := filepath.Join(filepath.Dir(s.dataDir), "."+filepath.Base(s.dataDir)+".initdb-pw-"+hex.EncodeToString(suffix))
	if err := writePrivate(pwPath, password+"\n", s.owner); err != nil {
		return err
	}
	defer os.Remove(pwPath)

	args := []string{
		"-D", s.dataDir,
		"-U", Superuser,
		"--pwfile=" + pwPath,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		// Byte-order collation: fast and identical everywhere. The schema never
		// relies on locale-aware case mapping (see migrations/00001_init.sql).
		"--locale=C",
		"--no-instructions",
	}
	if noFsync {
		args = append(args, "--no-sync")
	}
	if _, err := run(ctx, s.owner, s.bins.initdb, args...); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	conf, err := os.OpenFile(filepath.Join(s.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	_, err = fmt.Fprintf(conf, "\n# Added by Keyflow (store/pgserver). Settings it owns are rewritten\n"+
		"# at every start in %s; anything set below this line wins over them.\ninclude_if_exists = '%s'\n",
		confFile, confFile)
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgserver: append to postgresql.conf: %w", err)
	}
	// Written last: its presence marks a complete initialisation.
	return writePrivate(filepath.Join(s.dataDir, passwordFile), password+"\n", s.owner)
}

// start writes keyflow.conf and runs pg_ctl start, which returns once the
// server accepts connections.
func (s *Server) start(ctx context.Context, port int, noFsync bool) error {
	if err := rotateLog(filepath.Join(s.dataDir, logFile)); err != nil {
		return err
	}
	attempts := 1
	if port == 0 {
		attempts = portAttempts
	}
	var err error
	for range attempts {
		p := port
		if p == 0 {
			if p, err = freePort(); err != nil {
				return err
			}
		}
		if err = s.writeConf(p, noFsync); err != nil {
			return err
		}
		_, err = run(ctx, s.owner, s.bins.pgCtl, "start", "-D", s.dataDir, "-l", filepath.Join(s.dataDir, logFile),
			"-w", "-t", strconv.Itoa(int(pgCtlTimeout.Seconds())), "-s")
		if err == nil {
			s.port = p
			return nil
		}
		tail := logTail(filepath.Join(s.dataDir, logFile))
		err = fmt.Errorf("pgserver: start PostgreSQL on port %d: %w; server log (%s) ends with:\n%s",
			p, err, filepath.Join(s.dataDir, logFile), tail)
		if port != 0 || !strings.Contains(tail, "could not bind") {
			break
		}
		s.log.Info("pgserver: port taken meanwhile, retrying on another", "port", p)
	}
	return err
}

// writeConf writes the settings pgserver owns. They are rewritten at every
// start so a moved data directory or a new port just works.
func (s *Server) writeConf(port int, noFsync bool) error {
	var b strings.Builder
	b.WriteString("# Written by Keyflow (store/pgserver) at every start: edits are lost.\n")
	fmt.Fprintf(&b, "listen_addresses = '127.0.0.1'\nport = %d\n", port)
	// The socket lives in the (0700) data directory rather than
	// /var/run/postgresql, which may be missing or owned by a system cluster.
	// Keyflow connects over TCP; when the path is too long for a socket
	// address, there is simply no socket.
	socketDir := s.dataDir
	if len(socketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		socketDir = ""
	}
	fmt.Fprintf(&b, "unix_socket_directories = %s\nunix_socket_permissions = 0700\n", quoteConf(socketDir))
	// No SQL text or DETAIL lines in the server log: they can carry data
	// (key values of unique violations, literals).
	b.WriteString("log_min_error_statement = panic\nlog_error_verbosity = terse\n")
	if noFsync {
		b.WriteString("fsync = off\nfull_page_writes = off\n")
	}
	return writePrivate(filepath.Join(s.dataDir, confFile), b.String(), s.owner)
}

// ensureDatabase creates the database Database unless it exists.
func (s *Server) ensureDatabase(ctx context.Context, password string) error {
	conn, err := pgx.Connect(ctx, s.urlFor("postgres", password))
	if err != nil {
		return fmt.Errorf("pgserver: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		Database).Scan(&exists); err != nil {
		return fmt.Errorf("pgserver: look for database %s: %w", Database, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		err = nil
	}
	if err != nil {
		return fmt.Errorf("pgserver: create database %s: %w", Database, err)
	}
	s.log.Info("pgserver: created database", "database", Database)
	return nil
}

func (s *Server) pgCtlStop(ctx context.Context) error {
	_, err := run(ctx, s.owner, s.bins.pgCtl, "stop", "-D", s.dataDir, "-m", "fast", "-w",
		"-t", strconv.Itoa(int(pgCtlTimeout.Seconds())), "-s")
	if err == nil {
		return nil
	}
	// Already stopped behind our back (pg_ctl stop by hand, a crash): the
	// goal is reached. Otherwise report the failure and keep the lock.
	if pids, perr := clusterProcesses(s.dataDir); perr == nil && len(pids) == 0 {
		s.log.Warn("pgserver: PostgreSQL was not running at stop", "data_dir", s.dataDir)
		return nil
	}
	return fmt.Errorf("pgserver: stop PostgreSQL: %w", err)
}

func (s *Server) urlFor(database, password string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(Superuser, password),
		Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:   "/" + database,
		// Loopback only; TLS would add nothing but cost.
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before PostgreSQL binds it; start retries then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writePrivate writes a 0600 file owned by owner (or by us when nil).
func writePrivate(path, content string, owner *osUser) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgserver: write %s: %w", path, err)
	}
	// WriteFile keeps the mode of an existing file; make sure.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := chownFile(path, owner); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// quoteConf quotes a postgresql.conf string value.
func quoteConf(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func rotateLog(path string) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() < maxLogSize {
		return nil
	}
	if err := os.Rename(path, path+".1"); err != nil {
		return fmt.Errorf("pgserver: rotate %s: %w", path, err)
	}
	return nil
}

// logTail returns the last lines of the server log, where PostgreSQL says why
// it did not start.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	const max = 4096
	if st, err := f.Stat(); err == nil && st.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return "(unreadable log: " + err.Error() + ")"
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "(unreadable log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
