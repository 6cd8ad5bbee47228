package temporalx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/flows/temporalx"
	"github.com/keyflow/keyflow/workers/devserver"
)

// Names of the test workflow, its Updates and activities. Registered by name
// only (WorkerOptions disables aliasing), as production flows are.
const (
	secretWorkflowName   = "keyflow-test-secret-flow"
	submitUpdateName     = "submit"
	rejectUpdateName     = "reject"
	verifyActivityName   = "keyflow-test-verify"
	localCheckActivity   = "keyflow-test-local-check"
	secretPasswordPrefix = "hunter2-"
)

// loginArgs is the workflow input: a user name and a password, as a login
// flow would receive them.
type loginArgs struct {
	User     string
	Password string
}

// secretWorkflow carries its secrets through every kind of payload history
// can hold: workflow input, activity and local-activity input and result,
// Update arguments and results, an Update failure message, and the workflow
// result.
func secretWorkflow(ctx workflow.Context, in loginArgs) (string, error) {
	var code string
	if err := workflow.SetUpdateHandlerWithOptions(ctx, submitUpdateName,
		func(ctx workflow.Context, c string) (string, error) {
			code = c
			return "accepted:" + c, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c string) error {
			if c == "" {
				return errors.New("empty code")
			}
			return nil
		}},
	); err != nil {
		return "", err
	}
	// An accepted Update that fails: its error message lands in history.
	if err := workflow.SetUpdateHandler(ctx, rejectUpdateName, func(ctx workflow.Context, c string) error {
		return fmt.Errorf("wrong one-time code %s", c)
	}); err != nil {
		return "", err
	}

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var verified string
	if err := workflow.ExecuteActivity(actx, verifyActivityName, in.Password).Get(ctx, &verified); err != nil {
		return "", err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var checked string
	if err := workflow.ExecuteLocalActivity(lctx, localCheckActivity, in.Password).Get(ctx, &checked); err != nil {
		return "", err
	}

	if err := workflow.Await(ctx, func() bool { return code != "" }); err != nil {
		return "", err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return "", err
	}
	return verified + "|" + checked + "|" + code, nil
}

func verifyActivity(_ context.Context, password string) (string, error) {
	return "verified:" + password, nil
}

