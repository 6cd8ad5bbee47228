package devserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/keyflow/keyflow/workers/devserver"
)

// listed is one row of a visibility listing.
type listed struct {
	id     string
	status enumspb.WorkflowExecutionStatus
}

// list returns the namespace's visibility rows matching query.
func list(ctx context.Context, t *testing.T, c client.Client, namespace, query string) []listed {
	t.Helper()
	var out []listed
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, NextPageToken: token,
		})
		if err != nil {
			t.Fatalf("ListWorkflow %q: %v", query, err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, listed{id: e.GetExecution().GetWorkflowId(), status: e.GetStatus()})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// waitListed waits until query lists exactly want (in any order). The
// visibility queue writes rows after the workflow operation returns, so the
// rows appear a little later; ctx bounds the wait.
func waitListed(ctx context.Context, t *testing.T, c client.Client, namespace, query string, want ...listed) {
	t.Helper()
	key := func(l listed) string { return fmt.Sprintf("%s/%s", l.id, l.status) }
	wantKeys := make([]string, len(want))
	for i, w := range want {
		wantKeys[i] = key(w)
	}
	slices.Sort(wantKeys)
	var got []string
	for {
		got = got[:0]
		for _, l := range list(ctx, t, c, namespace, query) {
			got = append(got, key(l))
		}
		slices.Sort(got)
		if slices.Equal(got, wantKeys) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ListWorkflow %q = %v, want %v", query, got, wantKeys)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// visibilityTrouble returns the server's log records that report a failure:
// any ERROR, and any WARN about visibility.
func visibilityTrouble(r *levelRecorder) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, l := range r.levels {
		rec := r.records[i]
		if l >= slog.LevelError || (l >= slog.LevelWarn && strings.Contains(strings.ToLower(rec), "visibility")) {
			out = append(out, rec)
		}
	}
	return out
}

// TestTrimmedVisibility checks the trimmed visibility table: filtered listings
// are right without the dropped indexes, and after a restart (which trims
// again, finding nothing left to drop) the rows written before it are still
// listed, a workflow started before it closes and is listed with its final
// status, and the server logs no visibility trouble.
func TestTrimmedVisibility(t *testing.T) {
	const namespace = "keyflow-visibility"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	firstLogs := &levelRecorder{}
	first := start(t, devserver.Config{DataDir: dir, Namespace: namespace, Logger: slog.New(firstLogs)})
	c, disconnect := connect(t, first, namespace)

	const echoID, counterID = "vis-echo", "vis-counter"
	runEcho(ctx, t, c, echoID)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       counterID,
			TaskQueue:                taskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, counterWorkflowName),
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: addUpdate, Args: []any{4}, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		t.Fatalf("UpdateWithStartWorkflow: %v", err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatalf("UpdateWithStart result: %v", err)
	}

	echoDone := listed{id: echoID, status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}
	counterRunning := listed{id: counterID, status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}
	waitListed(ctx, t, c, namespace, "", echoDone, counterRunning)
	// Each filter below would use an index with the full schema; the trimmed
	// table has only the default order's index and must give the same
	// answers by scanning.
	for _, tt := range []struct {
		name, query string
		want        []listed
	}{
		{name: "workflow id", query: fmt.Sprintf("WorkflowId = %q", echoID), want: []listed{echoDone}},
		{name: "workflow type", query: fmt.Sprintf("WorkflowType = %q", counterWorkflowName), want: []listed{counterRunning}},
		{name: "status", query: "ExecutionStatus = 'Running'", want: []listed{counterRunning}},
		{name: "task queue and close time", query: fmt.Sprintf("TaskQueue = %q AND CloseTime IS NOT NULL", taskQueue), want: []listed{echoDone}},
		{name: "no match", query: "WorkflowId = 'nobody'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			waitListed(ctx, t, c, namespace, tt.query, tt.want...)
		})
	}
	count, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("CountWorkflow: %v", err)
	}
	if count.GetCount() != 2 {
		t.Errorf("CountWorkflow = %d, want 2", count.GetCount())
	}

	disconnect()
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if bad := visibilityTrouble(firstLogs); len(bad) != 0 {
		t.Errorf("first server logged trouble: %q", bad)
	}

	secondLogs := &levelRecorder{}
	second := start(t, devserver.Config{DataDir: dir, Namespace: namespace, Logger: slog.New(secondLogs)})
	c, disconnect = connect(t, second, namespace)
	if got := update(ctx, t, c, counterID, finishUpdate); got != 4 {
		t.Fatalf("finish result after restart = %d, want 4", got)
	}
	var final int
	if err := c.GetWorkflow(ctx, counterID, "").Get(ctx, &final); err != nil {
		t.Fatalf("counter result after restart: %v", err)
	}
	waitListed(ctx, t, c, namespace, "", echoDone,
		listed{id: counterID, status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED})
	disconnect()
	if err := second.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if bad := visibilityTrouble(secondLogs); len(bad) != 0 {
		t.Errorf("restarted server logged trouble: %q", bad)
	}
}
