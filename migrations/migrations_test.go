package migrations_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/migrations"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestUpOnEmptyDatabase applies every migration to an empty database and
// checks the resulting schema version and tables.
func TestUpOnEmptyDatabase(t *testing.T) {
	ctx := t.Context()
	url := storetest.EmptyURL(t)

	v, err := migrations.Version(ctx, url)
	if err != nil || v != 0 {
		t.Fatalf("Version before Up = %d, %v; want 0, nil", v, err)
	}
	if tables := publicTables(t, url); len(tables) != 0 {
		t.Fatalf("Version created tables %v on an empty database", tables)
	}

	v, err = migrations.Up(ctx, url)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if want := migrations.Latest(); v != want {
		t.Errorf("Up = version %d, want %d", v, want)
	}
	if got, err := migrations.Version(ctx, url); err != nil || got != v {
		t.Errorf("Version after Up = %d, %v; want %d", got, err, v)
	}
	again, err := migrations.Up(ctx, url)
	if err != nil || again != v {
		t.Errorf("second Up = %d, %v; want %d, nil (nothing to do)", again, err, v)
	}

	tables := publicTables(t, url)
	for _, want := range []string{
		"organizations", "users", "user_claims", "groups", "group_members",
		"roles", "role_assignments", "audit_events", "group_member_groups",
	} {
		if !slices.Contains(tables, want) {
			t.Errorf("table %s missing; have %v", want, tables)
		}
	}
}

