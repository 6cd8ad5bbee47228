package dcr_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/dcr"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const baseURL = "https://id.example.com"

var pepper = bytes.Repeat([]byte{7}, 32)

type env struct {
	url  string
	s    *store.Store
	prov *op.Provider // the OAuth2 provider the registered clients are used with
	srv  *httptest.Server
}

// newEnv starts the API; opts adjust its Config.
func newEnv(t *testing.T, opts ...func(*dcr.Config)) *env {
	t.Helper()
	e := &env{url: storetest.URL(t)}
	var err error
	if e.s, err = store.Open(t.Context(), e.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.s.Close)
	org, err := e.s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{dcr.ScopeCreate, dcr.ScopeView, dcr.ScopeUpdate, dcr.ScopeDelete}
	toks := bearertest.Tokens{
		"admin":       {Subject: admin.ID, ClientID: "console", Scopes: all},
		"m2m":         {Subject: "portal", ClientID: "portal", ClientOnly: true, Scopes: []string{dcr.ScopeCreate}},
		"create-only": {Subject: admin.ID, ClientID: "console", Scopes: []string{dcr.ScopeCreate}},
		"noscopes":    {Subject: admin.ID, ClientID: "console"},
	}
	keys, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: e.s, KEKs: []jwtkeys.KEK{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "http://localhost/oauth2/token"
	if e.prov, err = op.New(op.Config{Store: e.s, Keys: keys, Issuer: issuer, SecretPepper: pepper, ClientCacheTTL: -1}); err != nil {
		t.Fatal(err)
	}
	cfg := dcr.Config{Store: e.s, Tokens: toks, Keys: keys, Issuer: issuer, SecretPepper: pepper, BaseURL: baseURL}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := dcr.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	h.Register(r)
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) call(t *testing.T, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// info is the client information response, as a client reads it.
type info struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	RegistrationAccessToken string   `json:"registration_access_token"`
	RegistrationClientURI   string   `json:"registration_client_uri"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	JWKS                    *struct {
		Keys []json.RawMessage `json:"keys"`
	} `json:"jwks"`
	Scope               string `json:"scope"`
	ExtPKCEMandatory    bool   `json:"ext_pkce_mandatory"`
	ExtPublicClient     bool   `json:"ext_public_client"`
	ExtTokenType        string `json:"ext_token_type"`
	ExtApplicationLife  int64  `json:"ext_application_token_lifetime"`
	ExtRefreshTokenLife int64  `json:"ext_refresh_token_lifetime"`
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// register POSTs metadata and returns the client information.
func (e *env) register(t *testing.T, token, body string) info {
	t.Helper()
	status, hdr, resp := e.call(t, http.MethodPost, dcr.Path, token, body)
	if status != http.StatusCreated || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %s (Cache-Control %q)", status, resp, hdr.Get("Cache-Control"))
	}
	return decode[info](t, resp)
}

// TestRegistrationLifecycle registers a client, gets a token with the secret it received,
// then reads, replaces and deletes the registration with the registration access token.
func TestRegistrationLifecycle(t *testing.T) {
	e := newEnv(t)
	reg := e.register(t, "admin", `{"client_name": "partner-batch", "grant_types": ["client_credentials"],
		"scope": "orders:read", "ext_token_type": "Default", "ext_application_token_lifetime": 1800,
		"software_statement_ignored": "x"}`)
	if reg.ClientID == "" || len(reg.ClientSecret) < 43 || reg.ClientSecretExpiresAt == nil || *reg.ClientSecretExpiresAt != 0 ||
		len(reg.RegistrationAccessToken) < 43 || reg.RegistrationClientURI != baseURL+dcr.Path+"/"+reg.ClientID ||
		reg.ClientName != "partner-batch" || reg.TokenEndpointAuthMethod != "client_secret_basic" || reg.ExtTokenType != "Default" ||
		reg.ExtApplicationLife != 1800 || reg.Scope != "orders:read" || reg.ClientIDIssuedAt == 0 {
		t.Fatalf("registration = %+v", reg)
	}
	path := dcr.Path + "/" + reg.ClientID

	// The client gets tokens with the secret it was given.
	cc := op.ClientCredentials{ClientID: reg.ClientID, Secret: reg.ClientSecret, Method: op.AuthSecretBasic}
	tok, err := e.prov.Token(t.Context(), cc, op.TokenRequest{GrantType: op.GrantClientCredentials, Scope: "orders:read"})
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %+v %v", tok, err)
	}
	// With its application, created in the same transaction, and an audit event.
	app, err := e.s.ApplicationByClientID(t.Context(), reg.ClientID)
	if err != nil || app.Name != "partner-batch" {
		t.Fatalf("application: %+v %v", app, err)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_events WHERE action = $1 AND target_id = $2`, store.AuditDCRRegister, reg.ClientID); n != 1 {
		t.Errorf("%d registration audit events", n)
	}
	// The token is stored hashed.
	if n := e.count(t, `SELECT count(*) FROM dcr_registrations WHERE client_id = $1 AND position($2::bytea IN token_hash) = 0`,
		reg.ClientID, []byte(reg.RegistrationAccessToken)); n != 1 {
		t.Errorf("registration row: %d", n)
	}

	status, hdr, body := e.call(t, http.MethodGet, path, reg.RegistrationAccessToken, "")
	got := decode[info](t, body)
	if status != http.StatusOK || got.ClientID != reg.ClientID || got.ClientSecret != "" || got.RegistrationAccessToken != "" ||
		got.ClientName != "partner-batch" || got.RegistrationClientURI != reg.RegistrationClientURI || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("read: %d %s", status, body)
	}

	update := `{"client_id": "` + reg.ClientID + `", "client_name": "partner-web",
		"grant_types": ["authorization_code", "client_credentials", "refresh_token"],
		"redirect_uris": ["https://partner.example.com/cb"], "ext_pkce_mandatory": true}`
	status, _, body = e.call(t, http.MethodPut, path, reg.RegistrationAccessToken, update)
	got = decode[info](t, body)
	if status != http.StatusOK || got.ClientName != "partner-web" || len(got.GrantTypes) != 3 || !got.ExtPKCEMandatory ||
		got.ClientSecret != "" || got.ExtTokenType != "JWT" || got.Scope != "" {
		t.Fatalf("update: %d %s", status, body)
	}
	// The secret stays; the application follows the name.
	c, err := e.prov.AuthenticateClient(t.Context(), cc)
	if err != nil || !c.PKCERequired || len(c.RedirectURIs) != 1 {
		t.Fatalf("after update: %+v %v", c, err)
	}
	if app, err := e.s.ApplicationByClientID(t.Context(), reg.ClientID); err != nil || app.Name != "partner-web" {
		t.Errorf("application after update: %+v %v", app, err)
	}
	// An administrator reads it too, by client id or (WSO2) by name.
	if status, _, body := e.call(t, http.MethodGet, path, "admin", ""); status != http.StatusOK || !strings.Contains(body, "partner-web") {
		t.Errorf("admin read: %d %s", status, body)
	}
	status, _, body = e.call(t, http.MethodGet, dcr.Path+"?client_name=partner-web", "admin", "")
	if got := decode[info](t, body); status != http.StatusOK || got.ClientID != reg.ClientID || got.ClientSecret != "" {
		t.Errorf("admin read by name: %d %s", status, body)
	}
	if status, _, body := e.call(t, http.MethodGet, dcr.Path+"?client_name=partner-batch", "admin", ""); status != http.StatusUnauthorized {
		t.Errorf("read by an old name: %d %s", status, body)
	}
	if status, _, body := e.call(t, http.MethodGet, dcr.Path+"?client_name=partner-web", reg.RegistrationAccessToken, ""); status != http.StatusUnauthorized {
		t.Errorf("read by name with a registration access token: %d %s", status, body)
	}

	if status, _, body := e.call(t, http.MethodDelete, path, reg.RegistrationAccessToken, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), cc); err == nil {
		t.Error("the deleted client still authenticates")
	}
	if _, err := e.s.ApplicationByClientID(t.Context(), reg.ClientID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("application after delete: %v", err)
	}
	status, hdr, body = e.call(t, http.MethodGet, path, reg.RegistrationAccessToken, "")
	if eb := decode[errorBody](t, body); status != http.StatusUnauthorized || eb.Error != "invalid_token" ||
		!strings.Contains(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("read after delete: %d %s", status, body)
	}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestManagementAccess: only the registration access token of the client, or an
