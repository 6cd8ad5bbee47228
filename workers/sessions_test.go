package workers

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

type recordingEnder struct{ ended []string }

func (r *recordingEnder) SessionEnded(_ context.Context, s store.SSOSession) []string {
	r.ended = append(r.ended, s.ID)
	return nil
}

// TestTerminateUserSessionLogsOut checks that a script ending one of its user's sessions hands
// the ended session to Ended (the relying parties' logout), and that a session of another user
// is neither ended nor handed on.
func TestTerminateUserSessionLogsOut(t *testing.T) {
	ctx := t.Context()
	s := storetest.New(t)
	org, err := s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	session := func(u store.User, token string) store.SSOSession {
		sum := sha256.Sum256([]byte(token))
		ss, err := s.CreateSSOSession(ctx, sum[:], store.SSOSession{OrgID: org.ID, UserID: u.ID, Subject: u.ID,
			AuthTime: now, LastActiveAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	var users []store.User
	for _, name := range []string{"alice", "bob"} {
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: name})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	mine, theirs := session(users[0], "a"), session(users[1], "b")
	rec := &recordingEnder{}
	sessions := &Sessions{Store: s, Ended: rec}
	alice := &connectors.User{ID: users[0].ID, Username: "alice"}

	if ok, err := sessions.TerminateUserSession(ctx, alice, theirs.ID); err != nil || ok {
		t.Fatalf("ending another user's session: %v, %v", ok, err)
	}
	if ok, err := sessions.TerminateUserSession(ctx, alice, mine.ID); err != nil || !ok {
		t.Fatalf("ending alice's session: %v, %v", ok, err)
	}
	if !slices.Equal(rec.ended, []string{mine.ID}) {
		t.Fatalf("handed on %v, want [%s]", rec.ended, mine.ID)
	}
	if _, err := s.SSOSessionByID(ctx, mine.ID, now); err == nil {
		t.Fatal("alice's session is still live")
	}
	if _, err := s.SSOSessionByID(ctx, theirs.ID, now); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
}
