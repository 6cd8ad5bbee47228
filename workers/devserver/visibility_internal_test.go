package devserver

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// TestServerWritesToTrimmedVisibility checks that the server writes its
// visibility rows into the table trimVisibility trimmed, with one index left.
func TestServerWritesToTrimmedVisibility(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	s, err := Start(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	c, err := client.Dial(client.Options{HostPort: s.FrontendAddress()})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	// A start without a worker: the visibility queue records it as running.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "trimmed", TaskQueue: "nobody"}, "never-run"); err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}

	conn, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DBFileName)+"?mode=ro")
	if err != nil {
		t.Fatalf("open visibility database: %v", err)
	}
	defer func() { _ = conn.Close() }()
	for {
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM executions_visibility WHERE workflow_id = 'trimmed'`).Scan(&n); err != nil {
			t.Fatalf("count rows: %v", err)
		}
		if n == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the server never wrote the workflow's visibility row to the trimmed database")
		case <-time.After(20 * time.Millisecond):
		}
	}
	rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("list indexes: %v", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	if want := []string{keptVisibilityIndex}; !slices.Equal(names, want) {
		t.Errorf("visibility indexes = %v, want %v", names, want)
	}
}
