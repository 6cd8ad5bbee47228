package identifier_test

import (
	"encoding/json"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/identifier"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func newStore(t *testing.T) (*store.Store, store.User) {
	t.Helper()
	s := storetest.New(t)
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		s, _ := newStore(t)
		a, err := identifier.New(identifier.Config{ValidateUsername: true}, identifier.Deps{Users: s, Organizations: s})
		if err != nil {
			t.Fatal(err)
		}
		return connectortest.Fixture{
			Authenticator: a,
			Valid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"username": "alice"}
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"username": "nobody"}
			},
		}
	})
}

func TestProcess(t *testing.T) {
	s, alice := newStore(t)
	tests := []struct {
		name       string
		validate   bool
		username   string
		wantStatus connectors.Status
		wantReason connectors.Reason
		wantID     string
		wantName   string
	}{
		{name: "unvalidated known", username: "alice", wantStatus: connectors.StatusSuccess, wantName: "alice"},
		{name: "unvalidated unknown succeeds alike", username: "nobody", wantStatus: connectors.StatusSuccess, wantName: "nobody"},
		{name: "validated known", validate: true, username: " alice ", wantStatus: connectors.StatusSuccess, wantID: alice.ID, wantName: "Alice"},
		{name: "validated unknown", validate: true, username: "nobody", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonUserNotFound},
		{name: "validated wrong domain", validate: true, username: "CORP/alice", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonUserNotFound},
		{name: "empty", username: "  ", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidInput},
		{name: "control characters", username: "a\nb", wantStatus: connectors.StatusFailed, wantReason: connectors.ReasonInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := identifier.New(identifier.Config{ValidateUsername: tc.validate}, identifier.Deps{Users: s, Organizations: s})
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Process(t.Context(), connectors.ProcessInput{StepContext: connectors.StepContext{TenantDomain: "carbon.super"},
				Params: map[string]string{"username": tc.username}, Attempt: 1})
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.wantStatus || out.Reason != tc.wantReason {
				t.Fatalf("status %q reason %q, want %q %q", out.Status, out.Reason, tc.wantStatus, tc.wantReason)
			}
			if tc.wantStatus == connectors.StatusSuccess &&
				(out.User.ID != tc.wantID || out.User.Username != tc.wantName || out.User.TenantDomain != "carbon.super" || out.User.IdP != "LOCAL") {
				t.Errorf("user %+v", out.User)
			}
		})
	}
	if _, err := identifier.New(identifier.Config{ValidateUsername: true}, identifier.Deps{}); err == nil {
		t.Error("New accepted validation without a store")
	}
}
