package store_test

import (
	"sync"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// TestConnectionsKilledUnderThePool: when the server ends the pool's connections (a restart,
// pg_terminate_backend), the next statements — single reads, writes, lists and transactions —
// run on fresh connections instead of failing.
func TestConnectionsKilledUnderThePool(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	// Fill the pool with several idle connections.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.OrganizationByHandle(ctx, store.RootOrganizationHandle); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for round := range 3 {
		var killed int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed == 0 {
			t.Fatalf("round %d: no pooled connection to kill", round)
		}
		if _, err := s.OrganizationByHandle(ctx, store.RootOrganizationHandle); err != nil {
			t.Fatalf("round %d: read after the kill: %v", round, err)
		}
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "stale-" + string(rune('a'+round))})
		if err != nil {
			t.Fatalf("round %d: write after the kill: %v", round, err)
		}
		if _, err := s.UserSSOSessions(ctx, u.ID, u.CreatedAt); err != nil {
			t.Fatalf("round %d: list after the kill: %v", round, err)
		}
		// Refill the pool for the next round.
		for range 4 {
			wg.Go(func() { _, _ = s.OrganizationByHandle(ctx, store.RootOrganizationHandle) })
		}
		wg.Wait()
	}
}
