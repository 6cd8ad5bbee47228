//go:build recordhistory

package flows_test

// This file records the replay corpus in testdata/histories from a real (embedded) Temporal
// server. It is behind a build tag because the server takes minutes to compile:
//
//	go test -tags recordhistory -run TestRecordHistories ./flows/
//
// Re-record after an intentional change to the workflow's commands, and keep the old files
// while executions recorded with them may still be running (rename them, e.g. *-v1.json).

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/keyflow/keyflow/flows"
)

const replayTaskQueue = "login-replay"

func TestRecordHistories(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	w := newWorld(t)
	ts.NewWorker(replayTaskQueue, func(r worker.Registry) { w.register(r) })

	for _, sc := range replayScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			id := "replay-" + sc.name
			views := drive(ctx, t, c, id, sc.input, sc.answers)
			var res flows.Result
			if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
				t.Fatalf("result: %v", err)
			}
			if res.Status != sc.want {
				t.Fatalf("status %s (%+v), want %s; views %d", res.Status, res.Error, sc.want, len(views))
			}
			hist := history(ctx, t, c, id)
			raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", "histories", sc.name+".json"), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d events, %d workflow tasks", sc.name, len(hist.Events), workflowTasks(hist))
		})
	}
}

// drive runs a login the way a front-end does: UpdateWithStart(getView), then one submit Update
// per view with the idempotency key flowId:seq.
func drive(ctx context.Context, t *testing.T, c client.Client, id string, in flows.LoginInput, answer func(flows.View) flows.Submission) []flows.View {
	t.Helper()
	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: id, TaskQueue: replayTaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowExecutionTimeout: 15 * time.Minute,
	}, flows.LoginWorkflow, in)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: flows.GetViewUpdate, UpdateID: id + ":start",
			WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	if err != nil {
		t.Fatalf("UpdateWithStart: %v", err)
	}
	var v flows.View
	if err := h.Get(ctx, &v); err != nil {
		t.Fatalf("getView: %v", err)
	}
	views := []flows.View{v}
	for !v.Status.Final() {
		sub := answer(v)
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: flows.SubmitUpdate,
			UpdateID: flows.SubmitUpdateID(id, v.Seq), Args: []any{sub}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		if err := h.Get(ctx, &v); err != nil {
			t.Fatalf("submit result: %v", err)
		}
		views = append(views, v)
	}
	return views
}

func history(ctx context.Context, t *testing.T, c client.Client, id string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		hist.Events = append(hist.Events, ev)
	}
	return hist
}
