package devserver_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/workers/devserver"
)

// Test workflow and update names.
const (
	echoWorkflowName    = "devserver-test-echo"
	counterWorkflowName = "devserver-test-counter"
	addUpdate           = "add"
	finishUpdate        = "finish"
	taskQueue           = "devserver-test"
)

// echoWorkflow is the trivial workflow: one task, then done.
func echoWorkflow(_ workflow.Context, in string) (string, error) {
	return "echo:" + in, nil
}

// counterWorkflow mirrors the login flow's shape: started by UpdateWithStart,
// driven by Updates whose results are the new state, ended by an Update.
func counterWorkflow(ctx workflow.Context) (int, error) {
	count, done := 0, false
	if err := workflow.SetUpdateHandler(ctx, addUpdate, func(_ workflow.Context, n int) (int, error) {
		count += n
		return count, nil
	}); err != nil {
		return 0, err
	}
	if err := workflow.SetUpdateHandler(ctx, finishUpdate, func(workflow.Context) (int, error) {
		done = true
		return count, nil
	}); err != nil {
		return 0, err
	}
	if err := workflow.Await(ctx, func() bool { return done && workflow.AllHandlersFinished(ctx) }); err != nil {
		return 0, err
	}
	return count, nil
}

// levelRecorder is a slog.Handler that remembers the levels it was given.
type levelRecorder struct {
	mu      sync.Mutex
	levels  []slog.Level
	records []string
}

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.levels = append(r.levels, rec.Level)
	r.records = append(r.records, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *levelRecorder) WithGroup(string) slog.Handler      { return r }

func (r *levelRecorder) below(min slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.levels {
		if l < min {
			n++
		}
	}
	return n
}

// start starts a server and logs how long start-up took.
func start(t *testing.T, cfg devserver.Config) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	begin := time.Now()
	s, err := devserver.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("dev server started in %s at %s", time.Since(begin).Round(time.Millisecond), s.FrontendAddress())
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// connect dials the server and starts a worker for the test workflows. The
// returned func stops the worker and closes the client; it also runs at cleanup.
func connect(t *testing.T, s *devserver.Server, namespace string) (client.Client, func()) {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(echoWorkflow, workflow.RegisterOptions{Name: echoWorkflowName})
	w.RegisterWorkflowWithOptions(counterWorkflow, workflow.RegisterOptions{Name: counterWorkflowName})
	if err := w.Start(); err != nil {
		c.Close()
		t.Fatalf("worker Start: %v", err)
	}
	disconnect := sync.OnceFunc(func() {
		w.Stop()
		c.Close()
	})
	// Cleanups run last-in first-out: the worker and client go before the
	// server they talk to.
	t.Cleanup(disconnect)
	return c, disconnect
}

func runEcho(ctx context.Context, t *testing.T, c client.Client, id string) {
	t.Helper()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:               id,
		TaskQueue:        taskQueue,
		EnableEagerStart: true,
	}, echoWorkflowName, id)
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("echo result: %v", err)
	}
	if want := "echo:" + id; got != want {
		t.Fatalf("echo result = %q, want %q", got, want)
	}
}

func update(ctx context.Context, t *testing.T, c client.Client, id, name string, args ...any) int {
	t.Helper()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   id,
		UpdateName:   name,
		Args:         args,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("UpdateWorkflow %s: %v", name, err)
	}
	var got int
	if err := h.Get(ctx, &got); err != nil {
		t.Fatalf("update %s result: %v", name, err)
	}
	return got
}

