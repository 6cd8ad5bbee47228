package basic

import (
	"context"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

// TestSameWorkForUnknownUsers checks that every Process verifies exactly one argon2id hash with the
// configured cost, whether or not the user exists, so response time does not reveal existence.
func TestSameWorkForUnknownUsers(t *testing.T) {
	url := storetest.URL(t)
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := password.Hash("pw", password.OWASP)
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "alice", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "nopw"}); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{}, Deps{Users: s, Organizations: s})
	if err != nil {
		t.Fatal(err)
	}
	if password.NeedsRehash(a.dummyHash, password.OWASP) {
		t.Fatal("the dummy hash does not use the OWASP default")
	}
	tests := []struct {
		name, tenant, username string
	}{
		{name: "known user", tenant: "carbon.super", username: "alice"},
		{name: "unknown user", tenant: "carbon.super", username: "bob"},
		{name: "user without password", tenant: "carbon.super", username: "nopw"},
		{name: "unknown tenant", tenant: "nowhere", username: "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hashes []string
			a.verify = func(_ context.Context, pw, encoded string) (bool, error) {
				hashes = append(hashes, encoded)
				return password.Verify(pw, encoded)
			}
			out, err := a.Process(context.Background(), connectors.ProcessInput{
				StepContext: connectors.StepContext{TenantDomain: tc.tenant},
				Params:      map[string]string{ParamUsername: tc.username, ParamPassword: "wrong"}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != connectors.StatusFailed {
				t.Fatalf("status %q", out.Status)
			}
			if len(hashes) != 1 || password.NeedsRehash(hashes[0], password.OWASP) {
				t.Errorf("verified %d hashes %v, want one with OWASP parameters", len(hashes), hashes)
			}
		})
	}
}
