package oauth2_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	xoauth2 "golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

var allAlgs = []string{jwtkeys.ES256, jwtkeys.RS256, jwtkeys.EdDSA}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	// go-oidc fetches {issuer}/.well-known/openid-configuration and insists
	// that the document's issuer equals the one it was given.
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Endpoint().TokenURL; got != e.srv.URL+"/oauth2/token" {
		t.Errorf("token endpoint %q", got)
	}
	var claims map[string]any
	if err := p.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{"issuer", "token_endpoint", "jwks_uri", "introspection_endpoint",
		"revocation_endpoint", "grant_types_supported", "token_endpoint_auth_methods_supported", "response_types_supported"} {
		if _, ok := claims[member]; !ok {
			t.Errorf("discovery lacks %s", member)
		}
	}
	// Nothing that is not served yet is advertised.
	for _, member := range []string{"authorization_endpoint", "end_session_endpoint", "registration_endpoint"} {
		if _, ok := claims[member]; ok {
			t.Errorf("discovery advertises %s, which is not served", member)
		}
	}
	root := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration"))
	wso2 := do(t, mustRequest(t, http.MethodGet, e.issuer+"/.well-known/openid-configuration"))
	rfc8414 := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/oauth-authorization-server"))
	if root.status != 200 || !bytes.Equal(root.body, wso2.body) || !bytes.Equal(root.body, rfc8414.body) {
		t.Errorf("discovery documents differ: %s / %s / %s", root.body, wso2.body, rfc8414.body)
	}
	jwks := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/oauth2/jwks"))
	var set jose.JSONWebKeySet
	if err := jsonUnmarshal(jwks.body, &set); err != nil || len(set.Keys) != 6 {
		t.Fatalf("JWKS: %d keys, %v", len(set.Keys), err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("JWKS publishes a private key %s", k.KeyID)
		}
	}
}

// TestClientCredentials gets tokens with x/oauth2's client and verifies them
// with go-oidc against the published JWKS.
func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range allAlgs {
		for _, style := range []xoauth2.AuthStyle{xoauth2.AuthStyleInHeader, xoauth2.AuthStyleInParams} {
			name := alg + map[xoauth2.AuthStyle]string{xoauth2.AuthStyleInHeader: "/basic", xoauth2.AuthStyleInParams: "/post"}[style]
			t.Run(name, func(t *testing.T) {
				id, secret := e.client(t, op.NewClient{
					Name: name, SigningAlg: alg, Scopes: []string{"read", "write"},
					AccessTokenLifetime: 10 * time.Minute,
				})
				cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: p.Endpoint().TokenURL,
					Scopes: []string{"read", "admin"}, AuthStyle: style}
				tok, err := cfg.Token(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if tok.TokenType != "Bearer" || tok.Extra("scope") != "read" {
					t.Errorf("token type %q scope %q, want Bearer and the allowed part of the request", tok.TokenType, tok.Extra("scope"))
				}
				if ttl := time.Until(tok.Expiry); ttl < 9*time.Minute || ttl > 11*time.Minute {
					t.Errorf("expires in %v, want the client's 10m", ttl)
				}
				v := p.VerifierContext(t.Context(), &oidc.Config{ClientID: id, SupportedSigningAlgs: allAlgs})
				idt, err := v.Verify(t.Context(), tok.AccessToken)
				if err != nil {
					t.Fatalf("go-oidc rejects the access token: %v", err)
				}
				var claims struct {
					ClientID string `json:"client_id"`
					Scope    string `json:"scope"`
					JTI      string `json:"jti"`
					IAT      int64  `json:"iat"`
				}
				if err := idt.Claims(&claims); err != nil {
					t.Fatal(err)
				}
				if idt.Subject != id || claims.ClientID != id || claims.Scope != "read" || claims.JTI == "" || claims.IAT == 0 {
					t.Errorf("claims sub=%q %+v", idt.Subject, claims)
				}
				jws, err := jose.ParseSignedCompact(tok.AccessToken, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil {
					t.Fatal(err)
				}
				if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
					t.Errorf("typ %v, want at+jwt (RFC 9068 §2.1)", typ)
				}
			})
		}
	}
}

