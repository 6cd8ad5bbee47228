package oauth2_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

func bearerForm(assertion, scope string) url.Values {
	f := url.Values{"grant_type": {op.GrantJWTBearer}, "assertion": {assertion}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

func TestJWTBearerGrant(t *testing.T) {
	e := newEnv(t)
	tokenURL := e.srv.URL + "/oauth2/token"
	alice := e.user(t, "alice", "pw", map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"})
	bob, err := e.store.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "bob",
		Status: store.UserPendingAdminApproval})
	if err != nil {
		t.Fatal(err)
	}
	idpKey, idpPub := ecKey(t, "idp-1")
	otherKey, _ := ecKey(t, "idp-1")
	byNameKey, byNamePub := ecKey(t, "n1")
	id, secret := e.client(t, op.NewClient{GrantTypes: []string{op.GrantJWTBearer, op.GrantRefreshToken},
		Scopes: []string{op.ScopeOpenID, "email", "read"},
		JWTBearerIssuers: []store.JWTBearerIssuer{
			{Issuer: "https://idp.example", JWKS: jwksJSON(t, idpPub), SubjectType: store.SubjectUserID},
			{Issuer: "https://names.example", JWKS: jwksJSON(t, byNamePub), SubjectType: store.SubjectUsername},
		}})
	creds := []string{id, secret}
	claims := func(iss, sub string) map[string]any {
		now := e.clock.Now()
		return map[string]any{"iss": iss, "sub": sub, "aud": tokenURL, "exp": now.Add(time.Minute).Unix(),
			"iat": now.Unix(), "jti": rand.Text()}
	}

	a := signJWT(t, jose.ES256, idpKey, claims("https://idp.example", alice.ID))
	r := e.post(t, "/oauth2/token", bearerForm(a, "openid read"), creds)
	if r.status != http.StatusOK {
		t.Fatalf("jwt bearer: %d %s", r.status, r.body)
	}
	body := r.json(t)
	if body["scope"] != "openid read" || body["id_token"] == nil || body["refresh_token"] == nil {
		t.Fatalf("response %s", r.body)
	}
	in := e.post(t, "/oauth2/introspect", url.Values{"token": {body["access_token"].(string)}}, creds).json(t)
	if in["active"] != true || in["sub"] != alice.ID || in["client_id"] != id {
		t.Errorf("introspection %v", in)
	}
	// Replay.
	wantError(t, e.post(t, "/oauth2/token", bearerForm(a, ""), creds), http.StatusBadRequest, op.CodeInvalidGrant)
	// By username, with another issuer's keys.
	byName := signJWT(t, jose.ES256, byNameKey, claims("https://names.example", "ALICE"))
	if r := e.post(t, "/oauth2/token", bearerForm(byName, ""), creds); r.status != http.StatusOK {
		t.Fatalf("by username: %d %s", r.status, r.body)
	} else if in := e.post(t, "/oauth2/introspect", url.Values{"token": {r.json(t)["access_token"].(string)}}, creds).json(t); in["sub"] != alice.ID {
		t.Errorf("by username: sub %v", in["sub"])
	}

	mut := func(f func(map[string]any)) map[string]any {
		c := claims("https://idp.example", alice.ID)
		f(c)
		return c
	}
	hmac := signJWT(t, jose.HS256, []byte(secret), claims("https://idp.example", alice.ID))
	for name, a := range map[string]string{
		"untrusted issuer":      signJWT(t, jose.ES256, idpKey, claims("https://evil.example", alice.ID)),
		"wrong key":             signJWT(t, jose.ES256, otherKey, claims("https://idp.example", alice.ID)),
		"key of another issuer": signJWT(t, jose.ES256, byNameKey, claims("https://idp.example", alice.ID)),
		"hmac":                  hmac,
		"unknown user":          signJWT(t, jose.ES256, idpKey, claims("https://idp.example", "00000000-0000-0000-0000-000000000000")),
		"inactive user":         signJWT(t, jose.ES256, idpKey, claims("https://idp.example", bob.ID)),
		"username as id":        signJWT(t, jose.ES256, idpKey, claims("https://idp.example", "alice")),
		"wrong aud":             signJWT(t, jose.ES256, idpKey, mut(func(c map[string]any) { c["aud"] = "https://other.example" })),
		"expired":               signJWT(t, jose.ES256, idpKey, mut(func(c map[string]any) { c["exp"] = e.clock.Now().Add(-time.Hour).Unix() })),
		"no jti":                signJWT(t, jose.ES256, idpKey, mut(func(c map[string]any) { delete(c, "jti") })),
		"garbage":               "not.a.jwt",
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.post(t, "/oauth2/token", bearerForm(a, ""), creds), http.StatusBadRequest, op.CodeInvalidGrant)
		})
	}
	t.Run("no assertion", func(t *testing.T) {
		wantError(t, e.post(t, "/oauth2/token", bearerForm("", ""), creds), http.StatusBadRequest, op.CodeInvalidRequest)
	})
	t.Run("client without the grant", func(t *testing.T) {
		other := e.clientCreds(t, op.NewClient{})
		a := signJWT(t, jose.ES256, idpKey, claims("https://idp.example", alice.ID))
		wantError(t, e.post(t, "/oauth2/token", bearerForm(a, ""), other), http.StatusBadRequest, op.CodeUnauthorizedClient)
	})
	t.Run("registration", func(t *testing.T) {
		for name, l := range map[string][]store.JWTBearerIssuer{
			"no keys":      {{Issuer: "https://a.example", SubjectType: store.SubjectUserID}},
			"both keys":    {{Issuer: "https://a.example", JWKS: jwksJSON(t, idpPub), JWKSURI: "https://a.example/jwks", SubjectType: store.SubjectUserID}},
			"bad subject":  {{Issuer: "https://a.example", JWKS: jwksJSON(t, idpPub), SubjectType: "email"}},
			"duplicate":    {{Issuer: "https://a.example", JWKS: jwksJSON(t, idpPub), SubjectType: store.SubjectUserID}, {Issuer: "https://a.example", JWKS: jwksJSON(t, idpPub), SubjectType: store.SubjectUserID}},
			"private keys": {{Issuer: "https://a.example", JWKS: json.RawMessage(jwksJSON(t, *idpKey)), SubjectType: store.SubjectUserID}},
		} {
			if _, _, err := e.op.CreateClient(t.Context(), op.NewClient{OrgID: e.org.ID, GrantTypes: []string{op.GrantJWTBearer},
				JWTBearerIssuers: l}); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}
