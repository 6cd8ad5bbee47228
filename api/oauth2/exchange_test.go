package oauth2_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

func exchangeForm(subject string) url.Values {
	return url.Values{"grant_type": {op.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {op.TokenTypeAccessToken}}
}

// jwtPayload decodes a JWT's claims without verifying (the tests verify
// tokens through introspection).
func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenExchange(t *testing.T) {
	e := newPasswordEnv(t)
	alice := e.user(t, "alice", "pw", nil)
	// The front end gets a user token meant for api-b.
	front := e.clientCreds(t, op.NewClient{GrantTypes: []string{op.GrantPassword, op.GrantRefreshToken},
		Scopes: []string{"read", "write"}, Audiences: []string{"api-b"}})
	// api-b exchanges it to call a downstream service.
	apiB := e.clientCreds(t, op.NewClient{ClientID: "api-b",
		GrantTypes: []string{op.GrantTokenExchange, op.GrantClientCredentials},
		Scopes:     []string{"read", "write"}, Audiences: []string{"https://down.example", "https://other.example"}})
	stranger := e.clientCreds(t, op.NewClient{GrantTypes: []string{op.GrantTokenExchange}, Scopes: []string{"read"}})

	r := e.post(t, "/oauth2/token", passwordForm("alice", "pw", "read write"), front)
	if r.status != http.StatusOK {
		t.Fatalf("password grant: %d %s", r.status, r.body)
	}
	subject := r.json(t)["access_token"].(string)
	refresh := r.json(t)["refresh_token"].(string)

	f := exchangeForm(subject)
	f.Set("scope", "read")
	f.Set("audience", "https://down.example")
	x := e.post(t, "/oauth2/token", f, apiB)
	if x.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", x.status, x.body)
	}
	body := x.json(t)
	if body["issued_token_type"] != op.TokenTypeAccessToken || body["scope"] != "read" || body["refresh_token"] != nil {
		t.Fatalf("exchange response %s", x.body)
	}
	exchanged := body["access_token"].(string)
	in := e.post(t, "/oauth2/introspect", url.Values{"token": {exchanged}}, apiB).json(t)
	if in["active"] != true || in["sub"] != alice.ID || in["client_id"] != "api-b" || in["aud"] != "https://down.example" {
		t.Fatalf("introspection of exchanged token %v", in)
	}
	if sub := jwtPayload(t, subject); jwtPayload(t, exchanged)["exp"].(float64) > sub["exp"].(float64) {
		t.Error("exchanged token outlives the subject token")
	}

	t.Run("delegation", func(t *testing.T) {
		cc := e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantClientCredentials}}, apiB)
		actor := cc.json(t)["access_token"].(string)
		f := exchangeForm(subject)
		f.Set("actor_token", actor)
		f.Set("actor_token_type", op.TokenTypeAccessToken)
		r := e.post(t, "/oauth2/token", f, apiB)
		if r.status != http.StatusOK {
			t.Fatalf("delegation: %d %s", r.status, r.body)
		}
		delegated := r.json(t)["access_token"].(string)
		act, _ := jwtPayload(t, delegated)["act"].(map[string]any)
		if act["sub"] != "api-b" || jwtPayload(t, delegated)["sub"] != alice.ID {
			t.Fatalf("act %v", act)
		}
		// Exchanged again with another actor: the prior actor is nested.
		other := e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantClientCredentials}}, apiB).json(t)["access_token"].(string)
		f = exchangeForm(delegated)
		f.Set("actor_token", other)
		f.Set("actor_token_type", op.TokenTypeAccessToken)
		r = e.post(t, "/oauth2/token", f, apiB)
		if r.status != http.StatusOK {
			t.Fatalf("second delegation: %d %s", r.status, r.body)
		}
		act, _ = jwtPayload(t, r.json(t)["access_token"].(string))["act"].(map[string]any)
		if prior, _ := act["act"].(map[string]any); act["sub"] != "api-b" || prior["sub"] != "api-b" {
			t.Fatalf("nested act %v", act)
		}
	})

	cases := map[string]struct {
		form   func() url.Values
		client []string
		status int
		code   string
	}{
		"wider scope": {func() url.Values { f := exchangeForm(subject); f.Set("scope", "read admin"); return f }, apiB,
			http.StatusBadRequest, op.CodeInvalidScope},
		"foreign audience": {func() url.Values { f := exchangeForm(subject); f.Set("audience", "https://evil.example"); return f }, apiB,
			http.StatusBadRequest, op.CodeInvalidTarget},
		"client not an audience": {func() url.Values { return exchangeForm(subject) }, stranger,
			http.StatusBadRequest, op.CodeInvalidRequest},
		"garbage subject": {func() url.Values { return exchangeForm("nope") }, apiB, http.StatusBadRequest, op.CodeInvalidRequest},
		"wrong subject type": {func() url.Values {
			f := exchangeForm(subject)
			f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:id_token")
			return f
		}, apiB, http.StatusBadRequest, op.CodeInvalidRequest},
		"actor without type": {func() url.Values { f := exchangeForm(subject); f.Set("actor_token", subject); return f }, apiB,
			http.StatusBadRequest, op.CodeInvalidRequest},
		"client without the grant": {func() url.Values { return exchangeForm(subject) }, front,
			http.StatusBadRequest, op.CodeUnauthorizedClient},
		"client's own token": {func() url.Values {
			cc := e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantClientCredentials}}, apiB)
			return exchangeForm(cc.json(t)["access_token"].(string))
		}, apiB, http.StatusBadRequest, op.CodeInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.post(t, "/oauth2/token", tc.form(), tc.client), tc.status, tc.code)
		})
	}

	// Revoking the user's grant (through its refresh token) revokes the
	// exchanged token, and the subject token can no longer be exchanged.
	if r := e.post(t, "/oauth2/revoke", url.Values{"token": {refresh}}, front); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if in := e.post(t, "/oauth2/introspect", url.Values{"token": {exchanged}}, apiB).json(t); in["active"] != false {
		t.Errorf("exchanged token still active after its grant was revoked: %v", in)
	}
	wantError(t, e.post(t, "/oauth2/token", exchangeForm(subject), apiB), http.StatusBadRequest, op.CodeInvalidRequest)
}

