package store_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// wso2Sequence is the authenticationSequence example of wso2-wire.md §3 (steps given out of
// order, as the API accepts them).
const wso2Sequence = `{
  "type": "USER_DEFINED",
  "steps": [
    {"id": 2, "options": [
      {"idp": "LOCAL", "authenticator": "totp"},
      {"idp": "LOCAL", "authenticator": "email-otp-authenticator"}]},
    {"id": 1, "options": [
      {"idp": "LOCAL", "authenticator": "BasicAuthenticator"},
      {"idp": "Google", "authenticator": "GoogleOIDCAuthenticator"},
      {"idp": "LOCAL", "authenticator": "FIDOAuthenticator"}]}
  ],
  "subjectStepId": 1,
  "attributeStepId": 1,
  "script": "var onLoginRequest = function(context) {\n    executeStep(1);\n};\n"
}`

func TestCreateApplication(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "mobile")); err != nil {
		t.Fatal(err)
	}
	var seq store.AuthenticationSequence
	if err := json.Unmarshal([]byte(wso2Sequence), &seq); err != nil {
		t.Fatal(err)
	}
	created, err := s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{
		OrgID: org.ID, Name: "Pickup", ClientID: "mobile", Sequence: seq, APIBasedAuthentication: true}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ApplicationByClientID(t.Context(), "mobile")
	if err != nil {
		t.Fatal(err)
	}
	byID, err := s.Application(t.Context(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, created) || !reflect.DeepEqual(byID, created) {
		t.Errorf("read back\n%+v\n%+v\nwant %+v", got, byID, created)
	}
	if !got.APIBasedAuthentication || got.Name != "Pickup" || got.OrgID != org.ID || got.ClientID != "mobile" {
		t.Errorf("fields: %+v", got)
	}
	if got.Sequence.Steps[0].ID != 1 || got.Sequence.Steps[0].Options[0].Authenticator != "BasicAuthenticator" ||
		got.Sequence.Steps[1].ID != 2 || len(got.Sequence.Steps[1].Options) != 2 {
		t.Errorf("steps not sorted by id: %+v", got.Sequence.Steps)
	}
	if got.Sequence.Script != seq.Script || got.Sequence.SubjectStep() != 1 {
		t.Errorf("sequence %+v", got.Sequence)
	}
	// The stored JSON is WSO2's shape: the management API can return it as is.
	var raw map[string]any
	if err := conn.QueryRow(t.Context(), `SELECT auth_sequence FROM applications WHERE id = $1`, created.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "steps", "subjectStepId", "attributeStepId", "script"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("stored auth_sequence lacks %q: %v", k, raw)
		}
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`,
		store.AuditApplicationCreate, created.ID); n != 1 {
		t.Errorf("%d audit events, want 1", n)
	}
}

func TestCreateApplicationErrors(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(t.Context(), newOAuth2Client(org.ID, "taken")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{
		OrgID: org.ID, Name: "first", ClientID: "taken"}}); err != nil {
		t.Fatal(err)
	}
	step := func(id int, authenticators ...string) store.AuthenticationStep {
		st := store.AuthenticationStep{ID: id}
		for _, a := range authenticators {
			st.Options = append(st.Options, store.AuthenticationOption{IdP: store.LocalIdP, Authenticator: a})
		}
		return st
	}
	tests := []struct {
		name string
		app  store.Application
		is   error // nil: a plain validation error
	}{
		{name: "client id taken", app: store.Application{OrgID: org.ID, Name: "second", ClientID: "taken"}, is: store.ErrConflict},
		{name: "name taken", app: store.Application{OrgID: org.ID, Name: "first"}, is: store.ErrConflict},
		{name: "unknown client", app: store.Application{OrgID: org.ID, Name: "x", ClientID: "nope"}, is: store.ErrNotFound},
		{name: "unknown organization", app: store.Application{OrgID: "6f1c1f5e-7d55-4a53-a54b-2a7dd0b5e0a1", Name: "x"}, is: store.ErrNotFound},
		{name: "empty name", app: store.Application{OrgID: org.ID}},
		{name: "user-defined without steps", app: store.Application{OrgID: org.ID, Name: "x",
			Sequence: store.AuthenticationSequence{Type: store.SequenceUserDefined}}},
		{name: "step ids not consecutive", app: store.Application{OrgID: org.ID, Name: "x",
			Sequence: store.AuthenticationSequence{Type: store.SequenceUserDefined,
				Steps: []store.AuthenticationStep{step(1, "BasicAuthenticator"), step(3, "totp")}}}},
		{name: "step without options", app: store.Application{OrgID: org.ID, Name: "x",
			Sequence: store.AuthenticationSequence{Type: store.SequenceUserDefined, Steps: []store.AuthenticationStep{{ID: 1}}}}},
		{name: "unknown type", app: store.Application{OrgID: org.ID, Name: "x",
			Sequence: store.AuthenticationSequence{Type: "CUSTOM"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateApplication(t.Context(), store.NewApplication{Application: tc.app})
			switch {
			case err == nil:
				t.Fatal("created")
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("error %v, want %v", err, tc.is)
			case tc.is == nil && (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)):
				t.Fatalf("error %v, want a validation error", err)
			}
		})
	}
	if _, err := s.ApplicationByClientID(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
}

func TestAuthenticationSequenceEffectiveSteps(t *testing.T) {
	two := []store.AuthenticationStep{{ID: 1}, {ID: 2}}
	tests := []struct {
		name      string
		seq       store.AuthenticationSequence
		subject   int
		attribute int
	}{
		{name: "unset", seq: store.AuthenticationSequence{Steps: two}, subject: 1, attribute: 1},
		{name: "set", seq: store.AuthenticationSequence{Steps: two, SubjectStepID: 2, AttributeStepID: 2}, subject: 2, attribute: 2},
		{name: "out of range", seq: store.AuthenticationSequence{Steps: two, SubjectStepID: 3, AttributeStepID: -1}, subject: 1, attribute: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, a := tc.seq.SubjectStep(), tc.seq.AttributeStep(); s != tc.subject || a != tc.attribute {
				t.Errorf("subject %d attribute %d, want %d %d", s, a, tc.subject, tc.attribute)
			}
		})
	}
}
