package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// reqResult is what one request load measured: each successful request's latency.
type reqResult struct {
	clients  int
	elapsed  time.Duration
	lat      []time.Duration
	failures int
	firstErr error
}

func (r reqResult) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

// percentile is the nearest-rank percentile p (0..100) in ms.
func (r reqResult) percentile(p float64) float64 {
	return percentileMS(r.lat, p)
}

func percentileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	i := int(float64(len(ds))*p/100+0.5) - 1
	i = max(0, min(i, len(ds)-1))
	return float64(ds[i]) / float64(time.Millisecond)
}

// hammer runs clients loops of one request for d; do gets the client's index. A phase where most
// requests fail is an error.
func hammer(ctx context.Context, clients int, d time.Duration, do func(ctx context.Context, client int) error) (reqResult, error) {
	res := reqResult{clients: clients}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		wg.Go(func() {
			var lat []time.Duration
			fails := 0
			var first error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := do(ctx, i); err != nil {
					fails++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.failures += fails
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if len(res.lat) == 0 || res.failures > len(res.lat) {
		return res, fmt.Errorf("%d of %d requests failed, first: %w", res.failures, res.failures+len(res.lat), res.firstErr)
	}
	return res, nil
}

// request sends one request and checks the status; the body is read and returned.
func request(ctx context.Context, hc *http.Client, method, u, contentType, body string, want int, setup func(*http.Request)) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if setup != nil {
		setup(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return b, fmt.Errorf("%s %s: want %d, got %d %.300s", method, u, want, resp.StatusCode, b)
	}
	return b, nil
}

// rateFigures are a request load's rate and latencies, the rate against target (0: none).
func rateFigures(name string, res reqResult, tgt float64, note string) []result {
	suffix := fmt.Sprintf(" (%d clients)", res.clients)
	if res.clients == 1 {
		suffix = " (1 client)"
	}
	r := result{Name: name + suffix, Value: res.rate(), Unit: "req/s", Higher: true, Target: tgt, Note: note}
	if res.failures > 0 {
		r.Note = strings.TrimPrefix(r.Note+fmt.Sprintf("; %d failed, first: %v", res.failures, res.firstErr), "; ")
	}
	return []result{
		target(r),
		{Name: name + " p50" + suffix, Value: res.percentile(50), Unit: "ms"},
		{Name: name + " p99" + suffix, Value: res.percentile(99), Unit: "ms"},
	}
}
