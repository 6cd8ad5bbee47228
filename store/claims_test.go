package store_test

import (
	"errors"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestClaimsSeededPerOrganization(t *testing.T) {
	s, _ := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	dialects, err := s.ClaimDialects(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{store.LocalDialect, "http://wso2.org/oidc/claim",
		"urn:ietf:params:scim:schemas:core:2.0:User", "urn:scim:wso2:schema"} {
		if err := s.HasClaimDialect(ctx, org.ID, want); err != nil {
			t.Errorf("dialect %s: %v (have %v)", want, err, dialects)
		}
	}
	email, err := s.LocalClaim(ctx, org.ID, "http://wso2.org/claims/emailaddress")
	if err != nil || email.DisplayName != "Email" || len(email.AttributeMappings) != 1 ||
		email.AttributeMappings[0].UserStore != "PRIMARY" {
		t.Errorf("seeded email claim %+v, %v", email, err)
	}
	e, err := s.ExternalClaim(ctx, org.ID, "http://wso2.org/oidc/claim", "email")
	if err != nil || e.MappedLocalURI != "http://wso2.org/claims/emailaddress" {
		t.Errorf("OIDC email %+v, %v", e, err)
	}
	e, err = s.ExternalClaim(ctx, org.ID, "urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName")
	if err != nil || e.MappedLocalURI != "http://wso2.org/claims/givenname" {
		t.Errorf("SCIM givenName %+v, %v", e, err)
	}
}

func TestClaimLifecycle(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	ctx := t.Context()
	who := store.Actor{Type: store.ActorUser, ID: "u1"}
	local := store.LocalClaim{OrgID: org.ID, URI: "http://wso2.org/claims/shoeSize", DisplayName: "Shoe size",
		AttributeMappings: []store.AttributeMapping{{MappedAttribute: "shoeSize", UserStore: "PRIMARY"}}}
	if _, err := s.CreateLocalClaim(ctx, local, who); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLocalClaim(ctx, local, who); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate local claim: %v, want ErrConflict", err)
	}
	local.Description = "EU sizes"
	if got, err := s.UpdateLocalClaim(ctx, local, who); err != nil || got.Description != "EU sizes" {
		t.Fatalf("update: %+v, %v", got, err)
	}
	const dialect = "urn:example:shop"
	if err := s.CreateClaimDialect(ctx, org.ID, dialect, who); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClaimDialect(ctx, org.ID, dialect, who); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate dialect: %v, want ErrConflict", err)
	}
	ext := store.ExternalClaim{OrgID: org.ID, DialectURI: dialect, URI: "shoe", MappedLocalURI: local.URI}
	if _, err := s.CreateExternalClaim(ctx, ext, who); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateExternalClaim(ctx, ext, who); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate external claim: %v, want ErrConflict", err)
	}
	bad := ext
	bad.URI, bad.MappedLocalURI = "hat", "http://wso2.org/claims/hatSize"
	if _, err := s.CreateExternalClaim(ctx, bad, who); !errors.Is(err, store.ErrNotFound) || !store.IsUnknownLocalClaim(err) {
		t.Errorf("unknown local claim: %v, want ErrNotFound and IsUnknownLocalClaim", err)
	}
	bad.DialectURI, bad.MappedLocalURI = "urn:example:none", local.URI
	if _, err := s.CreateExternalClaim(ctx, bad, who); !errors.Is(err, store.ErrNotFound) || store.IsUnknownLocalClaim(err) {
		t.Errorf("unknown dialect: %v, want ErrNotFound only", err)
	}
	if err := s.DeleteLocalClaim(ctx, org.ID, local.URI, who); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete mapped local claim: %v, want ErrConflict", err)
	}
	if err := s.DeleteClaimDialect(ctx, org.ID, store.LocalDialect, who); err == nil {
		t.Error("deleted the local dialect")
	}
	if err := s.DeleteClaimDialect(ctx, org.ID, dialect, who); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLocalClaim(ctx, org.ID, local.URI, who); err != nil {
		t.Errorf("delete unmapped local claim: %v", err)
	}
	if err := s.DeleteLocalClaim(ctx, org.ID, local.URI, who); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	// create, update, dialect create, external create, dialect delete, local delete.
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE actor_id = 'u1'`); n != 6 {
		t.Errorf("%d audit events by the actor, want 6", n)
	}
	events, total, err := s.AuditEvents(ctx, store.AuditQuery{OrgID: org.ID, Action: "local_claim.", Limit: 10})
	if err != nil || total != 3 || len(events) != 3 || events[0].Action != store.AuditLocalClaimDelete {
		t.Fatalf("local claim events %+v (%d), %v", events, total, err)
	}
	if events[1].Action != store.AuditLocalClaimUpdate || len(events[1].Before) == 0 || len(events[1].After) == 0 {
		t.Errorf("update event %+v", events[1])
	}
}