// TestTokenExchangeOpaque exchanges an opaque subject token, and refuses
// delegation to a client whose tokens are opaque (they cannot carry act).
func TestTokenExchangeOpaque(t *testing.T) {
	e := newPasswordEnv(t)
	alice := e.user(t, "alice", "pw", nil)
	front := e.clientCreds(t, op.NewClient{GrantTypes: []string{op.GrantPassword}, TokenFormat: "opaque",
		Scopes: []string{"read"}, Audiences: []string{"svc"}})
	svc := e.clientCreds(t, op.NewClient{ClientID: "svc", TokenFormat: "opaque",
		GrantTypes: []string{op.GrantTokenExchange, op.GrantClientCredentials}, Scopes: []string{"read"}})
	subject := e.post(t, "/oauth2/token", passwordForm("alice", "pw", ""), front).json(t)["access_token"].(string)
	if strings.Count(subject, ".") != 0 {
		t.Fatalf("subject token is not opaque: %q", subject)
	}
	r := e.post(t, "/oauth2/token", exchangeForm(subject), svc)
	if r.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	in := e.post(t, "/oauth2/introspect", url.Values{"token": {r.json(t)["access_token"].(string)}}, svc).json(t)
	if in["active"] != true || in["sub"] != alice.ID || in["client_id"] != "svc" || in["scope"] != "read" {
		t.Errorf("introspection %v", in)
	}
	actor := e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantClientCredentials}}, svc).json(t)["access_token"].(string)
	f := exchangeForm(subject)
	f.Set("actor_token", actor)
	f.Set("actor_token_type", op.TokenTypeAccessToken)
	wantError(t, e.post(t, "/oauth2/token", f, svc), http.StatusBadRequest, op.CodeInvalidRequest)
}
