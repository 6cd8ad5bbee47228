package scim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/keyflow/keyflow/store"
)

// SchemaError is the schema URN of SCIM error bodies (RFC 7644 §3.12).
const SchemaError = "urn:ietf:params:scim:api:messages:2.0:Error"

// scimType values (RFC 7644 §3.12, Table 9).
const (
	TypeInvalidFilter = "invalidFilter"
	TypeTooMany       = "tooMany"
	TypeUniqueness    = "uniqueness"
	TypeMutability    = "mutability"
	TypeInvalidSyntax = "invalidSyntax"
	TypeInvalidPath   = "invalidPath"
	TypeNoTarget      = "noTarget"
	TypeInvalidValue  = "invalidValue"
	TypeInvalidVers   = "invalidVers"
	TypeSensitive     = "sensitive"
)

// Error is the one error type of the SCIM edge: an HTTP status, a scimType
// (empty for statuses that have none) and a detail safe to show the client.
// The cause, if any, is for logs only.
type Error struct {
	Status   int
	ScimType string
	Detail   string
	cause    error
}

func (e *Error) Error() string {
	s := strconv.Itoa(e.Status)
	if e.ScimType != "" {
		s += " " + e.ScimType
	}
	s += ": " + e.Detail
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.cause }

func newError(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(scimType, format string, args ...any) *Error {
	return newError(http.StatusBadRequest, scimType, format, args...)
}

func notFound(what, id string) *Error {
	return newError(http.StatusNotFound, "", "%s %s not found", what, id)
}

// body is the wire form of an error.
func (e *Error) body() map[string]any {
	b := map[string]any{"schemas": []string{SchemaError}, "status": strconv.Itoa(e.Status)}
	if e.ScimType != "" {
		b["scimType"] = e.ScimType
	}
	if e.Detail != "" {
		b["detail"] = e.Detail
	}
	return b
}

// toError maps any error to the wire: an *Error as is, the store's
// sentinels to 404 and 409 uniqueness, anything else to a 500 whose detail
// says nothing (the cause is logged by the caller).
func toError(err error) *Error {
	var e *Error
	var cycle *store.GroupCycleError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &cycle):
		// RFC 7644 §3.12: invalidValue, "a required value was missing, or the value specified was
		// not compatible with the operation".
		detail := "group " + cycle.GroupID + " cannot contain group " + cycle.MemberGroupID +
			", which already contains it (directly or through nested groups)"
		if cycle.GroupID == cycle.MemberGroupID {
			detail = "group " + cycle.GroupID + " cannot be a member of itself"
		}
		return &Error{Status: http.StatusBadRequest, ScimType: TypeInvalidValue, Detail: detail, cause: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Detail: "resource not found", cause: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, ScimType: TypeUniqueness, Detail: "a resource with the same unique attribute already exists", cause: err}
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "internal error", cause: err}
}