func TestScopes(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Scopes: []string{"a", "b"}})
	tests := []struct {
		name      string
		requested string
		want      string
	}{
		{"none requested gets all allowed", "", "a b"},
		{"subset", "b", "b"},
		{"unknown dropped", "b c", "b"},
		{"duplicates collapse", "a a", "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			if tc.requested != "" {
				form.Set("scope", tc.requested)
			}
			r := e.post(t, "/oauth2/token", form, []string{id, secret})
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got, _ := r.json(t)["scope"].(string); got != tc.want {
				t.Errorf("scope %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{Name: "conf"})
	other, otherSecret := e.client(t, op.NewClient{Name: "code only", GrantTypes: []string{op.GrantAuthorizationCode},
		RedirectURIs: []string{"https://app.example/cb"}})
	public, _ := e.client(t, op.NewClient{Name: "spa", Public: true, GrantTypes: []string{op.GrantAuthorizationCode},
		RedirectURIs: []string{"https://spa.example/cb"}})
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		f := url.Values{}
		for k, v := range cc {
			f[k] = v
		}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	tests := []struct {
		name       string
		form       url.Values
		basic      []string
		header     map[string]string // replaces headers
		wantStatus int
		wantCode   string
	}{
		{"wrong secret", cc, []string{id, secret + "x"}, nil, 401, "invalid_client"},
		{"unknown client", cc, []string{"nobody", secret}, nil, 401, "invalid_client"},
		{"no client authentication", cc, nil, nil, 401, "invalid_client"},
		{"confidential client without secret", with(url.Values{"client_id": {id}}), nil, nil, 401, "invalid_client"},
		{"wrong secret in body", with(url.Values{"client_id": {id}, "client_secret": {"nope"}}), nil, nil, 401, "invalid_client"},
		{"two methods", with(url.Values{"client_secret": {secret}}), []string{id, secret}, nil, 400, "invalid_request"},
		{"bearer scheme", cc, nil, map[string]string{"Authorization": "Bearer x"}, 401, "invalid_client"},
		{"missing grant_type", url.Values{}, []string{id, secret}, nil, 400, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"password"}}, []string{id, secret}, nil, 400, "unsupported_grant_type"},
		{"grant not allowed for client", cc, []string{other, otherSecret}, nil, 400, "unauthorized_client"},
		{"public client (auth none)", with(url.Values{"client_id": {public}}), nil, nil, 400, "unauthorized_client"},
		{"malformed scope", with(url.Values{"scope": {"a\"b"}}), []string{id, secret}, nil, 400, "invalid_scope"},
		{"repeated parameter", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, []string{id, secret}, nil, 400, "invalid_request"},
		{"wrong content type", cc, []string{id, secret}, map[string]string{"Content-Type": "application/json"}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := mustRequest(t, http.MethodPost, e.srv.URL+"/oauth2/token")
			req.Body = ioNopCloser(tc.form.Encode())
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic != nil {
				req.SetBasicAuth(url.QueryEscape(tc.basic[0]), url.QueryEscape(tc.basic[1]))
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			r := do(t, req)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			body := r.json(t)
			if body["error"] != tc.wantCode {
				t.Errorf("error %v, want %s", body["error"], tc.wantCode)
			}
			if d, _ := body["error_description"].(string); d == "" || strings.Contains(d, secret) {
				t.Errorf("error_description %q: want a description without the secret", d)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			if got := r.header.Get("WWW-Authenticate"); (tc.wantStatus == 401) != strings.HasPrefix(got, "Basic") {
				t.Errorf("WWW-Authenticate %q with status %d", got, r.status)
			}
		})
	}
}

func TestIntrospectAndRevokeJWT(t *testing.T) {
	e := newEnv(t)
	rs, rsSecret := e.client(t, op.NewClient{Name: "resource server"})
	id, secret := e.client(t, op.NewClient{Name: "app", Scopes: []string{"read"}, AccessTokenLifetime: time.Hour})
	tok := e.token(t, id, secret)
	replica := newReplica(t, e.store, e.clock, e.issuer) // same database, own caches

	active := e.introspect(t, rs, rsSecret, tok)
	if active["active"] != true || active["client_id"] != id || active["sub"] != id || active["scope"] != "read" ||
		active["iss"] != e.issuer || active["token_type"] != "Bearer" || active["jti"] == nil || active["exp"] == nil {
		t.Fatalf("introspection %v", active)
	}
	if replica.introspect(t, rs, rsSecret, tok)["active"] != true {
		t.Fatal("replica: token inactive")
	}

	// Only the client the token was issued to may revoke it (RFC 7009 §2.1).
	if r := e.post(t, "/oauth2/revoke", url.Values{"token": {tok}}, []string{rs, rsSecret}); r.status != 400 || r.json(t)["error"] != "unauthorized_client" {
		t.Fatalf("revoke by another client: %d %s", r.status, r.body)
	}
	if r := e.post(t, "/oauth2/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, []string{id, secret}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if got := e.introspect(t, rs, rsSecret, tok); len(got) != 1 || got["active"] != false {
		t.Errorf("after revocation: %v, want only active=false", got)
	}
	// The replica learns of it at its next revocation sync.
	e.clock.Add(op.DefaultRevocationSyncInterval + time.Second)
	if replica.introspect(t, rs, rsSecret, tok)["active"] != false {
		t.Error("replica: revoked token still active after a sync interval")
	}

	tests := []struct {
		name  string
		token string
	}{
		{"garbage", "not-a-token"},
		{"tampered JWT", tok[:len(tok)-4] + "AAAA"},
		{"expired", e.token(t, id, secret)}, // made expired by the clock below
	}
	e.clock.Add(2 * time.Hour)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.introspect(t, rs, rsSecret, tc.token); got["active"] != false {
				t.Errorf("introspection %v", got)
			}
			// Revoking an invalid token succeeds (RFC 7009 §2.2).
			if r := e.post(t, "/oauth2/revoke", url.Values{"token": {tc.token}}, []string{id, secret}); r.status != 200 {
				t.Errorf("revoke: %d %s", r.status, r.body)
			}
		})
	}
}

