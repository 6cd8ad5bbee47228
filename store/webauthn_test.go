package store_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func newPasskey(userID string, id byte) store.WebAuthnCredential {
	return store.WebAuthnCredential{
		ID: bytes.Repeat([]byte{id}, 32), UserID: userID, RPID: "id.example.com",
		PublicKey: []byte{0xa5, 1, 2}, AttestationType: "self", AttestationFormat: "packed", SignCount: 5,
		AAGUID: bytes.Repeat([]byte{0xaa}, 16), Transports: []string{"internal", "hybrid"},
		UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: true, Name: " Laptop ",
	}
}

func TestWebAuthnCredentialLifecycle(t *testing.T) {
	s, conn := newStore(t)
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	ctx := t.Context()
	actor := store.Actor{Type: store.ActorUser, ID: alice.ID}

	c := newPasskey(alice.ID, 1)
	if err := s.AddWebAuthnCredential(ctx, c, actor); err != nil {
		t.Fatal(err)
	}
	// A credential id is unique across users.
	dup := newPasskey(bob.ID, 1)
	if err := s.AddWebAuthnCredential(ctx, dup, store.Actor{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: %v, want ErrConflict", err)
	}
	if err := s.AddWebAuthnCredential(ctx, newPasskey("6f1d3a4e-0000-4000-8000-000000000000", 2), store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v, want ErrNotFound", err)
	}
	second := newPasskey(alice.ID, 2)
	second.AAGUID, second.Transports, second.BackupEligible, second.BackupState, second.SignCount = nil, nil, false, false, 0
	if err := s.AddWebAuthnCredential(ctx, second, actor); err != nil {
		t.Fatal(err)
	}
	other := newPasskey(alice.ID, 3)
	other.RPID = "other.example.com"
	if err := s.AddWebAuthnCredential(ctx, other, actor); err != nil {
		t.Fatal(err)
	}

	list, err := s.WebAuthnCredentials(ctx, "id.example.com", alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !bytes.Equal(list[0].ID, c.ID) || !bytes.Equal(list[1].ID, second.ID) {
		t.Fatalf("list: %+v", list)
	}
	got := list[0]
	if got.UserID != alice.ID || got.SignCount != 5 || !bytes.Equal(got.AAGUID, c.AAGUID) || got.Name != "Laptop" ||
		len(got.Transports) != 2 || !got.BackupEligible || !got.BackupState || !got.UserVerified ||
		got.AttestationFormat != "packed" || !got.LastUsedAt.IsZero() || got.CreatedAt.IsZero() {
		t.Errorf("stored credential: %+v", got)
	}
	if list[1].AAGUID != nil || len(list[1].Transports) != 0 {
		t.Errorf("second credential: %+v", list[1])
	}
	if l, err := s.WebAuthnCredentials(ctx, "id.example.com", "not-a-uuid"); err != nil || len(l) != 0 {
		t.Errorf("unknown user: %v %v", l, err)
	}

	byID, err := s.WebAuthnCredential(ctx, "id.example.com", c.ID)
	if err != nil || byID.UserID != alice.ID {
		t.Fatalf("by id: %+v %v", byID, err)
	}
	if _, err := s.WebAuthnCredential(ctx, "other.example.com", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other rp: %v", err)
	}

	if err := s.RenameWebAuthnCredential(ctx, alice.ID, c.ID, "Phone", actor); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameWebAuthnCredential(ctx, bob.ID, c.ID, "Mine", store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rename another's: %v", err)
	}
	if err := s.DeleteWebAuthnCredential(ctx, bob.ID, c.ID, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete another's: %v", err)
	}
	if err := s.DeleteWebAuthnCredential(ctx, alice.ID, c.ID, actor); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebAuthnCredential(ctx, "id.example.com", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	for action, want := range map[string]int{store.AuditWebAuthnRegister: 3, store.AuditWebAuthnRename: 1, store.AuditWebAuthnDelete: 1} {
		if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`, action, alice.ID); n != want {
			t.Errorf("%s audit events: %d, want %d", action, n, want)
		}
	}
	// The audit trail names the credential by a prefix of its id, never the key.
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE after::text LIKE '%0101010101010101%'`); n != 2 {
		t.Errorf("audit events naming the credential: %d", n)
	}
}

func TestUseWebAuthnCredentialSignCount(t *testing.T) {
	s, _ := newStore(t)
	alice := newUser(t, s, "alice")
	ctx := t.Context()
	c := newPasskey(alice.ID, 7)
	c.UserVerified, c.BackupState = false, false
	if err := s.AddWebAuthnCredential(ctx, c, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2031, 5, 1, 10, 0, 0, 0, time.UTC)
	use := func(count uint32) bool {
		t.Helper()
		ok, err := s.UseWebAuthnCredential(ctx, c.RPID, c.ID, store.WebAuthnUse{SignCount: count, UserVerified: true,
			BackupState: true, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if use(5) || use(4) || use(0) {
		t.Fatal("a counter that does not advance was accepted")
	}
	if !use(6) {
		t.Fatal("an advancing counter was refused")
	}
	got, err := s.WebAuthnCredential(ctx, c.RPID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SignCount != 6 || !got.UserVerified || !got.BackupState || !got.LastUsedAt.Equal(at) {
		t.Errorf("after use: %+v", got)
	}
	// uvInitialized is latched.
	if ok, err := s.UseWebAuthnCredential(ctx, c.RPID, c.ID, store.WebAuthnUse{SignCount: 7}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if got, _ = s.WebAuthnCredential(ctx, c.RPID, c.ID); !got.UserVerified || got.BackupState {
		t.Errorf("flags after a use without UV: %+v", got)
	}
	if ok, err := s.UseWebAuthnCredential(ctx, "other.example.com", c.ID, store.WebAuthnUse{SignCount: 100}); err != nil || ok {
		t.Errorf("other rp: %v %v", ok, err)
	}

	// Concurrent submissions of one counter value: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseWebAuthnCredential(ctx, c.RPID, c.ID, store.WebAuthnUse{SignCount: 50})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent uses of one counter value won, want 1", wins)
	}

	// Authenticators without a counter (always 0) stay usable.
	zero := newPasskey(alice.ID, 8)
	zero.SignCount = 0
	if err := s.AddWebAuthnCredential(ctx, zero, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ok, err := s.UseWebAuthnCredential(ctx, zero.RPID, zero.ID, store.WebAuthnUse{}); err != nil || !ok {
			t.Fatalf("zero counter: %v %v", ok, err)
		}
	}
}

func TestAddWebAuthnCredentialValidates(t *testing.T) {
	s, _ := newStore(t)
	alice := newUser(t, s, "alice")
	tests := []struct {
		name   string
		mutate func(*store.WebAuthnCredential)
	}{
		{"no id", func(c *store.WebAuthnCredential) { c.ID = nil }},
		{"no key", func(c *store.WebAuthnCredential) { c.PublicKey = nil }},
		{"no rp", func(c *store.WebAuthnCredential) { c.RPID = "" }},
		{"short aaguid", func(c *store.WebAuthnCredential) { c.AAGUID = []byte{1} }},
		{"backup state without eligibility", func(c *store.WebAuthnCredential) { c.BackupEligible = false }},
		{"short id", func(c *store.WebAuthnCredential) { c.ID = []byte{1, 2} }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newPasskey(alice.ID, byte(20+i))
			tc.mutate(&c)
			if err := s.AddWebAuthnCredential(t.Context(), c, store.Actor{}); err == nil {
				t.Error("accepted")
			}
		})
	}
}
