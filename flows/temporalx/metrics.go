package temporalx

import (
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// timerBuckets are the histogram buckets, in seconds, of every SDK timer.
// They span a local activity (≈1 ms) to a long poll (≈70 s), which the
// Prometheus default buckets (5 ms–10 s) would clip at both ends.
var timerBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

type metricKind int

const (
	kindCounter metricKind = iota + 1
	kindGauge
	kindTimer
)

func (k metricKind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindGauge:
		return "gauge"
	case kindTimer:
		return "timer"
	}
	return "unknown"
}

// family is one Prometheus metric name. Its label names are fixed by the
// first tag set seen for the name, because Prometheus requires every series
// of one name to have the same label names (the registry refuses a second
// vector with other labels). Later tag sets are mapped onto them: a missing
// label gets "" (which Prometheus treats exactly like an absent label), and an
// extra tag is dropped with a warning. The SDK keeps tag sets consistent per
// name (its root tags pre-fill namespace, task_queue, workflow_type, ... with
// "none"), so dropping is a safety net, not the normal path.
type family struct {
	kind    metricKind
	labels  []string // sorted, sanitized
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	timer   *prometheus.HistogramVec
	// broken is set when the family could not be registered; its metrics
	// are no-ops so one bad name cannot disturb the SDK.
	broken bool
}

// promRegistry is the state shared by a handler and every handler derived
// from it with WithTags.
type promRegistry struct {
	reg    prometheus.Registerer
	logger *slog.Logger

	mu       sync.Mutex
	families map[string]*family
	warned   map[string]bool
}

// promHandler implements client.MetricsHandler on Prometheus client_golang.
type promHandler struct {
	r    *promRegistry
	tags map[string]string // sanitized label name → value; never mutated
}

var _ client.MetricsHandler = (*promHandler)(nil)

// NewMetricsHandler returns a client.MetricsHandler that records the Temporal
// SDK's metrics in reg. Vectors are created lazily, the first time the SDK
// asks for a metric name:
//   - Counter → CounterVec, Gauge → GaugeVec, Timer → HistogramVec in
//     seconds, buckets 1 ms to 120 s (local activity to long poll);
//   - metric names are the SDK's own (temporal_request, ...), so the SDK
//     metrics reference applies, sanitized to [a-zA-Z_][a-zA-Z0-9_]*;
//   - tags become labels, names sanitized the same way, values forced to
//     valid UTF-8.
//
// If reg already holds an identical vector (another client dialled with the
// same registerer), it is shared, so the two clients' counts add up instead
// of colliding. A name that cannot be registered (used with two kinds, or
// clashing with a foreign collector) becomes a no-op and is logged once at
// warn level; the SDK is never made to fail by its metrics.
//
// logger may be nil (warnings are then discarded).
func NewMetricsHandler(reg prometheus.Registerer, logger *slog.Logger) client.MetricsHandler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &promHandler{
		r: &promRegistry{
			reg:      reg,
			logger:   logger,
			families: make(map[string]*family),
			warned:   make(map[string]bool),
		},
		tags: map[string]string{},
	}
}

// WithTags implements client.MetricsHandler. New tags override existing ones
// with the same (sanitized) name.
func (h *promHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	// Sorted so that two tags sanitizing to the same label resolve the same
	// way every time.
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		merged[sanitizeName(k, false)] = strings.ToValidUTF8(tags[k], "\uFFFD")
	}
	return &promHandler{r: h.r, tags: merged}
}

// Counter implements client.MetricsHandler.
func (h *promHandler) Counter(name string) client.MetricsCounter {
	fam, values, ok := h.r.lookup(name, kindCounter, h.tags)
	if !ok {
		return client.MetricsNopHandler.Counter(name)
	}
	c, err := fam.counter.GetMetricWithLabelValues(values...)
	if err != nil {
		h.r.warnOnce("labels:"+name, "temporal metric labels rejected", name, err)
		return client.MetricsNopHandler.Counter(name)
	}
	return counter{c}
}

// Gauge implements client.MetricsHandler.
func (h *promHandler) Gauge(name string) client.MetricsGauge {
	fam, values, ok := h.r.lookup(name, kindGauge, h.tags)
	if !ok {
		return client.MetricsNopHandler.Gauge(name)
	}
	g, err := fam.gauge.GetMetricWithLabelValues(values...)
	if err != nil {
		h.r.warnOnce("labels:"+name, "temporal metric labels rejected", name, err)
		return client.MetricsNopHandler.Gauge(name)
	}
	return gauge{g}
}

