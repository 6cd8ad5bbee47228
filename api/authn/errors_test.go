package authn

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/keyflow/keyflow/flows"
)

func TestToError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{name: "ABA error kept", err: fmt.Errorf("wrapped: %w", ErrInvalidAuthenticatorID("x")), code: "ABA-60004", status: http.StatusBadRequest},
		{name: "unknown flow", err: fmt.Errorf("x: %w", flows.ErrLoginNotFound), code: "ABA-60009", status: http.StatusBadRequest},
		{name: "ended flow", err: fmt.Errorf("x: %w", flows.ErrEnded), code: "ABA-60009", status: http.StatusBadRequest},
		{name: "stale submission", err: fmt.Errorf("x: %w", flows.ErrStale), code: "ABA-60001", status: http.StatusBadRequest},
		{name: "concurrent submission", err: fmt.Errorf("x: %w", flows.ErrConcurrent), code: "ABA-60001", status: http.StatusBadRequest},
		{name: "invalid submission", err: fmt.Errorf("x: %w", flows.ErrInvalidSubmission), code: "ABA-60001", status: http.StatusBadRequest},
		{name: "anything else", err: errors.New("connection refused"), code: "ABA-65001", status: http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := toError(tc.err)
			if e.Code != tc.code || e.Status != tc.status {
				t.Errorf("toError = %s/%d, want %s/%d", e.Code, e.Status, tc.code, tc.status)
			}
			if e.Message == "" || e.Description == "" {
				t.Errorf("empty public text: %+v", e)
			}
		})
	}
}

func TestFlowError(t *testing.T) {
	tests := []struct {
		name string
		fe   *flows.FlowError
		code string
	}{
		{name: "none", code: "ABA-60002"},
		{name: "timeout", fe: &flows.FlowError{Kind: flows.ErrorTimeout}, code: "ABA-60008"},
		{name: "server", fe: &flows.FlowError{Kind: flows.ErrorServer, Code: "ABA-65001"}, code: "ABA-65001"},
		{name: "retries exhausted", fe: &flows.FlowError{Kind: flows.ErrorAuthentication, Code: "ABA-60013",
			Message: "Maximum retry attempts exceeded."}, code: "ABA-60013"},
		{name: "script fail()", fe: &flows.FlowError{Kind: flows.ErrorProtocol, Code: "ABA-60002"}, code: "ABA-60002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := flowError(tc.fe); got.Code != tc.code || got.Message == "" || got.Description == "" {
				t.Errorf("flowError = %+v, want code %s", got, tc.code)
			}
		})
	}
}

func TestErrorIsByCode(t *testing.T) {
	err := fmt.Errorf("x: %w", ErrInvalidFlow().withCause(errors.New("private")))
	if !errors.Is(err, ErrInvalidFlow()) || errors.Is(err, ErrAuthenticationFailed()) {
		t.Error("errors.Is does not match by code")
	}
}
