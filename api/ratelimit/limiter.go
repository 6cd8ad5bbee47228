package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of clients a Limiter tracks by default (≈ 100 bytes each).
const DefaultMaxKeys = 1 << 16

// WarnWindow is how often a Decision asks its caller to log the same key again.
const WarnWindow = time.Minute

// numShards spreads keys over independently locked maps so concurrent requests from different
// clients rarely wait on each other.
const numShards = 32

// inlineSweepEvery bounds how often a full shard is swept on the request path before a new key
// is sent to the overflow bucket.
const inlineSweepEvery = time.Second

// Limit is a token bucket: a client may send Burst requests at once and PerMinute a minute
// after that.
type Limit struct {
	PerMinute int
	Burst     int
}

// LimiterConfig configures NewLimiter.
type LimiterConfig struct {
	// Limit is every key's bucket. PerMinute must be positive; Burst defaults to 1.
	Limit Limit
	// MaxKeys bounds the keys tracked at once (default DefaultMaxKeys). When it is reached and
	// sweeping frees nothing, new keys share one overflow bucket with the same Limit: fail safe
	// toward the attacker (a flood of new addresses cannot buy itself unlimited requests nor
	// unbounded memory), at the price of throttling newcomers together until keys go idle;
	// clients already tracked keep their own buckets.
	MaxKeys int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Decision is the answer for one request.
type Decision struct {
	// Allowed: the request may proceed (for Allow, a token was taken).
	Allowed bool
	// RetryAfter, when refused, is how long until the key has a token again.
	RetryAfter time.Duration
	// Warn is set on the first refusal of a key in WarnWindow: the caller logs it, then stays
	// quiet for that key until the window has passed.
	Warn bool
	// Overflow: the key was not tracked on its own (MaxKeys reached) and shared the overflow
	// bucket.
	Overflow bool
}

// Limiter holds one token bucket per key (a client address), in memory, bounded by MaxKeys.
// Safe for concurrent use. A bucket that has refilled carries no information (it equals a new
// one), so Sweep drops it; memory therefore follows the clients active within the last refill
// time (Burst / PerMinute minutes), not all clients ever seen.
type Limiter struct {
	rate     float64 // tokens per nanosecond
	burst    float64
	perShard int
	now      func() time.Time
	seed     maphash.Seed
	shards   [numShards]shard
	overflow struct {
		mu sync.Mutex
		b  bucket
	}
}

type shard struct {
	mu        sync.Mutex
	m         map[string]bucket
	lastSweep int64
	_         [40]byte // keeps neighbouring shards' locks off one cache line
}

// bucket is one key's state; times are Unix nanoseconds of the Limiter's clock, warned 0 for
// never.
type bucket struct {
	tokens float64
	last   int64
	warned int64
}

// NewLimiter validates cfg and returns an empty Limiter.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if cfg.Limit.PerMinute <= 0 {
		return nil, errors.New("ratelimit: Limit.PerMinute must be positive")
	}
	if cfg.Limit.Burst < 0 || cfg.MaxKeys < 0 {
		return nil, errors.New("ratelimit: Limit.Burst and MaxKeys must not be negative")
	}
	if cfg.Limit.Burst == 0 {
		cfg.Limit.Burst = 1
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{
		rate:     float64(cfg.Limit.PerMinute) / float64(time.Minute),
		burst:    float64(cfg.Limit.Burst),
		perShard: max(1, (cfg.MaxKeys+numShards-1)/numShards),
		now:      cfg.Now,
		seed:     maphash.MakeSeed(),
	}
	for i := range l.shards {
		l.shards[i].m = map[string]bucket{}
	}
	l.overflow.b = bucket{tokens: l.burst}
	return l, nil
}

// Allow takes a token from key's bucket if it has one.
func (l *Limiter) Allow(key string) Decision { return l.decide(key, true) }

// Check says whether key has a token without taking it: for budgets charged only afterwards,
// on failure (Allow then). A key never seen is not tracked by Check.
func (l *Limiter) Check(key string) Decision { return l.decide(key, false) }

func (l *Limiter) decide(key string, take bool) Decision {
	now := l.now().UnixNano()
	s := &l.shards[maphash.String(l.seed, key)%numShards]
	s.mu.Lock()
	b, ok := s.m[key]
	if !ok {
		if !take {
			s.mu.Unlock()
			return Decision{Allowed: true}
		}
		if len(s.m) >= l.perShard && now-s.lastSweep >= int64(inlineSweepEvery) {
			l.sweepShard(s, now)
		}
		if len(s.m) >= l.perShard {
			s.mu.Unlock()
			return l.overflowDecide(now)
		}
		b = bucket{tokens: l.burst, last: now}
	}
	d := l.spend(&b, now, take)
	if take || ok {
		s.m[key] = b
	}
	s.mu.Unlock()
	return d
}

func (l *Limiter) overflowDecide(now int64) Decision {
	l.overflow.mu.Lock()
	defer l.overflow.mu.Unlock()
	d := l.spend(&l.overflow.b, now, true)
	d.Overflow = true
	return d
}

// spend refills b up to now and takes a token when take is set and one is there.
func (l *Limiter) spend(b *bucket, now int64, take bool) Decision {
	if elapsed := now - b.last; elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(elapsed)*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		if take {
			b.tokens--
		}
		return Decision{Allowed: true}
	}
	d := Decision{RetryAfter: time.Duration(math.Ceil((1 - b.tokens) / l.rate))}
	if b.warned == 0 || now-b.warned >= int64(WarnWindow) {
		b.warned = now
		d.Warn = true
	}
	return d
}

// idle reports whether b has refilled by now and warned outside the window: dropping it then
// changes nothing a later request could observe, except a warning no sooner than WarnWindow.
func (l *Limiter) idle(b bucket, now int64) bool {
	full := b.tokens+float64(now-b.last)*l.rate >= l.burst
	return full && (b.warned == 0 || now-b.warned >= int64(WarnWindow))
}

func (l *Limiter) sweepShard(s *shard, now int64) int {
	n := 0
	for k, b := range s.m {
		if l.idle(b, now) {
			delete(s.m, k)
			n++
		}
	}
	s.lastSweep = now
	return n
}

// Sweep drops the buckets of idle keys and returns how many it dropped.
func (l *Limiter) Sweep() int {
	now := l.now().UnixNano()
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += l.sweepShard(s, now)
		s.mu.Unlock()
	}
	return n
}

// Len is the number of keys tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Run sweeps every interval until ctx is done. Without it memory stays bounded by MaxKeys, but
// idle keys are then only dropped when a shard fills up.
func (l *Limiter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Sweep()
		}
	}
}
