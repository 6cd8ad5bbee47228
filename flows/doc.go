// Package flows holds Keyflow's Temporal workflows and their activities: the login workflow
// (login*.go), plus the diagnostic Ping. Payload encryption (codec/) and client/worker wiring
// (temporalx/) live in sub-packages.
//
// # Login
//
// One login transaction is one execution of LoginWorkflow; the workflow ID is the flowId (WSO2's
// sessionDataKey). Front-ends stay thin:
//
//	first request  ── UpdateWithStart(GetViewUpdate, LoginInput) ──► first View
//	each answer    ── Update(SubmitUpdate, Submission{Seq, authenticatorId, params}) ──► next View
//	final View     (SUCCESS_COMPLETED / FAIL_COMPLETED, with Result) — then the workflow completes
//
// Inside, the workflow opens a scripting.Session (the application's conditional-auth script in
// goja, or the configured steps in order when there is none) and walks the graph it produces.
// A step node publishes a View and blocks on workflow.Await until a submit arrives; the chosen
// authenticator's Begin/Process run as local activities (LoginActivities); the result goes back
// to the script, whose onSuccess/onFail/… callbacks run synchronously in the same runtime and may
// schedule more steps. Script host functions that touch users (roles, groups, claims) are local
// activities too (scripting/wfhost).
//
// Guarantees:
//   - The submit validator rejects stale (wrong Seq), concurrent and oversized submissions and
//     anything after the end, without writing history; SubmitUpdateID(flowID, seq) is the
//     idempotency key.
//   - The final View is the answer of the Update that ended the flow; the workflow waits for
//     AllHandlersFinished and closes in a later task, so the user never waits for the close.
//   - An idle login ends after LoginConfig.IdleTimeout (one durable timer, re-armed lazily).
//   - A password login costs three workflow tasks: start+first view, submit (the local activity
//     runs inside it), close.
//   - Everything the script observes is deterministic: workflow time, a SideEffect-seeded
//     Math.random, activity results from history. Replays are tested against recorded
//     histories in testdata/histories.
package flows
