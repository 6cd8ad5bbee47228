package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The peer's clients (bench/peer/server.mjs).
const (
	peerCCClient     = "bench-cc"
	peerPublicClient = "bench-public"
)

// peerProc is panva's oidc-provider (bench/peer/server.mjs) running on a loopback port.
type peerProc struct {
	cmd      *exec.Cmd
	base     string
	ccSecret string
	stderr   *strings.Builder
	// argon2 is the peer's CPU time for one argon2id check (@node-rs/argon2), measured at start.
	argon2 time.Duration
}

// startPeer starts the peer with users bench-user-00… (password pw) and waits for its "ready" line.
func startPeer(dir string, users int, pw string) (*peerProc, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		return nil, fmt.Errorf("peer: %s has no node_modules/oidc-provider: run npm ci --prefix %s", dir, dir)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &peerProc{base: "http://127.0.0.1:" + strconv.Itoa(port), ccSecret: rand.Text() + rand.Text(), stderr: &strings.Builder{}}
	p.cmd = exec.Command("node", filepath.Join(dir, "server.mjs"))
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(),
		"BENCH_PEER_PORT="+strconv.Itoa(port),
		"BENCH_PEER_USERS="+strconv.Itoa(users),
		"BENCH_PEER_PASSWORD="+pw,
		"BENCH_PEER_CC_SECRET="+p.ccSecret,
		"BENCH_PEER_REDIRECT_URI="+p.base+benchRedirectPath,
	)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer: start node: %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "ready ") {
				ok = true
				ready <- sc.Text()
			}
		}
		if !ok {
			ready <- ""
		}
	}()
	select {
	case line := <-ready:
		if line == "" {
			_ = p.stop()
			return nil, fmt.Errorf("peer exited before it was ready: %s", p.stderr.String())
		}
		if _, v, ok := strings.Cut(line, " argon2id-ms="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				p.argon2 = time.Duration(f * float64(time.Millisecond))
			}
		}
		return p, nil
	case <-time.After(2 * time.Minute):
		_ = p.stop()
		return nil, fmt.Errorf("peer not ready within 2 minutes: %s", p.stderr.String())
	}
}

// pid is the peer's process id.
func (p *peerProc) pid() int { return p.cmd.Process.Pid }

func (p *peerProc) stop() error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		return errors.New("peer did not stop within 10 s of SIGTERM")
	}
}

// peerClient drives the peer's browser-style login: GET /auth → 303 to the login page, GET the
// page, POST the form → 303 to /auth/{uid} → 303 to the redirect URI with the code (no consent),
// then the code + PKCE exchange at /token. Every login has its own cookie jar (a fresh browser).
type peerClient struct {
	base string
	tr   http.RoundTripper
	hc   *http.Client
}

func newPeerClient(base string, conns int) *peerClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns*2, conns*2
	return &peerClient{base: base, tr: tr, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *peerClient) login(ctx context.Context, username, pw string) (loginTimes, error) {
	var t loginTimes
	jar, err := cookiejar.New(nil)
	if err != nil {
		return t, err
	}
	hc := &http.Client{Transport: c.tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := rand.Text() + rand.Text()
	state := rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	redirectURI := c.base + benchRedirectPath

	start := time.Now()
	loginPage, err := redirect(ctx, hc, http.MethodGet, c.base+"/auth?"+url.Values{
		"client_id": {peerPublicClient}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"scope": {"openid profile"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode(), "")
	if err != nil {
		return t, fmt.Errorf("authorize: %w", err)
	}
	if _, err := request(ctx, hc, http.MethodGet, loginPage, "", "", http.StatusOK, nil); err != nil {
		return t, fmt.Errorf("login page: %w", err)
	}
	t.authorize = time.Since(start)

	step := time.Now()
	resume, err := redirect(ctx, hc, http.MethodPost, loginPage+"/login",
		url.Values{"username": {username}, "password": {pw}}.Encode())
	if err != nil {
		return t, fmt.Errorf("login form: %w", err)
	}
	back, err := redirect(ctx, hc, http.MethodGet, resume, "")
	if err != nil {
		return t, fmt.Errorf("resume: %w", err)
	}
	t.authn = time.Since(step)
	u, err := url.Parse(back)
	if err != nil || !strings.HasPrefix(back, redirectURI+"?") || u.Query().Get("code") == "" || u.Query().Get("state") != state {
		return t, fmt.Errorf("resume: want the redirect URI with code and state, got %s", back)
	}

	step = time.Now()
	b, err := request(ctx, c.hc, http.MethodPost, c.base+"/token", "application/x-www-form-urlencoded", url.Values{
		"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "client_id": {peerPublicClient},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}.Encode(), http.StatusOK, nil)
	if err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	t.token = time.Since(step)
	t.total = time.Since(start)
	var tokens struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(b, &tokens); err != nil || tokens.AccessToken == "" || tokens.IDToken == "" {
		return t, fmt.Errorf("token: response without access_token or id_token: %.200s", b)
	}
	return t, nil
}

// redirect sends a request that must answer 302 or 303 and returns the absolute Location.
func redirect(ctx context.Context, hc *http.Client, method, u, form string) (string, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("%s %s: want a redirect, got %d %.300s", method, u, resp.StatusCode, b)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, u, err)
	}
	return loc.String(), nil
}
