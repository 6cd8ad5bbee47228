package op

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 and OpenID Connect Core
// §3.1.2.6 that this package returns.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeUnsupportedTokenType   = "unsupported_token_type"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	// Authorization endpoint (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
	CodeAccessDenied             = "access_denied"
	CodeUnsupportedResponseType  = "unsupported_response_type"
	CodeInteractionRequired      = "interaction_required"
	CodeLoginRequired            = "login_required"
	CodeConsentRequired          = "consent_required"
	CodeAccountSelectionRequired = "account_selection_required"
	CodeRequestNotSupported      = "request_not_supported"
	CodeRequestURINotSupported   = "request_uri_not_supported"
	// Request objects and request_uri (RFC 9101 §6.2, OpenID Connect Core §3.1.2.6).
	CodeInvalidRequestObject = "invalid_request_object"
	CodeInvalidRequestURI    = "invalid_request_uri"
	// Bearer token use (RFC 6750 §3.1): userinfo.
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// Error is the one error type the provider returns to the HTTP edge: an
// OAuth 2.0 error response (RFC 6749 §5.2) with the HTTP status to send and a
// private cause that is logged, never sent. Build one with the constructor
// functions; turn any error into one with ToError.
type Error struct {
	// Code is the "error" member.
	Code string
	// Description is the "error_description" member: public, for developers,
	// never containing secrets or internal detail.
	Description string
	// Status is the HTTP status code.
	Status int
	cause  error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.cause }

// Is matches another *Error with the same Code, so errors.Is(err,
// op.ErrInvalidClient("")) asks "is this an invalid_client error".
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// WithCause returns a copy of e carrying cause (for logs).
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func newError(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// ErrInvalidRequest: a parameter is missing, repeated, malformed or unsupported.
func ErrInvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, format, args...)
}

// ErrInvalidClient: client authentication failed (RFC 6749 §5.2: 401, and
// the edge adds WWW-Authenticate).
func ErrInvalidClient(format string, args ...any) *Error {
	return newError(CodeInvalidClient, http.StatusUnauthorized, format, args...)
}

// ErrInvalidGrant: the grant (code, refresh token, credentials) is invalid,
// expired, revoked or issued to another client.
func ErrInvalidGrant(format string, args ...any) *Error {
	return newError(CodeInvalidGrant, http.StatusBadRequest, format, args...)
}

// ErrUnauthorizedClient: the authenticated client may not use this grant or
// operation.
func ErrUnauthorizedClient(format string, args ...any) *Error {
	return newError(CodeUnauthorizedClient, http.StatusBadRequest, format, args...)
}

// ErrUnsupportedGrantType: the server does not implement the grant type.
func ErrUnsupportedGrantType(format string, args ...any) *Error {
	return newError(CodeUnsupportedGrantType, http.StatusBadRequest, format, args...)
}

// ErrInvalidScope: the requested scope is malformed.
func ErrInvalidScope(format string, args ...any) *Error {
	return newError(CodeInvalidScope, http.StatusBadRequest, format, args...)
}

// ErrUnsupportedTokenType: revocation of this token type is not supported
// (RFC 7009 §2.2.1).
func ErrUnsupportedTokenType(format string, args ...any) *Error {
	return newError(CodeUnsupportedTokenType, http.StatusBadRequest, format, args...)
}

// ErrAccessDenied: the user or the server denied the request.
func ErrAccessDenied(format string, args ...any) *Error {
	return newError(CodeAccessDenied, http.StatusForbidden, format, args...)
}

// ErrUnsupportedResponseType: the response_type is not supported.
func ErrUnsupportedResponseType(format string, args ...any) *Error {
	return newError(CodeUnsupportedResponseType, http.StatusBadRequest, format, args...)
}

// ErrLoginRequired: prompt=none, and the user is not logged in.
func ErrLoginRequired(format string, args ...any) *Error {
	return newError(CodeLoginRequired, http.StatusBadRequest, format, args...)
}

// ErrConsentRequired: prompt=none, and the user has not consented.
func ErrConsentRequired(format string, args ...any) *Error {
	return newError(CodeConsentRequired, http.StatusBadRequest, format, args...)
}

// ErrInteractionRequired: prompt=none, and the login needs the user.
func ErrInteractionRequired(format string, args ...any) *Error {
	return newError(CodeInteractionRequired, http.StatusBadRequest, format, args...)
}

// ErrAccountSelectionRequired: prompt=none, and the user must choose a session.
func ErrAccountSelectionRequired(format string, args ...any) *Error {
	return newError(CodeAccountSelectionRequired, http.StatusBadRequest, format, args...)
}

// ErrRequestNotSupported: the request parameter (request object) is not supported.
func ErrRequestNotSupported(format string, args ...any) *Error {
	return newError(CodeRequestNotSupported, http.StatusBadRequest, format, args...)
}

// ErrRequestURINotSupported: the request_uri parameter is not supported.
func ErrRequestURINotSupported(format string, args ...any) *Error {
	return newError(CodeRequestURINotSupported, http.StatusBadRequest, format, args...)
}

// ErrInvalidRequestObject: the request object (JAR) is malformed, not
// signed by the client, or its claims are wrong (RFC 9101 §6.2).
func ErrInvalidRequestObject(format string, args ...any) *Error {
	return newError(CodeInvalidRequestObject, http.StatusBadRequest, format, args...)
}

// ErrInvalidRequestURI: the request_uri is unknown, expired, already used
// or belongs to another client (RFC 9101 §6.2, RFC 9126 §4).
func ErrInvalidRequestURI(format string, args ...any) *Error {
	return newError(CodeInvalidRequestURI, http.StatusBadRequest, format, args...)
}

// ErrInvalidToken: the bearer token is missing, malformed, expired or
// revoked (RFC 6750 §3.1: 401).
func ErrInvalidToken(format string, args ...any) *Error {
	return newError(CodeInvalidToken, http.StatusUnauthorized, format, args...)
}

// ErrInsufficientScope: the bearer token lacks the scope the resource needs
// (RFC 6750 §3.1: 403).
func ErrInsufficientScope(format string, args ...any) *Error {
	return newError(CodeInsufficientScope, http.StatusForbidden, format, args...)
}

// ErrServer: an internal failure; cause is logged, not sent.
func ErrServer(cause error) *Error {
	return &Error{Code: CodeServerError, Status: http.StatusInternalServerError,
		Description: "internal error", cause: cause}
}

// ErrTemporarilyUnavailable: a dependency is slow or down, or the request
// was cancelled; retrying later may succeed.
func ErrTemporarilyUnavailable(cause error) *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "service temporarily unavailable", cause: cause}
}

// ToError is the one mapping from any error to the wire: an *Error in the
// chain is returned as is; deadlines and cancellations become
// temporarily_unavailable; anything else is server_error with err as the
// private cause. nil maps to nil.
func ToError(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ErrTemporarilyUnavailable(err)
	}
	return ErrServer(err)
}
