package store_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func TestWSFedRelyingParty(t *testing.T) {
	s, conn := newStore(t)
	org := rootOrg(t, s)
	app := newSAMLApp(t, s, org.ID, "portal")
	in := store.WSFedRelyingParty{
		ApplicationID: app.ID, Realm: "urn:portal",
		ReplyURLs:       []string{"https://portal.example.com/", "https://portal.example.com/signin"},
		DefaultReplyURL: "https://portal.example.com/signin", LogoutReplyURL: "https://portal.example.com/bye",
		TokenType: store.WSFedTokenSAML20, NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		ClaimMapping: map[string]string{
			"http://wso2.org/claims/emailaddress": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"},
	}
	created, err := s.CreateWSFedRelyingParty(t.Context(), store.NewWSFedRelyingParty{WSFedRelyingParty: in})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.OrgID != org.ID || created.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", created)
	}
	want := in
	want.ID, want.OrgID, want.CreatedAt, want.UpdatedAt = created.ID, org.ID, created.CreatedAt, created.UpdatedAt
	got, err := s.WSFedRelyingPartyByRealm(t.Context(), org.ID, in.Realm)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(created, want) {
		t.Errorf("stored = %+v\nwant %+v", got, want)
	}
	if got.DefaultReply() != "https://portal.example.com/signin" {
		t.Errorf("DefaultReply = %q", got.DefaultReply())
	}
	if byApp, err := s.WSFedRelyingPartyByApplication(t.Context(), app.ID); err != nil || byApp.ID != created.ID {
		t.Errorf("by application = %+v, %v", byApp, err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditWSFedRelyingPartyCreate); n != 1 {
		t.Errorf("audit events = %d", n)
	}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://portal.example.com/", true},
		{"https://portal.example.com/bye", true},
		{"https://portal.example.com/other", false},
		{"", false},
	} {
		if ok, err := s.WSFedReplyURLRegistered(t.Context(), org.ID, tc.url); err != nil || ok != tc.want {
			t.Errorf("WSFedReplyURLRegistered(%q) = %v, %v", tc.url, ok, err)
		}
	}

	// Defaults: SAML 1.1 tokens, the first reply URL.
	app2 := newSAMLApp(t, s, org.ID, "intranet")
	def, err := s.CreateWSFedRelyingParty(t.Context(), store.NewWSFedRelyingParty{WSFedRelyingParty: store.WSFedRelyingParty{
		ApplicationID: app2.ID, Realm: "urn:intranet", ReplyURLs: []string{"https://intranet.example.com/"}}})
	if err != nil {
		t.Fatal(err)
	}
	if def.TokenType != store.WSFedTokenSAML11 || def.DefaultReply() != "https://intranet.example.com/" || def.ClaimMapping == nil {
		t.Errorf("defaults = %+v", def)
	}

	tests := []struct {
		name   string
		mutate func(*store.WSFedRelyingParty)
		want   error
	}{
		{"taken realm", func(rp *store.WSFedRelyingParty) { rp.ApplicationID = newSAMLApp(t, s, org.ID, "other").ID }, store.ErrConflict},
		{"application has one", func(rp *store.WSFedRelyingParty) { rp.Realm = "urn:other" }, store.ErrConflict},
		{"unknown application", func(rp *store.WSFedRelyingParty) { rp.ApplicationID = "6f1d3c0a-0000-4000-8000-000000000000" }, store.ErrNotFound},
		{"no realm", func(rp *store.WSFedRelyingParty) { rp.Realm = "" }, nil},
		{"no reply", func(rp *store.WSFedRelyingParty) { rp.ReplyURLs, rp.DefaultReplyURL = nil, "" }, nil},
		{"relative reply", func(rp *store.WSFedRelyingParty) { rp.ReplyURLs = []string{"/signin"}; rp.DefaultReplyURL = "" }, nil},
		{"javascript reply", func(rp *store.WSFedRelyingParty) {
			rp.ReplyURLs = []string{"javascript:alert(1)"}
			rp.DefaultReplyURL = ""
		}, nil},
		{"foreign default", func(rp *store.WSFedRelyingParty) { rp.DefaultReplyURL = "https://evil.example.com/" }, nil},
		{"bad logout reply", func(rp *store.WSFedRelyingParty) { rp.LogoutReplyURL = "ftp://x" }, nil},
		{"unknown token type", func(rp *store.WSFedRelyingParty) { rp.TokenType = "urn:jwt" }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rp := in
			rp.ReplyURLs = append([]string(nil), in.ReplyURLs...)
			tc.mutate(&rp)
			_, err := s.CreateWSFedRelyingParty(t.Context(), store.NewWSFedRelyingParty{WSFedRelyingParty: rp})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}

	if _, err := s.WSFedRelyingPartyByRealm(t.Context(), org.ID, "urn:nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown realm: %v", err)
	}
	if err := s.DeleteWSFedRelyingParty(t.Context(), created.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWSFedRelyingParty(t.Context(), created.ID, store.Actor{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if ok, _ := s.WSFedReplyURLRegistered(t.Context(), org.ID, "https://portal.example.com/bye"); ok {
		t.Error("reply URL still registered after delete")
	}
}
