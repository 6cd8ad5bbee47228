// Package slapdtest starts a private OpenLDAP server (Debian's slapd) for tests, the way
// store/pgserver starts PostgreSQL: a throwaway configuration and mdb database in a temporary
// directory, listening on a free loopback port, seeded with the test's own LDIF through ldapadd,
// and stopped when the test ends. It never touches a system slapd (port 389, /etc/ldap/slapd.d).
//
// The server's configuration loads the memberof overlay, so groupOfNames groups maintain
// memberOf on their members, and grants the read-only service account ReaderDN read access to
// everything but passwords. AdminDN is the rootdn (full access).
//
// slapd and ldapadd come from Debian's slapd and ldap-utils packages (scripts/deps.sh installs
// them). When they are missing the test fails with that remedy; it is never skipped.
package slapdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries the helper runs. slapd lives in /usr/sbin on Debian; ldapadd in /usr/bin.
const (
	SlapdPath   = "/usr/sbin/slapd"
	LDAPAddPath = "/usr/bin/ldapadd"
	moduleDir   = "/usr/lib/ldap"
	schemaDir   = "/etc/ldap/schema"
)

// startTimeout bounds waiting for slapd to accept connections.
const startTimeout = 30 * time.Second

// Config describes the directory to start.
type Config struct {
	// Suffix is the naming context; empty means "dc=example,dc=org".
	Suffix string
	// Seed is LDIF added (as AdminDN) once the server runs. It must create the suffix entry
	// itself. Empty adds nothing.
	Seed string
}

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:port.
	URL string
	// Suffix is the naming context.
	Suffix string
	// AdminDN and AdminPassword are the rootdn's credentials.
	AdminDN, AdminPassword string
	// ReaderDN ("cn=reader,<suffix>") may read everything but passwords. The seed creates the
	// entry, with a userPassword of its choosing, when a test wants a read-only service account.
	ReaderDN string

	dir  string
	port int
	t    testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *lockedBuffer
}

// Start starts slapd for the test and stops it in t.Cleanup.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	for _, bin := range []string{SlapdPath, LDAPAddPath} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("slapdtest: %s not found (%v): install Debian's slapd and ldap-utils packages "+
				"(apt-get install -y slapd ldap-utils, or scripts/deps.sh)", bin, err)
		}
	}
	if cfg.Suffix == "" {
		cfg.Suffix = "dc=example,dc=org"
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Suffix:        cfg.Suffix,
		AdminDN:       "cn=admin," + cfg.Suffix,
		AdminPassword: hex.EncodeToString(secret),
		ReaderDN:      "cn=reader," + cfg.Suffix,
		dir:           t.TempDir(),
		t:             t,
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "slapd.conf"), []byte(s.conf()), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s.port = port
	s.URL = "ldap://127.0.0.1:" + strconv.Itoa(port)
	t.Cleanup(s.Stop)
	s.Restart()
	if cfg.Seed != "" {
		s.Add(cfg.Seed)
	}
	return s
}

func (s *Server) conf() string {
	q := strconv.Quote
	var b strings.Builder
	for _, schema := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&b, "include %s\n", filepath.Join(schemaDir, schema+".schema"))
	}
	fmt.Fprintf(&b, "modulepath %s\nmoduleload back_mdb\nmoduleload memberof\n", moduleDir)
	fmt.Fprintf(&b, "pidfile %s\nargsfile %s\n", q(filepath.Join(s.dir, "slapd.pid")), q(filepath.Join(s.dir, "slapd.args")))
	fmt.Fprintf(&b, "database mdb\nmaxsize 33554432\nsuffix %s\nrootdn %s\nrootpw %s\ndirectory %s\n",
		q(s.Suffix), q(s.AdminDN), q(s.AdminPassword), q(filepath.Join(s.dir, "data")))
	b.WriteString("overlay memberof\n")
	fmt.Fprintf(&b, "access to attrs=userPassword by self write by anonymous auth by * none\n")
	fmt.Fprintf(&b, "access to * by dn.exact=%s read by self read by * none\n", q(s.ReaderDN))
	return b.String()
}

// Stop stops slapd (if running) and waits for it to exit. The data stays, so Restart brings the
// same directory back on the same port.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // in case Pause stopped it
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Pause freezes slapd (SIGSTOP): connections are still accepted by the kernel but nothing
// answers, the way a hung directory behaves. Resume (or Stop) undoes it. The signal takes effect
// asynchronously, thread by thread (a busy worker thread can still answer a request that
// arrives meanwhile), so Pause returns only once every thread of slapd is stopped.
func (s *Server) Pause() {
	s.t.Helper()
	s.signal(syscall.SIGSTOP)
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			s.t.Fatal("slapdtest: slapd did not stop within 10 s of SIGSTOP")
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every thread of process pid is in the stopped state (Linux
// /proc/<pid>/task/<tid>/stat: state T).
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses and may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Resume undoes Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("slapdtest: slapd is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("slapdtest: signal %v: %v", sig, err)
	}
}

// Restart starts slapd again after Stop (Start calls it the first time). It fails the test when
// slapd does not accept connections within a time limit.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	// -d 0 keeps slapd in the foreground, so it is this process's child and dies with the test.
	out := &lockedBuffer{}
	cmd := exec.Command(SlapdPath, "-d", "0", "-h", s.URL+"/", "-f", filepath.Join(s.dir, "slapd.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("slapdtest: start %s: %v", SlapdPath, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		exited := false
		select {
		case <-done:
			exited = true
		default:
		}
		if exited || time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			s.t.Fatalf("slapdtest: slapd did not start on %s: %v\n%s", s.URL, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd, s.done, s.out = cmd, done, out
}

// Add adds LDIF entries as AdminDN through ldapadd, failing the test on any error.
func (s *Server) Add(ldif string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, LDAPAddPath, "-x", "-H", s.URL, "-D", s.AdminDN, "-y", s.passwordFile())
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("slapdtest: ldapadd: %v\n%s", err, out)
	}
}

// passwordFile writes the admin password where ldapadd -y reads it (not on its command line).
func (s *Server) passwordFile() string {
	path := filepath.Join(s.dir, "admin.password")
	if err := os.WriteFile(path, []byte(s.AdminPassword), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// Log returns what slapd wrote so far, for failure messages.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("slapdtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects slapd's output; exec writes it from another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
