package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// LocalIdP is the identity-provider name WSO2 gives every local authenticator ("LOCAL"); scripts
// compare context.steps[n].idp against it.
const LocalIdP = "LOCAL"

// Well-known authenticator names (WSO2's internal names). Scripts, authenticationOptions and the
// app-native authenticatorId all use these exact strings.
const (
	BasicAuthenticator      = "BasicAuthenticator"
	IdentifierExecutor      = "IdentifierExecutor"
	TOTPAuthenticator       = "totp"
	EmailOTPAuthenticator   = "email-otp-authenticator"
	SMSOTPAuthenticator     = "sms-otp-authenticator"
	FIDOAuthenticator       = "FIDOAuthenticator"
	MagicLinkAuthenticator  = "MagicLinkAuthenticator"
	BackupCodeAuthenticator = "backup-code-authenticator"
)

// Authenticator verifies one kind of credential. Implementations must be safe for concurrent use:
// one value serves every login on a worker.
//
// Begin and Process run as Temporal local activities, so they may do I/O (database, SMTP), must
// honour ctx, and must keep everything they need between the two calls in the State they return —
// never in memory, because the next call may run on another worker.
type Authenticator interface {
	// Name is WSO2's internal authenticator name ("BasicAuthenticator", "totp",
	// "email-otp-authenticator", "FIDOAuthenticator", "IdentifierExecutor", …). It is the key in
	// the registry, in application step configuration and in scripts. It never changes.
	Name() string

	// DisplayName is the friendly name shown to users and sent as the app-native "authenticator"
	// field ("Username & Password", "TOTP", "Passkey"). SDKs match on it, so keep WSO2's values.
	DisplayName() string

	// Prompt describes what the authenticator asks the user for before Begin has run: the
	// i18n key, prompt type and ordered parameters. It must be a pure function of the
	// authenticator's configuration (the workflow calls it directly, without an activity).
	Prompt() Prompt

	// Begin initiates a step: send an OTP, create a passkey challenge, build a federated
	// redirect. It runs when the step is reached (single option) or when the user picks this
	// option, and again when the user asks for a resend. Authenticators whose Prompt().Initiate is
	// false are never asked to Begin.
	//
	// A returned error means infrastructure failure (the workflow ends the login with a server
	// error); a credential-level problem ("no phone number on file") is reported in
	// BeginResult.Outcome instead.
	Begin(ctx context.Context, in BeginInput) (BeginResult, error)

	// Process verifies what the user submitted. in.State is what Begin (or the previous Process)
	// returned. A wrong credential is a normal Outcome with Status Failed, never an error; an
	// error means the verification could not be performed.
	Process(ctx context.Context, in ProcessInput) (Outcome, error)
}

// PromptType says how a client collects an authenticator's parameters (app-native promptType).
type PromptType string

// Prompt types, as in WSO2's app-native API.
const (
	// PromptUser: the user types values into the listed params.
	PromptUser PromptType = "USER_PROMPT"
	// PromptInternal: the client obtains the values itself (platform passkey API, native IdP SDK)
	// using AdditionalData.
	PromptInternal PromptType = "INTERNAL_PROMPT"
	// PromptRedirect: the client sends the user to AdditionalData["redirectUrl"].
	PromptRedirect PromptType = "REDIRECTION_PROMPT"
)

// ParamType is the type of one prompt parameter.
type ParamType string

// Parameter types, as the app-native SDKs know them.
const (
	ParamString      ParamType = "STRING"
	ParamInteger     ParamType = "INTEGER"
	ParamMultiValued ParamType = "MULTI_VALUED"
)

// Param is one value an authenticator asks for. The JSON names are app-native's.
type Param struct {
	Name         string    `json:"param"`
	Type         ParamType `json:"type"`
	Order        int       `json:"order"`
	I18nKey      string    `json:"i18nKey,omitempty"`
	DisplayName  string    `json:"displayName,omitempty"`
	Confidential bool      `json:"confidential"`
}

// Prompt is what an authenticator shows for a step.
type Prompt struct {
	// I18nKey names the authenticator in the UI ("authenticator.basic"). Always set.
	I18nKey string `json:"i18nKey"`
	// Type is the prompt type; empty until the authenticator is initiated when Initiate is true.
	Type PromptType `json:"promptType,omitempty"`
	// Params are the values to collect, in Order.
	Params []Param `json:"params,omitempty"`
	// AdditionalData carries initiation data for the client (challengeData, redirectUrl, state).
	AdditionalData map[string]string `json:"additionalData,omitempty"`
	// Initiate is true when Begin must run before the prompt can be shown (OTP sending, passkey
	// challenge, federated redirect). In a multi-option step such options are listed with their
	// I18nKey only until the user picks one.
	Initiate bool `json:"initiate,omitempty"`
}

