package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyflow/keyflow/api/ratelimit"
)

// Check is one dependency the readiness probe verifies, such as PostgreSQL or Temporal.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Routes is a front-end that mounts its endpoints on the engine (oauth2, authn, scim, …).
type Routes interface {
	Register(r gin.IRouter)
}

// Config wires the HTTP edge.
type Config struct {
	Logger *slog.Logger
	// Registry collects the process's metrics and serves them on /metrics.
	Registry *prometheus.Registry
	// Checks run on every /readyz.
	Checks []Check
	// WorkerCheck runs on /readyz?worker=1 only: a workflow round trip proving a worker is polling.
	WorkerCheck *Check
	// Routes are the protocol front-ends this process serves.
	Routes []Routes
	// ProbeTimeout bounds each readiness probe (default 3 s).
	ProbeTimeout time.Duration
	// Outage, when set, is the dependency (PostgreSQL) whose outage turns a handler's 500 into
	// a 503 with Retry-After (outage.go).
	Outage *Check
	// RootTenant, when set, is the tenant handle (WSO2's tenant domain, carbon.super) whose
	// tenant-qualified URLs (/t/{handle}/api/…, /t/{handle}/oauth2/token, …) reach the APIs that
	// do not route /t/{tenant} themselves (tenant.go); RootOrgID the organization id whose
	// /o/{id}/… URLs do.
	RootTenant string
	RootOrgID  string
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose X-Forwarded-For is
	// believed for the client's IP (logs, lockout, rate limits). Empty: none, the peer address
	// is the client.
	TrustedProxies []string
	// RateLimit, when set, throttles per client IP the endpoints that spend credentials or send
	// messages (its rules match method and route template, tenant-qualified routes included);
	// nil: no rate limits.
	RateLimit *ratelimit.Guard
}

// New returns the HTTP handler of the whole edge.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		return nil, errors.New("api: Config.Logger is required")
	}
	if cfg.Registry == nil {
		return nil, errors.New("api: Config.Registry is required")
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 3 * time.Second
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// gin trusts every proxy by default, which would let any client choose its own IP.
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: trusted proxies: %w", err)
	}
	r.Use(requestID(), accessLog(cfg.Logger), m.middleware())
	if cfg.Outage != nil {
		// Outside recovery, so that a panic's 500 is judged too.
		r.Use(outage(*cfg.Outage, cfg.ProbeTimeout))
	}
	r.Use(recovery(cfg.Logger))
	if cfg.RateLimit != nil {
		// After the access log and metrics, so refusals are logged and counted like any answer;
		// before the routes, which copy the engine's middleware when registered.
		r.Use(cfg.RateLimit.Handler())
	}

	h := &health{checks: cfg.Checks, worker: cfg.WorkerCheck, timeout: cfg.ProbeTimeout}
	r.GET("/healthz", h.live)
	r.GET("/readyz", h.ready)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})))
	for _, rt := range cfg.Routes {
		rt.Register(r)
	}
	var prefixes []string
	if cfg.RootTenant != "" {
		prefixes = append(prefixes, "/t/"+cfg.RootTenant)
	}
	if cfg.RootOrgID != "" {
		prefixes = append(prefixes, "/o/"+cfg.RootOrgID)
	}
	if len(prefixes) > 0 {
		return tenantPrefix(r, prefixes...), nil
	}
	return r, nil
}

// Serve runs an HTTP server for h on ln until ctx is done, then drains in-flight requests for up
// to drain before closing.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("api: drain: %w", err)
	}
	return nil
}
