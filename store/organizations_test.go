package store_test

import (
	"sync"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestEnsureRootOrganization(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	first, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == "" || first.ParentID != "" || first.Handle != store.RootOrganizationHandle ||
		first.Name != store.RootOrganizationName || first.Status != store.OrganizationActive || first.CreatedAt.IsZero() {
		t.Errorf("root organization = %+v", first)
	}
	again, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("second call = %+v, want %+v", again, first)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM organizations`); n != 1 {
		t.Errorf("%d organizations, want 1", n)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`,
		store.AuditOrganizationCreate, first.ID); n != 1 {
		t.Errorf("%d creation audit events, want 1", n)
	}
}

func TestEnsureRootOrganizationConcurrent(t *testing.T) {
	t.Parallel()
	s, conn := newStore(t)
	const n = 8
	orgs := make([]store.Organization, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { orgs[i], errs[i] = s.EnsureRootOrganization(t.Context()) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if orgs[i].ID != orgs[0].ID {
			t.Errorf("call %d got organization %s, call 0 got %s", i, orgs[i].ID, orgs[0].ID)
		}
	}
	if n := countRows(t, conn, `SELECT count(*) FROM organizations`); n != 1 {
		t.Errorf("%d organizations, want 1", n)
	}
}

func TestEnsureRootOrganizationInTx(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var inTx store.Organization
	if err := s.Tx(t.Context(), func(tx *store.Tx) error {
		var err error
		inTx, err = tx.EnsureRootOrganization(t.Context())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := rootOrg(t, s); got.ID != inTx.ID {
		t.Errorf("after Tx: %s, in Tx: %s", got.ID, inTx.ID)
	}
}
