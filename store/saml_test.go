package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func newSAMLApp(t *testing.T, s *store.Store, orgID, name string) store.Application {
	t.Helper()
	app, err := s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: orgID, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func TestSAMLServiceProvider(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	app := newSAMLApp(t, s, org.ID, "wiki")
	in := store.SAMLServiceProvider{
		ApplicationID: app.ID, EntityID: "https://sp.example.com/metadata",
		ACS: []store.SAMLEndpoint{
			{URL: "https://sp.example.com/acs", Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Index: 1, Default: true},
			{URL: "https://sp.example.com/acs2", Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Index: 2},
		},
		SLOURL: "https://sp.example.com/slo", SigningCertificates: []string{"PEM1"},
		NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		SignResponse: true, SignAssertion: false, RequireSignedRequests: true,
		AttributeMapping: map[string]string{"http://wso2.org/claims/emailaddress": "email"},
		Audiences:        []string{"https://other.example.com"}, IdPInitiated: true,
	}
	created, err := s.CreateSAMLServiceProvider(t.Context(), store.NewSAMLServiceProvider{SAMLServiceProvider: in})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.OrgID != org.ID || created.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", created)
	}
	got, err := s.SAMLServiceProviderByEntityID(t.Context(), org.ID, in.EntityID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, created) {
		t.Errorf("by entity id = %+v\nwant %+v", got, created)
	}
	want := in
	want.ID, want.OrgID, want.CreatedAt, want.UpdatedAt = created.ID, org.ID, created.CreatedAt, created.UpdatedAt
	want.SLOBinding = store.SAMLBindingPOST // the default
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored = %+v\nwant %+v", got, want)
	}
	if byApp, err := s.SAMLServiceProviderByApplication(t.Context(), app.ID); err != nil || byApp.ID != created.ID {
		t.Errorf("by application = %+v, %v", byApp, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditSAMLServiceProviderCreate); n != 1 {
		t.Errorf("audit events = %d", n)
	}

	tests := []struct {
		name   string
		mutate func(*store.SAMLServiceProvider)
		want   error
	}{
		{"taken entity id", func(sp *store.SAMLServiceProvider) { sp.ApplicationID = newSAMLApp(t, s, org.ID, "other").ID }, store.ErrConflict},
		{"application has one", func(sp *store.SAMLServiceProvider) { sp.EntityID = "urn:other" }, store.ErrConflict},
		{"unknown application", func(sp *store.SAMLServiceProvider) { sp.ApplicationID = "6f1d3c0a-0000-4000-8000-000000000000" }, store.ErrNotFound},
		{"no acs", func(sp *store.SAMLServiceProvider) { sp.ACS = nil }, nil},
		{"duplicate index", func(sp *store.SAMLServiceProvider) { sp.ACS[1].Index = 1 }, nil},
		{"encryption without cert", func(sp *store.SAMLServiceProvider) { sp.EncryptAssertion = true }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := in
			sp.ACS = append([]store.SAMLEndpoint(nil), in.ACS...)
			tc.mutate(&sp)
			_, err := s.CreateSAMLServiceProvider(t.Context(), store.NewSAMLServiceProvider{SAMLServiceProvider: sp})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	if _, err := s.SAMLServiceProviderByEntityID(t.Context(), org.ID, "urn:nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown entity: %v", err)
	}

	// Single logout bindings: SOAP (back channel) is stored and read back; others are refused.
	for _, b := range []string{store.SAMLBindingSOAP, store.SAMLBindingRedirect, "ARTIFACT"} {
		t.Run("slo binding "+b, func(t *testing.T) {
			sp := in
			sp.ApplicationID, sp.EntityID, sp.SLOBinding = newSAMLApp(t, s, org.ID, "slo-"+b).ID, "urn:slo:"+b, b
			got, err := s.CreateSAMLServiceProvider(t.Context(), store.NewSAMLServiceProvider{SAMLServiceProvider: sp})
			if b == "ARTIFACT" {
				if err == nil {
					t.Error("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if read, err := s.SAMLServiceProviderByEntityID(t.Context(), org.ID, sp.EntityID); err != nil || read.SLOBinding != b || got.SLOBinding != b {
				t.Errorf("read back %q, %v", read.SLOBinding, err)
			}
		})
	}
	if err := s.DeleteSAMLServiceProvider(t.Context(), created.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSAMLServiceProvider(t.Context(), created.ID, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestSAMLSigningKey(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	if _, err := s.SAMLSigningKey(t.Context(), org.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before create: %v", err)
	}
	k := store.SAMLSigningKey{OrgID: org.ID, Certificate: []byte{1, 2}, PrivateKey: []byte{3, 4}, KEKID: "k1"}
	if created, err := s.CreateSAMLSigningKey(t.Context(), k); err != nil || !created {
		t.Fatalf("create = %v, %v", created, err)
	}
	k2 := k
	k2.Certificate = []byte{9}
	if created, err := s.CreateSAMLSigningKey(t.Context(), k2); err != nil || created {
		t.Fatalf("second create = %v, %v; want false, nil", created, err)
	}
	got, err := s.SAMLSigningKey(t.Context(), org.ID)
	if err != nil || !reflect.DeepEqual(got.Certificate, k.Certificate) || got.KEKID != "k1" {
		t.Errorf("got %+v, %v", got, err)
	}
	k.OrgID = "6f1d3c0a-0000-4000-8000-000000000000"
	if _, err := s.CreateSAMLSigningKey(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown org: %v", err)
	}
}

func TestConsumeSAMLRequestID(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	future := time.Now().Add(time.Hour)
	if err := s.ConsumeSAMLRequestID(ctx, "sp1", "id-1", future); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeSAMLRequestID(ctx, "sp1", "id-1", future); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replay: %v", err)
	}
	if err := s.ConsumeSAMLRequestID(ctx, "sp2", "id-1", future); err != nil {
		t.Errorf("other issuer: %v", err)
	}
	// An expired id may be used again.
	if err := s.ConsumeSAMLRequestID(ctx, "sp1", "id-2", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeSAMLRequestID(ctx, "sp1", "id-2", future); err != nil {
		t.Errorf("reuse of expired id: %v", err)
	}
	if err := s.ConsumeSAMLRequestID(ctx, "sp1", "", future); err == nil {
		t.Error("empty id accepted")
	}
}
