package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestScriptLibraries(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	lib := store.ScriptLibrary{OrgID: org.ID, Name: "risk.js", Content: "module.exports = {x: 1};", Description: "risk helpers"}
	created, err := s.CreateScriptLibrary(ctx, lib)
	if err != nil {
		t.Fatal(err)
	}
	if created.Name != "risk.js" || created.Content != lib.Content || created.CreatedAt.IsZero() {
		t.Errorf("created %+v", created)
	}
	if _, err := s.CreateScriptLibrary(ctx, lib); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate: %v, want ErrConflict", err)
	}
	if _, err := s.CreateScriptLibrary(ctx, store.ScriptLibrary{OrgID: org.ID, Name: "big.js",
		Content: strings.Repeat("x", store.MaxScriptLibrarySize+1)}); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("oversized library: %v, want a validation error", err)
	}
	if _, err := s.CreateScriptLibrary(ctx, store.ScriptLibrary{OrgID: "00000000-0000-0000-0000-000000000001",
		Name: "a.js"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown organization: %v, want ErrNotFound", err)
	}
	got, err := s.ScriptLibrary(ctx, org.ID, "risk.js")
	if err != nil || got.Content != lib.Content || got.Description != "risk helpers" {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if _, err := s.ScriptLibrary(ctx, org.ID, "risk"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other name: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateScriptLibrary(ctx, store.ScriptLibrary{OrgID: org.ID, Name: "a.js", Content: "1"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ScriptLibraries(ctx, org.ID)
	if err != nil || len(list) != 2 || list[0].Name != "a.js" || list[1].Name != "risk.js" || list[1].Content != "" {
		t.Errorf("list %+v, %v", list, err)
	}
	lib.Content, lib.Description = "module.exports = {x: 2};", "v2"
	updated, err := s.UpdateScriptLibrary(ctx, lib)
	if err != nil || updated.Content != lib.Content || updated.Description != "v2" {
		t.Errorf("update %+v, %v", updated, err)
	}
	if _, err := s.UpdateScriptLibrary(ctx, store.ScriptLibrary{OrgID: org.ID, Name: "nope.js"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: %v", err)
	}
	if err := s.DeleteScriptLibrary(ctx, org.ID, "risk.js"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteScriptLibrary(ctx, org.ID, "risk.js"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestScriptUserQueries(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	const email, mobile = "http://wso2.org/claims/emailaddress", "http://wso2.org/claims/mobile"
	mk := func(name string, claims map[string]string) store.User {
		u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: name, Claims: claims})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	alice := mk("alice", map[string]string{email: "a@example.com", mobile: "+100"})
	bob := mk("bob", map[string]string{email: "shared@example.com", mobile: "+200"})
	carol := mk("carol", map[string]string{email: "shared@example.com", mobile: "+300"})

	users, err := s.UsersByClaims(ctx, org.ID, map[string]string{email: "shared@example.com"})
	if err != nil || len(users) != 2 || users[0].ID != bob.ID || users[1].ID != carol.ID {
		t.Errorf("by shared email: %+v, %v", users, err)
	}
	users, err = s.UsersByClaims(ctx, org.ID, map[string]string{email: "shared@example.com", mobile: "+300"})
	if err != nil || len(users) != 1 || users[0].ID != carol.ID {
		t.Errorf("by email and mobile: %+v, %v", users, err)
	}
	if users, err = s.UsersByClaims(ctx, org.ID, map[string]string{email: "a@example.com", mobile: "+200"}); err != nil || len(users) != 0 {
		t.Errorf("no user has both: %+v, %v", users, err)
	}

	if err := s.SetUserPasswordHash(ctx, alice.ID, "$argon2id$fake", store.Actor{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByUsername(ctx, org.ID, "", "alice")
	if err != nil || got.PasswordHash != "$argon2id$fake" || got.PasswordUpdatedAt.IsZero() {
		t.Errorf("after password update: %+v, %v", got, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE target_id = $1 AND action = 'user.update'
		AND after::text NOT LIKE '%argon2id%'`, alice.ID); n != 1 {
		t.Errorf("%d password audit events without the hash, want 1", n)
	}
	if err := s.SetUserPasswordHash(ctx, "00000000-0000-0000-0000-000000000001", "h", store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}

	if err := s.AssociateFederatedUser(ctx, org.ID, "Google", "g-1", bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.AssociateFederatedUser(ctx, org.ID, "Google", "g-1", bob.ID); err != nil {
		t.Errorf("same link again: %v", err)
	}
	if err := s.AssociateFederatedUser(ctx, org.ID, "Google", "g-1", carol.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("relink to another user: %v, want ErrConflict", err)
	}
	linked, err := s.AssociatedUser(ctx, org.ID, "Google", "g-1")
	if err != nil || linked.ID != bob.ID {
		t.Errorf("associated user %+v, %v", linked, err)
	}
	if _, err := s.AssociatedUser(ctx, org.ID, "Google", "g-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unlinked identity: %v", err)
	}
	if err := s.DeleteFederatedAssociation(ctx, org.ID, "Google", "g-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssociatedUser(ctx, org.ID, "Google", "g-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.AssociateFederatedUser(ctx, org.ID, "Google", "g-1", "00000000-0000-0000-0000-000000000001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}
