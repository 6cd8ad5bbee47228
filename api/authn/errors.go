package authn

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/keyflow/keyflow/flows"
)

// Error is an app-native error: the ABA code, message and description sent to the app (WSO2
// AuthServiceConstants.ErrorMessage, wso2-wire.md §1.10), the HTTP status, and a private cause
// that is logged, never sent.
type Error struct {
	Status      int
	Code        string
	Message     string
	Description string
	cause       error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s %s: %v", e.Code, e.Description, e.cause)
	}
	return e.Code + " " + e.Description
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.cause }

// Is matches another *Error by code, so errors.Is(err, ErrInvalidFlow()) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// withCause returns a copy of e carrying cause.
func (e *Error) withCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func newError(status int, code, message, description string) *Error {
	return &Error{Status: status, Code: code, Message: message, Description: description}
}

// The catalog (wso2-wire.md §1.10). Constructors, not shared values, so no caller can mutate
// another's error.

// ErrInvalidRequest is ABA-60001, the default client error; description overrides the default.
func ErrInvalidRequest(description string) *Error {
	if description == "" {
		description = "Received authentication request is invalid."
	}
	return newError(http.StatusBadRequest, "ABA-60001", "Invalid authentication request.", description)
}

// ErrAuthenticationFailed is ABA-60002: the flow ended with a failure.
func ErrAuthenticationFailed() *Error {
	return newError(http.StatusBadRequest, "ABA-60002", "Authentication failure.",
		"Authentication flow has concluded with a failure.")
}

// ErrInvalidAuthenticatorID is ABA-60004.
func ErrInvalidAuthenticatorID(id string) *Error {
	if id == "" {
		return newError(http.StatusBadRequest, "ABA-60004", "Invalid authenticatorId.", "Authenticator id is not provided.")
	}
	return newError(http.StatusBadRequest, "ABA-60004", "Invalid authenticatorId.",
		fmt.Sprintf("Provided authenticatorId %s is invalid.", id))
}

// ErrApplicationNotFound is ABA-60005.
func ErrApplicationNotFound(clientID, tenant string) *Error {
	return newError(http.StatusBadRequest, "ABA-60005", "Unable to find application.",
		fmt.Sprintf("Unable to find application for clientId %s in tenant domain %s", clientID, tenant))
}

// ErrNotSupported is ABA-60006 (HTTP 501): the flow needs something app-native cannot show.
func ErrNotSupported() *Error {
	return newError(http.StatusNotImplemented, "ABA-60006", "Authenticator not supported.",
		"The configured authenticator is not supported for app native authentication.")
}

// ErrAPIAuthNotEnabled is ABA-60007.
func ErrAPIAuthNotEnabled(appID string) *Error {
	return newError(http.StatusBadRequest, "ABA-60007", "App native authentication is not enabled for the application.",
		fmt.Sprintf("App native authentication is not enabled for this application with id %s", appID))
}

// ErrFlowTimeout is ABA-60008.
func ErrFlowTimeout() *Error {
	return newError(http.StatusBadRequest, "ABA-60008", "Authentication flow time out.",
		"Authentication flow has timed out as it took too long to complete.")
}

// ErrInvalidFlow is ABA-60009: the flowId is unknown, expired or already used.
func ErrInvalidFlow() *Error {
	return newError(http.StatusBadRequest, "ABA-60009", "Invalid flow identifier.", "The provided flowId is invalid.")
}

// ErrServer is ABA-65001, the default server error.
func ErrServer(cause error) *Error {
	return newError(http.StatusInternalServerError, "ABA-65001", "Unable to proceed with authentication.",
		"Server encountered an error while processing the authentication request.").withCause(cause)
}

// ErrUnauthorized is the 401 body of a failed client authentication at /oauth2/authorize
// (code "401", not an ABA code, as WSO2 sends).
func ErrUnauthorized(cause error) *Error {
	return newError(http.StatusUnauthorized, "401", "Unauthorized",
		"Authorization failure. Authorization information was invalid or missing from your request.").withCause(cause)
}

// errConflict is ABA-60001 for a submission that lost a race with another request of the same
// flow (the view it answered is gone).
func errConflict(cause error) *Error {
	return ErrInvalidRequest("The authentication request conflicts with another request of the same flow. Retry with the current step.").
		withCause(cause)
}

// toError maps any error to the *Error to send: an *Error as is, the flows client's
// conditions to their ABA codes, anything else to ABA-65001.
func toError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, flows.ErrLoginNotFound), errors.Is(err, flows.ErrEnded):
		return ErrInvalidFlow().withCause(err)
	case errors.Is(err, flows.ErrStale), errors.Is(err, flows.ErrConcurrent):
		return errConflict(err)
	case errors.Is(err, flows.ErrInvalidSubmission):
		return ErrInvalidRequest("").withCause(err)
	}
	return ErrServer(err)
}

// flowError maps a FAIL_COMPLETED view's error to the response. The workflow fills the ABA
// fields for the failures it knows (60002, 60013, …); timeouts are 60008.
func flowError(fe *flows.FlowError) *Error {
	switch {
	case fe == nil:
		return ErrAuthenticationFailed()
	case fe.Kind == flows.ErrorTimeout:
		return ErrFlowTimeout()
	case fe.Kind == flows.ErrorServer:
		return ErrServer(fmt.Errorf("login failed: %s %s", fe.Code, fe.Description))
	case fe.Code != "":
		msg, desc := fe.Message, fe.Description
		if msg == "" {
			msg = "Authentication failure."
		}
		if desc == "" {
			desc = "Authentication flow has concluded with a failure."
		}
		return newError(http.StatusBadRequest, fe.Code, msg, desc)
	}
	return ErrAuthenticationFailed()
}
