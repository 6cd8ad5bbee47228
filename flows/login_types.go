package flows

import (
	"encoding/json"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

// LoginInput starts a login. It is protocol-neutral: the OIDC, SAML, WS-Fed and app-native
// front-ends validate their own request and fill this. It is recorded in history (encrypted),
// which is also what pins the script for the whole transaction.
type LoginInput struct {
	Application Application  `json:"application"`
	Request     LoginRequest `json:"request"`
	// Session is the user's SSO session, if any, for step skipping.
	Session *SSOSession `json:"session,omitempty"`
}

// Application is the part of the application's configuration a login needs.
type Application struct {
	ID string `json:"id"`
	// OrgID is the application's organization (SSO sessions are per organization).
	OrgID        string `json:"orgId,omitempty"`
	Name         string `json:"name"`
	TenantDomain string `json:"tenantDomain"`
	// Steps are the configured authentication steps (step n is Steps[n-1]), including the
	// subject-identifier and attribute flags.
	Steps []scripting.Step `json:"steps"`
	// Script is the conditional-authentication script; empty runs Steps in order.
	Script string `json:"script,omitempty"`
}

// LoginRequest is the protocol request, reduced to what the login engine uses.
type LoginRequest struct {
	// Protocol names the front-end ("oidc", "saml", "wsfed", "app-native"); informational.
	Protocol string `json:"protocol,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	// RequestedACR are acr_values / RequestedAuthnContext, in request order.
	RequestedACR []string `json:"requestedAcr,omitempty"`
	LoginHint    string   `json:"loginHint,omitempty"`
	// Prompt holds OIDC prompt values ("none", "login", "consent", "select_account").
	Prompt []string `json:"prompt,omitempty"`
	// MaxAge is OIDC max_age in seconds; nil when absent.
	MaxAge *int64 `json:"maxAge,omitempty"`
	// ForceAuth is SAML ForceAuthn (or prompt=login): no SSO step skipping.
	ForceAuth bool `json:"forceAuth,omitempty"`
	// Passive is SAML IsPassive (or prompt=none): fail instead of showing anything.
	Passive bool `json:"passive,omitempty"`
	// HTTP is the initial request as scripts see it (context.request).
	HTTP scripting.Request `json:"http"`
}

// SSOSession is the user's existing single-sign-on session.
type SSOSession struct {
	ID    string              `json:"id"`
	Steps []AuthenticatedStep `json:"steps"`
}

// AuthenticatedStep is one step a user completed, kept in the SSO session.
type AuthenticatedStep struct {
	Step          int             `json:"step"`
	Authenticator string          `json:"authenticator"`
	IdP           string          `json:"idp"`
	User          connectors.User `json:"user"`
	At            time.Time       `json:"at"`
}

// FlowStatus is WSO2's app-native flowStatus.
type FlowStatus string

// Flow statuses.
const (
	// StatusIncomplete: a step or prompt awaits the user.
	StatusIncomplete FlowStatus = "INCOMPLETE"
	// StatusFailIncomplete: the last attempt failed and the step is shown again.
	StatusFailIncomplete FlowStatus = "FAIL_INCOMPLETE"
	// StatusSuccess: the login succeeded; View.Result carries the subject.
	StatusSuccess FlowStatus = "SUCCESS_COMPLETED"
	// StatusFailed: the login ended unsuccessfully; View.Error says how.
	StatusFailed FlowStatus = "FAIL_COMPLETED"
)

// Final reports whether the flow has ended.
func (s FlowStatus) Final() bool { return s == StatusSuccess || s == StatusFailed }

// StepType is app-native's nextStep.stepType.
type StepType string

// Step types.
const (
	StepAuthenticatorPrompt StepType = "AUTHENTICATOR_PROMPT"
	StepMultiOptionsPrompt  StepType = "MULTI_OPTIONS_PROMPT"
)

// View is what the user must see next; every Update returns one. It carries enough for both the
// server-rendered pages and WSO2's app-native JSON (the api/authn package maps it to the wire).
// Exactly one of Step, Prompt or (when Status is final) Result/Error is set.
type View struct {
	FlowID string `json:"flowId"`
	// Seq identifies this view; the next submit must carry it (staleness check), and
	// SubmitUpdateID(flowID, Seq) is its idempotency key.
	Seq    int        `json:"seq"`
	Status FlowStatus `json:"flowStatus"`
	// Step is an authentication step to show.
	Step *StepView `json:"step,omitempty"`
	// Prompt is a script prompt() to show.
	Prompt *PromptView `json:"prompt,omitempty"`
	// Messages accompany the step (FAIL_INCOMPLETE errors, "code sent" infos).
	Messages []connectors.Message `json:"messages,omitempty"`
	// Result is set on SUCCESS_COMPLETED and FAIL_COMPLETED.
	Result *Result `json:"result,omitempty"`
	// Error is set on FAIL_COMPLETED.
	Error *FlowError `json:"error,omitempty"`
	// Response holds the headers and cookies the script set on context.response (setCookie)
	// while producing this view; the front-end adds them to its HTTP response.
	Response *scripting.Response `json:"response,omitempty"`
}

// StepView describes an authentication step.
type StepView struct {
	// Step is the configured step number.
	Step int      `json:"step"`
	Type StepType `json:"stepType"`
	// Authenticators are the options: all of them in a MULTI_OPTIONS_PROMPT, the chosen one in
	// an AUTHENTICATOR_PROMPT.
	Authenticators []AuthenticatorView `json:"authenticators"`
	// LoginHint pre-fills an identifier field.
	LoginHint string `json:"loginHint,omitempty"`
}

// AuthenticatorView is one option, in app-native shape.
type AuthenticatorView struct {
	// ID is app-native's authenticatorId: base64url(name + ":" + idp), no padding.
	ID string `json:"authenticatorId"`
	// Name is the internal authenticator name.
	Name string `json:"name"`
	// DisplayName is app-native's "authenticator" field.
	DisplayName string `json:"authenticator"`
	IdP         string `json:"idp"`
	// Metadata holds i18nKey, and once the authenticator is ready to prompt, promptType, params
	// and additionalData.
	Metadata connectors.Prompt `json:"metadata"`
	// RequiredParams lists the params to post, in order; empty until the authenticator is
	// initiated.
	RequiredParams []string `json:"requiredParams,omitempty"`
}

// PromptView is a script prompt: the template id and the script's data (JSON).
type PromptView struct {
	Template string          `json:"templateId"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// ErrorKind says how a login failed; front-ends pick the response by it.
type ErrorKind string

// Error kinds.
const (
	// ErrorSendError: redirect the browser to RedirectURL (or the default error page) with
	// Params; no response to the client application.
	ErrorSendError ErrorKind = "sendError"
	// ErrorProtocol: answer the client application with an error (OIDC: redirect with
	// error=ErrorCode, error_description=ErrorMessage). Script fail(), and passive requests that
	// need interaction (login_required).
	ErrorProtocol ErrorKind = "fail"
	// ErrorAuthentication: a step failed and nothing recovered (WSO2's retry/error page).
	ErrorAuthentication ErrorKind = "authentication"
	// ErrorTimeout: the user did not act in time.
	ErrorTimeout ErrorKind = "timeout"
	// ErrorServer: a broken script, a missing authenticator or an infrastructure failure.
	ErrorServer ErrorKind = "server"
)

// FlowError describes a failed login. It holds nothing secret and no internal detail: the
// engine's reason is logged, not returned.
type FlowError struct {
	Kind ErrorKind `json:"kind"`
	// Code, Message and Description are the app-native error body (ABA-60002, …).
	Code        string `json:"code"`
	Message     string `json:"message"`
	Description string `json:"description"`
	// RedirectURL and Params come from sendError.
	RedirectURL string            `json:"redirectUrl,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	// ErrorCode, ErrorMessage and ErrorURI come from fail() or the engine (login_required).
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	ErrorURI     string `json:"errorUri,omitempty"`
	// Step and Reason describe the failed step for ErrorAuthentication.
	Step   int               `json:"step,omitempty"`
	Reason connectors.Reason `json:"reason,omitempty"`
}

// Result is the outcome of a login: the workflow's return value and the final view's Result.
type Result struct {
	Status FlowStatus `json:"status"`
	// Subject is the authenticated user (subject-identifier step), nil on failure.
	Subject *connectors.User `json:"subject,omitempty"`
	// Claims are the attribute step's user claims plus runtime claims the script set.
	Claims map[string]string `json:"claims,omitempty"`
	// ACR is context.selectedAcr as the script left it.
	ACR string `json:"acr,omitempty"`
	// AMR are the authenticators that succeeded, in order, without duplicates (WSO2 puts
	// authenticator names in the amr claim).
	AMR []string `json:"amr,omitempty"`
	// Steps are every step run, including failed attempts and SSO-satisfied ones.
	Steps []StepRecord `json:"steps,omitempty"`
	// AuthenticatedSteps are the successful steps, for the SSO session.
	AuthenticatedSteps []AuthenticatedStep `json:"authenticatedSteps,omitempty"`
	Error              *FlowError          `json:"error,omitempty"`
}

// StepRecord is one step execution.
type StepRecord struct {
	Step          int               `json:"step"`
	Authenticator string            `json:"authenticator,omitempty"`
	IdP           string            `json:"idp,omitempty"`
	Status        connectors.Status `json:"status"`
	Reason        connectors.Reason `json:"reason,omitempty"`
	// SSO is true when the SSO session satisfied the step without interaction.
	SSO bool `json:"sso,omitempty"`
	// Attempts counts submissions processed in the step.
	Attempts int `json:"attempts,omitempty"`
}

// CurrentView as Submission.Seq answers whichever view is current when the submission arrives:
// for protocols that do not echo the view (app-native /oauth2/authn), it saves the query that
// would read its Seq first. Such a submission has no idempotency key: a retried request is a new
// submission (as it was when the front-end queried the Seq).
const CurrentView = -1

// Submission is the argument of the submit Update: the user's answer to a view.
type Submission struct {
	// Seq is the Seq of the view being answered; any other value is rejected as stale.
	// CurrentView answers the current one.
	Seq int `json:"seq"`
	// AuthenticatorID selects the option (app-native authenticatorId); empty keeps the current
	// one (single-option steps, prompts).
	AuthenticatorID string `json:"authenticatorId,omitempty"`
	// Params are the submitted values (username/password, token, OTPCode, prompt fields).
	// A selection-only request (Android's first call) omits the authenticator's params.
	Params map[string]string `json:"params,omitempty"`
	// Action is a prompt action ("yes" fires onYes), or "resend" to restart the chosen
	// authenticator (a new OTP).
	Action string `json:"action,omitempty"`
	// Abort reports that the user cancelled (onUserAbort).
	Abort bool `json:"abort,omitempty"`
	// Request is the HTTP request carrying the submission; scripts see it as context.request.
	Request *scripting.Request `json:"request,omitempty"`
}

// ActionResend is the Submission.Action that restarts the chosen authenticator.
const ActionResend = "resend"
