// Package temporalx is the Temporal client wiring shared by the api and worker
// processes (and `keyflow serve`, which runs both).
//
// Where it sits: cmd/keyflow turns flags and the config file into a Config;
// Dial turns the Config into a client.Client that api/ uses to start and
// update workflows and workers/ uses to run them. Nothing else in Keyflow
// calls client.Dial, so every connection gets the same guarantees:
//
//   - payload encryption (flows/codec) is mandatory — Dial fails without a
//     Keyring — and error messages are moved into encrypted payloads too
//     (codec.FailureConverter), so history holds no secret in clear;
//   - SDK logs go to log/slog (go.temporal.io/sdk/log.NewStructuredLogger);
//   - TLS, mTLS and API-key credentials come from Config;
//   - SDK metrics go to a Prometheus registerer through NewMetricsHandler, a
//     small client.MetricsHandler adapter written directly on client_golang
//     (the SDK's tally contrib module is not available to this build).
//
// WorkerOptions holds the worker defaults (sticky timeout, graceful stop)
// with the reason for each; StickyWorkflowCacheSize is the process-wide cache
// bound the worker wiring applies.
//
// Data flow for one Update carrying a password:
//
//	api handler ─UpdateWorkflow(arg)─▶ client DataConverter (JSON) ─▶ codec (AES-GCM)
//	  ─gRPC/TLS─▶ Temporal server (stores ciphertext in history)
//	  ─▶ worker client ─▶ codec decrypts ─▶ workflow update handler
//
// history_test.go proves this end to end against the embedded dev server:
// it reads raw history with a client that has no codec and finds no secret.
package temporalx
