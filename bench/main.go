package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

// result is one measured figure.
type result struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target float64 `json:"target,omitempty"`
	// Higher says whether a larger value is better (throughput) or worse (latency, memory).
	Higher bool  `json:"higher_is_better,omitempty"`
	Met    *bool `json:"met,omitempty"`
	// Limit is the best value this machine allows (measured in the same run), Fraction how close
	// Value comes to it: Value/Limit for throughput, Limit/Value for latency; 1 is the limit.
	Limit    float64 `json:"limit,omitempty"`
	Fraction float64 `json:"fraction_of_limit,omitempty"`
	Note     string  `json:"note,omitempty"`
}

func main() {
	bin := flag.String("keyflow", "bin/keyflow", "path to the keyflow binary")
	var o options
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "how long serve idles before its memory is read")
	flag.DurationVar(&o.single, "login-1", 10*time.Second, "how long one client logs in, one login after another")
	flag.DurationVar(&o.concurrent, "login-n", 15*time.Second, "how long the concurrent clients log in")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients (each login client logs in as its own user)")
	flag.DurationVar(&o.fast, "fast", 5*time.Second, "how long each fast path (discovery, JWKS, client credentials, introspection) is loaded")
	flag.DurationVar(&o.script, "script", 20*time.Second, "how long one client logs in through the applications with and without a script (together)")
	flag.StringVar(&o.peerDir, "peer", "bench/peer", "directory of the oidc-provider peer (npm ci done); empty: no peer")
	flag.IntVar(&o.scimUsers, "scim-users", 100000, "users seeded over SCIM Bulk before the filter is measured; 0: no SCIM figures")
	flag.IntVar(&o.scimConc, "scim-conc", 4, "SCIM Bulk requests in flight while seeding")
	flag.DurationVar(&o.scimBudget, "scim-budget", 3*time.Minute, "stop SCIM Bulk seeding after this long")
	flag.BoolVar(&o.scimTopUp, "scim-topup", true, "after -scim-budget, create the remaining users through package store so the filter runs at -scim-users")
	flag.DurationVar(&o.scimQuery, "scim-query", 10*time.Second, "how long one client queries the SCIM userName filter")
	flag.IntVar(&o.totpUsers, "totp-users", 600, "users enrolled in TOTP for the password + TOTP logins (each logs in once per 30 s); 0: skip")
	flag.IntVar(&o.open, "open-logins", 1000, "logins started and left open to measure memory per open login; 0: skip")
	flag.StringVar(&o.perfOut, "perf", "", "write a perf CPU profile of keyflow serve during the concurrent logins to this file")
	flag.Parse()
	if err := run(*bin, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the durations and sizes of a run.
type options struct {
	idle, single, concurrent, fast, script time.Duration
	clients                                int
	peerDir                                string
	scimUsers, scimConc                    int
	scimBudget, scimQuery                  time.Duration
	scimTopUp                              bool
	open                                   int
	perfOut                                string
	// totpUsers are the users of the password + TOTP logins (0: not measured).
	totpUsers int
	// pprofAddr is serve's profiling listener (set by run).
	pprofAddr string
}

func run(bin string, o options, out io.Writer) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "keyflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Both starts listen on the same address: the demo client's redirect URI is registered from
	// the base URL of the first start.
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	pport, err := freePort()
	if err != nil {
		return err
	}
	// The profiling listener lets the memory figure force a GC before reading the heap.
	o.pprofAddr = "127.0.0.1:" + strconv.Itoa(pport)
	var results []result
	first, err := startServe(bin, dir, addr, o.pprofAddr)
	if err != nil {
		return fmt.Errorf("first start: %w", err)
	}
	results = append(results, target(result{Name: "cold start to ready (first start, initdb)", Value: first.ready.Seconds(), Unit: "s", Target: 5}))
	if err := first.stop(); err != nil {
		return err
	}

	again, err := startServe(bin, dir, addr, o.pprofAddr)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	defer again.stop()
	results = append(results, target(result{Name: "start to ready (restart)", Value: again.ready.Seconds(), Unit: "s", Target: 5}))
	time.Sleep(o.idle)
	rss, err := rssMB(again.cmd.Process.Pid)
	if err != nil {
		return err
	}
	results = append(results, target(result{Name: "idle RSS of keyflow serve (without PostgreSQL)", Value: rss, Unit: "MB", Target: 350}))

	figures, notes, err := measure(again.base, dir, again.cmd.Process.Pid, o)
	notes = append(notes, "keyflow serve runs with --rate-limit 0: every bench client comes from 127.0.0.1")
	results = append(results, figures...)
	if n, first := again.errorsLogged(); n > 0 {
		notes = append(notes, fmt.Sprintf("keyflow serve logged %d errors during the run; the first: %.600s", n, first))
	}
	if err != nil {
		// What was measured before the failure is still printed.
		report(out, results, append(notes, "run failed: "+err.Error()))
		return err
	}
	report(out, results, notes)
	return nil
}

