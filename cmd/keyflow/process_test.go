package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/store/pgserver"
	"github.com/keyflow/keyflow/workers/devserver"
)

// These tests run the real binary as separate processes, the way it is deployed.

// keyflowBinary compiles keyflow once per test binary run, with the test's own -race setting so
// the build cache is shared (a second build of the Temporal server takes minutes).
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func keyflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyflow-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "keyflow")
		args := []string{"build", "-o", buildOnce.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// proc is a keyflow subprocess with its output captured.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder
	done   chan struct{}
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startProcOn(t, env, freeTCPPort(t), args...)
}

// startProcOn is startProc listening on the given port of 127.0.0.1, for a process whose
// --base-url must name its port.
func startProcOn(t *testing.T, env []string, port int, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	args = append(args, "--http-addr", p.addr, "--log-format", "json")
	p.cmd = exec.Command(keyflowBinary(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	outPipe, _ := p.cmd.StdoutPipe()
	errPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range []struct {
		r io.Reader
		b *strings.Builder
	}{{outPipe, &p.stdout}, {errPipe, &p.stderr}} {
		wg.Go(func() {
			sc := bufio.NewScanner(s.r)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				p.mu.Lock()
				s.b.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s stderr:\n%s", args[0], p.output(true))
		}
	})
	return p
}

func (p *proc) output(stderr bool) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if stderr {
		return p.stderr.String()
	}
	return p.stdout.String()
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// ready polls GET path until it answers 200 and returns the decoded /readyz body.
func (p *proc) ready(path string, within time.Duration) readyBody {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("process exited (%v) before ready:\n%s", p.cmd.ProcessState, p.output(true))
		default:
		}
		code, body, err := getJSON("http://" + p.addr + path)
		if err == nil && code == http.StatusOK {
			return body
		}
		last = fmt.Sprint(code, body, err)
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s not ready within %s; last answer %s\n%s", path, within, last, p.output(true))
	return readyBody{}
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func getJSON(url string) (int, readyBody, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, readyBody{}, err
	}
	defer resp.Body.Close()
	var b readyBody
	err = json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b, err
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAPIAndWorkerProcesses runs `keyflow api` and `keyflow worker` as separate processes against
// one Temporal and one PostgreSQL: both serve /readyz, and a workflow started through the api
// process (which has no worker) is processed by the worker process.
func TestAPIAndWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	pg, err := pgserver.Start(ctx, pgserver.Config{DataDir: filepath.Join(t.TempDir(), "pg"), Logger: log, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	tsrv, err := devserver.Start(ctx, devserver.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tsrv.Stop() })

	key := make([]byte, codec.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	env := []string{
		"KEYFLOW_DATABASE_URL=" + pg.URL(),
		"KEYFLOW_TEMPORAL_ADDRESS=" + tsrv.FrontendAddress(),
		"KEYFLOW_CODEC_KEYS=k1:" + base64.StdEncoding.EncodeToString(key),
		"KEYFLOW_ENCRYPTION_KEYS=e1:" + base64.StdEncoding.EncodeToString(key[:32]),
		"KEYFLOW_CLIENT_SECRET_PEPPER=" + base64.StdEncoding.EncodeToString(append(key, key...)),
		"KEYFLOW_DATA_DIR=" + t.TempDir(),
	}
	// The schema is a deploy step, as in production.
	mig := exec.Command(keyflowBinary(t), "migrate")
	mig.Env = append(os.Environ(), env...)
	if out, err := mig.CombinedOutput(); err != nil || !regexp.MustCompile(`database schema at version \d+`).Match(out) {
		t.Fatalf("keyflow migrate: %v\n%s", err, out)
	}

	// serve against the shared PostgreSQL and Temporal creates the admin and the demo app once.
	const adminPassword = "process-test-admin-pw"
	const demoBase = "http://127.0.0.1:9" // only a registered redirect URI, never called
	boot := startProc(t, append(env, "KEYFLOW_ADMIN_PASSWORD="+adminPassword), "serve", "--base-url", demoBase)
	boot.ready("/readyz", time.Minute)
	boot.kill(syscall.SIGTERM)

	apiProc := startProc(t, env, "api")
	apiReady := apiProc.ready("/readyz", time.Minute)
	if apiReady.Checks["postgres"] != "ok" || apiReady.Checks["temporal"] != "ok" {
		t.Fatalf("api /readyz = %+v", apiReady)
	}
	// With no worker anywhere, the workflow round trip must fail: the api process runs none.
	code, body, _ := getJSON("http://" + apiProc.addr + "/readyz?worker=1")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body.Checks["worker"], "unavailable") {
		t.Fatalf("api without a worker: /readyz?worker=1 = %d %+v", code, body)
	}

	workerProc := startProc(t, env, "worker")
	workerReady := workerProc.ready("/readyz", time.Minute)
	if workerReady.Checks["postgres"] != "ok" || workerReady.Checks["temporal"] != "ok" {
		t.Fatalf("worker /readyz = %+v", workerReady)
	}
	got := apiProc.ready("/readyz?worker=1", time.Minute)
	if got.Checks["worker"] != "ok" {
		t.Fatalf("workflow through the worker process: %+v", got)
	}
	// A real login: the api process starts and updates the login workflow, the worker process
	// runs it (argon2id password check as a local activity) and the api issues the code.
	base := "http://" + apiProc.addr
	appNativeLogin(t, base, demoBase+"/demo/callback", "admin", adminPassword)

	// Graceful shutdown: SIGTERM ends both processes with status 0.
	for _, p := range []*proc{apiProc, workerProc} {
		p.kill(syscall.SIGTERM)
		if !p.cmd.ProcessState.Success() {
			t.Errorf("%v after SIGTERM:\n%s", p.cmd.ProcessState, p.output(true))
		}
	}
}

// TestServeEmbedded runs `keyflow serve` with nothing but a data dir: it starts PostgreSQL and
// Temporal itself, prints the generated admin password once, keeps it across a restart, and stops
// its PostgreSQL on SIGTERM.
func TestServeEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dataDir := t.TempDir()
	env := []string{"KEYFLOW_ADMIN_PASSWORD="}

	first := startProc(t, env, "serve", "--data-dir", dataDir)
	body := first.ready("/readyz", 2*time.Minute)
	if body.Checks["postgres"] != "ok" || body.Checks["temporal"] != "ok" {
		t.Fatalf("serve /readyz = %+v", body)
	}
	if got := first.ready("/readyz?worker=1", time.Minute); got.Checks["worker"] != "ok" {
		t.Fatalf("serve worker round trip: %+v", got)
	}
	var disco struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
	}
	resp, err := http.Get("http://" + first.addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&disco)
	resp.Body.Close()
	if err != nil || disco.Issuer != "http://"+first.addr+"/oauth2/token" || disco.JWKSURI == "" ||
		disco.AuthorizationEndpoint != "http://"+first.addr+"/oauth2/authorize" {
		t.Fatalf("discovery: %+v (err %v)", disco, err)
	}
	m := regexp.MustCompile(`password:\s+(\S+)`).FindStringSubmatch(first.output(false))
	if m == nil {
		t.Fatalf("no admin password printed:\n%s", first.output(false))
	}
	base := "http://" + first.addr
	tokens := appNativeLogin(t, base, base+"/demo/callback", "admin", m[1])
	if tokens["token_type"] != "Bearer" {
		t.Fatalf("token_type %v", tokens["token_type"])
	}
	// /metrics carries the Temporal SDK's metrics next to the HTTP ones.
	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{"temporal_request", "keyflow_http_requests_total"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The SAML IdP publishes its metadata.
	sresp, err := http.Get(base + "/samlsso/metadata")
	if err != nil {
		t.Fatal(err)
	}
	samlMeta, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	if sresp.StatusCode != http.StatusOK || !strings.Contains(string(samlMeta), "IDPSSODescriptor") ||
		!strings.Contains(string(samlMeta), base+"/samlsso") {
		t.Errorf("SAML metadata: %d\n%s", sresp.StatusCode, samlMeta)
	}
	// A browser is sent to the server-rendered login page.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(base + "/oauth2/authorize?client_id=" + demoClientID + "&response_type=code&scope=openid" +
		"&redirect_uri=" + url.QueryEscape(base+"/demo/callback") + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/authenticationendpoint/login?") {
		t.Fatalf("browser authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodGet, base+`/scim2/Users?filter=userName%20eq%20%22admin%22`, nil)
	req.SetBasicAuth("admin", m[1])
	scimResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		TotalResults int `json:"totalResults"`
	}
	decode(t, scimResp, http.StatusOK, &list)
	if list.TotalResults != 1 {
		t.Fatalf("SCIM found %d admin users", list.TotalResults)
	}
	saved, err := os.ReadFile(filepath.Join(dataDir, "admin-password"))
	if err != nil || strings.TrimSpace(string(saved)) != m[1] {
		t.Fatalf("admin-password file %q (err %v) differs from the printed password", saved, err)
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "admin-password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-password mode: %v %v", fi.Mode(), err)
	}
	if strings.Contains(first.output(true), m[1]) {
		t.Fatal("the admin password reached the logs")
	}
	first.kill(syscall.SIGTERM)
	if !first.cmd.ProcessState.Success() {
		t.Fatalf("serve after SIGTERM: %v\n%s", first.cmd.ProcessState, first.output(true))
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("PostgreSQL still running after serve stopped (postmaster.pid: %v)", err)
	}

	second := startProc(t, env, "serve", "--data-dir", dataDir)
	second.ready("/readyz", 2*time.Minute)
	if strings.Contains(second.output(false), m[1]) || !strings.Contains(second.output(false), "admin user: admin") {
		t.Fatalf("restart printed the password again or no admin line:\n%s", second.output(false))
	}
	second.kill(syscall.SIGTERM)
}
