package temporalx_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/keyflow/keyflow/flows/temporalx"
)

// gather returns the registry's families by name, failing the test if the
// registry is inconsistent (which is what a scrape would hit).
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// series finds the metric of family name whose labels equal want.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		t.Fatalf("no metric family %q; have %v", name, keys(fams))
	}
	for _, m := range mf.GetMetric() {
		got := labelsOf(m)
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if match {
			return m
		}
	}
	t.Fatalf("family %q has no series with labels %v", name, want)
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMetricsHandlerKinds(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := temporalx.NewMetricsHandler(reg, nil).WithTags(map[string]string{"namespace": "default", "operation": "StartWorkflowExecution"})

	h.Counter("temporal_request").Inc(2)
	h.Counter("temporal_request").Inc(3)
	h.Counter("temporal_request").Inc(-7) // ignored, not a panic
	h.Gauge("temporal_num_pollers").Update(4)
	h.Gauge("temporal_num_pollers").Update(2.5)
	h.Timer("temporal_request_latency").Record(1500 * time.Millisecond)
	h.Timer("temporal_request_latency").Record(500 * time.Millisecond)

	want := map[string]string{"namespace": "default", "operation": "StartWorkflowExecution"}
	fams := gather(t, reg)

	tests := []struct {
		name   string
		metric string
		check  func(t *testing.T, m *dto.Metric, mf *dto.MetricFamily)
	}{
		{name: "counter adds deltas", metric: "temporal_request", check: func(t *testing.T, m *dto.Metric, mf *dto.MetricFamily) {
			if mf.GetType() != dto.MetricType_COUNTER || m.GetCounter().GetValue() != 5 {
				t.Errorf("type %v value %v, want COUNTER 5", mf.GetType(), m.GetCounter().GetValue())
			}
		}},
		{name: "gauge keeps last value", metric: "temporal_num_pollers", check: func(t *testing.T, m *dto.Metric, mf *dto.MetricFamily) {
			if mf.GetType() != dto.MetricType_GAUGE || m.GetGauge().GetValue() != 2.5 {
				t.Errorf("type %v value %v, want GAUGE 2.5", mf.GetType(), m.GetGauge().GetValue())
			}
		}},
		{name: "timer is a histogram in seconds", metric: "temporal_request_latency", check: func(t *testing.T, m *dto.Metric, mf *dto.MetricFamily) {
			hist := m.GetHistogram()
			if mf.GetType() != dto.MetricType_HISTOGRAM || hist.GetSampleCount() != 2 || hist.GetSampleSum() != 2.0 {
				t.Errorf("type %v count %v sum %v, want HISTOGRAM 2 2.0", mf.GetType(), hist.GetSampleCount(), hist.GetSampleSum())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, series(t, fams, tt.metric, want), fams[tt.metric])
		})
	}
}

func TestMetricsHandlerTags(t *testing.T) {
	t.Run("WithTags overrides and does not mutate the parent", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		parent := temporalx.NewMetricsHandler(reg, nil).WithTags(map[string]string{"namespace": "a", "task_queue": "q"})
		child := parent.WithTags(map[string]string{"namespace": "b"})
		parent.Counter("c").Inc(1)
		child.Counter("c").Inc(10)
		fams := gather(t, reg)
		if v := series(t, fams, "c", map[string]string{"namespace": "a", "task_queue": "q"}).GetCounter().GetValue(); v != 1 {
			t.Errorf("parent series = %v, want 1", v)
		}
		if v := series(t, fams, "c", map[string]string{"namespace": "b", "task_queue": "q"}).GetCounter().GetValue(); v != 10 {
			t.Errorf("child series = %v, want 10", v)
		}
	})

	t.Run("differing tag sets for one name stay scrapeable", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		var logs bytes.Buffer
		root := temporalx.NewMetricsHandler(reg, slog.New(slog.NewTextHandler(&logs, nil)))
		root.WithTags(map[string]string{"a": "1", "b": "2"}).Counter("m").Inc(1)
		root.WithTags(map[string]string{"a": "3"}).Counter("m").Inc(1)                     // missing b
		root.WithTags(map[string]string{"a": "4", "b": "5", "c": "6"}).Counter("m").Inc(1) // extra c
		root.Counter("m").Inc(1)                                                           // no tags at all
		fams := gather(t, reg)
		series(t, fams, "m", map[string]string{"a": "1", "b": "2"})
		series(t, fams, "m", map[string]string{"a": "3", "b": ""})
		series(t, fams, "m", map[string]string{"a": "4", "b": "5"})
		series(t, fams, "m", map[string]string{"a": "", "b": ""})
		if !strings.Contains(logs.String(), "extra tags dropped") {
			t.Errorf("no warning about the dropped tag; logs: %s", logs.String())
		}
	})

	t.Run("names and labels are sanitized", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		h := temporalx.NewMetricsHandler(reg, nil).WithTags(map[string]string{
			"task-queue": "q", "__name": "n", "9lives": "x", "bad": "\xff",
		})
		h.Counter("temporal.request:total-1").Inc(1)
		h.Counter("1st").Inc(1)
		fams := gather(t, reg)
		wantLabels := map[string]string{"task_queue": "q", "x__name": "n", "_9lives": "x", "bad": "\uFFFD"}
		series(t, fams, "temporal_request_total_1", wantLabels)
		series(t, fams, "_1st", wantLabels)
	})
}

