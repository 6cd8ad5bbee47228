package op_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

func TestToError(t *testing.T) {
	cause := errors.New("db down")
	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantStatus int
		wantCause  error
	}{
		{"wrapped *Error kept", fmt.Errorf("ctx: %w", op.ErrInvalidClient("x").WithCause(cause)), op.CodeInvalidClient, http.StatusUnauthorized, cause},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), op.CodeTemporarilyUnavailable, http.StatusServiceUnavailable, context.DeadlineExceeded},
		{"anything else", cause, op.CodeServerError, http.StatusInternalServerError, cause},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := op.ToError(tc.err)
			if e.Code != tc.wantCode || e.Status != tc.wantStatus || !errors.Is(e, tc.wantCause) {
				t.Errorf("ToError = %+v", e)
			}
			if e.Status >= 500 && e.Description != "internal error" && e.Description != "service temporarily unavailable" {
				t.Errorf("server error leaks its cause in the description: %q", e.Description)
			}
		})
	}
	if op.ToError(nil) != nil {
		t.Error("ToError(nil) != nil")
	}
	if errors.Is(op.ErrInvalidGrant("a"), op.ErrInvalidClient("a")) || !errors.Is(op.ErrInvalidGrant("a"), op.ErrInvalidGrant("b")) {
		t.Error("Is must compare codes")
	}
}
