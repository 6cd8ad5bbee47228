package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on every Linux build Keyflow
// runs on).
const clockTick = 10 * time.Millisecond

// procStat reads a process's parent pid and user+system CPU time from /proc/<pid>/stat.
func procStat(pid int) (ppid int, cpu time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, time.Duration(ut+st) * clockTick, nil
}

// cpuSplit is the CPU time of a process and, apart, of all its descendants (for keyflow serve:
// its private PostgreSQL).
type cpuSplit struct {
	self, children time.Duration
}

func (c cpuSplit) sub(o cpuSplit) cpuSplit {
	return cpuSplit{self: c.self - o.self, children: c.children - o.children}
}

// cpuOf reads the CPU time of pid and of its live descendants.
func cpuOf(pid int) (cpuSplit, error) {
	_, self, err := procStat(pid)
	if err != nil {
		return cpuSplit{}, err
	}
	parents := map[int]int{}
	cpu := map[int]time.Duration{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pp, c, err := procStat(p)
		if err != nil {
			continue // exited meanwhile
		}
		parents[p], cpu[p] = pp, c
	}
	out := cpuSplit{self: self}
	for p, c := range cpu {
		for q := parents[p]; q > 1; q = parents[q] {
			if q == pid {
				out.children += c
				break
			}
		}
	}
	return out, nil
}

// perfRecorder records a CPU profile of a process with Linux perf (keyflow serve does not expose
// net/http/pprof): call graphs from frame pointers, which Go keeps on amd64 and arm64.
type perfRecorder struct {
	cmd  *exec.Cmd
	path string
}

// startPerf starts `perf record` on pid, writing to path; stop ends it.
func startPerf(pid int, path string) (*perfRecorder, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("perf is not installed (apt-get install linux-perf): %w", err)
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	return &perfRecorder{cmd: cmd, path: path}, nil
}

// stop ends the recording (SIGINT makes perf write its file) and waits for it.
func (r *perfRecorder) stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(60 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
		return fmt.Errorf("perf record did not stop within 60 s")
	}
}

// postmasterPID reads the pid of the private PostgreSQL of the serve process with data dir dataDir.
func postmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// perfBuckets attribute a sample to the first bucket (in this order) one of whose prefixes starts a
// function name anywhere in the sample's stack: the work (argon2id, GC, signatures, encodings,
// databases) before the subsystem that asked for it (Temporal, HTTP, Keyflow).
var perfBuckets = []struct {
	name     string
	prefixes []string
}{
	{"argon2id", []string{"golang.org/x/crypto/argon2."}},
	{"GC (background and assists)", []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcStart", "runtime.markroot"}},
	{"ECDSA / crypto", []string{"crypto/"}},
	{"SQLite (embedded Temporal's persistence)", []string{"modernc.org/sqlite"}},
	{"pgx (PostgreSQL client)", []string{"github.com/jackc/"}},
	{"goja (scripts)", []string{"github.com/dop251/goja"}},
	{"JSON", []string{"encoding/json.", "github.com/go-json-experiment/", "github.com/goccy/go-json", "github.com/bytedance/sonic"}},
	{"protobuf", []string{"google.golang.org/protobuf/", "github.com/gogo/protobuf/"}},
	{"Temporal server (other)", []string{"go.temporal.io/server/"}},
	{"Temporal SDK worker/client (other)", []string{"go.temporal.io/sdk/"}},
	{"gRPC (other)", []string{"google.golang.org/grpc"}},
	{"HTTP server, gin (other)", []string{"net/http.", "github.com/gin-gonic/"}},
	{"Keyflow (other)", []string{"github.com/keyflow/keyflow/"}},
	{"Go scheduler, syscalls, other runtime", []string{"runtime.", "syscall.", "internal/poll."}},
}

// bucketShare is one bucket's share of a profile's samples.
type bucketShare struct {
	name  string
	share float64
}

// summarisePerf reads a perf recording and returns each bucket's share of the samples, largest
// first (buckets under 0.5% are left out), and the number of samples.
func summarisePerf(path string) ([]bucketShare, int, error) {
	out, err := exec.Command("perf", "script", "-i", path, "-F", "comm,ip,sym").Output()
	if err != nil {
		return nil, 0, fmt.Errorf("perf script: %w", err)
	}
	shares, n := bucketPerfScript(string(out))
	if n == 0 {
		return nil, 0, errors.New("perf recording has no samples")
	}
	return shares, n, nil
}

// bucketPerfScript reads `perf script -F comm,ip,sym` output: per sample a header line (the
// command), then one indented "address function" line per frame, leaf first.
func bucketPerfScript(text string) ([]bucketShare, int) {
	counts := make([]int, len(perfBuckets)+1)
	samples := 0
	var stack []string
	flush := func() {
		if len(stack) == 0 {
			return
		}
		samples++
		counts[bucketOf(stack)]++
		stack = stack[:0]
	}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (line[0] != ' ' && line[0] != '\t') {
			flush()
			continue
		}
		fn := f[0]
		if len(f) > 1 {
			fn = f[1]
		}
		stack = append(stack, fn)
	}
	flush()
	var shares []bucketShare
	for i, c := range counts {
		name := "other"
		if i < len(perfBuckets) {
			name = perfBuckets[i].name
		}
		if s := float64(c) / float64(max(1, samples)); s >= 0.005 {
			shares = append(shares, bucketShare{name, s})
		}
	}
	slices.SortFunc(shares, func(a, b bucketShare) int { return cmp.Compare(b.share, a.share) })
	return shares, samples
}

// bucketOf is the index in perfBuckets of the first bucket matching a frame of stack, or
// len(perfBuckets) for none.
func bucketOf(stack []string) int {
	for i, bk := range perfBuckets {
		for _, fn := range stack {
			for _, p := range bk.prefixes {
				if strings.HasPrefix(fn, p) {
					return i
				}
			}
		}
	}
	return len(perfBuckets)
}