func localCheckActivityFn(_ context.Context, password string) (string, error) {
	return "checked:" + password, nil
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestHistoryHoldsNoSecret runs a workflow with secrets through a real
// Temporal server and reads its raw history with a client that has no codec:
// no event may contain a secret, while decoding the same events with the
// keyring recovers every one of them (so the scan cannot pass vacuously).
func TestHistoryHoldsNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	srv, err := devserver.Start(ctx, devserver.Config{DataDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatalf("devserver.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("devserver.Stop: %v", err)
		}
	})

	ring := testKeyring(t)
	reg := prometheus.NewRegistry()
	c, err := temporalx.Dial(ctx, temporalx.Config{
		Address:           srv.FrontendAddress(),
		Namespace:         devserver.DefaultNamespace,
		Keyring:           ring,
		Logger:            logger,
		MetricsRegisterer: reg,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.Close)

	taskQueue := "history-test-" + randomHex(t, 4)
	w := worker.New(c, taskQueue, temporalx.WorkerOptions())
	w.RegisterWorkflowWithOptions(secretWorkflow, workflow.RegisterOptions{Name: secretWorkflowName})
	w.RegisterActivityWithOptions(verifyActivity, activity.RegisterOptions{Name: verifyActivityName})
	w.RegisterActivityWithOptions(localCheckActivityFn, activity.RegisterOptions{Name: localCheckActivity})
	if err := w.Start(); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	t.Cleanup(w.Stop)

	password := secretPasswordPrefix + randomHex(t, 8)
	code := secretPasswordPrefix + "code-" + randomHex(t, 8)
	wrongCode := secretPasswordPrefix + "wrong-" + randomHex(t, 8)
	secrets := []string{password, code, wrongCode}

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       "history-test-" + randomHex(t, 6),
		TaskQueue:                taskQueue,
		WorkflowExecutionTimeout: time.Minute,
	}, secretWorkflowName, loginArgs{User: "alice", Password: password})
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}

	// The rejected code comes back as an error whose message the codec
	// client can read.
	rejectHandle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: run.GetID(), RunID: run.GetRunID(),
		UpdateName: rejectUpdateName, Args: []any{wrongCode},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("UpdateWorkflow(reject): %v", err)
	}
	if err := rejectHandle.Get(ctx, nil); err == nil || !strings.Contains(err.Error(), wrongCode) {
		t.Fatalf("reject Update error = %v, want one naming the wrong code", err)
	}

	submitHandle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: run.GetID(), RunID: run.GetRunID(),
		UpdateName: submitUpdateName, Args: []any{code},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("UpdateWorkflow(submit): %v", err)
	}
	var submitResult string
	if err := submitHandle.Get(ctx, &submitResult); err != nil || submitResult != "accepted:"+code {
		t.Fatalf("submit Update = %q, %v", submitResult, err)
	}

	var result string
	if err := run.Get(ctx, &result); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if want := "verified:" + password + "|checked:" + password + "|" + code; result != want {
		t.Fatalf("workflow result = %q, want %q", result, want)
	}

	// A second client, without the codec: what anyone with access to the
	// namespace (or the server's database) sees.
	plain, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: devserver.DefaultNamespace,
		Logger:    nopLogger{},
	})
	if err != nil {
		t.Fatalf("plain Dial: %v", err)
	}
	t.Cleanup(plain.Close)

	var events []*historypb.HistoryEvent
	it := plain.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		events = append(events, ev)
	}

	t.Run("no secret in any raw event", func(t *testing.T) {
		if len(events) == 0 {
			t.Fatal("empty history")
		}
		for _, ev := range events {
			for _, s := range leakedSecrets(t, ev, secrets) {
				t.Errorf("event %d (%s) contains secret %q in clear", ev.GetEventId(), ev.GetEventType(), s)
			}
		}
	})

	t.Run("the scan sees a secret stored without the codec", func(t *testing.T) {
		// Guard against a scan that can never fire: the same event type
		// with the input encoded by the SDK's default converter.
		input, err := converter.GetDefaultDataConverter().ToPayloads(loginArgs{User: "alice", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		ev := &historypb.HistoryEvent{
			EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
			Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
				WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: input},
			},
		}
		if got := leakedSecrets(t, ev, secrets); len(got) != 1 || got[0] != password {
			t.Fatalf("scan of a clear event found %v, want [%s]", got, password)
		}
	})

	// Every payload-bearing event the workflow produced, found in the raw
	// history, decoded with the keyring: this is what makes the scan above
	// meaningful.
	dc := codec.DataConverter(ring)
	fc := codec.FailureConverter(ring)
	found := map[string]bool{}
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			p := ev.GetWorkflowExecutionStartedEventAttributes().GetInput()
			assertEncrypted(t, "workflow input", p.GetPayloads()...)
			var in loginArgs
			if err := dc.FromPayloads(p, &in); err != nil {
				t.Fatalf("decode workflow input: %v", err)
			}
			found["workflow input"] = in.Password == password
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			p := ev.GetActivityTaskScheduledEventAttributes().GetInput()
			assertEncrypted(t, "activity input", p.GetPayloads()...)
			var got string
			if err := dc.FromPayloads(p, &got); err != nil {
				t.Fatalf("decode activity input: %v", err)
			}
			found["activity input"] = got == password
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			p := ev.GetActivityTaskCompletedEventAttributes().GetResult()
			assertEncrypted(t, "activity result", p.GetPayloads()...)
			var got string
			if err := dc.FromPayloads(p, &got); err != nil {
				t.Fatalf("decode activity result: %v", err)
			}
			found["activity result"] = got == "verified:"+password
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			// A local activity's result is kept in a marker.
			for _, p := range ev.GetMarkerRecordedEventAttributes().GetDetails() {
				assertEncrypted(t, "marker details", p.GetPayloads()...)
				for _, pl := range p.GetPayloads() {
					var got string
					if dc.FromPayload(pl, &got) == nil && got == "checked:"+password {
						found["local activity result"] = true
					}
				}
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			p := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetArgs()
			assertEncrypted(t, "update argument", p.GetPayloads()...)
			var got string
			if err := dc.FromPayloads(p, &got); err != nil {
				t.Fatalf("decode update argument: %v", err)
			}
			if got == code || got == wrongCode {
				found["update argument "+got] = true
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
			outcome := ev.GetWorkflowExecutionUpdateCompletedEventAttributes().GetOutcome()
			if f := outcome.GetFailure(); f != nil {
				assertEncrypted(t, "update failure", f.GetEncodedAttributes())
				if err := fc.FailureToError(f); err != nil && strings.Contains(err.Error(), wrongCode) {
					found["update failure message"] = true
				}
				continue
			}
			p := outcome.GetSuccess()
			assertEncrypted(t, "update result", p.GetPayloads()...)
			var got string
			if err := dc.FromPayloads(p, &got); err != nil {
				t.Fatalf("decode update result: %v", err)
			}
			found["update result"] = got == "accepted:"+code
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			p := ev.GetWorkflowExecutionCompletedEventAttributes().GetResult()
			assertEncrypted(t, "workflow result", p.GetPayloads()...)
			var got string
			if err := dc.FromPayloads(p, &got); err != nil {
				t.Fatalf("decode workflow result: %v", err)
			}
			found["workflow result"] = got == result
		}
	}
	for _, what := range []string{
		"workflow input", "activity input", "activity result", "local activity result",
		"update argument " + code, "update argument " + wrongCode,
		"update result", "update failure message", "workflow result",
	} {
		if !found[what] {
			t.Errorf("%s: not found in history or did not decode to the secret", what)
		}
	}

	t.Run("SDK metrics reach the registry", func(t *testing.T) {
		fams := gather(t, reg)
		tests := []struct {
			name   string
			metric string
			labels map[string]string
			typ    dto.MetricType
		}{
			{name: "client request counter", metric: "temporal_request", labels: map[string]string{"operation": "StartWorkflowExecution"}, typ: dto.MetricType_COUNTER},
			// The SDK counts Update calls as long polls: they wait for the
			// workflow's answer.
			{name: "update request counter", metric: "temporal_long_request", labels: map[string]string{"operation": "UpdateWorkflowExecution"}, typ: dto.MetricType_COUNTER},
			{name: "request latency", metric: "temporal_request_latency", labels: map[string]string{"operation": "StartWorkflowExecution"}, typ: dto.MetricType_HISTOGRAM},
			{name: "workflow completed", metric: "temporal_workflow_completed", labels: map[string]string{"workflow_type": secretWorkflowName, "task_queue": taskQueue}, typ: dto.MetricType_COUNTER},
			{name: "workflow task execution latency", metric: "temporal_workflow_task_execution_latency", labels: map[string]string{"workflow_type": secretWorkflowName}, typ: dto.MetricType_HISTOGRAM},
			{name: "activity execution latency", metric: "temporal_activity_execution_latency", labels: map[string]string{"activity_type": verifyActivityName}, typ: dto.MetricType_HISTOGRAM},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mf, ok := fams[tt.metric]
				if !ok {
					t.Fatalf("metric %q missing; have %v", tt.metric, keys(fams))
				}
				if mf.GetType() != tt.typ {
					t.Fatalf("metric %q is %v, want %v", tt.metric, mf.GetType(), tt.typ)
				}
				for _, m := range mf.GetMetric() {
					if hasLabels(m, tt.labels) && (m.GetCounter().GetValue() > 0 || m.GetHistogram().GetSampleCount() > 0) {
						return
					}
				}
				t.Fatalf("metric %q has no non-zero series with labels %v", tt.metric, tt.labels)
			})
		}
	})
}

// leakedSecrets returns the secrets found in the event's wire bytes. The
// random part alone is matched too, so a leak in any encoding that keeps the
// bytes (JSON, protobuf strings, a failure message) is caught.
func leakedSecrets(t *testing.T, ev *historypb.HistoryEvent, secrets []string) []string {
	t.Helper()
	raw, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(raw, []byte(strings.TrimPrefix(s, secretPasswordPrefix))) {
			out = append(out, s)
		}
	}
	return out
}

// assertEncrypted fails unless every payload carries the codec's encoding.
// An empty list fails too: the event was expected to carry data.
func assertEncrypted(t *testing.T, what string, payloads ...*commonpb.Payload) {
	t.Helper()
	if len(payloads) == 0 {
		t.Errorf("%s: no payload in history", what)
	}
	for _, p := range payloads {
		if got := string(p.GetMetadata()[converter.MetadataEncoding]); got != codec.MetadataEncodingEncrypted {
			t.Errorf("%s: payload encoding %q, want %q", what, got, codec.MetadataEncodingEncrypted)
		}
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := labelsOf(m)
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// nopLogger silences the codec-less client; it has nothing to say that the
// test needs.
type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}
