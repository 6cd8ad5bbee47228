// Package rest holds what Keyflow's WSO2-shaped management REST APIs (/api/users/v1,
// /api/server/v1/…) share: WSO2's error body, how it is written, and how a request that
// package bearer refused is answered in an API's own codes.
package rest

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/bearer"
)

// Error is WSO2's REST API error body; Status is the HTTP status it is sent with.
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	Description string `json:"description"`
	TraceID     string `json:"traceId"`
}

// With returns e with another description.
func (e Error) With(description string) Error {
	e.Description = description
	return e
}

// Errors writes one API's errors. The four Error fields are its answers to bearer's refusals.
type Errors struct {
	// Log receives server errors with their cause; API names the API in those lines.
	Log *slog.Logger
	API string

	Unauthenticated, Forbidden, Unavailable, Server Error
}

// Fail aborts the request with e, its trace id set to the request id. A 5xx is logged with
// cause; the body never carries it.
func (x *Errors) Fail(c *gin.Context, e Error, cause error) {
	e.TraceID = api.RequestID(c.Request.Context())
	if e.Status >= http.StatusInternalServerError && x.Log != nil {
		x.Log.ErrorContext(c.Request.Context(), x.API+": request failed", "code", e.Code, "error", cause)
	}
	c.AbortWithStatusJSON(e.Status, e)
}

// Refuse answers a request bearer.Authenticator refused (its Fail).
func (x *Errors) Refuse(c *gin.Context, f bearer.Failure, cause error) {
	switch f {
	case bearer.Unauthenticated:
		x.Fail(c, x.Unauthenticated, nil)
	case bearer.Forbidden:
		x.Fail(c, x.Forbidden, nil)
	case bearer.Unavailable:
		x.Fail(c, x.Unavailable, cause)
	default:
		x.Fail(c, x.Server, cause)
	}
}

// Codes are one API's answers to the refusals of package bearer.
type Codes struct {
	Unauthenticated, Forbidden, Unavailable, Server Error
}

// Guard is how one management API checks its callers and answers them: its logger, its error
// writer, and a bearer Authenticator whose refusals the error writer answers in the API's codes.
type Guard struct {
	Log  *slog.Logger
	Errs *Errors
	Auth *bearer.Authenticator
}

// NewGuard builds the Guard of API name (as its log lines name it) for callers of the
// organization orgHandle (empty: the root one); a nil log discards.
func NewGuard(name string, log *slog.Logger, codes Codes, tokens bearer.Tokens, users bearer.Users, orgHandle string) Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	errs := &Errors{Log: log, API: name, Unauthenticated: codes.Unauthenticated, Forbidden: codes.Forbidden,
		Unavailable: codes.Unavailable, Server: codes.Server}
	return Guard{Log: log, Errs: errs,
		Auth: &bearer.Authenticator{Tokens: tokens, Users: users, OrgHandle: orgHandle, Fail: errs.Refuse}}
}
