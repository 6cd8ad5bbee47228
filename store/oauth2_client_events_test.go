package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

// eventWait bounds how long a test waits for a notification to arrive from PostgreSQL; it is
// a deadline for a condition, not a delay: tests go on as soon as the condition holds.
const eventWait = 15 * time.Second

// recorder is a store.OAuth2ClientCache that records what it is told.
type recorder struct {
	mu      sync.Mutex
	ids     []string
	flushes int
	wake    chan struct{} // signalled (without blocking) on every call
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) InvalidateClient(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) InvalidateClients() {
	r.mu.Lock()
	r.flushes++
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) seen() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids), r.flushes
}

func (r *recorder) has(id string) bool {
	ids, _ := r.seen()
	return slices.Contains(ids, id)
}

// waitFor waits until cond holds, re-checking whenever r is told something.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(eventWait)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.wake:
		case <-deadline.C:
			ids, flushes := r.seen()
			t.Fatalf("%s: not within %v (invalidated %q, %d flushes)", what, eventWait, ids, flushes)
		}
	}
}

// listen runs s.ListenOAuth2Clients for r until the test ends and waits until it listens
// (its first flush comes right after LISTEN).
func listen(t *testing.T, s *store.Store, r *recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.ListenOAuth2Clients(ctx, r) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ListenOAuth2Clients: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	r.waitFor(t, "listening", func() bool { _, f := r.seen(); return f >= 1 })
	return stop
}

func listenerPIDs(t *testing.T, conn *pgx.Conn) []int32 {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database() ORDER BY pid`, store.ListenerApplicationName)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// TestOAuth2ClientChangesNotify: every write of a client tells the writing store's caches
// when its transaction ends (not before, and not on rollback), and every other store's
// listener through PostgreSQL.
func TestOAuth2ClientChangesNotify(t *testing.T) {
	url := storetest.URL(t)
	open := func() *store.Store {
		s, err := store.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	s1, s2 := open(), open() // two replicas
	org := rootOrg(t, s1)
	r1, r2 := newRecorder(), newRecorder()
	listen(t, s1, r1)
	listen(t, s2, r2)

	// Created through s1: s1's cache knows when CreateOAuth2Client returns, s2's soon after.
	c, err := s1.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "c1"))
	if err != nil {
		t.Fatal(err)
	}
	if !r1.has("c1") {
		t.Error("the writing store's cache was not told before CreateOAuth2Client returned")
	}
	r2.waitFor(t, "create seen by the other replica", func() bool { return r2.has("c1") })

	// s1's listener hears of its own write too: wait for that, so nothing else is on its way.
	r1.waitFor(t, "own notification", func() bool {
		ids, _ := r1.seen()
		return len(ids) == 2
	})

	// In a Tx, the writing store tells its caches after the commit, not at the write.
	before, _ := r1.seen()
	err = s1.Tx(t.Context(), func(tx *store.Tx) error {
		c.Name = "renamed"
		if _, err := tx.UpdateOAuth2Client(t.Context(), store.NewOAuth2Client{OAuth2Client: c}); err != nil {
			return err
		}
		if now, _ := r1.seen(); len(now) != len(before) {
			t.Error("the cache was told before the transaction committed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := r1.seen(); len(now) == len(before) || now[len(now)-1] != "c1" {
		t.Errorf("the cache was not told of the committed update: %q", now)
	}

	// A rolled-back write is never notified to other replicas. PostgreSQL delivers
	// notifications in commit order, so once a later write's arrives, an earlier one would
	// have arrived too.
	if _, err := s1.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "c2")); err != nil {
		t.Fatal(err)
	}
	errRollback := errors.New("roll back")
	err = s1.Tx(t.Context(), func(tx *store.Tx) error {
		c2, err := tx.OAuth2Client(t.Context(), "c2")
		if err != nil {
			return err
		}
		if _, err := tx.UpdateOAuth2Client(t.Context(), store.NewOAuth2Client{OAuth2Client: c2}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	r2.waitFor(t, "c2 created", func() bool { return r2.has("c2") })
	app, err := s2.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{
		OrgID: org.ID, Name: "app", ClientID: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	// Deleted through s2 (the application takes its client along): s1 hears of it.
	if err := s2.DeleteApplication(t.Context(), app.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	ids2, _ := r2.seen()
	if ids2[len(ids2)-1] != "c1" {
		t.Errorf("the deleting store's cache was not told: %q", ids2)
	}
	r1.waitFor(t, "delete seen by the other replica", func() bool {
		ids, _ := r1.seen()
		return len(ids) > 0 && ids[len(ids)-1] == "c1" && slices.Contains(ids, "c2")
	})
	var c2Notes int
	for _, id := range ids2 {
		if id == "c2" {
			c2Notes++
		}
	}
	if c2Notes != 1 {
		t.Errorf("s2 was told of c2 %d times, want once (its creation; the rolled-back update is no change): %q", c2Notes, ids2)
	}
}

// TestOAuth2ClientListenerReconnects: when its connection is lost, the listener connects
// again, flushes the cache (it may have missed changes meanwhile) and goes on forwarding
// notifications; it ends with its context and then stops telling the cache.
func TestOAuth2ClientListenerReconnects(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	r := newRecorder()
	stop := listen(t, s, r)
	pids := listenerPIDs(t, conn)
	if len(pids) != 1 {
		t.Fatalf("listener backends %v, want one", pids)
	}

	var terminated bool
	if err := conn.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate listener backend %d: %v %v", pids[0], terminated, err)
	}
	r.waitFor(t, "flush after reconnecting", func() bool { _, f := r.seen(); return f >= 2 })
	now := listenerPIDs(t, conn)
	if len(now) != 1 || now[0] == pids[0] {
		t.Errorf("listener backends after reconnecting: %v (before %v)", now, pids)
	}

	// Notifications flow on the new connection: a write from elsewhere (not this store,
	// whose own writes tell the cache directly) arrives.
	if _, err := conn.Exec(t.Context(), `SELECT pg_notify($1, 'from-elsewhere')`, store.OAuth2ClientsChannel); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "notification after reconnecting", func() bool { return r.has("from-elsewhere") })

	stop()
	before, _ := r.seen()
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "after-stop")); err != nil {
		t.Fatal(err)
	}
	if after, _ := r.seen(); len(after) != len(before) {
		t.Errorf("a stopped listener's cache is still told: %q", after)
	}
}