// Timer implements client.MetricsHandler.
func (h *promHandler) Timer(name string) client.MetricsTimer {
	fam, values, ok := h.r.lookup(name, kindTimer, h.tags)
	if !ok {
		return client.MetricsNopHandler.Timer(name)
	}
	o, err := fam.timer.GetMetricWithLabelValues(values...)
	if err != nil {
		h.r.warnOnce("labels:"+name, "temporal metric labels rejected", name, err)
		return client.MetricsNopHandler.Timer(name)
	}
	return timer{o}
}

type counter struct{ c prometheus.Counter }

// Inc implements client.MetricsCounter. Prometheus counters panic on a
// negative delta; the SDK never sends one, but a panic inside the SDK's
// metrics path would be out of all proportion, so it is ignored.
func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

// lookup returns the family for name, creating and registering it on first
// use, and the label values for tags in the family's label order. ok is
// false when the metric must be a no-op.
func (r *promRegistry) lookup(rawName string, kind metricKind, tags map[string]string) (*family, []string, bool) {
	name := sanitizeName(rawName, true)

	r.mu.Lock()
	fam, seen := r.families[name]
	if !seen {
		fam = r.register(name, kind, slices.Sorted(maps.Keys(tags)))
		r.families[name] = fam
	}
	r.mu.Unlock()

	if fam.broken {
		return nil, nil, false
	}
	if fam.kind != kind {
		r.warnOnce("kind:"+name+":"+kind.String(), "temporal metric used with two kinds; the later use is dropped",
			name, errors.New("registered as "+fam.kind.String()+", requested as "+kind.String()))
		return nil, nil, false
	}
	values := make([]string, len(fam.labels))
	used := 0
	for i, l := range fam.labels {
		if v, ok := tags[l]; ok {
			values[i] = v
			used++
		}
	}
	if used != len(tags) {
		r.warnOnce("extra:"+name+":"+strings.Join(slices.Sorted(maps.Keys(tags)), ","),
			"temporal metric has tags beyond its first label set; extra tags dropped",
			name, errors.New("labels are "+strings.Join(fam.labels, ",")))
	}
	return fam, values, true
}

// register creates the vector for a new family; r.mu must be held.
func (r *promRegistry) register(name string, kind metricKind, labels []string) *family {
	fam := &family{kind: kind, labels: labels}
	help := "Temporal SDK " + kind.String() + " " + name + "."
	var c prometheus.Collector
	switch kind {
	case kindCounter:
		fam.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		c = fam.counter
	case kindGauge:
		fam.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		c = fam.gauge
	case kindTimer:
		fam.timer = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: name, Help: help + " Seconds.", Buckets: timerBuckets,
		}, labels)
		c = fam.timer
	}
	err := r.reg.Register(c)
	if err == nil {
		return fam
	}
	// Same name, labels, help and type already registered — by another
	// client on this registerer: share its vector.
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		switch existing := are.ExistingCollector.(type) {
		case *prometheus.CounterVec:
			if kind == kindCounter {
				fam.counter = existing
				return fam
			}
		case *prometheus.GaugeVec:
			if kind == kindGauge {
				fam.gauge = existing
				return fam
			}
		case *prometheus.HistogramVec:
			if kind == kindTimer {
				fam.timer = existing
				return fam
			}
		}
	}
	r.warnLocked("register:"+name, "temporal metric cannot be registered; it is dropped", name, err)
	fam.broken = true
	return fam
}

func (r *promRegistry) warnOnce(key, msg, name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnLocked(key, msg, name, err)
}

func (r *promRegistry) warnLocked(key, msg, name string, err error) {
	if r.warned[key] {
		return
	}
	r.warned[key] = true
	r.logger.Warn(msg, "metric", name, "err", err)
}

// sanitizeName maps s onto the Prometheus name rules: [a-zA-Z_][a-zA-Z0-9_]*
// for labels; metric names would also allow ':', but colons are reserved for
// recording rules, so they are replaced too. Label names starting with "__"
// are reserved for Prometheus itself and get a leading "x".
func sanitizeName(s string, metric bool) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" {
		return "_"
	}
	if !metric && strings.HasPrefix(out, "__") {
		out = "x" + out
	}
	return out
}
