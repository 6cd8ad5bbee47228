package store_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyflow/keyflow/store"
)

func TestConsents(t *testing.T) {
	s, conn := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	for _, id := range []string{"web", "other"} {
		if _, err := s.CreateOAuth2Client(ctx, newOAuth2Client(org.ID, id)); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "consent-alice"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

	if _, err := s.Consent(ctx, org.ID, u.ID, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consent before any grant: %v, want ErrNotFound", err)
	}
	g, err := s.GrantConsent(ctx, store.Consent{OrgID: org.ID, Subject: u.ID, UserID: u.ID, ClientID: "web",
		Scopes: []string{"profile", "openid", "profile"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Scopes, []string{"openid", "profile"}) || g.UserID != u.ID || !g.GrantedAt.Equal(now) {
		t.Fatalf("first grant %+v", g)
	}
	// A second approval widens the grant: the union, sorted.
	g, err = s.GrantConsent(ctx, store.Consent{OrgID: org.ID, Subject: u.ID, UserID: u.ID, ClientID: "web",
		Scopes: []string{"email", "openid"}}, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Scopes, []string{"email", "openid", "profile"}) || !g.GrantedAt.Equal(now) || !g.UpdatedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("widened grant %+v", g)
	}
	if got, err := s.Consent(ctx, org.ID, u.ID, "web"); err != nil || !slices.Equal(got.Scopes, g.Scopes) {
		t.Fatalf("Consent = %+v, %v", got, err)
	}
	// A federated subject has no user.
	if _, err := s.GrantConsent(ctx, store.Consent{OrgID: org.ID, Subject: "google|123", ClientID: "other", Scopes: []string{"email"}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GrantConsent(ctx, store.Consent{OrgID: org.ID, Subject: u.ID, ClientID: "nope", Scopes: []string{"email"}}, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("grant to an unknown client: %v, want ErrNotFound", err)
	}
	if _, err := s.GrantConsent(ctx, store.Consent{OrgID: org.ID, Subject: u.ID, UserID: u.ID, ClientID: "other"}, now); err != nil {
		t.Fatal(err)
	}
	list, err := s.SubjectConsents(ctx, org.ID, u.ID)
	if err != nil || len(list) != 2 || list[0].ClientID != "other" || list[1].ClientID != "web" {
		t.Fatalf("SubjectConsents = %+v, %v", list, err)
	}

	if err := s.RevokeConsent(ctx, org.ID, u.ID, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeConsent(ctx, org.ID, u.ID, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: %v, want ErrNotFound", err)
	}
	// Deleting the user drops its grants.
	if _, err := conn.Exec(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, conn, `SELECT count(*) FROM oauth2_consents WHERE subject = $1`, u.ID); n != 0 {
		t.Errorf("%d grants left after the user was deleted", n)
	}
}

func TestBrowserInteractions(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sum := sha256.Sum256([]byte("token"))
	in := store.BrowserInteraction{Kind: "consent", CSRFHash: sum[:], Data: json.RawMessage(`{"a":1}`), ExpiresAt: now.Add(time.Minute)}
	id, err := s.CreateBrowserInteraction(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeBrowserInteraction(ctx, id, "select_account", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("take as another kind: %v, want ErrNotFound", err)
	}
	got, err := s.TakeBrowserInteraction(ctx, id, "consent", now)
	if err != nil || got.ID != id || string(got.CSRFHash) != string(sum[:]) || string(got.Data) != `{"a": 1}` {
		t.Fatalf("take = %+v, %v", got, err)
	}
	if _, err := s.TakeBrowserInteraction(ctx, id, "consent", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second take: %v, want ErrNotFound (used once)", err)
	}
	id, err = s.CreateBrowserInteraction(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeBrowserInteraction(ctx, id, "consent", now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("take after expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeBrowserInteraction(ctx, "not-a-uuid", "consent", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("take of a malformed id: %v, want ErrNotFound", err)
	}
}

func TestBrandingPreferences(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	org := rootOrg(t, s)
	if _, err := s.CreateOAuth2Client(ctx, newOAuth2Client(org.ID, "web")); err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: org.ID, Name: "Web", ClientID: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	op := store.BrandingPreference{OrgID: org.ID, Type: store.BrandingTypeOrg, Name: org.Handle, Locale: "en-US",
		Preference: json.RawMessage(`{"name":"Org"}`)}
	ap := store.BrandingPreference{OrgID: org.ID, Type: store.BrandingTypeApp, Name: app.ID, ApplicationID: app.ID, Locale: "en-US",
		Preference: json.RawMessage(`{"name":"App"}`)}
	for _, p := range []store.BrandingPreference{op, ap} {
		if _, err := s.CreateBrandingPreference(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateBrandingPreference(ctx, op); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second ORG preference: %v, want ErrConflict", err)
	}
	bad := ap
	bad.ApplicationID, bad.Name = org.ID, org.ID // not an application
	if _, err := s.CreateBrandingPreference(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("APP preference of an unknown application: %v, want ErrNotFound", err)
	}
	op.Preference = json.RawMessage(`{"name":"Org 2"}`)
	if got, err := s.UpdateBrandingPreference(ctx, op); err != nil || string(got.Preference) != `{"name": "Org 2"}` {
		t.Fatalf("update = %s, %v", got.Preference, err)
	}
	o, a, err := s.BrandingPreferences(ctx, org.ID, app.ID, "en-US")
	if err != nil || string(o.Preference) != `{"name": "Org 2"}` || string(a.Preference) != `{"name": "App"}` {
		t.Fatalf("BrandingPreferences = %s %s %v", o.Preference, a.Preference, err)
	}
	if o, a, err = s.BrandingPreferences(ctx, org.ID, "", "en-US"); err != nil || o.Type != store.BrandingTypeOrg || a.Type != "" {
		t.Fatalf("BrandingPreferences without an application = %+v %+v %v", o, a, err)
	}
	if err := s.DeleteBrandingPreference(ctx, org.ID, store.BrandingTypeApp, app.ID, "en-US"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BrandingPreference(ctx, org.ID, store.BrandingTypeApp, app.ID, "en-US"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted preference: %v, want ErrNotFound", err)
	}
	if err := s.DeleteBrandingPreference(ctx, org.ID, store.BrandingTypeApp, app.ID, "en-US"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}
