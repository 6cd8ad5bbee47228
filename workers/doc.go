// Package workers wires Temporal workers: it registers Keyflow's workflows and activities (from
// flows/) on the task queue with the worker options of temporalx. The embedded Temporal dev server
// lives in workers/devserver, apart, so that api and worker builds never link the server.
package workers
