package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

// newStore opens a Store on a fresh database and returns a raw connection to
// the same database for checking what the store wrote.
func newStore(t *testing.T, opts ...store.Option) (*store.Store, *pgx.Conn) {
	t.Helper()
	url := storetest.URL(t)
	s, err := store.Open(t.Context(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return s, conn
}

func rootOrg(t *testing.T, s *store.Store) store.Organization {
	t.Helper()
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return org
}

func countRows(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}