// RequiredParams returns the parameter names in Order, the app-native requiredParams list.
func (p Prompt) RequiredParams() []string {
	if len(p.Params) == 0 {
		return nil
	}
	out := make([]string, len(p.Params))
	for i, prm := range sortedParams(p.Params) {
		out[i] = prm.Name
	}
	return out
}

func sortedParams(ps []Param) []Param {
	out := append([]Param(nil), ps...)
	// Insertion sort: prompts have a handful of params and the order must be stable.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Order < out[j-1].Order; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// StepContext is what every call learns about the login it serves.
type StepContext struct {
	// FlowID is the login transaction (WSO2's sessionDataKey); stable across the whole login.
	FlowID string `json:"flowId"`
	// TenantDomain and ApplicationID name the application being logged into.
	TenantDomain  string `json:"tenantDomain,omitempty"`
	ApplicationID string `json:"applicationId,omitempty"`
	// Step is the configured step number (1-based).
	Step int `json:"step"`
	// IdP is the identity provider of the option: LocalIdP or a connection name.
	IdP string `json:"idp"`
	// User is the subject known from earlier steps (second factors verify this user); nil in a
	// first step.
	User *User `json:"user,omitempty"`
	// RuntimeParams are the script's authenticatorParams for this authenticator (common merged
	// with local.<name> or federated.<idp>), e.g. "enableRetryFromAuthenticator",
	// "maximumAllowedFailureAttempts". Values are strings, as in WSO2.
	RuntimeParams map[string]string `json:"runtimeParams,omitempty"`
	// LoginHint is the protocol's login_hint, for identifier-first style prompts.
	LoginHint string `json:"loginHint,omitempty"`
	// ClientIP is the end user's address as the edge determined it.
	ClientIP string `json:"clientIp,omitempty"`
}

// BeginInput starts (or restarts, for a resend) a step.
type BeginInput struct {
	StepContext
	// State is the state of a previous round in this step (nil on the first Begin), so a resend
	// can count resends.
	State json.RawMessage `json:"state,omitempty"`
}

// BeginResult is what initiation produced.
type BeginResult struct {
	// State is opaque, JSON-serialisable step state handed back to Process. It is recorded in
	// Temporal history (encrypted by the payload codec): store hashes or references, not secrets
	// in clear, where practical.
	State json.RawMessage `json:"state,omitempty"`
	// Prompt replaces the static Prompt for this step (e.g. with AdditionalData.challengeData).
	// Nil keeps Prompt() with Type defaulted to PromptUser.
	Prompt *Prompt `json:"prompt,omitempty"`
	// Messages are shown with the prompt ("code sent to j***@example.com").
	Messages []Message `json:"messages,omitempty"`
	// Outcome, when set, ends the step without a prompt (e.g. the user has no email address:
	// Status Failed, Reason NotEnrolled).
	Outcome *Outcome `json:"outcome,omitempty"`
}

// ProcessInput carries one submission.
type ProcessInput struct {
	StepContext
	// Params are the submitted values, keyed by Param.Name.
	Params map[string]string `json:"params,omitempty"`
	// State is what Begin or the previous Process returned.
	State json.RawMessage `json:"state,omitempty"`
	// Attempt counts submissions in this step, starting at 1, so an authenticator can enforce
	// maximumAllowedFailureAttempts without keeping a counter of its own.
	Attempt int `json:"attempt"`
}

// Status is the result of one Process call, mirroring WSO2's step flow statuses.
type Status string

// Step statuses.
const (
	// StatusSuccess: the credential is valid; Outcome.User is the authenticated user.
	StatusSuccess Status = "SUCCESS"
	// StatusFailed: the credential is wrong or unusable; Reason says why, Retry whether the
	// authenticator would accept another attempt.
	StatusFailed Status = "FAILED"
	// StatusIncomplete: more interaction is needed in the same step (identifier first, then
	// password; OTP resent). Outcome.State and Outcome.Prompt describe the next round.
	StatusIncomplete Status = "INCOMPLETE"
	// StatusFallback: the authenticator cannot handle this user and asks the flow to fall back
	// (identifier-first style); the script's onFallback runs.
	StatusFallback Status = "FALLBACK"
	// StatusUserAbort: the user cancelled; the script's onUserAbort runs.
	StatusUserAbort Status = "USER_ABORT"
)

// Reason explains a failed step. The workflow maps reasons to app-native ABA codes and messages.
type Reason string

// Failure reasons.
const (
	ReasonInvalidCredentials Reason = "invalid_credentials"
	ReasonUserNotFound       Reason = "user_not_found"
	ReasonAccountLocked      Reason = "account_locked"
	ReasonAccountDisabled    Reason = "account_disabled"
	ReasonInvalidCode        Reason = "invalid_code"
	ReasonExpired            Reason = "expired"
	ReasonMaxAttempts        Reason = "max_attempts_exceeded"
	ReasonMaxResends         Reason = "max_resends_exceeded"
	ReasonNotEnrolled        Reason = "not_enrolled"
	ReasonInvalidInput       Reason = "invalid_input"
)

// Outcome is the result of Process (or of a Begin that ends the step early).
type Outcome struct {
	Status Status `json:"status"`
	// User is the authenticated user (StatusSuccess), or the user the flow continues with.
	User *User `json:"user,omitempty"`
	// FailedUser is the identified user whose credentials failed (WSO2's lastLoginFailedUser),
	// when the authenticator could identify one.
	FailedUser *User `json:"failedUser,omitempty"`
	// Reason explains a failure.
	Reason Reason `json:"reason,omitempty"`
	// Retry reports whether the authenticator would accept another attempt in this step (false
	// once an account is locked or an attempt limit is reached). Whether the flow retries also
	// depends on the script (enableRetryFromAuthenticator).
	Retry bool `json:"retry,omitempty"`
	// RemainingAttempts is the number of attempts left before a lock, 0 when unknown.
	RemainingAttempts int `json:"remainingAttempts,omitempty"`
	// Messages are shown with a re-shown step (FAIL_INCOMPLETE) or carried to the error page.
	Messages []Message `json:"messages,omitempty"`
	// State replaces the step state for the next round (Incomplete, or Failed with Retry).
	State json.RawMessage `json:"state,omitempty"`
	// Prompt replaces the prompt for the next round (Incomplete).
	Prompt *Prompt `json:"prompt,omitempty"`
}

// User is an authenticated (or identified) user, as scripts and protocol layers see it.
type User struct {
	// ID is the immutable user id (SCIM id; WSO2 uniqueId). For federated users it is the
	// subject at the IdP unless the account is linked.
	ID string `json:"id,omitempty"`
	// Username is the user name without user-store domain.
	Username string `json:"username"`
	// UserStoreDomain is "PRIMARY" or a secondary store name; empty for federated users.
	UserStoreDomain string `json:"userStoreDomain,omitempty"`
	// TenantDomain is the user's tenant.
	TenantDomain string `json:"tenantDomain,omitempty"`
	// Identifier is the authenticated subject identifier; defaults to Username when empty.
	Identifier string `json:"identifier,omitempty"`
	// IdP is LocalIdP for local users, else the federated connection name.
	IdP string `json:"idp,omitempty"`
	// Claims are local-dialect claim values the authenticator already loaded (for federated
	// users: the IdP attributes mapped to local claims). Values are strings, multi-valued claims
	// joined with ",".
	Claims map[string]string `json:"claims,omitempty"`
	// RemoteClaims are the raw attributes of a federated user, keyed by the IdP's names.
	RemoteClaims map[string]string `json:"remoteClaims,omitempty"`
	// Roles and Groups, when non-nil, are the user's role and group names as the authenticator
	// loaded them, which saves a directory look-up in scripts. Nil means "not loaded".
	Roles  []string `json:"roles"`
	Groups []string `json:"groups"`
}

// Federated reports whether the user was authenticated by an external IdP.
func (u *User) Federated() bool { return u != nil && u.IdP != "" && u.IdP != LocalIdP }

// SubjectIdentifier returns Identifier, or Username when Identifier is empty.
func (u *User) SubjectIdentifier() string {
	if u.Identifier != "" {
		return u.Identifier
	}
	return u.Username
}

// MessageType is INFO or ERROR, as in app-native messages.
type MessageType string

// Message types.
const (
	MessageInfo  MessageType = "INFO"
	MessageError MessageType = "ERROR"
)

// Message is a user-facing message in app-native shape ({type, messageId, message, i18nKey, context}).
type Message struct {
	Type MessageType `json:"type"`
	// ID is the message code, an app-native ABA code for errors ("ABA-60003").
	ID string `json:"messageId"`
	// Message is the message text or i18n-able key ("login.fail.message").
	Message string `json:"message"`
	I18nKey string `json:"i18nKey,omitempty"`
	// Context holds substitution values ("remainingAttempts": "2").
	Context map[string]string `json:"context,omitempty"`
}

// Registry maps authenticator names to implementations, dex-style: a plain map built once at
// start-up and read-only afterwards.
type Registry map[string]Authenticator

// ErrDuplicate reports two authenticators registered under one name.
var ErrDuplicate = errors.New("connectors: duplicate authenticator name")

// NewRegistry builds a Registry, rejecting empty and duplicate names.
func NewRegistry(auths ...Authenticator) (Registry, error) {
	r := make(Registry, len(auths))
	for _, a := range auths {
		name := a.Name()
		if name == "" {
			return nil, fmt.Errorf("connectors: authenticator %T has an empty name", a)
		}
		if _, dup := r[name]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, name)
		}
		r[name] = a
	}
	return r, nil
}
