package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/migrations"
)

func TestMain(m *testing.M) { Main(m) }

func TestURLGivesFreshMigratedDatabases(t *testing.T) {
	urls := []string{URL(t), URL(t)}
	if urls[0] == urls[1] {
		t.Fatal("two calls returned the same database")
	}
	for _, u := range urls {
		v, err := migrations.Version(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		if v != migrations.Latest() {
			t.Errorf("version %d, want %d", v, migrations.Latest())
		}
	}
	conn := connect(t, urls[0])
	if _, err := conn.Exec(t.Context(), `INSERT INTO organizations (handle, name) VALUES ('only-here', 'x')`); err != nil {
		t.Fatal(err)
	}
	if n := count(t, connect(t, urls[1]), "SELECT count(*) FROM organizations"); n != 0 {
		t.Errorf("second database sees %d organizations, want an empty database", n)
	}
}

func TestEmptyURL(t *testing.T) {
	u := EmptyURL(t)
	v, err := migrations.Version(t.Context(), u)
	if err != nil || v != 0 {
		t.Fatalf("Version = %d, %v; want 0", v, err)
	}
	if n := count(t, connect(t, u), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); n != 0 {
		t.Errorf("%d tables, want none", n)
	}
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		u := URL(t)
		name = u[strings.LastIndex(u, "/")+1:]
		if i := strings.IndexByte(name, '?'); i >= 0 {
			name = name[:i]
		}
	})
	admin := shared.get(t).admin
	var exists bool
	if err := admin.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`,
		name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestNewStorePings(t *testing.T) {
	s := New(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseName(t *testing.T) {
	tests := []struct {
		name     string
		testName string
		prefix   string
	}{
		{name: "plain", testName: "TestFoo", prefix: "kt_testfoo_"},
		{name: "subtest with spaces", testName: "TestFoo/a b/ÄÖ", prefix: "kt_testfoo_a_b____"},
		{name: "long", testName: strings.Repeat("x", 200), prefix: "kt_" + strings.Repeat("x", 51) + "_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := databaseName(tc.testName)
			if !strings.HasPrefix(got, tc.prefix) || len(got) != len(tc.prefix)+8 || len(got) > 63 {
				t.Errorf("databaseName(%q) = %q, want %q + 8 hex digits, at most 63 bytes", tc.testName, got, tc.prefix)
			}
			if databaseName(tc.testName) == got {
				t.Errorf("two names for %q are equal", tc.testName)
			}
		})
	}
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, conn *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
