package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyflow/keyflow/api/ratelimit"
)

// clock is a settable clock: the tests move time explicitly, never wait for it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(t *testing.T, lim ratelimit.Limit, maxKeys int, c *clock) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.NewLimiter(ratelimit.LimiterConfig{Limit: lim, MaxKeys: maxKeys, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLimiterBucket(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.Limit{PerMinute: 6, Burst: 2}, 0, c)
	for i := range 2 {
		if d := l.Allow("a"); !d.Allowed {
			t.Fatalf("request %d of the burst refused: %+v", i, d)
		}
	}
	d := l.Allow("a")
	if d.Allowed || d.RetryAfter != 10*time.Second || !d.Warn {
		t.Fatalf("over the burst: %+v, want refused, retry after 10s, warn", d)
	}
	if d := l.Allow("a"); d.Allowed || d.Warn {
		t.Fatalf("second refusal: %+v, want refused without another warning", d)
	}
	if d := l.Allow("b"); !d.Allowed {
		t.Fatalf("another key refused: %+v", d)
	}
	c.Add(10 * time.Second)
	if d := l.Allow("a"); !d.Allowed {
		t.Fatalf("after refill: %+v", d)
	}
	if d := l.Allow("a"); d.Allowed || d.RetryAfter != 10*time.Second || d.Warn {
		t.Fatalf("refused again within the warn window: %+v, want no warning", d)
	}
	c.Add(ratelimit.WarnWindow)
	l.Allow("a")
	l.Allow("a")
	if d := l.Allow("a"); d.Allowed || !d.Warn {
		t.Fatalf("refused after the warn window: %+v, want a new warning", d)
	}
}

func TestLimiterCheckTakesNothing(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.Limit{PerMinute: 1, Burst: 1}, 0, c)
	for range 5 {
		if d := l.Check("a"); !d.Allowed {
			t.Fatalf("Check refused an unspent key: %+v", d)
		}
	}
	if l.Len() != 0 {
		t.Fatalf("Check tracked %d keys", l.Len())
	}
	l.Allow("a")
	if d := l.Check("a"); d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("Check of a spent key: %+v", d)
	}
}

// TestLimiterBounded: keys never exceed MaxKeys; beyond it new keys share the overflow bucket
// (with the per-key limit), tracked keys keep their own; idle keys are swept and their room
// reused.
func TestLimiterBounded(t *testing.T) {
	const maxKeys = 64
	c := newClock()
	l := newLimiter(t, ratelimit.Limit{PerMinute: 60, Burst: 2}, maxKeys, c)
	overflowed := 0
	var tracked []string
	for i := range 10 * maxKeys {
		key := fmt.Sprintf("198.51.%d.%d", i/256, i%256)
		d := l.Allow(key)
		if d.Overflow {
			overflowed++
		} else {
			tracked = append(tracked, key)
		}
	}
	if n := l.Len(); n > maxKeys || n != len(tracked) {
		t.Fatalf("tracking %d keys (%d not in overflow), bound %d", n, len(tracked), maxKeys)
	}
	if overflowed < 9*maxKeys {
		t.Fatalf("only %d keys overflowed", overflowed)
	}
	// The overflow bucket is one client's: its burst was spent by the first two newcomers.
	if d := l.Allow("203.0.113.250"); d.Allowed || !d.Overflow {
		t.Fatalf("newcomer during the flood: %+v, want refused from the overflow bucket", d)
	}
	// A tracked client still has its own budget.
	if d := l.Allow(tracked[0]); !d.Allowed || d.Overflow {
		t.Fatalf("tracked client during the flood: %+v", d)
	}
	// Once the buckets have refilled, they are idle: swept, and newcomers are tracked again.
	c.Add(2 * time.Second)
	if n := l.Sweep(); n != len(tracked) {
		t.Fatalf("swept %d, want %d", n, len(tracked))
	}
	if l.Len() != 0 {
		t.Fatalf("%d keys left after the sweep", l.Len())
	}
	if d := l.Allow("203.0.113.250"); !d.Allowed || d.Overflow {
		t.Fatalf("newcomer after the sweep: %+v", d)
	}
}

// TestLimiterFullShardSweptInline: with no Run, a full shard is swept on the request path, so
// idle keys do not push new ones into the overflow bucket.
func TestLimiterFullShardSweptInline(t *testing.T) {
	const maxKeys = 256
	c := newClock()
	l := newLimiter(t, ratelimit.Limit{PerMinute: 60, Burst: 1}, maxKeys, c)
	for i := range 4 * maxKeys {
		l.Allow(fmt.Sprintf("192.0.%d.%d", i/256, i%256))
	}
	c.Add(time.Minute)
	// Far fewer than a shard holds land in any one shard, so none of them overflows.
	for i := range 32 {
		key := fmt.Sprintf("198.18.0.%d", i)
		if d := l.Allow(key); !d.Allowed || d.Overflow {
			t.Fatalf("%s after the earlier keys went idle: %+v", key, d)
		}
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("tracking %d keys, bound %d", n, maxKeys)
	}
}

func TestLimiterConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  ratelimit.LimiterConfig
	}{
		{"zero rate", ratelimit.LimiterConfig{}},
		{"negative burst", ratelimit.LimiterConfig{Limit: ratelimit.Limit{PerMinute: 1, Burst: -1}}},
		{"negative max keys", ratelimit.LimiterConfig{Limit: ratelimit.Limit{PerMinute: 1}, MaxKeys: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ratelimit.NewLimiter(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ name, ip, want string }{
		{"IPv4", "203.0.113.7", "203.0.113.7"},
		{"IPv4-mapped IPv6", "::ffff:203.0.113.7", "203.0.113.7"},
		{"IPv6 by its /64", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"same /64", "2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"},
		{"not an address", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratelimit.Key(tc.ip); got != tc.want {
				t.Fatalf("Key(%q) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

// TestLimiterConcurrent: concurrent requests of one client get exactly its burst while the
// clock stands still, and other clients are unaffected.
func TestLimiterConcurrent(t *testing.T) {
	c := newClock()
	l := newLimiter(t, ratelimit.Limit{PerMinute: 60, Burst: 50}, 0, c)
	var allowed sync.Map
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			n := 0
			for range 100 {
				if l.Allow("203.0.113.1").Allowed {
					n++
				}
				l.Allow(fmt.Sprintf("198.51.100.%d", g))
			}
			allowed.Store(g, n)
		})
	}
	wg.Wait()
	total := 0
	allowed.Range(func(_, v any) bool { total += v.(int); return true })
	if total != 50 {
		t.Fatalf("%d requests of one client allowed, want its burst of 50", total)
	}
	if l.Len() != 9 {
		t.Fatalf("tracking %d keys, want 9", l.Len())
	}
}
