package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// OAuth2ClientsChannel is the PostgreSQL notification channel on which every write of an
// OAuth2 client (create, update, secret change, delete) is announced, with the client id as
// payload. The NOTIFY is part of the writing transaction, so PostgreSQL delivers it to the
// listeners of every replica exactly when the change commits, and never when it rolls back.
const OAuth2ClientsChannel = "keyflow_oauth2_clients"

// ListenerApplicationName is the application_name of the connection ListenOAuth2Clients
// holds (pg_stat_activity shows it), so that operators can tell it from the pool's.
const ListenerApplicationName = "keyflow-listen"

// Timing of ListenOAuth2Clients.
const (
	// listenHealthInterval: with no notification for this long, the listener pings its
	// connection, so that a silently dropped one (a half-open TCP connection) is noticed.
	listenHealthInterval = 30 * time.Second
	listenPingTimeout    = 5 * time.Second
	listenMinBackoff     = 50 * time.Millisecond
	listenMaxBackoff     = 10 * time.Second
)

// OAuth2ClientCache is a per-process cache of OAuth2 clients that the store keeps current
// (see ListenOAuth2Clients). Its methods are called from the store's goroutines, right after
// a writing transaction ends and from the notification loop, so they must be quick and
// never block on the database.
type OAuth2ClientCache interface {
	// InvalidateClient drops the client with this id: it was created, changed or deleted.
	InvalidateClient(clientID string)
	// InvalidateClients drops every client: changes may have been missed.
	InvalidateClients()
}

// ListenOAuth2Clients keeps cache current until ctx ends, and then returns nil.
//
// Writes made through this Store invalidate their clients in cache right after their
// transaction ends, before the write's caller sees it return (so the replica that made a
// change never serves the old client afterwards). Writes made by other processes on the same
// database reach it through LISTEN on OAuth2ClientsChannel, on one dedicated connection (not
// one of the pool's). Whenever that connection is (re)established the whole cache is
// flushed, since notifications sent while it was down are lost; a lost connection is
// reopened with a jittered exponential backoff. Run it in its own goroutine, once per cache.
func (s *Store) ListenOAuth2Clients(ctx context.Context, cache OAuth2ClientCache) error {
	if cache == nil {
		return errors.New("store: listen for oauth2 clients: nil cache")
	}
	defer s.clientCaches.add(cache)()
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	backoff := listenMinBackoff
	for {
		listening, err := s.listenOAuth2Clients(ctx, cfg, cache)
		if ctx.Err() != nil {
			return nil
		}
		if listening {
			backoff = listenMinBackoff // it worked for a while: retry soon
		}
		s.log.Warn("store: oauth2 client notifications interrupted; reconnecting", "error", err, "backoff", backoff)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOAuth2Clients runs one connection: it connects, listens, flushes cache and forwards
// notifications until an error. listening reports whether LISTEN succeeded.
func (s *Store) listenOAuth2Clients(ctx context.Context, cfg *pgx.ConnConfig, cache OAuth2ClientCache) (listening bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenPingTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+OAuth2ClientsChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Only now: a change committed from here on is notified, one before may have been missed.
	cache.InvalidateClients()
	s.log.Debug("store: listening for oauth2 client changes", "pid", conn.PgConn().PID())
	for {
		wctx, cancel := context.WithTimeout(ctx, listenHealthInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Channel == OAuth2ClientsChannel {
				cache.InvalidateClient(n.Payload)
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Quiet for a while: check the connection is still there. The deadline
			// that ended the wait leaves the connection usable.
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// notifyOAuth2Client announces a write of a client: a NOTIFY in the current transaction,
// and an invalidation of this process's caches once the transaction has ended.
func (q *queries) notifyOAuth2Client(ctx context.Context, clientID string) error {
	if _, err := q.db.Exec(ctx, `SELECT pg_notify($1, $2)`, OAuth2ClientsChannel, clientID); err != nil {
		return mapErr("store: notify oauth2 client change", err)
	}
	if q.changed != nil {
		q.changed.add(clientID)
	} else {
		q.clientCaches.invalidate([]string{clientID}) // not in a transaction: already committed
	}
	return nil
}

// changedClients collects the clients written in one transaction. Like a Tx it is used by
// one goroutine at a time.
type changedClients struct{ ids []string }

func (c *changedClients) add(id string) { c.ids = append(c.ids, id) }

// clientCaches are the caches of this process to tell, right after a transaction ends, which
// clients it wrote. The set changes rarely (a listener starts or stops) and is read after
// every such transaction, so it is copied on write.
type clientCaches struct {
	mu  sync.Mutex // serializes writers of set
	set atomic.Pointer[[]*cacheRef]
}

// cacheRef gives each registration its own identity, so that the same cache may be
// registered twice and removed once.
type cacheRef struct{ c OAuth2ClientCache }

// add registers c and returns the function that removes it.
func (cc *clientCaches) add(c OAuth2ClientCache) (remove func()) {
	ref := &cacheRef{c: c}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	var next []*cacheRef
	if cur := cc.set.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, ref)
	cc.set.Store(&next)
	return func() {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		var next []*cacheRef
		for _, r := range *cc.set.Load() {
			if r != ref {
				next = append(next, r)
			}
		}
		cc.set.Store(&next)
	}
}

// invalidate tells every registered cache about ids. It runs whatever the transaction's
// outcome: an invalidation too many costs a query, one too few (a commit whose
// acknowledgement was lost) would serve a stale client.
func (cc *clientCaches) invalidate(ids []string) {
	if cc == nil || len(ids) == 0 {
		return
	}
	set := cc.set.Load()
	if set == nil {
		return
	}
	for _, r := range *set {
		for _, id := range ids {
			r.c.InvalidateClient(id)
		}
	}
}

// endTx tells the caches about the clients a transaction wrote; call it once the
// transaction has ended.
func (cc *clientCaches) endTx(c *changedClients) {
	if c != nil {
		cc.invalidate(c.ids)
	}
}
