package fake_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/fake"
)

func newDir() *fake.Directory {
	return fake.NewDirectory(fake.UserRecord{Password: "s3cret",
		User: connectors.User{Username: "alice", Roles: []string{"admin"}, Groups: []string{"employee"}}})
}

func TestContractPassword(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		return connectortest.Fixture{
			Authenticator: fake.NewPassword(newDir(), 0),
			Valid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"username": "alice", "password": "s3cret"}
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"username": "alice", "password": "wrong"}
			},
		}
	})
}

func TestContractCode(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		dir := newDir()
		return connectortest.Fixture{
			Authenticator: fake.NewCode(dir, connectors.TOTPAuthenticator, "TOTP", "token", "123456"),
			User:          &connectors.User{Username: "alice", IdP: connectors.LocalIdP},
			Valid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"token": "123456"}
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"token": "000000"}
			},
		}
	})
}

func TestLockAfterMaxFailures(t *testing.T) {
	tests := []struct {
		name        string
		maxFailures int
		wrong       int
		wantLocked  bool
		wantRetry   bool
		wantRemain  int
	}{
		{name: "unlimited", maxFailures: 0, wrong: 5, wantRetry: true},
		{name: "below limit", maxFailures: 3, wrong: 2, wantRetry: true, wantRemain: 1},
		{name: "at limit", maxFailures: 3, wrong: 3, wantLocked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDir()
			a := fake.NewPassword(dir, tc.maxFailures)
			var out connectors.Outcome
			for i := range tc.wrong {
				var err error
				out, err = a.Process(context.Background(), connectors.ProcessInput{
					Params: map[string]string{"username": "alice", "password": "nope"}, Attempt: i + 1})
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := dir.Locked("alice"); got != tc.wantLocked {
				t.Errorf("locked = %v, want %v", got, tc.wantLocked)
			}
			if out.Retry != tc.wantRetry || out.RemainingAttempts != tc.wantRemain {
				t.Errorf("retry/remaining = %v/%d, want %v/%d", out.Retry, out.RemainingAttempts, tc.wantRetry, tc.wantRemain)
			}
			if got := dir.Claim("alice", fake.FailedAttemptsClaim); got == "" {
				t.Error("failed attempts claim not maintained")
			}
			// A locked user fails even with the right password.
			ok, _ := a.Process(context.Background(), connectors.ProcessInput{
				Params: map[string]string{"username": "alice", "password": "s3cret"}, Attempt: 1})
			if (ok.Status == connectors.StatusSuccess) == tc.wantLocked {
				t.Errorf("right password after %d failures: status %q", tc.wrong, ok.Status)
			}
		})
	}
}

func TestCodeFailureLimitFromRuntimeParams(t *testing.T) {
	dir := newDir()
	a := fake.NewCode(dir, connectors.SMSOTPAuthenticator, "SMS OTP", "OTPCode", "4242")
	user := &connectors.User{Username: "alice"}
	params := map[string]string{"maximumAllowedFailureAttempts": "3"}
	for attempt := 1; attempt <= 3; attempt++ {
		out, err := a.Process(context.Background(), connectors.ProcessInput{
			StepContext: connectors.StepContext{User: user, RuntimeParams: params},
			Params:      map[string]string{"OTPCode": "0000"}, Attempt: attempt})
		if err != nil {
			t.Fatal(err)
		}
		if wantRetry := attempt < 3; out.Retry != wantRetry {
			t.Errorf("attempt %d: retry = %v, want %v", attempt, out.Retry, wantRetry)
		}
	}
	calls := a.Calls()
	if len(calls) != 3 || calls[2].RuntimeParams["maximumAllowedFailureAttempts"] != "3" {
		t.Errorf("calls not recorded with runtime params: %+v", calls)
	}
}