type serveProc struct {
	cmd    *exec.Cmd
	base   string
	ready  time.Duration
	stderr *lockedBuilder
}

// lockedBuilder collects the serve process's log (warnings and errors only).
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// errorsLogged counts the serve process's ERROR log lines and returns the first.
func (p *serveProc) errorsLogged() (int, string) {
	n, first := 0, ""
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
			if n == 0 {
				first = line
			}
			n++
		}
	}
	return n, first
}

// startServe starts `keyflow serve` on addr and waits until /readyz answers 200.
func startServe(bin, dataDir, addr, pprofAddr string) (*serveProc, error) {
	// --rate-limit 0: the bench drives every client from 127.0.0.1 at tens of logins a second,
	// far above the per-client rate limits a real deployment wants; it measures throughput, not
	// the limiter (a map lookup per request, negligible next to argon2id).
	cmd := exec.Command(bin, "serve", "--http-addr", addr, "--data-dir", dataDir, "--log-level", "warn",
		"--pprof-addr", pprofAddr, "--rate-limit", "0")
	cmd.Env = append(os.Environ(), "KEYFLOW_ADMIN_PASSWORD=bench-admin-password")
	cmd.Stdout = io.Discard
	stderr := &lockedBuilder{}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serveProc{cmd: cmd, base: "http://" + addr, stderr: stderr}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		if ctx.Err() != nil {
			_ = p.stop()
			return nil, fmt.Errorf("not ready within 2 minutes: %s", stderr.String())
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ready = time.Since(start)
				return p, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits, so the private PostgreSQL is stopped too.
func (p *serveProc) stop() error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("keyflow serve did not stop within 30 s of SIGTERM")
	}
}

func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func target(r result) result {
	if r.Target != 0 {
		met := r.Value <= r.Target
		if r.Higher {
			met = r.Value >= r.Target
		}
		r.Met = &met
	}
	return r
}

// report prints the table, the notes and the JSON summary line.
func report(out io.Writer, results []result, notes []string) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tmet\tlimit\tof limit")
	for _, r := range results {
		tgt, met := "-", "-"
		if r.Met != nil {
			op := "≤"
			if r.Higher {
				op = "≥"
			}
			tgt = fmt.Sprintf("%s %g %s", op, r.Target, r.Unit)
			met = map[bool]string{true: "yes", false: "NO"}[*r.Met]
		}
		limit, frac := "-", "-"
		if r.Limit != 0 {
			limit = fmt.Sprintf("%.3g %s", r.Limit, r.Unit)
			frac = fmt.Sprintf("%.2f", r.Fraction)
		}
		if r.Note != "" {
			met += " *"
		}
		fmt.Fprintf(tw, "%s\t%.3g %s\t%s\t%s\t%s\t%s\n", r.Name, r.Value, r.Unit, tgt, met, limit, frac)
	}
	tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(out, "* %s: %s\n", r.Name, r.Note)
		}
	}
	for _, n := range notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	line, _ := json.Marshal(map[string]any{"keyflow_bench": results, "notes": notes})
	fmt.Fprintln(out, string(line))
}