// TestWorkflowsUpdatesAndRestart runs a workflow, an UpdateWithStart and an
// Update, restarts the server on the same DataDir, and checks that the
// finished workflow is still described and the open one still takes Updates.
func TestWorkflowsUpdatesAndRestart(t *testing.T) {
	const namespace = "keyflow-test"
	const retention = 2 * time.Hour
	dir := t.TempDir()
	logs := &levelRecorder{}
	cfg := devserver.Config{
		DataDir:   dir,
		Namespace: namespace,
		Logger:    slog.New(logs),
		Retention: retention,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const echoID, counterID = "echo-1", "counter-1"
	first := start(t, cfg)
	if host, _, err := net.SplitHostPort(first.FrontendAddress()); err != nil || host != devserver.DefaultIP {
		t.Fatalf("FrontendAddress %q: host %q, err %v; want host %s", first.FrontendAddress(), host, err, devserver.DefaultIP)
	}
	if _, err := os.Stat(filepath.Join(dir, devserver.DBFileName)); err != nil {
		t.Fatalf("database file: %v", err)
	}
	c, disconnect := connect(t, first, namespace)

	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != retention {
		t.Errorf("namespace retention = %s, want %s", got, retention)
	}

	runEcho(ctx, t, c, echoID)

	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       counterID,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, counterWorkflowName)
	begin := time.Now()
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   addUpdate,
			Args:         []any{2},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		t.Fatalf("UpdateWithStartWorkflow: %v", err)
	}
	var got int
	if err := h.Get(ctx, &got); err != nil {
		t.Fatalf("UpdateWithStart result: %v", err)
	}
	t.Logf("UpdateWithStart round trip %s", time.Since(begin).Round(time.Microsecond))
	if got != 2 {
		t.Fatalf("UpdateWithStart result = %d, want 2", got)
	}
	begin = time.Now()
	if got := update(ctx, t, c, counterID, addUpdate, 3); got != 5 {
		t.Fatalf("Update result = %d, want 5", got)
	}
	t.Logf("Update round trip %s", time.Since(begin).Round(time.Microsecond))

	// Stop the worker and client first, as a process shutting down would.
	disconnect()
	begin = time.Now()
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("dev server stopped in %s", time.Since(begin).Round(time.Millisecond))
	if n := logs.below(slog.LevelWarn); n != 0 {
		t.Errorf("%d server log records below WARN reached the logger", n)
	}
	t.Logf("server log records while running: %q", logs.records)

	second := start(t, cfg)
	c, _ = connect(t, second, namespace)

	desc, err := c.DescribeWorkflowExecution(ctx, echoID, "")
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution after restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("echo status after restart = %s, want COMPLETED", st)
	}
	if n := desc.GetWorkflowExecutionInfo().GetHistoryLength(); n == 0 {
		t.Errorf("echo history length after restart = 0")
	}

	if got := update(ctx, t, c, counterID, finishUpdate); got != 5 {
		t.Fatalf("finish result after restart = %d, want 5", got)
	}
	var final int
	if err := c.GetWorkflow(ctx, counterID, "").Get(ctx, &final); err != nil {
		t.Fatalf("counter result: %v", err)
	}
	if final != 5 {
		t.Errorf("counter result = %d, want 5", final)
	}
}

// TestSideBySide runs two servers in two data dirs at once.
func TestSideBySide(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	servers := []*devserver.Server{
		start(t, devserver.Config{DataDir: t.TempDir()}),
		start(t, devserver.Config{DataDir: t.TempDir()}),
	}
	if a, b := servers[0].FrontendAddress(), servers[1].FrontendAddress(); a == b {
		t.Fatalf("both servers at %s", a)
	}
	for i, s := range servers {
		c, _ := connect(t, s, devserver.DefaultNamespace)
		runEcho(ctx, t, c, "echo-side-by-side")
		// Each server has its own store: the workflow exists once per server.
		if _, err := c.DescribeWorkflowExecution(ctx, "echo-side-by-side", ""); err != nil {
			t.Errorf("server %d: DescribeWorkflowExecution: %v", i, err)
		}
		// Their visibility tables are separate too: a shared one would list
		// both servers' runs.
		waitListed(ctx, t, c, devserver.DefaultNamespace, "WorkflowId = 'echo-side-by-side'",
			listed{id: "echo-side-by-side", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED})
	}
}

func TestStopIsIdempotent(t *testing.T) {
	s := start(t, devserver.Config{DataDir: t.TempDir()})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Stop() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Stop #%d: %v", i, err)
		}
	}
	// start's cleanup calls Stop once more.
}

func TestStartRejectsBadConfig(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context // nil: the test's context
		cfg  devserver.Config
	}{
		{name: "no data dir", cfg: devserver.Config{}},
		{name: "host name instead of IP", cfg: devserver.Config{DataDir: t.TempDir(), IP: "localhost"}},
		{name: "port out of range", cfg: devserver.Config{DataDir: t.TempDir(), FrontendPort: 70000}},
		{name: "negative retention", cfg: devserver.Config{DataDir: t.TempDir(), Retention: -time.Hour}},
		{name: "context already cancelled", ctx: cancelled, cfg: devserver.Config{DataDir: t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			s, err := devserver.Start(ctx, tt.cfg)
			if err == nil {
				_ = s.Stop()
				t.Fatal("Start succeeded, want error")
			}
		})
	}
}
