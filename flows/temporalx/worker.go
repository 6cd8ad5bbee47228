package temporalx

import (
	"time"

	"go.temporal.io/sdk/worker"
)

// StickyWorkflowCacheSize is the number of workflow executions a worker
// process keeps in memory between tasks. The SDK's default (10 000) at the
// ≈50–70 KB an open login holds (goja runtime included) would be ≈0.7 GB;
// 4096 bounds it near 250 MB, and a login that falls out of the cache only
// costs one history replay on its next Update. The SDK setting is process
// wide, so the worker wiring calls
//
//	worker.SetStickyWorkflowCacheSize(temporalx.StickyWorkflowCacheSize)
//
// once, before creating any worker; this package does not, because changing
// a process-global from a library would surprise tests and other callers.
const StickyWorkflowCacheSize = 4096

// WorkerOptions returns Keyflow's defaults for worker.New. Callers copy and
// adjust (Identity, Interceptors, concurrency limits from config).
func WorkerOptions() worker.Options {
	return worker.Options{
		// After a worker dies, the server waits this long for it to pick
		// up a task from its sticky queue before giving the task to another
		// worker. The SDK default of 5 s would freeze a user's login for
		// 5 s after a worker restart; 1 s is ample for a live worker, which
		// polls its sticky queue continuously.
		StickyScheduleToStartTimeout: time.Second,

		// On Stop, in-flight activities get this long to finish before their
		// contexts are cancelled. Login verifiers are local activities that
		// take milliseconds; provisioning and notification activities are
		// retried by Temporal if cut off. 10 s fits inside a typical
		// Kubernetes termination grace period (30 s) with room for the HTTP
		// server's own drain.
		WorkerStopTimeout: 10 * time.Second,

		// Workflows and activities are registered under exported name
		// constants (RegisterOptions.Name) and invoked by those names. With
		// aliasing left on, a function registered under a custom name could
		// also be invoked by its function reference, and the SDK warns that
		// this makes the name it resolves to ambiguous. With it off, invoking
		// by a function reference fails at once, which keeps names explicit.
		DisableRegistrationAliasing: true,

		// Left at SDK defaults on purpose:
		//   - DeadlockDetectionTimeout (1 s): scripting's CPU budget per
		//     slice (≈200 ms) is designed to stay well under it.
		//   - WorkflowPanicPolicy (BlockWorkflow): a panic (e.g. a
		//     non-determinism bug) retries the task instead of failing the
		//     flow, so a fixed deployment resumes it; login flows are still
		//     bounded by their execution timeout.
		//   - Concurrency and poller counts: the SDK defaults suit 2–4
		//     cores; tune per deployment, not here.
	}
}
