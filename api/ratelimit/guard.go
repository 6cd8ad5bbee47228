package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/ui"
)

// DefaultSweepEvery is how often Run drops idle clients.
const DefaultSweepEvery = time.Minute

// Pages renders the HTML error page; *ui.Renderer implements it.
type Pages interface {
	// Lang picks the page language from ui_locales and Accept-Language.
	Lang(uiLocales, acceptLanguage string) string
	// Error renders the error page to w.
	Error(w io.Writer, p ui.ErrorPage) error
}

// Config configures New.
type Config struct {
	// Limits is each class's budget per client; a class without one (or with PerMinute 0) is
	// not limited.
	Limits map[Class]Limit
	// Rules select the limited requests; default DefaultRules().
	Rules []Rule
	// MaxKeys bounds the clients tracked per class (default DefaultMaxKeys); see
	// LimiterConfig.MaxKeys for what happens beyond it.
	MaxKeys int
	// Pages renders Page refusals; nil answers them in plain text.
	Pages Pages
	// CORS adds the app-native API's CORS headers (authn.Handler.CORSHeaders) to its refusals,
	// so that a browser app calling it from another origin can read the 429; nil adds none.
	CORS func(*gin.Context)
	// TraceID returns the request id of a request's context (api.RequestID) for the traceId of
	// app-native and management API bodies and the error page; nil leaves it empty.
	TraceID func(context.Context) string
	// Logger receives one warning per client, class and WarnWindow; default discards.
	Logger *slog.Logger
	// Registerer receives the refusal counter and the tracked-clients gauge; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Guard is the rate-limiting middleware of the HTTP edge: it maps a request to a rule by
// method and route template, keys it by client address and refuses it, in the protocol's own
// format with Retry-After, when that client's budget for the rule's class is spent.
type Guard struct {
	cfg      Config
	limiters map[Class]*Limiter
	// exact[route][method] (method "" for any); prefixes in order.
	exact    map[string]map[string]*Rule
	prefixes []*Rule
	refused  *prometheus.CounterVec
}

// New validates cfg and returns the guard.
func New(cfg Config) (*Guard, error) {
	if cfg.Rules == nil {
		cfg.Rules = DefaultRules()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TraceID == nil {
		cfg.TraceID = func(context.Context) string { return "" }
	}
	g := &Guard{cfg: cfg, limiters: map[Class]*Limiter{}, exact: map[string]map[string]*Rule{}}
	for class, lim := range cfg.Limits {
		if lim.PerMinute < 0 || lim.Burst < 0 {
			return nil, fmt.Errorf("ratelimit: class %s: negative limit", class)
		}
		if lim.PerMinute == 0 {
			continue
		}
		l, err := NewLimiter(LimiterConfig{Limit: lim, MaxKeys: cfg.MaxKeys, Now: cfg.Now})
		if err != nil {
			return nil, fmt.Errorf("ratelimit: class %s: %w", class, err)
		}
		g.limiters[class] = l
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Route == "" || r.Class == "" || r.Format < OAuth2 || r.Format > SCIM {
			return nil, fmt.Errorf("ratelimit: rule %d needs a Route, a Class and a Format", i)
		}
		if g.limiters[r.Class] == nil {
			continue
		}
		if r.Prefix {
			g.prefixes = append(g.prefixes, r)
			continue
		}
		if g.exact[r.Route] == nil {
			g.exact[r.Route] = map[string]*Rule{}
		}
		if _, dup := g.exact[r.Route][r.Method]; dup {
			return nil, fmt.Errorf("ratelimit: two rules for %s %s", r.Method, r.Route)
		}
		g.exact[r.Route][r.Method] = r
	}
	g.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyflow_rate_limited_requests_total",
		Help: "Requests refused with 429 by the per-client rate limits, by class.",
	}, []string{"class"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(g.refused); err != nil {
			return nil, fmt.Errorf("ratelimit: metrics: %w", err)
		}
		for class, l := range g.limiters {
			gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "keyflow_rate_limit_tracked_clients",
				Help:        "Client addresses the per-client rate limits track, by class.",
				ConstLabels: prometheus.Labels{"class": string(class)},
			}, func() float64 { return float64(l.Len()) })
			if err := cfg.Registerer.Register(gauge); err != nil {
				return nil, fmt.Errorf("ratelimit: metrics: %w", err)
			}
		}
	}
	return g, nil
}

// Run drops idle clients every DefaultSweepEvery until ctx is done.
func (g *Guard) Run(ctx context.Context) {
	done := make(chan struct{}, len(g.limiters))
	for _, l := range g.limiters {
		go func() { l.Run(ctx, DefaultSweepEvery); done <- struct{}{} }()
	}
	for range g.limiters {
		<-done
	}
}

func (g *Guard) rule(method, route string) *Rule {
	if route == "" {
		return nil
	}
	if byMethod, ok := g.exact[route]; ok {
		if r := byMethod[method]; r != nil {
			return r
		}
		if r := byMethod[""]; r != nil {
			return r
		}
	}
	for _, r := range g.prefixes {
		if (r.Method == "" || r.Method == method) && strings.HasPrefix(route, r.Route) {
			return r
		}
	}
	return nil
}

