package oauth2_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// TestVerifyAccessToken checks the in-process verification resource
// servers inside Keyflow use: tokens come from the HTTP token endpoint,
// revocation goes through the HTTP revocation endpoint.
func TestVerifyAccessToken(t *testing.T) {
	e := newEnv(t)
	jwtID, jwtSecret := e.client(t, op.NewClient{Scopes: []string{"read", "write"}, AccessTokenLifetime: time.Hour})
	opqID, opqSecret := e.client(t, op.NewClient{Scopes: []string{"read"}, TokenFormat: store.TokenFormatOpaque,
		AccessTokenLifetime: time.Hour})
	// A code-flow client whose id equals the user's id: its tokens have
	// sub == client_id and must still be recognised as the user's.
	cfg := e.codeClient(t, op.NewClient{ClientID: user().Subject})
	userTok, err := cfg.Exchange(t.Context(), e.code(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	revokedJWT := e.token(t, jwtID, jwtSecret)
	revokedOpaque := e.token(t, opqID, opqSecret)
	for _, rv := range []struct{ tok, id, secret string }{{revokedJWT, jwtID, jwtSecret}, {revokedOpaque, opqID, opqSecret}} {
		if r := e.post(t, "/oauth2/revoke", url.Values{"token": {rv.tok}}, []string{rv.id, rv.secret}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
	}

	active := []struct {
		name       string
		token      string
		subject    string
		clientID   string
		scopes     []string
		clientOnly bool
	}{
		{"client_credentials JWT", e.token(t, jwtID, jwtSecret), jwtID, jwtID, []string{"read", "write"}, true},
		{"client_credentials opaque", e.token(t, opqID, opqSecret), opqID, opqID, []string{"read"}, true},
		{"user JWT with sub equal to client_id", userTok.AccessToken, user().Subject, cfg.ClientID,
			[]string{"openid", "profile", "email"}, false},
	}
	for _, tc := range active {
		t.Run(tc.name, func(t *testing.T) {
			at, err := e.op.VerifyAccessToken(t.Context(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if at.Subject != tc.subject || at.ClientID != tc.clientID || !slices.Equal(at.Scopes, tc.scopes) ||
				at.ClientOnly != tc.clientOnly || at.JTI == "" {
				t.Errorf("got %+v", at)
			}
			if !at.ExpiresAt.After(e.clock.Now()) || at.ExpiresAt.After(e.clock.Now().Add(time.Hour)) {
				t.Errorf("expiry %v, want within the hour after %v", at.ExpiresAt, e.clock.Now())
			}
		})
	}

	expiring := e.token(t, jwtID, jwtSecret)
	other := newEnv(t) // another deployment: its keys and issuer are not ours
	otherID, otherSecret := other.client(t, op.NewClient{})
	inactive := []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "not-a-token"},
		{"garbage JWT", "a.b.c"},
		{"tampered JWT", revokedJWT[:len(revokedJWT)-4] + "AAAA"},
		{"revoked JWT", revokedJWT},
		{"revoked opaque", revokedOpaque},
		{"refresh token", userTok.RefreshToken},
		{"another issuer's JWT", other.token(t, otherID, otherSecret)},
		{"expired", expiring},
	}
	e.clock.Add(2 * time.Hour)
	for _, tc := range inactive {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.op.VerifyAccessToken(t.Context(), tc.token)
			if !errors.Is(err, op.ErrInvalidToken("")) {
				t.Errorf("error %v, want invalid_token", err)
			}
		})
	}
}
