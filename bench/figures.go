package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Targets of issue 4 ("make bench"): full code + PKCE logins through the app-native API with an
// argon2id password step.
const (
	targetP50Single  = 40  // ms, 1 client
	targetP99Single  = 100 // ms, 1 client
	targetRateLoaded = 40  // logins/s, 16 clients
)

// session is one run against one `keyflow serve`: what later phases need from earlier ones.
type session struct {
	base    string
	dataDir string
	pid     int
	o       options
	lim     limits
	cpus    int
	users   []string
	pw      string
	admin   admin
	cc      *clientSecret // nil when the application management API refused the admin
	results []result
	notes   []string
	// Keyflow's figures the peer's are compared with.
	ccRate     float64
	loginRates map[int]float64 // by concurrent clients
	cpuLogin   cpuSplit        // CPU per login at o.clients
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *session) add(rs ...result)       { s.results = append(s.results, rs...) }
func (s *session) note(n ...string)       { s.notes = append(s.notes, n...) }
func (s *session) floors() (a, t float64) { return ms(s.lim.argon2), 2 * ms(s.lim.es256) }

// measure runs every phase after start-up against the serve process at base (pid).
func measure(base, dataDir string, pid int, o options) ([]result, []string, error) {
	ctx := context.Background()
	s := &session{base: base, dataDir: dataDir, pid: pid, o: o, cpus: runtime.NumCPU(), loginRates: map[int]float64{},
		admin: admin{base: base, hc: newHTTP(2)}}
	if err := s.limits(); err != nil {
		return nil, nil, err
	}
	s.pw = "Bench-" + rand.Text()
	users, err := newLoginClient(base, o.clients).createUsers(ctx, o.clients, s.pw)
	if err != nil {
		return nil, nil, err
	}
	s.users = users
	id, secret, err := s.admin.confidentialClient(ctx)
	switch {
	case errors.Is(err, errNoManagementAuth):
		s.note("the application management API refused HTTP Basic for the admin: client credentials, introspection " +
			"and script decision overhead need api/bearer's Basic admin auth, and no client can get the " +
			"internal_application_mgt_* scopes over HTTP otherwise")
	case err != nil:
		s.note(fmt.Sprintf("no confidential client, so no client-credentials, introspection or script figures: %v", err))
	default:
		s.cc = &clientSecret{id: id, secret: secret}
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"logins", s.keyflowLogins},
		{"password + TOTP logins", s.totpLoginsIfAsked},
		{"script decision overhead", s.scriptOverhead},
		{"protocol endpoints", s.protocol},
		{"peer", s.peer},
		{"SCIM", s.scim},
		{"memory per open login", s.openLogins},
	}
	for _, st := range steps {
		err := st.run(ctx)
		if err != nil && st.name == "script decision overhead" {
			// Optional: it needs two applications created over the management API.
			s.note("script decision overhead not measured: " + err.Error())
			continue
		}
		if err != nil {
			return s.results, s.notes, fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return s.results, s.notes, nil
}

func (s *session) limits() error {
	lim, err := measureLimits()
	if err != nil {
		return err
	}
	s.lim = lim
	s.add(result{Name: "limit: argon2id hash, OWASP m=19 MiB t=2 p=1 (CPU time, 1 core)", Value: ms(lim.argon2), Unit: "ms"},
		result{Name: "limit: ES256 JWS signature (CPU time, 1 core)", Value: ms(lim.es256), Unit: "ms"})
	// A login's CPU floor: one argon2id check (authn) and two signatures (JWT access token and ID
	// token at the token endpoint). Everything else (HTTP, Temporal, PostgreSQL) is above it.
	fa, ft := s.floors()
	floor := fa + ft
	s.note(fmt.Sprintf("limits: %d CPUs; a login's floor is 1 argon2id (%.1f ms) + 2 ES256 (%.2f ms) = %.1f ms of CPU, "+
		"so at most %.1f logins/s on 1 client and %.1f logins/s on all CPUs; of limit = value/limit "+
		"for rates and limit/value for latencies (1 = at the limit); latency limits at c clients are "+
		"scaled by max(1, c/CPUs)", s.cpus, fa, ft, floor, 1000/floor, float64(s.cpus)*1000/floor))
	return nil
}

// totpLoginsIfAsked runs totpLogins unless -totp-users is 0.
func (s *session) totpLoginsIfAsked(ctx context.Context) error {
	if s.o.totpUsers <= 0 {
		s.note("password + TOTP logins not measured (-totp-users 0)")
		return nil
	}
	return s.totpLogins(ctx)
}

// keyflowLogins runs the app-native login phases (1 client, then o.clients) against the demo
// application, with the CPU time per login of keyflow serve and of its PostgreSQL, and a perf
// profile of the concurrent phase when asked for.
func (s *session) keyflowLogins(ctx context.Context) error {
	client := newLoginClient(s.base, s.o.clients)
	// Warm up connections, caches and the worker before anything is timed.
	if _, err := runLogins(ctx, client.login, 1, time.Second, s.users, s.pw); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fa, ft := s.floors()
	for _, phase := range []struct {
		clients int
		d       time.Duration
	}{{1, s.o.single}, {s.o.clients, s.o.concurrent}} {
		var perf *perfRecorder
		if phase.clients > 1 {
			perf = s.startPerf("logins")
		}
		m0, err := scrape(ctx, s.admin.hc, s.base)
		if err != nil {
			return err
		}
		cpu0, err := s.cpu()
		if err != nil {
			return err
		}
		res, err := runLogins(ctx, client.login, phase.clients, phase.d, s.users, s.pw)
		if err != nil {
			return fmt.Errorf("%d clients: %w", phase.clients, err)
		}
		cpu1, err := s.cpu()
		if err != nil {
			return err
		}
		m1, err := scrape(ctx, s.admin.hc, s.base)
		if err != nil {
			return err
		}
		s.stopPerf(perf, fmt.Sprintf("the %d-client logins", phase.clients))
		if phase.clients == s.o.clients && len(res.times) > 0 {
			s.temporalPerLogin(m0, m1, len(res.times), phase.clients)
		}
		s.add(phaseFigures(res, s.cpus, fa, ft)...)
		s.loginRates[phase.clients] = res.rate()
		if phase.clients == s.o.clients && len(res.times) > 0 {
			d := cpu1.sub(cpu0)
			n := time.Duration(len(res.times))
			s.cpuLogin = cpuSplit{self: d.self / n, children: d.children / n}
			s.add(result{Name: fmt.Sprintf("CPU cores used by keyflow serve + PostgreSQL during the %d-client logins", phase.clients),
				Value: (d.self + d.children).Seconds() / res.elapsed.Seconds(), Unit: "cores",
				Note: "below the machine's cores: the rest went to other processes or the login waited (Temporal, PostgreSQL, I/O)"})
			s.add(result{Name: fmt.Sprintf("CPU per login, keyflow serve incl. embedded Temporal (%d clients)", phase.clients),
				Value: ms(s.cpuLogin.self), Unit: "ms", Limit: fa + ft, Fraction: (fa + ft) / ms(s.cpuLogin.self)},
				result{Name: fmt.Sprintf("CPU per login, its PostgreSQL (%d clients)", phase.clients),
					Value: ms(s.cpuLogin.children), Unit: "ms"})
		}
	}
	return nil
}

// temporalPerLogin reports, from the SDK's metrics on /metrics, the Temporal work per login:
// client requests (each a gRPC round trip to the server), workflow tasks and activities.
func (s *session) temporalPerLogin(m0, m1 metrics, n, clients int) {
	suffix := fmt.Sprintf(" per login (%d clients)", clients)
	for _, c := range []struct{ name, metric, label string }{
		{"Temporal client requests", "temporal_request", "operation"},
		{"Temporal long polls answered", "temporal_long_request", "operation"},
		{"Temporal workflow tasks", "temporal_workflow_task_execution_latency_count", "workflow_type"},
		{"Temporal activities", "temporal_activity_execution_latency_count", "activity_type"},
		{"Temporal local activities", "temporal_local_activity_execution_latency_count", "activity_type"},
	} {
		parts, total := perOp(m0, m1, c.metric, c.label, n)
		if total == 0 && c.metric == "temporal_local_activity_execution_latency_count" {
			continue
		}
		s.add(result{Name: c.name + suffix, Value: total, Unit: "", Note: strings.Join(parts, ", ")})
	}
	gc0, gc1 := m0.by("go_gc_duration_seconds_count", "")[""], m1.by("go_gc_duration_seconds_count", "")[""]
	s.add(result{Name: "Go GC cycles of keyflow serve" + suffix, Value: (gc1 - gc0) / float64(n), Unit: "",
		Note: "each argon2id check allocates its 19 MiB of blocks afresh (golang.org/x/crypto/argon2), which paces the GC"})
}

// scriptOverhead compares one client's logins through two applications that differ only by an
// adaptive script (created over the application management API).
func (s *session) scriptOverhead(ctx context.Context) error {
	if s.cc == nil || s.o.script <= 0 {
		return nil
	}
	redirect := s.base + benchRedirectPath
	plain, err := s.admin.nativeApp(ctx, "bench app-native", redirect, "")
	if err != nil {
		return fmt.Errorf("application without script: %w", err)
	}
	scripted, err := s.admin.nativeApp(ctx, "bench app-native scripted", redirect, scriptPassword)
	if err != nil {
		return fmt.Errorf("application with script: %w", err)
	}
	p50 := map[string]float64{}
	p99 := map[string]float64{}
	cpu := map[string]time.Duration{}
	logins := map[string]int{}
	for _, id := range []string{plain, scripted, plain, scripted} {
		c := newLoginClient(s.base, 1)
		c.clientID = id
		cpu0, err := s.cpu()
		if err != nil {
			return err
		}
		res, err := runLogins(ctx, c.login, 1, s.o.script/4, s.users, s.pw)
		if err != nil {
			return fmt.Errorf("client %s: %w", id, err)
		}
		cpu1, err := s.cpu()
		if err != nil {
			return err
		}
		cpu[id] += cpu1.sub(cpu0).self
		logins[id] += len(res.times)
		// Two alternating rounds each: the better p50 of each application, so drift of the
		// machine's load does not land on one side.
		if v := res.percentile(50, func(t loginTimes) time.Duration { return t.total }); p50[id] == 0 || v < p50[id] {
			p50[id] = v
			p99[id] = res.percentile(99, func(t loginTimes) time.Duration { return t.total })
		}
	}
	perLogin := func(id string) float64 { return ms(cpu[id]) / float64(max(1, logins[id])) }
	s.add(result{Name: "script decision overhead: CPU per login with − without an adaptive script (keyflow serve)",
		Value: perLogin(scripted) - perLogin(plain), Unit: "ms",
		Note: fmt.Sprintf("%.1f vs %.1f ms over %d and %d logins; the script runs onLoginRequest and the step's onSuccess",
			perLogin(scripted), perLogin(plain), logins[scripted], logins[plain])},
		result{Name: "script decision overhead: login p50 with − without an adaptive script (1 client)",
			Value: p50[scripted] - p50[plain], Unit: "ms",
			Note: fmt.Sprintf("p50 %.1f vs %.1f ms, p99 %.1f vs %.1f ms (better round of two each)",
				p50[scripted], p50[plain], p99[scripted], p99[plain])})
	return nil
}

func (s *session) protocol(ctx context.Context) error {
	perf := s.startPerf("fast-paths")
	rs, notes, ccRate, err := protocolFigures(ctx, s.base, s.o, s.cc)
	s.stopPerf(perf, "discovery, JWKS, client credentials and introspection")
	if err != nil {
		return err
	}
	s.add(rs...)
	s.note(notes...)
	s.ccRate = ccRate
	return nil
}

// peer runs the same client-credentials and login loads against oidc-provider and prints the
// Keyflow/peer ratios.
func (s *session) peer(ctx context.Context) error {
	if s.o.peerDir == "" {
		return nil
	}
	p, err := startPeer(s.o.peerDir, s.o.clients, s.pw)
	if err != nil {
		return err
	}
	defer p.stop()
	s.note("peer: panva's oidc-provider (bench/peer) on Node " + nodeVersion() + ", in-memory state, one process; " +
		"its login is the browser redirect flow (GET /auth → login page → form POST → /auth/{uid} → code; " +
		"consent established on login) while Keyflow's is the app-native API (POST authorize → POST authn → code); " +
		"both end with the code + PKCE exchange, ES256 ID and JWT access tokens, and one argon2id check with the same parameters")

	if p.argon2 > 0 {
		s.add(result{Name: "limit: argon2id check in the peer, @node-rs/argon2, same parameters (CPU time, 1 core)",
			Value: ms(p.argon2), Unit: "ms",
			Note: fmt.Sprintf("Go's golang.org/x/crypto/argon2 (connectors/password): %.1f ms", ms(s.lim.argon2))})
	}
	res, err := ccLoad(ctx, s.o.clients, s.o.fast, p.base+"/token", peerCCClient, p.ccSecret)
	if err != nil {
		return fmt.Errorf("client credentials: %w", err)
	}
	s.add(rateFigures("peer: client-credentials JWT issuance", res, 0, "")...)
	if s.ccRate > 0 {
		s.add(ratio(fmt.Sprintf("ratio Keyflow/peer: client credentials/s (%d clients)", s.o.clients), s.ccRate, res.rate()))
	}

	client := newPeerClient(p.base, s.o.clients)
	if _, err := runLogins(ctx, client.login, 1, time.Second, s.users, s.pw); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, phase := range []struct {
		clients int
		d       time.Duration
	}{{1, s.o.single}, {s.o.clients, s.o.concurrent}} {
		cpu0, err := cpuOf(p.pid())
		if err != nil {
			return err
		}
		res, err := runLogins(ctx, client.login, phase.clients, phase.d, s.users, s.pw)
		if err != nil {
			return fmt.Errorf("%d clients: %w", phase.clients, err)
		}
		cpu1, err := cpuOf(p.pid())
		if err != nil {
			return err
		}
		suffix := fmt.Sprintf(" (%d clients)", phase.clients)
		if phase.clients == 1 {
			suffix = " (1 client)"
		}
		total := func(t loginTimes) time.Duration { return t.total }
		s.add(result{Name: "peer: full logins/s" + suffix, Value: res.rate(), Unit: "logins/s"},
			result{Name: "peer: login p50" + suffix, Value: res.percentile(50, total), Unit: "ms"},
			result{Name: "peer: login p99" + suffix, Value: res.percentile(99, total), Unit: "ms"})
		if res.failures > 0 {
			s.results[len(s.results)-3].Note = fmt.Sprintf("%d failed, first: %v", res.failures, res.firstErr)
		}
		if phase.clients == s.o.clients && len(res.times) > 0 {
			d := cpu1.sub(cpu0).self
			s.add(result{Name: "peer: CPU per login, node" + suffix,
				Value: ms(d / time.Duration(len(res.times))), Unit: "ms"},
				result{Name: "peer: CPU cores used by node during the logins" + suffix,
					Value: d.Seconds() / res.elapsed.Seconds(), Unit: "cores"})
			if s.cpuLogin.self > 0 {
				s.add(result{Name: "ratio peer/Keyflow: CPU per login" + suffix,
					Value: ms(d/time.Duration(len(res.times))) / ms(s.cpuLogin.self+s.cpuLogin.children), Unit: "×",
					Note: "Keyflow's counts keyflow serve (with the embedded Temporal) and its PostgreSQL"})
			}
		}
		if k := s.loginRates[phase.clients]; k > 0 {
			s.add(ratio("ratio Keyflow/peer: full logins/s"+suffix, k, res.rate()))
		}
	}
	return nil
}

// ratio is Keyflow's rate over the peer's; the long-term goal (issue 7) is ≥ 1.
func ratio(name string, keyflow, peer float64) result {
	r := result{Name: name, Unit: "×", Target: 1, Higher: true}
	if peer > 0 {
		r.Value = keyflow / peer
	}
	return target(r)
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// scim seeds o.scimUsers users over SCIM Bulk (with the CPU per user and, when asked for, a perf
// profile) and measures the userName filter at that size.
func (s *session) scim(ctx context.Context) error {
	if s.o.scimUsers <= 0 {
		return nil
	}
	perf := s.startPerf("scim-bulk")
	cpu0, err := s.cpu()
	if err != nil {
		return err
	}
	seed := seedSCIM(ctx, s.base, s.o.scimUsers, s.o.scimConc, s.o.scimBudget)
	cpu1, err := s.cpu()
	if err != nil {
		return err
	}
	s.stopPerf(perf, "SCIM Bulk seeding")
	rs, notes, err := scimFigures(ctx, s.base, s.dataDir, s.o, s.lim, seed)
	if len(rs) > 0 && seed.created > 0 {
		d, n := cpu1.sub(cpu0), time.Duration(seed.created)
		rs = append(rs[:2:2], append([]result{
			{Name: "CPU per SCIM user created, keyflow serve", Value: ms(d.self / n), Unit: "ms"},
			{Name: "CPU per SCIM user created, its PostgreSQL", Value: ms(d.children / n), Unit: "ms"},
		}, rs[2:]...)...)
	}
	s.add(rs...)
	s.note(notes...)
	return err
}

// cpu is the CPU time so far of keyflow serve (self) and of its private PostgreSQL (children:
// the postmaster, which pgserver starts detached, and its backends).
func (s *session) cpu() (cpuSplit, error) {
	kf, err := cpuOf(s.pid)
	if err != nil {
		return cpuSplit{}, err
	}
	// Only the process itself: PostgreSQL is counted apart, whoever its parent is.
	out := cpuSplit{self: kf.self}
	if pg, err := postmasterPID(s.dataDir); err == nil {
		if c, err := cpuOf(pg); err == nil {
			out.children = c.self + c.children
		}
	}
	return out, nil
}

// startPerf starts a perf profile of keyflow serve named <-perf>-<name>.data, if -perf is set.
func (s *session) startPerf(name string) *perfRecorder {
	if s.o.perfOut == "" {
		return nil
	}
	r, err := startPerf(s.pid, s.o.perfOut+"-"+name+".data")
	if err != nil {
		s.note("no CPU profile: " + err.Error())
		return nil
	}
	return r
}

func (s *session) stopPerf(r *perfRecorder, during string) {
	if r == nil {
		return
	}
	if err := r.stop(); err != nil {
		s.note("CPU profile: " + err.Error())
		return
	}
	shares, n, err := summarisePerf(r.path)
	if err != nil {
		s.note(fmt.Sprintf("CPU profile of keyflow serve during %s: %s (%v)", during, r.path, err))
		return
	}
	parts := make([]string, len(shares))
	for i, b := range shares {
		parts[i] = fmt.Sprintf("%s %.1f%%", b.name, 100*b.share)
	}
	s.note(fmt.Sprintf("CPU profile of keyflow serve during %s (%d samples; perf report -i %s --no-children): %s",
		during, n, r.path, strings.Join(parts, ", ")))
}

// openLogins starts o.open logins that stop at their first step and reads how much the serve
// process (with its embedded Temporal) grew per open login.
func (s *session) openLogins(ctx context.Context) error {
	if s.o.open <= 0 {
		return nil
	}
	before, err := s.heap(ctx)
	if err != nil {
		return err
	}
	client := newLoginClient(s.base, s.o.clients)
	var next, failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range s.o.clients {
		wg.Go(func() {
			for next.Add(1) <= int64(s.o.open) {
				if _, _, err := client.authorize(ctx, rand.Text()); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > int64(s.o.open)/10 {
		return fmt.Errorf("%d of %d logins did not start, first: %v", n, s.o.open, first.Load())
	}
	after, err := s.heap(ctx)
	if err != nil {
		return err
	}
	s.add(result{Name: fmt.Sprintf("memory per open login (Go heap in use, over %d logins waiting at their first step)", s.o.open),
		Value: (after.heap - before.heap) / 1024 / float64(s.o.open), Unit: "KB",
		Note: fmt.Sprintf("go_memstats_heap_inuse_bytes of keyflow serve (with its embedded Temporal), the lowest of 10 "+
			"readings after a forced GC, before and after; RSS grew %.1f MB; Temporal's sticky cache holds %.0f workflows (it was %.0f)",
			after.rss-before.rss, after.sticky, before.sticky)})
	return nil
}

// heapReading is the serve process's memory as /metrics and /proc show it.
type heapReading struct{ heap, rss, sticky float64 }

// heap reads the lowest Go heap in use of 10 readings 200 ms apart, each after a forced GC
// (serve's /debug/pprof/heap?gc=1: with GOGC=400 the heap otherwise holds much garbage), the RSS
// and the size of Temporal's sticky workflow cache.
func (s *session) heap(ctx context.Context) (heapReading, error) {
	var out heapReading
	for i := range 10 {
		if _, err := request(ctx, s.admin.hc, http.MethodGet, "http://"+s.o.pprofAddr+"/debug/pprof/heap?gc=1", "", "",
			http.StatusOK, nil); err != nil {
			return out, fmt.Errorf("forced GC: %w", err)
		}
		m, err := scrape(ctx, s.admin.hc, s.base)
		if err != nil {
			return out, err
		}
		h := m["go_memstats_heap_inuse_bytes"]
		if i == 0 || h < out.heap {
			out.heap = h
		}
		out.sticky = m.by("temporal_sticky_cache_size", "")[""]
		time.Sleep(200 * time.Millisecond)
	}
	var err error
	out.rss, err = rssMB(s.pid)
	return out, err
}

// phaseFigures turns one phase into results with targets and limits.
func phaseFigures(res loadResult, cpus int, floorAuthn, floorToken float64) []result {
	floor := floorAuthn + floorToken
	c := res.clients
	queue := max(1, float64(c)/float64(cpus)) // logins sharing one CPU at saturation
	rateLimit := min(float64(c), float64(cpus)) * 1000 / floor
	suffix := fmt.Sprintf(" (%d client", c)
	if c > 1 {
		suffix += "s"
	}
	suffix += ")"

	rate := result{Name: "full logins/s" + suffix, Value: res.rate(), Unit: "logins/s", Higher: true, Limit: rateLimit}
	rate.Fraction = rate.Value / rate.Limit
	if c == 16 {
		rate.Target = targetRateLoaded
	}
	out := []result{target(rate)}

	type step struct {
		name  string
		pick  func(loginTimes) time.Duration
		floor float64
	}
	steps := []step{
		{"login", func(t loginTimes) time.Duration { return t.total }, floor},
		{"step authorize", func(t loginTimes) time.Duration { return t.authorize }, 0},
		{"step authn (argon2id)", func(t loginTimes) time.Duration { return t.authn }, floorAuthn},
		{"step token", func(t loginTimes) time.Duration { return t.token }, floorToken},
	}
	for _, s := range steps {
		for _, p := range []float64{50, 99} {
			r := result{Name: fmt.Sprintf("%s p%g%s", s.name, p, suffix), Value: res.percentile(p, s.pick), Unit: "ms"}
			if s.floor != 0 && r.Value > 0 {
				r.Limit = s.floor * queue
				r.Fraction = r.Limit / r.Value
			}
			if s.name == "login" && c == 1 {
				r.Target = map[float64]float64{50: targetP50Single, 99: targetP99Single}[p]
				r.Note = fmt.Sprintf("argon2id alone (OWASP parameters) takes %.1f ms on this machine, %.0f%% of the %g ms target",
					floorAuthn, 100*floorAuthn/r.Target, r.Target)
				if floorAuthn > r.Target {
					r.Note += ": the target cannot be met with these parameters here"
				}
			}
			out = append(out, target(r))
		}
	}
	n := result{Name: "logins completed" + suffix, Value: float64(len(res.times)), Unit: "logins"}
	if res.failures > 0 {
		n.Note = fmt.Sprintf("%d failed, first: %v", res.failures, res.firstErr)
	}
	return append(out, n)
}
