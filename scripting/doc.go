// Package scripting runs WSO2 conditional-authentication scripts (the adaptive-authentication
// JavaScript API) in goja, unchanged.
//
// Where it sits: the login workflow (package flows) opens one Session per login transaction and
// drives it; this package knows nothing about Temporal. The binding to a workflow — clock,
// random seed, logger, directory look-ups as local activities — is in the wfhost sub-package.
//
// # Execution model
//
// WSO2 builds an authentication graph: built-in calls such as executeStep do not act, they add
// nodes; callbacks run after their step and their nodes are infused ahead of the rest of the
// graph. Session reproduces that model exactly, with one improvement: the goja runtime lives for
// the whole transaction, so callbacks are real closures (WSO2 re-compiles them from source and
// keeps only globals — every script that works there works here).
//
//	Open      evaluate script, call onLoginRequest(context)  → graph [step1{callbacks}, step3]
//	Next      → StepNode 1                                    (driver shows it, runs the authenticator)
//	StepDone  run onSuccess(context) → executeStep(2)         → graph [step2, step3]
//	Next      → StepNode 2 … Next → nil                       (graph exhausted: success)
//
// JavaScript only ever runs inside Open, StepDone and PromptDone ("slices"); the driver blocks
// between them, outside JavaScript, so nothing of goja is on the stack while a workflow waits.
//
// # Rules implemented (WSO2 GraphBasedSequenceHandler / JsGraphBuilder semantics)
//
//   - No script: the configured steps run in order; authenticators may retry on their own.
//   - No onLoginRequest, a throw during evaluation or onLoginRequest, or an onLoginRequest that
//     schedules nothing: the login fails (FailScript), with the reason logged.
//   - executeStep(n[, options], callbacks): arguments decoded by count and position; unknown
//     step numbers logged and ignored; authenticationOptions (array or index-keyed object, by
//     name, display name or IdP), authenticatorParams (common/local/federated, kept for the
//     transaction) and stepOptions (forceAuth, markAsSubjectIdentifierStep,
//     markAsSubjectAttributeStep).
//   - A failed step without onFail fails the login; an onFail that schedules nothing and has
//     nothing after it fails the login; onFallback/onUserAbort likewise; a throwing callback
//     fails the login. Authenticator retry is off with a script unless
//     enableRetryFromAuthenticator is set (RetryFromAuthenticator).
//   - sendError and fail are uncatchable interrupts (try/catch/finally do not run); the nodes
//     they end are terminal.
//   - httpGet/httpPost add a CallNode (WSO2's LongWaitNode); the driver makes the call in an
//     activity and CallDone fires onSuccess/onFail/onTimeout(context, data); a missing handler
//     fails the login.
//   - secrets.<name> and getSecretByName(name) return opaque references (SecretRef) that only
//     the HTTP activity resolves, so secret values never reach history, logs or script variables.
//   - callAnalytics, callElastic, callChoreo and updateUserPassword with handlers are CallNodes
//     too (wfhost.Run runs them); the receivers and token endpoint come from the caller's
//     configuration, never from the workflow.
//   - Synchronous service functions block in the host function (inside a workflow: one local
//     activity each) and swallow errors into false/null, as WSO2's do: user search and
//     association (Accounts), sendEmail (Mailer), require/loadLocalLibrary (Libraries, fetched
//     once per transaction and evaluated CommonJS-style in the script's runtime),
//     getUserSessions/terminateUserSession (Sessions), and signed or encrypted
//     setCookie/getCookieValue (Cookies). context.response collects headers and cookies that
//     the driver takes with TakeResponse and hands to the front-end with the next view.
//   - promptIdentifierForStep's pre-handler (default checkSessionExistence against
//     Setup.Session) runs when its node is reached; true skips the prompt and fires onSkip.
//
// # Sandbox and determinism
//
// Scripts run in sloppy mode (WSO2 scripts create implicit globals). Each slice has a wall-time
// CPU budget (Config.Budget, paused while a host function blocks) enforced with
// Runtime.Interrupt; the call stack and the script size are capped; Nashorn's shell globals are
// stubbed. Date uses Config.Now and Math.random a generator seeded once from Config.Seed, so a
// workflow replay sees the same values. Host objects (context, steps, users) are dynamic objects
// over the Session's state, so writes such as context.selectedAcr or user.localClaims[uri] reach
// Go (the latter through Directory.WriteClaims).
//
// The Session methods a workflow calls carry //workflowcheck:ignore: the static checker cannot
// see that goja's internals, the budget timer and the map iterations that build maps are
// deterministic in effect (or, for the budget, deliberately bounded). The replay corpus in
// flows/testdata/histories is the real check.
//
// Goja's Date local-time methods use the process time zone: run every worker with the same TZ
// (UTC) or replays on another worker may disagree.
package scripting
