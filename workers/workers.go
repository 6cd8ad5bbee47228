package workers

import (
	"errors"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/flows"
)

// Config says where the worker polls and how.
type Config struct {
	TaskQueue string
	Options   worker.Options
}

// New returns a worker for cfg.TaskQueue with every Keyflow workflow and activity registered.
// The caller starts and stops it.
func New(c client.Client, cfg Config) (worker.Worker, error) {
	if c == nil {
		return nil, errors.New("workers: nil Temporal client")
	}
	if cfg.TaskQueue == "" {
		return nil, errors.New("workers: Config.TaskQueue is required")
	}
	w := worker.New(c, cfg.TaskQueue, cfg.Options)
	w.RegisterWorkflowWithOptions(flows.Ping, workflow.RegisterOptions{Name: flows.PingWorkflow})
	return w, nil
}