// administrator's token with the right scope, reaches a registration.
func TestManagementAccess(t *testing.T) {
	e := newEnv(t)
	a := e.register(t, "m2m", `{"client_name": "a", "grant_types": ["client_credentials"]}`)
	b := e.register(t, "admin", `{"client_name": "b", "grant_types": ["client_credentials"]}`)
	pathA := dcr.Path + "/" + a.ClientID
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", http.MethodGet, pathA, "", "", http.StatusUnauthorized, "invalid_token"},
		{"wrong token", http.MethodGet, pathA, "not-a-token", "", http.StatusUnauthorized, "invalid_token"},
		{"another client's token", http.MethodGet, pathA, b.RegistrationAccessToken, "", http.StatusUnauthorized, "invalid_token"},
		{"another client's token deletes", http.MethodDelete, pathA, b.RegistrationAccessToken, "", http.StatusUnauthorized, "invalid_token"},
		{"unknown client", http.MethodGet, dcr.Path + "/nope", a.RegistrationAccessToken, "", http.StatusUnauthorized, "invalid_token"},
		{"unknown client, administrator", http.MethodGet, dcr.Path + "/nope", "admin", "", http.StatusUnauthorized, "invalid_token"},
		{"no view scope", http.MethodGet, pathA, "create-only", "", http.StatusForbidden, "insufficient_scope"},
		{"no delete scope", http.MethodDelete, pathA, "create-only", "", http.StatusForbidden, "insufficient_scope"},
		{"registration needs its scope", http.MethodPost, dcr.Path, "noscopes", `{"grant_types": ["client_credentials"]}`, http.StatusForbidden, "insufficient_scope"},
		{"a registration access token does not register", http.MethodPost, dcr.Path, a.RegistrationAccessToken, `{"grant_types": ["client_credentials"]}`, http.StatusUnauthorized, "invalid_token"},
		{"PUT with another client_id", http.MethodPut, pathA, a.RegistrationAccessToken, `{"client_id": "` + b.ClientID + `", "grant_types": ["client_credentials"]}`, http.StatusBadRequest, "invalid_client_metadata"},
		{"PUT with a wrong secret", http.MethodPut, pathA, a.RegistrationAccessToken, `{"client_secret": "guess", "grant_types": ["client_credentials"]}`, http.StatusBadRequest, "invalid_client_metadata"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, c.method, c.path, c.token, c.body)
			if eb := decode[errorBody](t, body); status != c.status || eb.Error != c.code {
				t.Errorf("%d %s, want %d %s", status, body, c.status, c.code)
			}
		})
	}
	// The client's own secret may be sent back on PUT.
	put := `{"client_secret": "` + a.ClientSecret + `", "client_name": "a", "grant_types": ["client_credentials"]}`
	if status, _, body := e.call(t, http.MethodPut, pathA, a.RegistrationAccessToken, put); status != http.StatusOK {
		t.Errorf("PUT with the secret: %d %s", status, body)
	}
	// Nothing refused was changed; an administrator deletes it.
	if status, _, body := e.call(t, http.MethodGet, pathA, a.RegistrationAccessToken, ""); status != http.StatusOK || decode[info](t, body).ClientName != "a" {
		t.Fatalf("read: %d %s", status, body)
	}
	if status, _, body := e.call(t, http.MethodDelete, pathA, "admin", ""); status != http.StatusNoContent {
		t.Errorf("admin delete: %d %s", status, body)
	}
	if status, _, _ := e.call(t, http.MethodGet, dcr.Path+"/"+b.ClientID, b.RegistrationAccessToken, ""); status != http.StatusOK {
		t.Errorf("the other registration is gone: %d", status)
	}
}

