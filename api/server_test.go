package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

func newTestServer(t *testing.T, cfg Config) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	cfg.Registry = prometheus.NewRegistry()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &logs
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestReadyz(t *testing.T) {
	ok := Check{Name: "postgres", Probe: func(context.Context) error { return nil }}
	down := Check{Name: "temporal", Probe: func(context.Context) error { return errors.New("connection refused") }}
	slow := Check{Name: "worker", Probe: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	tests := []struct {
		name       string
		cfg        Config
		query      string
		wantCode   int
		wantChecks map[string]string
	}{
		{"all up", Config{Checks: []Check{ok}}, "", 200, map[string]string{"postgres": "ok"}},
		{"one down", Config{Checks: []Check{ok, down}}, "", 503,
			map[string]string{"postgres": "ok", "temporal": "unavailable: connection refused"}},
		{"worker check only on request", Config{Checks: []Check{ok}, WorkerCheck: &slow}, "", 200, map[string]string{"postgres": "ok"}},
		{"worker check times out", Config{Checks: []Check{ok}, WorkerCheck: &slow, ProbeTimeout: 50e6}, "?worker=1", 503,
			map[string]string{"postgres": "ok", "worker": "unavailable: context deadline exceeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newTestServer(t, tc.cfg)
			resp, body := get(t, srv.URL+"/readyz"+tc.query, nil)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantCode, body)
			}
			var got readyResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Checks) != len(tc.wantChecks) {
				t.Fatalf("checks %v, want %v", got.Checks, tc.wantChecks)
			}
			for k, v := range tc.wantChecks {
				if got.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, got.Checks[k], v)
				}
			}
		})
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	srv, logs := newTestServer(t, Config{})
	resp, _ := get(t, srv.URL+"/healthz?code=secret-code-value", map[string]string{RequestIDHeader: "abc-123"})
	if resp.StatusCode != 200 || resp.Header.Get(RequestIDHeader) != "abc-123" {
		t.Fatalf("status %d, request id %q", resp.StatusCode, resp.Header.Get(RequestIDHeader))
	}
	resp, _ = get(t, srv.URL+"/healthz", map[string]string{RequestIDHeader: "bad id with spaces and {json}"})
	if id := resp.Header.Get(RequestIDHeader); id == "" || strings.ContainsAny(id, " {}") {
		t.Fatalf("unsafe request id accepted or none generated: %q", id)
	}
	if strings.Contains(logs.String(), "secret-code-value") {
		t.Fatal("query string leaked into the access log")
	}
	if !strings.Contains(logs.String(), `"request_id":"abc-123"`) {
		t.Fatalf("access log lacks the request id: %s", logs.String())
	}
}

func TestMetrics(t *testing.T) {
	srv, _ := newTestServer(t, Config{})
	get(t, srv.URL+"/healthz", nil)
	get(t, srv.URL+"/no/such/path", nil)
	_, body := get(t, srv.URL+"/metrics", nil)
	for _, want := range []string{
		`keyflow_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`keyflow_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestClientIPTrust checks that X-Forwarded-For names the client only when the peer is a
// configured proxy: otherwise any client could pick the IP that lockouts and logs key on.
func TestClientIPTrust(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		want    string
	}{
		{"no proxies: the peer", nil, "127.0.0.1"},
		{"peer is a trusted proxy", []string{"127.0.0.0/8"}, "203.0.113.7"},
		{"another proxy is trusted", []string{"10.0.0.1"}, "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, logs := newTestServer(t, Config{TrustedProxies: tc.proxies})
			resp, _ := get(t, srv.URL+"/healthz", map[string]string{"X-Forwarded-For": "203.0.113.7"})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var entry struct {
				Remote string `json:"remote"`
			}
			for line := range strings.Lines(logs.String()) {
				if err := json.Unmarshal([]byte(line), &entry); err == nil && entry.Remote != "" {
					break
				}
			}
			if entry.Remote != tc.want {
				t.Fatalf("logged client %q, want %q; logs: %s", entry.Remote, tc.want, logs.String())
			}
		})
	}
	if _, err := New(Config{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), TrustedProxies: []string{"not-an-ip"}}); err == nil {
		t.Fatal("an invalid proxy address was accepted")
	}
}

// TestTenantQualifiedURLs: /t/{root}/api/… and the OAuth2 fast paths under /t/{root} reach the
// routes without the prefix; a front-end's own /t/:tenant routes and other tenants are left
// alone.
func TestTenantQualifiedURLs(t *testing.T) {
	routes := routesFunc(func(r gin.IRouter) {
		r.GET("/api/server/v1/things", func(c *gin.Context) { c.String(http.StatusOK, "things") })
		r.POST("/oauth2/token", func(c *gin.Context) { c.String(http.StatusOK, "token") })
		r.GET("/t/:tenant/oauth2/authorize", func(c *gin.Context) { c.String(http.StatusOK, "authorize for "+c.Param("tenant")) })
	})
	srv, _ := newTestServer(t, Config{Routes: []Routes{routes}, RootTenant: "carbon.super", RootOrgID: "8f0c5a6e-0000-4000-8000-000000000001"})
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/t/carbon.super/api/server/v1/things", 200, "things"},
		{http.MethodGet, "/api/server/v1/things", 200, "things"},
		{http.MethodPost, "/t/carbon.super/oauth2/token", 200, "token"},
		{http.MethodGet, "/t/carbon.super/oauth2/authorize", 200, "authorize for carbon.super"},
		{http.MethodGet, "/t/acme/api/server/v1/things", 404, ""},
		{http.MethodGet, "/t/carbon.superx/api/server/v1/things", 404, ""},
		{http.MethodGet, "/o/8f0c5a6e-0000-4000-8000-000000000001/api/server/v1/things", 200, "things"},
		{http.MethodPost, "/o/8f0c5a6e-0000-4000-8000-000000000001/oauth2/token", 200, "token"},
		{http.MethodGet, "/o/8f0c5a6e-0000-4000-8000-000000000002/api/server/v1/things", 404, ""},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && string(b) != tc.body) {
			t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}
