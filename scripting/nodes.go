package scripting

import (
	"encoding/json"

	"github.com/dop251/goja"

	"github.com/keyflow/keyflow/connectors"
)

// Node is one entry of the authentication graph a script builds: a *StepNode, *PromptNode or
// *FailNode. Session.Next hands them to the driver (the login workflow) in WSO2's order.
type Node interface{ isNode() }

// callbacks holds the function-valued members of an event-callback map (onSuccess, onFail, …).
// Real JS closures: the runtime lives for the whole transaction, so they keep their scope.
type callbacks map[string]goja.Callable

// StepNode asks the driver to run configured step Step.
type StepNode struct {
	// Step is the configured step number.
	Step int
	// Options are the step's options after authenticationOptions filtering, in configuration
	// order. Never empty.
	Options []Option
	// ForceAuth disables SSO skipping for this step (stepOptions.forceAuth).
	ForceAuth bool

	callbacks callbacks
}

// PromptNode asks the driver to show a prompt (prompt(templateId, data, handlers)).
type PromptNode struct {
	// Template is the prompt template id ("genericForm", "internalWait", a custom id).
	Template string
	// Data is the script's data argument as JSON (null when absent).
	Data json.RawMessage

	callbacks callbacks
	// identifierStep and preHandler belong to promptIdentifierForStep: the pre-handler runs
	// when the node is reached and may skip the prompt (Session.Next handles it).
	identifierStep int
	preHandler     goja.Callable
}

// FailKind says how a login ends unsuccessfully.
type FailKind string

// Failure kinds.
const (
	// FailSendError: the script called sendError: redirect the browser to an error page with
	// the given parameters; nothing goes back to the client application.
	FailSendError FailKind = "sendError"
	// FailProtocol: the script called fail(): the protocol endpoint returns an error to the
	// client (OIDC redirect with error/error_description).
	FailProtocol FailKind = "fail"
	// FailAuthentication: a step failed and the script (or the default sequence) did not
	// recover: WSO2's retry/error page.
	FailAuthentication FailKind = "authentication"
	// FailScript: the script is broken (syntax error, exception, no onLoginRequest, no start
	// node, CPU budget exceeded): a server error.
	FailScript FailKind = "script"
)

// FailNode ends the login unsuccessfully.
type FailNode struct {
	Kind FailKind
	// RedirectURL is sendError's url (empty: the default error page).
	RedirectURL string
	// Params are sendError's query parameters, stringified as Java's String.valueOf would.
	Params map[string]string
	// ErrorCode, ErrorMessage and ErrorURI are fail()'s optional parameters.
	ErrorCode, ErrorMessage, ErrorURI string
	// Reason is the engine's explanation for logs and operators; it is never shown to users.
	Reason string
	// Step is the step whose failure ended the login (FailAuthentication), else 0.
	Step int
	// AuthReason is the authenticator's failure reason for FailAuthentication.
	AuthReason connectors.Reason
}

func (*StepNode) isNode()   {}
func (*PromptNode) isNode() {}
func (*FailNode) isNode()   {}

// StepResult is what the driver reports after running a StepNode.
type StepResult struct {
	// Status is StatusSuccess, StatusFailed, StatusFallback or StatusUserAbort.
	Status connectors.Status
	// Authenticator and IdP name the option that ran.
	Authenticator string
	IdP           string
	// User is the authenticated user on success.
	User *connectors.User
	// FailedUser is the identified user whose credentials failed (context.lastLoginFailedUser).
	FailedUser *connectors.User
	// Reason explains a failure.
	Reason connectors.Reason
}

// PromptResult is what the user answered to a PromptNode.
type PromptResult struct {
	// Action is the submitted action ("yes" for an "action.yes" button); empty means the form
	// was submitted, which fires onSuccess.
	Action string
	// Data are the submitted form values, passed to the callback as its data argument.
	Data map[string]string
}

// CallNode asks the driver to make an asynchronous call (WSO2's LongWaitNode) and report its
// outcome with CallDone: an outbound HTTP call (httpGet, httpPost, callAnalytics, callElastic,
// callChoreo: Request) or a password update (updateUserPassword with handlers: Password).
// wfhost.Run runs either.
type CallNode struct {
	// Function is the script function that made the node (FnHTTPGet, FnCallChoreo,
	// FnUpdateUserPassword, …).
	Function string
	// Request is the outbound call of the HTTP functions.
	Request HTTPRequest
	// Password is updateUserPassword's change; nil for the HTTP functions. Never log it.
	Password *PasswordChange

	callbacks callbacks
}

func (*CallNode) isNode() {}

// HTTPRequest is an outbound call a script asked for. It is plain data: the call itself runs in
// an activity (wfhost.HTTPCaller), never in the workflow.
type HTTPRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Headers are the script's headers; values are strings.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is httpPost's body as JSON (nil for GET); form-encoded by the caller when the
	// Content-Type header says so.
	Body json.RawMessage `json:"body,omitempty"`
	// Auth is the optional authConfig.
	Auth *HTTPAuth `json:"auth,omitempty"`
	// TenantDomain scopes the secret references (see SecretRef) the request may contain.
	TenantDomain string `json:"tenantDomain,omitempty"`
	// Function is empty for httpGet/httpPost. For callAnalytics, callElastic and callChoreo it
	// names the function, and the caller completes the request from its configuration (the
	// analytics or Elasticsearch receiver, the Choreo token endpoint) and applies that
	// function's outcome rules.
	Function string `json:"function,omitempty"`
	// Params are the function's parameters (callElastic's username, index, duration,
	// riskLogic and threshold).
	Params map[string]string `json:"params,omitempty"`
}

// HTTPAuth is an authConfig: {type: basic|apikey|bearer|clientcredential, properties: {...}}.
type HTTPAuth struct {
	Type       string            `json:"type"`
	Properties map[string]string `json:"properties,omitempty"`
}

// Call outcomes: the callback names WSO2 fires after an external call.
const (
	OutcomeSuccess = "onSuccess"
	OutcomeFail    = "onFail"
	OutcomeTimeout = "onTimeout"
)

// CallResult is the outcome of a CallNode.
type CallResult struct {
	// Outcome is OutcomeSuccess, OutcomeFail or OutcomeTimeout.
	Outcome string `json:"outcome"`
	// Data is the callback's data argument as JSON: the response object on success, {} else.
	Data json.RawMessage `json:"data,omitempty"`
}
