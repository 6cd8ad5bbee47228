package op

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// revocationMargin is how far back each incremental sync re-reads: a
// revocation whose statement started before another's but committed after
// it carries the earlier revoked_at and would otherwise be skipped.
const revocationMargin = 10 * time.Second

// revocations is this replica's copy of the revoked-JWT list, so that
// introspecting a JWT needs no query. It is refreshed incrementally from the
// store at most every interval, by the first caller that finds it stale
// (the others meanwhile read the current copy), and pruned of entries whose
// tokens have expired anyway.
type revocations struct {
	store    Store
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	syncMu   sync.Mutex // held by the goroutine syncing
	mu       sync.RWMutex
	jtis     map[string]time.Time // jti → token expiry
	synced   time.Time            // local clock, last successful or attempted sync
	since    time.Time            // database clock: newest revoked_at seen
	everSync bool
}

// contains reports whether jti is revoked, syncing first if the copy is
// stale. It fails only while the list has never been loaded: answering
// "not revoked" then would fail open.
func (r *revocations) contains(ctx context.Context, jti string) (bool, error) {
	r.maybeSync(ctx)
	r.mu.RLock()
	_, ok := r.jtis[jti]
	loaded := r.everSync
	r.mu.RUnlock()
	if !loaded {
		return false, errors.New("op: revocation list not loaded yet")
	}
	return ok, nil
}

// add records a revocation made by this replica.
func (r *revocations) add(jti string, exp time.Time) {
	r.mu.Lock()
	r.jtis[jti] = exp
	r.mu.Unlock()
}

func (r *revocations) maybeSync(ctx context.Context) {
	r.mu.RLock()
	fresh := r.everSync && r.now().Sub(r.synced) < r.interval
	first := !r.everSync
	r.mu.RUnlock()
	if fresh {
		return
	}
	if first {
		// Until the first sync the copy knows nothing: wait for it.
		r.syncMu.Lock()
	} else if !r.syncMu.TryLock() {
		return
	}
	defer r.syncMu.Unlock()
	r.mu.RLock()
	done := r.everSync && r.now().Sub(r.synced) < r.interval
	since := r.since
	r.mu.RUnlock()
	if done {
		return
	}
	if !since.IsZero() {
		since = since.Add(-revocationMargin)
	}
	rows, err := r.store.RevokedOAuth2JTIs(ctx, since)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.synced = now
	if err != nil {
		// Keep the copy; retry after another interval. A first sync that
		// fails leaves everSync false, so the next caller tries again.
		r.log.WarnContext(ctx, "op: revocation sync failed", "error", err)
		return
	}
	r.everSync = true
	for _, row := range rows {
		r.jtis[row.JTI] = row.ExpiresAt
		if row.RevokedAt.After(r.since) {
			r.since = row.RevokedAt
		}
	}
	for jti, exp := range r.jtis {
		if !now.Before(exp) {
			delete(r.jtis, jti)
		}
	}
}

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }
