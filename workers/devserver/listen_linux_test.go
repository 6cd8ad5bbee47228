package devserver_test

import (
	"bufio"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/workers/devserver"
)

// TestListensOnLoopbackOnly checks, through /proc, that every TCP socket this
// process listens on while a default server runs is bound to loopback.
func TestListensOnLoopbackOnly(t *testing.T) {
	start(t, devserver.Config{DataDir: t.TempDir()})

	addrs := ownListeners(t)
	// frontend, history, matching, worker
	if len(addrs) < 4 {
		t.Fatalf("found %d listening sockets (%v), want at least 4", len(addrs), addrs)
	}
	for _, a := range addrs {
		if !a.IsLoopback() {
			t.Errorf("listening on non-loopback address %s", a)
		}
	}
}

// ownListeners returns the local addresses of the TCP sockets in LISTEN state
// that belong to this process.
func ownListeners(t *testing.T) []net.IP {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}

	var addrs []net.IP
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			t.Fatalf("open %s: %v", table, err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			const listen = "0A"
			if len(fields) < 10 || fields[3] != listen || !inodes[fields[9]] {
				continue
			}
			hexIP, _, _ := strings.Cut(fields[1], ":")
			addrs = append(addrs, procIP(t, hexIP))
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		_ = f.Close()
	}
	return addrs
}

// procIP decodes /proc/net/tcp's address: 32-bit words in host (little-endian) order.
func procIP(t *testing.T, s string) net.IP {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		t.Fatalf("bad /proc address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b)
}