func TestIntrospectRequiresConfidentialClient(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, op.NewClient{})
	public, _ := e.client(t, op.NewClient{Public: true, GrantTypes: []string{op.GrantAuthorizationCode},
		RedirectURIs: []string{"https://spa.example/cb"}})
	tok := e.token(t, id, secret)
	tests := []struct {
		name  string
		form  url.Values
		basic []string
		want  int
	}{
		{"public client", url.Values{"token": {tok}, "client_id": {public}}, nil, 401},
		{"no client", url.Values{"token": {tok}}, nil, 401},
		{"wrong secret", url.Values{"token": {tok}}, []string{id, "x"}, 401},
		{"missing token", url.Values{}, []string{id, secret}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.post(t, "/oauth2/introspect", tc.form, tc.basic); r.status != tc.want {
				t.Errorf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
		})
	}
}

func TestOpaqueTokens(t *testing.T) {
	e := newEnv(t)
	rs, rsSecret := e.client(t, op.NewClient{Name: "resource server"})
	id, secret := e.client(t, op.NewClient{TokenFormat: store.TokenFormatOpaque, Scopes: []string{"read"},
		Audiences: []string{"https://api.example"}, AccessTokenLifetime: time.Minute})
	tok := e.token(t, id, secret)
	if strings.Contains(tok, ".") || len(tok) < 43 {
		t.Fatalf("opaque token %q: want 32 random bytes base64url", tok)
	}
	got := e.introspect(t, rs, rsSecret, tok)
	if got["active"] != true || got["client_id"] != id || got["aud"] != "https://api.example" || got["scope"] != "read" {
		t.Fatalf("introspection %v", got)
	}
	if r := e.post(t, "/oauth2/revoke", url.Values{"token": {tok}}, []string{rs, rsSecret}); r.status != 400 {
		t.Errorf("revoke by another client: %d", r.status)
	}
	if r := e.post(t, "/oauth2/revoke", url.Values{"token": {tok}}, []string{id, secret}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if got := e.introspect(t, rs, rsSecret, tok); got["active"] != false {
		t.Errorf("after revocation: %v", got)
	}
	expiring := e.token(t, id, secret)
	e.clock.Add(2 * time.Minute)
	if got := e.introspect(t, rs, rsSecret, expiring); got["active"] != false {
		t.Errorf("expired opaque token: %v", got)
	}
}

func TestKeyRotationKeepsTokensValid(t *testing.T) {
	e := newEnv(t)
	rs, rsSecret := e.client(t, op.NewClient{})
	id, secret := e.client(t, op.NewClient{})
	before := e.token(t, id, secret)
	if err := e.keys.Rotate(t.Context(), jwtkeys.ES256); err != nil {
		t.Fatal(err)
	}
	after := e.token(t, id, secret)
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	v := p.VerifierContext(t.Context(), &oidc.Config{ClientID: id, SupportedSigningAlgs: allAlgs})
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Errorf("go-oidc, token %s rotation: %v", name, err)
		}
		if e.introspect(t, rs, rsSecret, tok)["active"] != true {
			t.Errorf("introspection, token %s rotation: inactive", name)
		}
	}
}