func TestRegistrationErrors(t *testing.T) {
	e := newEnv(t)
	e.register(t, "admin", `{"client_name": "taken", "grant_types": ["client_credentials"]}`)
	cases := []struct {
		name, body, code string
	}{
		{"relative redirect URI", `{"redirect_uris": ["/cb"], "grant_types": ["authorization_code"]}`, dcr.CodeInvalidRedirectURI},
		{"redirect URI with fragment", `{"redirect_uris": ["https://a.example/cb#x"]}`, dcr.CodeInvalidRedirectURI},
		{"javascript redirect URI", `{"redirect_uris": ["javascript:alert(1)"]}`, dcr.CodeInvalidRedirectURI},
		{"bad pattern", `{"redirect_uris": ["regexp=(https://a.example/cb"]}`, dcr.CodeInvalidRedirectURI},
		{"code without redirect URI", `{"grant_types": ["authorization_code"]}`, dcr.CodeInvalidRedirectURI},
		{"default grant without redirect URI", `{"client_name": "x"}`, dcr.CodeInvalidRedirectURI},
		{"unknown grant type", `{"grant_types": ["urn:example:grant"]}`, dcr.CodeInvalidClientMetadata},
		{"unknown auth method", `{"grant_types": ["client_credentials"], "token_endpoint_auth_method": "tls_client_auth"}`, dcr.CodeInvalidClientMetadata},
		{"public client_credentials", `{"grant_types": ["client_credentials"], "ext_public_client": true}`, dcr.CodeInvalidClientMetadata},
		{"private_key_jwt without keys", `{"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}`, dcr.CodeInvalidClientMetadata},
		{"jwks and jwks_uri", `{"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}, "jwks_uri": "https://a.example/jwks"}`, dcr.CodeInvalidClientMetadata},
		{"chosen secret", `{"grant_types": ["client_credentials"], "ext_param_client_secret": "s3cret-s3cret-s3cret-s3cret"}`, dcr.CodeInvalidClientMetadata},
		{"bad token type", `{"grant_types": ["client_credentials"], "ext_token_type": "Paseto"}`, dcr.CodeInvalidClientMetadata},
		{"lifetimes differ", `{"grant_types": ["client_credentials"], "ext_application_token_lifetime": 60, "ext_user_token_lifetime": 120}`, dcr.CodeInvalidClientMetadata},
		{"taken client_name", `{"client_name": "taken", "grant_types": ["client_credentials"]}`, dcr.CodeInvalidClientMetadata},
		{"empty redirect URI", `{"redirect_uris": [""]}`, dcr.CodeInvalidRedirectURI},
		{"empty audience", `{"grant_types": ["client_credentials"], "aud": [""]}`, dcr.CodeInvalidClientMetadata},
		{"client_id with control character", `{"grant_types": ["client_credentials"], "ext_param_client_id": "a\u0007b"}`, dcr.CodeInvalidClientMetadata},
		{"client_id too long", `{"grant_types": ["client_credentials"], "client_id": "` + strings.Repeat("c", 256) + `"}`, dcr.CodeInvalidClientMetadata},
		{"client_id and ext_param_client_id differ", `{"grant_types": ["client_credentials"], "client_id": "a", "ext_param_client_id": "b"}`, dcr.CodeInvalidClientMetadata},
		{"wrong type", `{"grant_types": "client_credentials"}`, dcr.CodeInvalidClientMetadata},
		{"not JSON", `client_name=x`, dcr.CodeInvalidClientMetadata},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPost, dcr.Path, "admin", c.body)
			if eb := decode[errorBody](t, body); status != http.StatusBadRequest || eb.Error != c.code || eb.Description == "" {
				t.Errorf("%d %s, want 400 %s", status, body, c.code)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM oauth2_clients`); n != 1 {
		t.Errorf("%d clients after refused registrations", n)
	}
	if n := e.count(t, `SELECT count(*) FROM applications`); n != 1 {
		t.Errorf("%d applications after refused registrations", n)
	}
}

// TestRegistrationKinds: public and private_key_jwt clients get no secret.
func TestRegistrationKinds(t *testing.T) {
	e := newEnv(t)
	public := e.register(t, "admin", `{"client_name": "spa", "redirect_uris": ["https://spa.example.com/cb"],
		"grant_types": ["authorization_code", "refresh_token"], "ext_public_client": true}`)
	if public.ClientSecret != "" || public.ClientSecretExpiresAt != nil || !public.ExtPublicClient ||
		public.TokenEndpointAuthMethod != "none" || public.RegistrationAccessToken == "" {
		t.Errorf("public: %+v", public)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), op.ClientCredentials{ClientID: public.ClientID, Method: op.AuthNone}); err != nil {
		t.Errorf("public client: %v", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	pkj := e.register(t, "admin", `{"client_name": "service", "grant_types": ["client_credentials"],
		"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256", "jwks": `+string(jwks)+`,
		"ext_param_client_id": "service-client"}`)
	if pkj.ClientID != "service-client" || pkj.ClientSecret != "" || pkj.TokenEndpointAuthMethod != "private_key_jwt" ||
		pkj.JWKS == nil || len(pkj.JWKS.Keys) != 1 {
		t.Errorf("private_key_jwt: %+v", pkj)
	}
	c, err := e.s.OAuth2Client(t.Context(), "service-client")
	if err != nil || c.SecretHash != "" || c.TokenEndpointAuthSigningAlg != "ES256" || len(c.JWKS) == 0 {
		t.Errorf("stored: %+v %v", c, err)
	}

	// Turned into a secret client by PUT, it gets a secret, shown in the response.
	put := `{"client_name": "service", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}`
	status, _, body := e.call(t, http.MethodPut, dcr.Path+"/service-client", pkj.RegistrationAccessToken, put)
	got := decode[info](t, body)
	if status != http.StatusOK || got.ClientSecret == "" || got.TokenEndpointAuthMethod != "client_secret_post" || got.JWKS != nil {
		t.Fatalf("to client_secret_post: %d %s", status, body)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), op.ClientCredentials{ClientID: "service-client", Secret: got.ClientSecret,
		Method: op.AuthSecretPost}); err != nil {
		t.Errorf("new secret: %v", err)
	}
}
