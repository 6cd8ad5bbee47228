package oauth2_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store/storetest"
)

// signJWT signs claims with key (a *jose.JSONWebKey carrying the kid, or
// an HMAC secret).
func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key any, claims map[string]any) string {
	t.Helper()
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertionClaims are valid client assertion claims for clientID with aud.
func (e *env) assertionClaims(clientID, aud string) map[string]any {
	now := e.clock.Now()
	return map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "jti": rand.Text()}
}

func assertionForm(assertion string) url.Values {
	return url.Values{"grant_type": {op.GrantClientCredentials}, "client_assertion": {assertion},
		"client_assertion_type": {op.ClientAssertionTypeJWT}}
}

func ecKey(t testing.TB, kid string) (*jose.JSONWebKey, jose.JSONWebKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(jose.ES256)},
		jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
}

func jwksJSON(t testing.TB, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.json(t)["error"] != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	// The issuer differs from the token endpoint, so both audiences are told apart.
	e := newReplica(t, storetest.New(t), newClock(), "https://id.example.com/oauth2/token")
	tokenURL := e.srv.URL + "/oauth2/token"
	signer, pub := ecKey(t, "k1")
	id, secret := e.client(t, op.NewClient{TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKS: jwksJSON(t, pub),
		Scopes: []string{"read"}})
	if secret != "" {
		t.Fatalf("private_key_jwt client got a secret")
	}
	sign := func(mut func(map[string]any)) string {
		c := e.assertionClaims(id, tokenURL)
		if mut != nil {
			mut(c)
		}
		return signJWT(t, jose.ES256, signer, c)
	}

	a := sign(nil)
	r := e.post(t, "/oauth2/token", assertionForm(a), nil)
	if r.status != http.StatusOK || r.json(t)["access_token"] == nil {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	// The same assertion again: jti is single use.
	wantError(t, e.post(t, "/oauth2/token", assertionForm(a), nil), http.StatusUnauthorized, op.CodeInvalidClient)

	// aud may be the issuer too; client_id in the form must match sub.
	f := assertionForm(sign(func(c map[string]any) { c["aud"] = e.issuer }))
	f.Set("client_id", id)
	if r := e.post(t, "/oauth2/token", f, nil); r.status != http.StatusOK {
		t.Fatalf("aud=issuer: %d %s", r.status, r.body)
	}

	other, _ := ecKey(t, "k1")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(must(json.Marshal(e.assertionClaims(id, tokenURL)))) + "."
	bad := map[string]string{
		"wrong key":      signJWT(t, jose.ES256, other, e.assertionClaims(id, tokenURL)),
		"alg none":       none,
		"hmac":           signJWT(t, jose.HS256, []byte(strings.Repeat("k", 32)), e.assertionClaims(id, tokenURL)),
		"wrong aud":      sign(func(c map[string]any) { c["aud"] = "https://elsewhere.example" }),
		"expired":        sign(func(c map[string]any) { c["exp"] = e.clock.Now().Add(-time.Minute).Unix() }),
		"no exp":         sign(func(c map[string]any) { delete(c, "exp") }),
		"exp too far":    sign(func(c map[string]any) { c["exp"] = e.clock.Now().Add(2 * time.Hour).Unix() }),
		"iss is not sub": sign(func(c map[string]any) { c["iss"] = "someone-else" }),
		"no jti":         sign(func(c map[string]any) { delete(c, "jti") }),
		"future nbf":     sign(func(c map[string]any) { c["nbf"] = e.clock.Now().Add(10 * time.Minute).Unix() }),
		"unknown client": signJWT(t, jose.ES256, signer, e.assertionClaims("nobody", tokenURL)),
	}
	for name, a := range bad {
		t.Run(name, func(t *testing.T) {
			r := e.post(t, "/oauth2/token", assertionForm(a), nil)
			wantError(t, r, http.StatusUnauthorized, op.CodeInvalidClient)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
	t.Run("client_id mismatch", func(t *testing.T) {
		f := assertionForm(sign(nil))
		f.Set("client_id", "another")
		wantError(t, e.post(t, "/oauth2/token", f, nil), http.StatusUnauthorized, op.CodeInvalidClient)
	})
	t.Run("assertion and Basic", func(t *testing.T) {
		wantError(t, e.post(t, "/oauth2/token", assertionForm(sign(nil)), []string{id, "x"}),
			http.StatusBadRequest, op.CodeInvalidRequest)
	})
	t.Run("wrong assertion type", func(t *testing.T) {
		f := assertionForm(sign(nil))
		f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		wantError(t, e.post(t, "/oauth2/token", f, nil), http.StatusUnauthorized, op.CodeInvalidClient)
	})
	t.Run("secret methods refused", func(t *testing.T) {
		wantError(t, e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantClientCredentials}},
			[]string{id, "guess"}), http.StatusUnauthorized, op.CodeInvalidClient)
	})
	t.Run("introspection and revocation accept assertions", func(t *testing.T) {
		f := assertionForm(sign(nil))
		f.Del("grant_type")
		f.Set("token", "unknown")
		r := e.post(t, "/oauth2/introspect", f, nil)
		if r.status != http.StatusOK || r.json(t)["active"] != false {
			t.Fatalf("introspect: %d %s", r.status, r.body)
		}
	})
	t.Run("registered algorithm only", func(t *testing.T) {
		rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaPub := jose.JSONWebKey{Key: &rsaPriv.PublicKey, KeyID: "r1", Use: "sig"}
		id2, _ := e.client(t, op.NewClient{TokenEndpointAuthMethod: op.AuthPrivateKeyJWT,
			TokenEndpointAuthSigningAlg: "ES256", JWKS: jwksJSON(t, rsaPub, pub)})
		rs := signJWT(t, jose.RS256, &jose.JSONWebKey{Key: rsaPriv, KeyID: "r1"}, e.assertionClaims(id2, tokenURL))
		wantError(t, e.post(t, "/oauth2/token", assertionForm(rs), nil), http.StatusUnauthorized, op.CodeInvalidClient)
		es := signJWT(t, jose.ES256, signer, e.assertionClaims(id2, tokenURL))
		if r := e.post(t, "/oauth2/token", assertionForm(es), nil); r.status != http.StatusOK {
			t.Fatalf("ES256: %d %s", r.status, r.body)
		}
	})
}

func TestPrivateKeyJWTRegistration(t *testing.T) {
	e := newEnv(t)
	priv, pub := ecKey(t, "k1")
	for name, nc := range map[string]op.NewClient{
		"no keys":         {TokenEndpointAuthMethod: op.AuthPrivateKeyJWT},
		"private key":     {TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKS: jwksJSON(t, *priv)},
		"both":            {TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKS: jwksJSON(t, pub), JWKSURI: "https://a.example/jwks"},
		"http uri":        {TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKSURI: "http://a.example/jwks"},
		"hmac alg":        {TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKS: jwksJSON(t, pub), TokenEndpointAuthSigningAlg: "HS256"},
		"none alg":        {TokenEndpointAuthMethod: op.AuthSecretJWT, TokenEndpointAuthSigningAlg: "none"},
		"public with jwt": {Public: true, TokenEndpointAuthMethod: op.AuthSecretJWT},
		"unknown method":  {TokenEndpointAuthMethod: "tls_client_auth"},
	} {
		nc.OrgID = e.org.ID
		nc.GrantTypes = []string{op.GrantClientCredentials}
		if nc.Public {
			nc.GrantTypes = nil
		}
		if _, _, err := e.op.CreateClient(t.Context(), nc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPrivateKeyJWTKeysFromURI(t *testing.T) {
	e := newEnv(t)
	tokenURL := e.srv.URL + "/oauth2/token"
	k1, pub1 := ecKey(t, "k1")
	k2, pub2 := ecKey(t, "k2")
	var (
		served  atomic.Pointer[[]byte]
		fetches atomic.Int64
	)
	set := jwksJSON(t, pub1)
	served.Store(&set)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*served.Load())
	}))
	t.Cleanup(keys.Close)
	id, _ := e.client(t, op.NewClient{TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKSURI: keys.URL})
	ok := func(key *jose.JSONWebKey) response {
		return e.post(t, "/oauth2/token", assertionForm(signJWT(t, jose.ES256, key, e.assertionClaims(id, tokenURL))), nil)
	}
	for range 3 {
		if r := ok(k1); r.status != http.StatusOK {
			t.Fatalf("k1: %d %s", r.status, r.body)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("jwks_uri fetched %d times for 3 assertions, want 1 (cached)", n)
	}
	// The client rolls over to k2: an unknown kid refetches, but not more
	// often than the refetch interval.
	set2 := jwksJSON(t, pub1, pub2)
	served.Store(&set2)
	wantError(t, ok(k2), http.StatusUnauthorized, op.CodeInvalidClient)
	if n := fetches.Load(); n != 1 {
		t.Fatalf("refetched within the refetch interval: %d fetches", n)
	}
	e.clock.Add(op.JWKSRefetchInterval)
	if r := ok(k2); r.status != http.StatusOK {
		t.Fatalf("k2 after rollover: %d %s", r.status, r.body)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// An oversized document is refused.
	big := []byte(`{"keys":[],"pad":"` + strings.Repeat("x", op.MaxJWKSBytes) + `"}`)
	served.Store(&big)
	e.clock.Add(op.DefaultJWKSCacheTTL)
	wantError(t, ok(k1), http.StatusUnauthorized, op.CodeInvalidClient)
}

func TestClientSecretJWT(t *testing.T) {
	e := newEnv(t)
	tokenURL := e.srv.URL + "/oauth2/token"
	id, secret := e.client(t, op.NewClient{TokenEndpointAuthMethod: op.AuthSecretJWT})
	if secret == "" {
		t.Fatal("client_secret_jwt client got no secret")
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.HS384, jose.HS512} {
		a := signJWT(t, alg, []byte(secret), e.assertionClaims(id, tokenURL))
		if r := e.post(t, "/oauth2/token", assertionForm(a), nil); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", alg, r.status, r.body)
		}
	}
	a := signJWT(t, jose.HS256, []byte(secret), e.assertionClaims(id, tokenURL))
	if r := e.post(t, "/oauth2/token", assertionForm(a), nil); r.status != http.StatusOK {
		t.Fatalf("HS256: %d %s", r.status, r.body)
	}
	wantError(t, e.post(t, "/oauth2/token", assertionForm(a), nil), http.StatusUnauthorized, op.CodeInvalidClient)
	wrong := signJWT(t, jose.HS256, []byte(secret+"x"), e.assertionClaims(id, tokenURL))
	wantError(t, e.post(t, "/oauth2/token", assertionForm(wrong), nil), http.StatusUnauthorized, op.CodeInvalidClient)
	ecSigner, _ := ecKey(t, "k")
	asym := signJWT(t, jose.ES256, ecSigner, e.assertionClaims(id, tokenURL))
	wantError(t, e.post(t, "/oauth2/token", assertionForm(asym), nil), http.StatusUnauthorized, op.CodeInvalidClient)
	// The registered method only: the secret itself is not accepted.
	wantError(t, e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantClientCredentials}},
		[]string{id, secret}), http.StatusUnauthorized, op.CodeInvalidClient)
	// A replica with another pepper cannot unseal the secret.
	other := newReplica(t, e.store, e.clock, e.issuer, func(c *op.Config) { c.SecretPepper = []byte(strings.Repeat("p", 32)) })
	b := signJWT(t, jose.HS256, []byte(secret), e.assertionClaims(id, other.srv.URL+"/oauth2/token"))
	wantError(t, other.post(t, "/oauth2/token", assertionForm(b), nil), http.StatusUnauthorized, op.CodeInvalidClient)
}

func TestDiscoveryClientAuth(t *testing.T) {
	e := newEnv(t)
	md := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration")).json(t)
	methods := toStrings(md["token_endpoint_auth_methods_supported"])
	for _, m := range []string{op.AuthSecretBasic, op.AuthSecretPost, op.AuthSecretJWT, op.AuthPrivateKeyJWT, op.AuthNone} {
		if !slices.Contains(methods, m) {
			t.Errorf("token_endpoint_auth_methods_supported lacks %s: %v", m, methods)
		}
	}
	algs := toStrings(md["token_endpoint_auth_signing_alg_values_supported"])
	if !slices.Contains(algs, "ES256") || !slices.Contains(algs, "RS256") || !slices.Contains(algs, "HS256") ||
		slices.Contains(algs, "none") {
		t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v", algs)
	}
	if g := toStrings(md["grant_types_supported"]); slices.Contains(g, op.GrantPassword) {
		t.Errorf("password advertised without a password authenticator: %v", g)
	}
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