func (e *env) token(t testing.TB, id, secret string) string {
	t.Helper()
	r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, []string{id, secret})
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	return tok
}

func (e *env) introspect(t testing.TB, id, secret, tok string) map[string]any {
	t.Helper()
	r := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, []string{id, secret})
	if r.status != 200 {
		t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	if !slices.Contains([]string{"no-store"}, r.header.Get("Cache-Control")) {
		t.Errorf("introspection Cache-Control %q", r.header.Get("Cache-Control"))
	}
	return r.json(t)
}

func TestCreateClientValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		nc   op.NewClient
	}{
		{"public client_credentials", op.NewClient{Public: true, GrantTypes: []string{op.GrantClientCredentials}}},
		{"unknown grant", op.NewClient{GrantTypes: []string{"urn:example:unknown"}}},
		{"code without redirect URI", op.NewClient{GrantTypes: []string{op.GrantAuthorizationCode}}},
		{"relative redirect URI", op.NewClient{GrantTypes: []string{op.GrantAuthorizationCode}, RedirectURIs: []string{"/cb"}}},
		{"redirect URI with fragment", op.NewClient{GrantTypes: []string{op.GrantAuthorizationCode}, RedirectURIs: []string{"https://a/cb#x"}}},
		{"bad scope", op.NewClient{Scopes: []string{"a b"}}},
		{"bad token format", op.NewClient{TokenFormat: "paseto"}},
		{"bad algorithm", op.NewClient{SigningAlg: "HS256"}},
		{"negative lifetime", op.NewClient{AccessTokenLifetime: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.nc.OrgID = e.org.ID
			_, _, err := e.op.CreateClient(t.Context(), tc.nc)
			if !errors.Is(err, op.ErrInvalidRequest("")) {
				t.Errorf("err = %v, want invalid_request", err)
			}
		})
	}
	c, secret, err := e.op.CreateClient(t.Context(), op.NewClient{OrgID: e.org.ID, GrantTypes: []string{op.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 43 || c.SecretHash == "" || strings.Contains(c.SecretHash, secret) || c.SigningAlg != jwtkeys.ES256 {
		t.Errorf("defaults: secret %d chars, alg %s", len(secret), c.SigningAlg)
	}
	if _, _, err := e.op.CreateClient(t.Context(), op.NewClient{OrgID: e.org.ID, ClientID: c.ClientID}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("taken id: %v", err)
	}
}