// Handler is the gin middleware. Install it on the engine before the routes are registered.
func (g *Guard) Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := g.rule(c.Request.Method, c.FullPath())
		if r == nil {
			c.Next()
			return
		}
		l := g.limiters[r.Class]
		key := Key(c.ClientIP())
		if !r.BasicFailures && !r.Failures {
			if d := l.Allow(key); !d.Allowed {
				g.refuse(c, r, key, d)
				return
			}
			c.Next()
			return
		}
		if r.BasicFailures {
			scheme, _, _ := strings.Cut(c.GetHeader("Authorization"), " ")
			if !strings.EqualFold(scheme, "Basic") {
				c.Next()
				return
			}
		}
		if d := l.Check(key); !d.Allowed {
			g.refuse(c, r, key, d)
			return
		}
		c.Next()
		if failed(c, r) {
			// Concurrent failures may all pass Check before any is charged: the overshoot is
			// bounded by the client's concurrency.
			l.Allow(key)
		}
	}
}

// failed reports whether a request of a failure-counting rule is charged to its client.
func failed(c *gin.Context, r *Rule) bool {
	status := c.Writer.Status()
	if r.BasicFailures {
		return status == http.StatusUnauthorized
	}
	if status != http.StatusBadRequest && status != http.StatusUnauthorized {
		return false
	}
	return status == http.StatusUnauthorized || formValue(c, "grant_type") != op.GrantDeviceCode
}

// Key is the bucket key of a client address: an IPv4 address as is, an IPv6 address by its
// /64 (one host or LAN commonly holds a whole /64, so per-address keys would not limit it).
// Anything unparsable is its own key.
func Key(clientIP string) string {
	a, err := netip.ParseAddr(clientIP)
	if err != nil {
		return clientIP
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return clientIP
	}
	return p.String()
}

func (g *Guard) refuse(c *gin.Context, r *Rule, key string, d Decision) {
	ctx := c.Request.Context()
	g.refused.WithLabelValues(string(r.Class)).Inc()
	if d.Warn {
		g.cfg.Logger.WarnContext(ctx, "rate limit: client over its budget; further refusals in the next minute are not logged",
			"class", string(r.Class), "client", key, "route", c.FullPath(), "overflow", d.Overflow,
			"retry_after", d.RetryAfter.String())
	}
	secs := int64(math.Ceil(d.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	// RFC 9110 §10.2.3: delay-seconds.
	c.Header("Retry-After", strconv.FormatInt(secs, 10))
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	format := r.Format
	if format == Authorize {
		format = Page
		if formValue(c, "response_mode") == "direct" {
			format = AppNative
		}
	}
	desc := fmt.Sprintf("Too many requests from this client. Retry after %s.", seconds(secs))
	switch format {
	case OAuth2:
		code := op.CodeTemporarilyUnavailable
		if r.Route == "/oauth2/token" && formValue(c, "grant_type") == op.GrantDeviceCode {
			code = op.CodeSlowDown
		}
		writeJSON(c, "application/json;charset=UTF-8", map[string]string{"error": code, "error_description": desc})
	case AppNative:
		if g.cfg.CORS != nil {
			g.cfg.CORS(c)
		}
		writeJSON(c, "application/json", map[string]string{"code": "ABA-60001", "message": "Invalid authentication request.",
			"description": desc, "traceId": g.cfg.TraceID(ctx)})
	case REST:
		writeJSON(c, "application/json", map[string]string{"code": "429", "message": "Too Many Requests",
			"description": desc, "traceId": g.cfg.TraceID(ctx)})
	case SCIM:
		writeJSON(c, "application/scim+json", map[string]any{"schemas": []string{scimErrorSchema},
			"status": "429", "detail": desc})
	default:
		g.page(c, secs)
	}
}

func seconds(n int64) string {
	if n == 1 {
		return "1 second"
	}
	return strconv.FormatInt(n, 10) + " seconds"
}

// scimErrorSchema is the schema URN of SCIM error bodies (RFC 7644 §3.12).
const scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

func writeJSON(c *gin.Context, contentType string, body any) {
	b, _ := json.Marshal(body)
	c.Data(http.StatusTooManyRequests, contentType, b)
	c.Abort()
}

// maxSniffBytes bounds the form read to choose a refusal's format.
const maxSniffBytes = 64 << 10

// formValue reads a parameter of a refused request (query or urlencoded body). The request is
// refused anyway, so consuming its body is harmless.
func formValue(c *gin.Context, name string) string {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxSniffBytes)
	if err := c.Request.ParseForm(); err != nil {
		return c.Request.URL.Query().Get(name)
	}
	return c.Request.Form.Get(name)
}

// page renders the error page: sendError's layout (status and reason shown), with the reason
// from the catalog when it has the key.
func (g *Guard) page(c *gin.Context, secs int64) {
	msg := fmt.Sprintf("Too many requests. Wait %s, then try again.", seconds(secs))
	h := c.Writer.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if g.cfg.Pages == nil {
		c.Data(http.StatusTooManyRequests, "text/plain; charset=utf-8", []byte(msg+"\n"))
		c.Abort()
		return
	}
	var buf bytes.Buffer
	err := g.cfg.Pages.Error(&buf, ui.ErrorPage{Kind: ui.ErrorSend, Status: "429", StatusMsg: msg, I18nKey: "error.rateLimited",
		Lang: g.cfg.Pages.Lang(c.Query("ui_locales"), c.GetHeader("Accept-Language")), TraceID: g.cfg.TraceID(c.Request.Context())})
	if err != nil {
		g.cfg.Logger.ErrorContext(c.Request.Context(), "rate limit: render error page", "error", err)
		c.Data(http.StatusTooManyRequests, "text/plain; charset=utf-8", []byte(msg+"\n"))
		c.Abort()
		return
	}
	h.Set("Content-Security-Policy", ui.PageCSP(ui.Branding{}))
	c.Data(http.StatusTooManyRequests, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}
