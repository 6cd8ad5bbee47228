package store_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestDCRRegistration(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	app := createApp(t, s, org.ID, "registered", "dyn-1")
	other := createApp(t, s, org.ID, "other", "dyn-2")
	hash := bytes.Repeat([]byte{9}, 32)
	reg := store.DCRRegistration{ClientID: "dyn-1", ApplicationID: app.ID, TokenHash: hash}
	got, err := s.CreateDCRRegistration(t.Context(), store.NewDCRRegistration{DCRRegistration: reg,
		Actor: store.Actor{Type: store.ActorUser, ID: "u1"}})
	if err != nil || got.ClientID != "dyn-1" || got.ApplicationID != app.ID || !bytes.Equal(got.TokenHash, hash) || got.CreatedAt.IsZero() {
		t.Fatalf("create = %+v %v", got, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND org_id = $2 AND actor_id = 'u1'
		AND NOT (after ? 'tokenHash')`, store.AuditDCRRegister, org.ID); n != 1 {
		t.Errorf("%d audit events", n)
	}
	if r, err := s.DCRRegistration(t.Context(), "dyn-1"); err != nil || !bytes.Equal(r.TokenHash, hash) {
		t.Errorf("read = %+v %v", r, err)
	}

	cases := []struct {
		name string
		reg  store.DCRRegistration
		want error
	}{
		{"client registered twice", store.DCRRegistration{ClientID: "dyn-1", ApplicationID: other.ID, TokenHash: hash}, store.ErrConflict},
		{"application registered twice", store.DCRRegistration{ClientID: "dyn-2", ApplicationID: app.ID, TokenHash: hash}, store.ErrConflict},
		{"unknown client", store.DCRRegistration{ClientID: "nope", ApplicationID: other.ID, TokenHash: hash}, store.ErrNotFound},
		{"application not a uuid", store.DCRRegistration{ClientID: "dyn-2", ApplicationID: "x", TokenHash: hash}, store.ErrNotFound},
		{"short hash", store.DCRRegistration{ClientID: "dyn-2", ApplicationID: other.ID, TokenHash: hash[:16]}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CreateDCRRegistration(t.Context(), store.NewDCRRegistration{DCRRegistration: c.reg})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}

	if _, err := s.DCRRegistration(t.Context(), "dyn-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unregistered client: %v", err)
	}
	// The registration goes with its application.
	if err := s.DeleteApplication(t.Context(), app.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DCRRegistration(t.Context(), "dyn-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}