// TestUpConcurrent: several processes (replicas, `keyflow migrate` next to
// `keyflow serve`) may migrate at once; the advisory lock serialises them.
func TestUpConcurrent(t *testing.T) {
	url := storetest.EmptyURL(t)
	const n = 3
	var wg sync.WaitGroup
	versions := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { versions[i], errs[i] = migrations.Up(t.Context(), url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || versions[i] != migrations.Latest() {
			t.Errorf("Up #%d = %d, %v; want %d, nil", i, versions[i], errs[i], migrations.Latest())
		}
	}
}

func TestBadURL(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, url string) (int64, error)
	}{
		{name: "Up", run: func(ctx context.Context, url string) (int64, error) { return migrations.Up(ctx, url) }},
		{name: "Version", run: migrations.Version},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.run(t.Context(), "postgres://u:secret@%zz/")
			if err == nil {
				t.Fatal("no error for an unparsable URL")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func publicTables(t *testing.T, url string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

// TestSchemaRules checks the integrity rules the schema itself enforces, the
// ones no store code can bypass.
func TestSchemaRules(t *testing.T) {
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	exec := func(sql string, args ...any) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	}
	count := func(sql string, args ...any) int {
		var n int
		if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	var orgA, orgB, alice, bob, admins, staffB string
	for _, q := range []struct {
		dst  *string
		sql  string
		args []any
	}{
		{&orgA, `INSERT INTO organizations (handle, name) VALUES ('a', 'A') RETURNING id`, nil},
		{&orgB, `INSERT INTO organizations (handle, name) VALUES ('b', 'B') RETURNING id`, nil},
		{&alice, `INSERT INTO users (org_id, username, username_key) VALUES ($1, 'Alice', 'alice') RETURNING id`, []any{&orgA}},
		{&bob, `INSERT INTO users (org_id, username, username_key) VALUES ($1, 'bob', 'bob') RETURNING id`, []any{&orgB}},
		{&admins, `INSERT INTO groups (org_id, name, name_key) VALUES ($1, 'admins', 'admins') RETURNING id`, []any{&orgA}},
		{&staffB, `INSERT INTO groups (org_id, name, name_key) VALUES ($1, 'staff', 'staff') RETURNING id`, []any{&orgB}},
	} {
		args := make([]any, len(q.args))
		for i, a := range q.args {
			args[i] = *(a.(*string))
		}
		if err := conn.QueryRow(ctx, q.sql, args...).Scan(q.dst); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}

	rejected := []struct {
		name string
		sql  string
		args []any
	}{
		{name: "duplicate username key", sql: `INSERT INTO users (org_id, username, username_key) VALUES ($1, 'ALICE', 'alice')`, args: []any{orgA}},
		{name: "empty username", sql: `INSERT INTO users (org_id, username, username_key) VALUES ($1, '', 'x')`, args: []any{orgA}},
		{name: "unknown user status", sql: `INSERT INTO users (org_id, username, username_key, status) VALUES ($1, 'c', 'c', 'ODD')`, args: []any{orgA}},
		{name: "user in missing organization", sql: `INSERT INTO users (org_id, username, username_key) VALUES (gen_random_uuid(), 'd', 'd')`},
		{name: "group member from another organization", sql: `INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3)`, args: []any{orgA, admins, bob}},
		{name: "group nested in itself", sql: `INSERT INTO group_member_groups (org_id, group_id, member_group_id) VALUES ($1, $2, $2)`, args: []any{orgA, admins}},
		{name: "group nested across organizations", sql: `INSERT INTO group_member_groups (org_id, group_id, member_group_id) VALUES ($1, $2, $3)`, args: []any{orgA, admins, staffB}},
		{name: "role assignment to nobody", sql: `INSERT INTO role_assignments (org_id, role_id) SELECT org_id, id FROM roles LIMIT 1`},
		{name: "organization-audience role of another organization", sql: `INSERT INTO roles (org_id, name, name_key, audience_id) VALUES ($1, 'r', 'r', $2)`, args: []any{orgA, orgB}},
		{name: "organization as its own parent", sql: `UPDATE organizations SET parent_id = id WHERE id = $1`, args: []any{orgA}},
	}
	// The role the assignment case needs.
	if err := exec(`INSERT INTO roles (org_id, name, name_key, audience_id) VALUES ($1, 'viewer', 'viewer', $1)`, orgA); err != nil {
		t.Fatal(err)
	}
	for _, tc := range rejected {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			if err := exec(tc.sql, tc.args...); err == nil {
				t.Errorf("accepted: %s", tc.sql)
			}
		})
	}

	t.Run("updated_at maintained", func(t *testing.T) {
		if err := exec(`UPDATE users SET updated_at = '2000-01-01', created_at = '2000-01-01' WHERE id = $1`, alice); err != nil {
			t.Fatal(err)
		}
		if err := exec(`UPDATE users SET disabled = true WHERE id = $1`, alice); err != nil {
			t.Fatal(err)
		}
		if n := count(`SELECT count(*) FROM users WHERE id = $1 AND updated_at > created_at`, alice); n != 1 {
			t.Error("updated_at not moved by an update")
		}
	})

	t.Run("deleting an organization cascades, audit survives", func(t *testing.T) {
		for _, st := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO user_claims (user_id, claim_uri, value) VALUES ($1, 'http://wso2.org/claims/emailaddress', 'a@example.com')`, []any{alice}},
			{`INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3)`, []any{orgA, admins, alice}},
			{`INSERT INTO role_assignments (org_id, role_id, group_id) SELECT $1, id, $2 FROM roles WHERE org_id = $1`, []any{orgA, admins}},
			{`INSERT INTO role_assignments (org_id, role_id, user_id) SELECT $1, id, $2 FROM roles WHERE org_id = $1`, []any{orgA, alice}},
			{`INSERT INTO audit_events (org_id, actor_type, action, target_type, target_id) VALUES ($1, 'system', 'user.create', 'user', $2)`, []any{orgA, alice}},
		} {
			if err := exec(st.sql, st.args...); err != nil {
				t.Fatalf("%s: %v", st.sql, err)
			}
		}
		if err := exec(`DELETE FROM organizations WHERE id = $1`, orgA); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"users", "user_claims", "groups", "group_members", "roles", "role_assignments"} {
			want := 0
			if table == "users" || table == "groups" {
				want = 1 // bob and staff, in organization B
			}
			if n := count(`SELECT count(*) FROM ` + table); n != want {
				t.Errorf("%s: %d rows left, want %d", table, n, want)
			}
		}
		if n := count(`SELECT count(*) FROM audit_events WHERE org_id = $1`, orgA); n != 1 {
			t.Errorf("%d audit events of the deleted organization, want 1", n)
		}
	})

	t.Run("organization with children cannot be deleted", func(t *testing.T) {
		if err := exec(`INSERT INTO organizations (parent_id, handle, name) VALUES ($1, 'b-child', 'B child')`, orgB); err != nil {
			t.Fatal(err)
		}
		if err := exec(`DELETE FROM organizations WHERE id = $1`, orgB); err == nil {
			t.Error("deleted an organization that has a sub-organization")
		}
	})
}
