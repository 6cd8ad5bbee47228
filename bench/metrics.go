package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// metrics is one scrape of a Prometheus text endpoint: value by series (name{labels}).
type metrics map[string]float64

// scrape reads base/metrics.
func scrape(ctx context.Context, hc *http.Client, base string) (metrics, error) {
	b, err := request(ctx, hc, http.MethodGet, base+"/metrics", "", "", http.StatusOK, nil)
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(b)), nil
}

func parseMetrics(text string) metrics {
	m := metrics{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// by sums the series of name by the value of label ("" sums them all into "").
func (m metrics) by(name, label string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range m {
		n, labels, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		key := ""
		if label != "" {
			if _, rest, ok := strings.Cut(labels, label+`="`); ok {
				key, _, _ = strings.Cut(rest, `"`)
			}
		}
		out[key] += v
	}
	return out
}

// perOp is how much each label value of a counter grew from m0 to m1, per n events, largest first,
// as "value×label" parts, and the total.
func perOp(m0, m1 metrics, name, label string, n int) ([]string, float64) {
	a, b := m0.by(name, label), m1.by(name, label)
	type kv struct {
		k string
		v float64
	}
	var rows []kv
	total := 0.0
	for k, v := range b {
		d := (v - a[k]) / float64(n)
		if d >= 0.05 {
			rows = append(rows, kv{k, d})
			total += d
		}
	}
	slices.SortFunc(rows, func(x, y kv) int {
		if x.v != y.v {
			if x.v > y.v {
				return -1
			}
			return 1
		}
		return strings.Compare(x.k, y.k)
	})
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%.1f %s", r.v, r.k)
	}
	return parts, total
}