func TestMetricsHandlerConflicts(t *testing.T) {
	t.Run("one name used as two kinds", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		var logs bytes.Buffer
		h := temporalx.NewMetricsHandler(reg, slog.New(slog.NewTextHandler(&logs, nil)))
		h.Counter("x").Inc(1)
		h.Gauge("x").Update(5)
		h.Timer("x").Record(time.Second)
		fams := gather(t, reg)
		if fams["x"].GetType() != dto.MetricType_COUNTER {
			t.Errorf("x is %v, want the first kind (COUNTER)", fams["x"].GetType())
		}
		if n := strings.Count(logs.String(), "two kinds"); n != 2 {
			t.Errorf("got %d kind warnings, want 2 (one per conflicting kind); logs: %s", n, logs.String())
		}
	})

	t.Run("name taken by a foreign collector", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		foreign := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "temporal_request", Help: "not ours"}, []string{"zone"})
		reg.MustRegister(foreign)
		foreign.WithLabelValues("z").Set(7)
		h := temporalx.NewMetricsHandler(reg, nil).WithTags(map[string]string{"namespace": "n"})
		h.Counter("temporal_request").Inc(1)
		fams := gather(t, reg)
		if v := series(t, fams, "temporal_request", map[string]string{"zone": "z"}).GetGauge().GetValue(); v != 7 {
			t.Errorf("foreign gauge = %v, want 7 untouched", v)
		}
	})

	t.Run("two handlers on one registerer share series", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		tags := map[string]string{"namespace": "n"}
		a := temporalx.NewMetricsHandler(reg, nil).WithTags(tags)
		b := temporalx.NewMetricsHandler(reg, nil).WithTags(tags)
		a.Counter("temporal_request").Inc(1)
		b.Counter("temporal_request").Inc(2)
		a.Timer("temporal_request_latency").Record(time.Millisecond)
		b.Timer("temporal_request_latency").Record(time.Millisecond)
		fams := gather(t, reg)
		if v := series(t, fams, "temporal_request", tags).GetCounter().GetValue(); v != 3 {
			t.Errorf("shared counter = %v, want 3", v)
		}
		if n := series(t, fams, "temporal_request_latency", tags).GetHistogram().GetSampleCount(); n != 2 {
			t.Errorf("shared histogram count = %v, want 2", n)
		}
	})
}

func TestMetricsHandlerConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	root := temporalx.NewMetricsHandler(reg, nil)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			h := root.WithTags(map[string]string{"worker": string(rune('a' + i%2))})
			for range each {
				h.Counter("n").Inc(1)
				h.Gauge("g").Update(1)
				h.Timer("t").Record(time.Millisecond)
			}
		})
	}
	wg.Wait()
	fams := gather(t, reg)
	total := 0.0
	for _, m := range fams["n"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != workers*each {
		t.Fatalf("counter total = %v, want %d", total, workers*each)
	}
}
