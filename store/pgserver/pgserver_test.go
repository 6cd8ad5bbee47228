package pgserver

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testConfig(t *testing.T) Config {
	return Config{DataDir: filepath.Join(t.TempDir(), "pgdata"), Logger: testLogger(t), NoFsync: true}
}

// startServer starts a cluster and stops it when the test ends (a no-op if
// the test stopped it).
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(t.Context(), sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestStartStopRestart(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)

	conn := connect(t, s.URL())
	if got := queryString(t, conn, "SELECT current_database()"); got != Database {
		t.Errorf("URL connects to database %q, want %q", got, Database)
	}
	if got := queryString(t, conn, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, want loopback only", got)
	}
	if got := queryString(t, conn, "SHOW unix_socket_directories"); got != cfg.DataDir {
		t.Errorf("unix_socket_directories = %q, want the data directory %q", got, cfg.DataDir)
	}
	if _, err := conn.Exec(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives restart')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())

	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if pids, err := clusterProcesses(cfg.DataDir); err != nil || len(pids) > 0 {
		t.Fatalf("after Stop: processes %v (err %v), want none", pids, err)
	}
	if _, err := connect2(t, s.URL()); err == nil {
		t.Fatal("connected after Stop")
	}

	s2 := startServer(t, cfg)
	conn2 := connect(t, s2.URL())
	if got := queryString(t, conn2, "SELECT v FROM kept"); got != "survives restart" {
		t.Errorf("after restart got %q", got)
	}
	if got, want := filePerm(t, filepath.Join(cfg.DataDir, passwordFile)), os.FileMode(0o600); got != want {
		t.Errorf("%s mode %v, want %v", passwordFile, got, want)
	}
}

func connect2(t *testing.T, url string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err == nil {
		c.Close(ctx)
	}
	return c, err
}

func filePerm(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestFixedPort(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Port = port
	s := startServer(t, cfg)
	if !strings.Contains(s.URL(), "127.0.0.1:"+strconv.Itoa(port)+"/") {
		t.Errorf("URL does not use port %d", port)
	}
	connect(t, s.URL())
}

func TestMissingBinaries(t *testing.T) {
	onlyPgCtl := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyPgCtl, "pg_ctl"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExecutable := t.TempDir()
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if err := os.WriteFile(filepath.Join(notExecutable, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		dirs []string
	}{
		{name: "empty directory", dirs: []string{t.TempDir()}},
		{name: "nonexistent directory", dirs: []string{filepath.Join(t.TempDir(), "nope")}},
		{name: "only pg_ctl", dirs: []string{onlyPgCtl}},
		{name: "not executable", dirs: []string{notExecutable}},
		{name: "several directories", dirs: []string{onlyPgCtl, notExecutable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.BinDirs = tc.dirs
			s, err := Start(t.Context(), cfg)
			if err == nil {
				s.Stop(context.Background())
				t.Fatal("Start succeeded without binaries")
			}
			if !errors.Is(err, ErrNoBinaries) {
				t.Errorf("error %v is not ErrNoBinaries", err)
			}
			for _, want := range append([]string{"apt-get install -y postgresql"}, tc.dirs...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if _, statErr := os.Stat(cfg.DataDir); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("data directory created although nothing can run: %v", statErr)
			}
		})
	}
}

func TestDefaultBinDirs(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "common", "16", "10"} {
		if err := os.MkdirAll(filepath.Join(root, v, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		root string
		want []string
	}{
		{
			name: "PATH first, then versions highest first",
			path: "/a" + string(os.PathListSeparator) + "/b",
			root: root,
			want: []string{"/a", "/b", root + "/16/bin", root + "/15/bin", root + "/10/bin", root + "/9.6/bin", root + "/common/bin"},
		},
		{
			name: "no PostgreSQL packages",
			path: "/a",
			root: filepath.Join(root, "missing"),
			want: []string{"/a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := defaultBinDirs(tc.path, tc.root)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("defaultBinDirs = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStalePostmasterPID: a postmaster.pid whose pid now belongs to an
// unrelated live process (pid reuse after a crash or reboot) makes PostgreSQL
// itself refuse to start; Start must see through it.
func TestStalePostmasterPID(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	if err := s.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	owner, err := clusterUser(cfg.OSUser)
	if err != nil {
		t.Fatal(err)
	}
	// Run as the cluster's user: PostgreSQL only believes pids it may signal.
	sleeper := command(t.Context(), owner, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	pidFile := filepath.Join(cfg.DataDir, "postmaster.pid")
	stale := strconv.Itoa(sleeper.Process.Pid) + "\n" + cfg.DataDir + "\n1700000000\n5432\n\n127.0.0.1\n  0  0\nready\n"
	if err := writePrivate(pidFile, stale, owner); err != nil {
		t.Fatal(err)
	}

	s2 := startServer(t, cfg)
	connect(t, s2.URL())
	if pm := postmasterPID(cfg.DataDir); pm == sleeper.Process.Pid || pm == 0 {
		t.Errorf("postmaster.pid holds %d, want the new postmaster", pm)
	}
}

// TestKilledPostmaster: the postmaster died by SIGKILL (OOM killer, kill -9).
func TestKilledPostmaster(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	conn := connect(t, s.URL())
	if _, err := conn.Exec(t.Context(), "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pm := postmasterPID(cfg.DataDir)
	if pm == 0 {
		t.Fatal("no postmaster.pid")
	}
	if err := syscall.Kill(pm, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNoPostmaster(t, cfg.DataDir, pm)
	s.lock.Close() // the owner goes with it
	s.mu.Lock()
	s.stopped = true // its cluster is gone; keep its cleanup from stopping s2's
	s.mu.Unlock()

	s2 := startServer(t, cfg)
	var v int
	if err := connect(t, s2.URL()).QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after crash recovery got %d, %v; want 42", v, err)
	}
}

// waitNoPostmaster waits until pid no longer runs on dataDir (a killed
// process may linger as a zombie that clusterProcesses ignores).
func waitNoPostmaster(t *testing.T, dataDir string, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids, err := clusterProcesses(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		alive := false
		for _, p := range pids {
			alive = alive || p == pid
		}
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOrphanedPostmaster: the owning process died (its flock is gone) but the
// cluster kept running; the next Start takes it over.
func TestOrphanedPostmaster(t *testing.T) {
	cfg := testConfig(t)
	s := startServer(t, cfg)
	old := postmasterPID(cfg.DataDir)
	s.lock.Close() // what the kernel does when the owner dies
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()

	s2 := startServer(t, cfg)
	connect(t, s2.URL())
	if pm := postmasterPID(cfg.DataDir); pm == old {
		t.Errorf("still served by the orphaned postmaster %d", old)
	}
	if err := syscall.Kill(old, 0); err == nil {
		if pids, _ := clusterProcesses(cfg.DataDir); containsPID(pids, old) {
			t.Errorf("orphaned postmaster %d still running", old)
		}
	}
}

func containsPID(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

func TestDataDirInUse(t *testing.T) {
	cfg := testConfig(t)
	startServer(t, cfg)
	s2, err := Start(t.Context(), cfg)
	if err == nil {
		s2.Stop(context.Background())
		t.Fatal("second Start on a data directory in use succeeded")
	}
	if !errors.Is(err, errInUse) {
		t.Errorf("error %v, want errInUse", err)
	}
}

func TestRemoveAbandoned(t *testing.T) {
	t.Run("in use", func(t *testing.T) {
		cfg := testConfig(t)
		startServer(t, cfg)
		removed, err := RemoveAbandoned(t.Context(), cfg.DataDir, testLogger(t))
		if err != nil || removed {
			t.Fatalf("RemoveAbandoned = %v, %v; want false, nil", removed, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "PG_VERSION")); err != nil {
			t.Fatalf("data directory damaged: %v", err)
		}
	})
	t.Run("abandoned with a running cluster", func(t *testing.T) {
		cfg := testConfig(t)
		s := startServer(t, cfg)
		s.lock.Close()
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		removed, err := RemoveAbandoned(t.Context(), cfg.DataDir, testLogger(t))
		if err != nil || !removed {
			t.Fatalf("RemoveAbandoned = %v, %v; want true, nil", removed, err)
		}
		if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("data directory still there: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		removed, err := RemoveAbandoned(t.Context(), filepath.Join(t.TempDir(), "none"), nil)
		if err != nil || removed {
			t.Fatalf("RemoveAbandoned = %v, %v; want false, nil", removed, err)
		}
	})
}

func TestStartValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no data dir", cfg: Config{}},
		{name: "negative port", cfg: Config{DataDir: t.TempDir(), Port: -1}},
		{name: "port too large", cfg: Config{DataDir: t.TempDir(), Port: 70000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := Start(t.Context(), tc.cfg); err == nil {
				s.Stop(context.Background())
				t.Fatal("Start accepted an invalid Config")
			}
		})
	}
}

// fakeBinDir makes a directory whose postgres prints versionLine (or fails
// when it is empty); initdb and pg_ctl are never run by pickBinaries.
func fakeBinDir(t *testing.T, versionLine string) binaries {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho '" + versionLine + "'\n"
	if versionLine == "" {
		script = "#!/bin/sh\necho broken >&2\nexit 1\n"
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	found, err := findBinaries([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return found[0]
}

func TestPickBinaries(t *testing.T) {
	broken := fakeBinDir(t, "")
	v16 := fakeBinDir(t, "postgres (PostgreSQL) 16.2")
	v15 := fakeBinDir(t, "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)")
	candidates := []binaries{broken, v16, v15}
	tests := []struct {
		name        string
		candidates  []binaries
		dataVersion string
		want        string // chosen dir; empty: an error
		wantInError []string
	}{
		{name: "new cluster takes the first that runs", candidates: candidates, want: v16.dir},
		{name: "existing cluster takes its major version", candidates: candidates, dataVersion: "15", want: v15.dir},
		{name: "no binaries of the cluster's version", candidates: candidates, dataVersion: "14",
			wantInError: []string{"PostgreSQL 14", "apt-get install -y postgresql-14", "pg_upgrade", v16.dir, v15.dir}},
		{name: "none runs", candidates: []binaries{broken}, wantInError: []string{broken.dir, "broken"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := pickBinaries(t.Context(), tc.candidates, nil, tc.dataVersion)
			if tc.want != "" {
				if err != nil || got.dir != tc.want {
					t.Fatalf("pickBinaries = %s, %v; want %s", got.dir, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("pickBinaries chose %s, want an error", got.dir)
			}
			for _, s := range tc.wantInError {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestSameMajor(t *testing.T) {
	tests := []struct {
		out, major string
		want       bool
	}{
		{"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "15", true},
		{"postgres (PostgreSQL) 15", "15", true},
		{"postgres (PostgreSQL) 16beta1", "16", true},
		{"postgres (PostgreSQL) 9.6.24", "9.6", true},
		{"postgres (PostgreSQL) 16.2", "15", false},
		{"postgres (PostgreSQL) 150.1", "15", false},
		{"postgres (PostgreSQL) 9.5.1", "9.6", false},
		{"something else 15.1", "15", false},
	}
	for _, tc := range tests {
		t.Run(tc.out+"/"+tc.major, func(t *testing.T) {
			if got := sameMajor(tc.out, tc.major); got != tc.want {
				t.Errorf("sameMajor(%q, %q) = %v, want %v", tc.out, tc.major, got, tc.want)
			}
		})
	}
}
