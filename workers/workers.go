package workers

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

// Config says where the worker polls, how, and with what.
type Config struct {
	TaskQueue string
	Options   worker.Options
	// Authenticators are the local authenticators logins can run.
	Authenticators connectors.Registry
	// Users backs the scripts' role, group and claim functions.
	Users Users
	// Login tunes the login workflow.
	Login flows.LoginConfig
	// HTTP makes the scripts' httpGet/httpPost calls; nil disables them (they end in onFail).
	HTTP *wfhost.HTTPCaller
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
	if cfg.Users == nil {
		return nil, errors.New("workers: Config.Users is required")
	}
	login, err := flows.NewLogin(cfg.Authenticators, cfg.Login)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	w := worker.New(c, cfg.TaskQueue, cfg.Options)
	flows.RegisterPing(w)
	login.Register(w)
	(&flows.LoginActivities{Authenticators: cfg.Authenticators}).Register(w)
	(&wfhost.Activities{Directory: directory{users: cfg.Users}, HTTP: cfg.HTTP}).Register(w)
	return w, nil
}
