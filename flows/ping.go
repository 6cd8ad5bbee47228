package flows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// PingWorkflow is the name of the diagnostic workflow behind GET /readyz?worker=1: a round trip
// through the task queue proving that some worker is polling it and can run workflow code.
const PingWorkflow = "keyflow.Ping"

// PingInput is what the readiness probe sends; the reply echoes it.
type PingInput struct {
	Nonce string
}

// PingResult echoes the nonce with the workflow's time.
type PingResult struct {
	Nonce string
	At    time.Time
}

// Ping answers a PingInput without side effects.
func Ping(ctx workflow.Context, in PingInput) (PingResult, error) {
	return PingResult{Nonce: in.Nonce, At: workflow.Now(ctx)}, nil
}

// PingWorker runs PingWorkflow on taskQueue and waits for its answer, bounded by ctx. It fails
// when no worker polls the queue in time.
func PingWorker(ctx context.Context, c client.Client, taskQueue string) error {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	in := PingInput{Nonce: hex.EncodeToString(nonce[:])}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       "keyflow-ping-" + in.Nonce,
		TaskQueue:                taskQueue,
		WorkflowExecutionTimeout: time.Minute,
	}, PingWorkflow, in)
	if err != nil {
		return fmt.Errorf("flows: start ping: %w", err)
	}
	var out PingResult
	if err := run.Get(ctx, &out); err != nil {
		return fmt.Errorf("flows: ping: %w", err)
	}
	if out.Nonce != in.Nonce {
		return fmt.Errorf("flows: ping answered %q, want %q", out.Nonce, in.Nonce)
	}
	return nil
}

// RegisterPing registers PingWorkflow on a worker.
func RegisterPing(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(Ping, workflow.RegisterOptions{Name: PingWorkflow})
}
