package apps_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/api/apps"
	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const base = "/api/server/v1/applications"

var pepper = bytes.Repeat([]byte{7}, 32)

type env struct {
	url  string
	s    *store.Store
	org  store.Organization
	prov *op.Provider // the OAuth2 provider the created clients are used with
	srv  *httptest.Server
}

// newEnv starts the API; opts adjust its Config.
func newEnv(t *testing.T, opts ...func(*apps.Config)) *env {
	t.Helper()
	e := &env{url: storetest.URL(t)}
	var err error
	if e.s, err = store.Open(t.Context(), e.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.s.Close)
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	admin, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{apps.ScopeView, apps.ScopeCreate, apps.ScopeUpdate, apps.ScopeDelete, apps.ScopeScriptUpdate, apps.ScopeSecretCreate}
	toks := bearertest.Tokens{
		"admin":    {Subject: admin.ID, ClientID: "console", Scopes: all},
		"alice":    {Subject: alice.ID, ClientID: "console", Scopes: all},
		"m2m":      {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: all},
		"viewer":   {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: []string{apps.ScopeView}},
		"noscopes": {Subject: admin.ID, ClientID: "console"},
	}
	keys, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: e.s, KEKs: []jwtkeys.KEK{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "http://localhost/oauth2/token"
	if e.prov, err = op.New(op.Config{Store: e.s, Keys: keys, Issuer: issuer, SecretPepper: pepper, ClientCacheTTL: -1}); err != nil {
		t.Fatal(err)
	}
	cfg := apps.Config{Store: e.s, Tokens: toks, Keys: keys, Issuer: issuer, SecretPepper: pepper,
		BaseURL: "https://id.example.com"}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := apps.New(cfg)
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

// create POSTs an application and returns its id.
func (e *env) create(t *testing.T, body string) string {
	t.Helper()
	status, hdr, resp := e.call(t, http.MethodPost, base, "admin", body)
	loc := hdr.Get("Location")
	if status != http.StatusCreated || !strings.HasPrefix(loc, "https://id.example.com"+base+"/") {
		t.Fatalf("create: %d %s (Location %q)", status, resp, loc)
	}
	return strings.TrimPrefix(loc, "https://id.example.com"+base+"/")
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

type appView struct {
	ID                     string                       `json:"id"`
	Name                   string                       `json:"name"`
	Description            string                       `json:"description"`
	ClientID               string                       `json:"clientId"`
	Issuer                 string                       `json:"issuer"`
	AuthenticationSequence store.AuthenticationSequence `json:"authenticationSequence"`
	InboundProtocols       []struct {
		Type string `json:"type"`
		Self string `json:"self"`
	} `json:"inboundProtocols"`
	AdvancedConfigurations struct {
		EnableAPIBasedAuthentication bool `json:"enableAPIBasedAuthentication"`
	} `json:"advancedConfigurations"`
}

type oidcView struct {
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	GrantTypes   []string `json:"grantTypes"`
	CallbackURLs []string `json:"callbackURLs"`
	PublicClient bool     `json:"publicClient"`
	PKCE         struct {
		Mandatory                      bool `json:"mandatory"`
		SupportPlainTransformAlgorithm bool `json:"supportPlainTransformAlgorithm"`
	} `json:"pkce"`
	AccessToken struct {
		Type                                  string `json:"type"`
		ApplicationAccessTokenExpiryInSeconds int64  `json:"applicationAccessTokenExpiryInSeconds"`
	} `json:"accessToken"`
}

type listView struct {
	TotalResults int `json:"totalResults"`
	StartIndex   int `json:"startIndex"`
	Count        int `json:"count"`
	Applications []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		ClientID string `json:"clientId"`
		Issuer   string `json:"issuer"`
		Access   string `json:"access"`
		Self     string `json:"self"`
	} `json:"applications"`
	Links []struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
	} `json:"links"`
}

const twoStepApp = `{
  "name": "pickup", "description": "Pickup web app", "templateId": "b9c5e11e-fc78-484b-9bec-015d247561b8",
  "advancedConfigurations": {"enableAPIBasedAuthentication": true},
  "authenticationSequence": {"type": "USER_DEFINED", "subjectStepId": 1, "attributeStepId": 1,
    "steps": [{"id": 2, "options": [{"idp": "LOCAL", "authenticator": "totp"}]},
              {"id": 1, "options": [{"idp": "LOCAL", "authenticator": "BasicAuthenticator"}]}],
    "script": "var onLoginRequest = function(context) {\n    executeStep(1);\n    executeStep(2);\n};\n"},
  "inboundProtocolConfiguration": {"oidc": {
    "grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
    "callbackURLs": ["regexp=(https://pickup.example.com/cb1|https://pickup.example.com/cb2)"],
    "pkce": {"mandatory": true, "supportPlainTransformAlgorithm": false},
    "accessToken": {"type": "Default", "applicationAccessTokenExpiryInSeconds": 1800, "userAccessTokenExpiryInSeconds": 1800}}}
}`

// TestApplicationLifecycle creates an application with a two-step sequence, a script and an
// OIDC client, reads the client secret once, uses the client, edits the sequence and deletes
// the application.
func TestApplicationLifecycle(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, twoStepApp)

	status, _, body := e.call(t, http.MethodGet, base+"/"+id, "admin", "")
	if status != http.StatusOK {
		t.Fatalf("get: %d %s", status, body)
	}
	app := decode[appView](t, body)
	seq := app.AuthenticationSequence
	if app.Name != "pickup" || app.Description != "Pickup web app" || app.ClientID == "" ||
		!app.AdvancedConfigurations.EnableAPIBasedAuthentication || seq.Type != store.SequenceUserDefined ||
		len(seq.Steps) != 2 || seq.Steps[0].ID != 1 || seq.Steps[0].Options[0].Authenticator != "BasicAuthenticator" ||
		!strings.Contains(seq.Script, "executeStep(2)") {
		t.Fatalf("get = %s", body)
	}
	if len(app.InboundProtocols) != 1 || app.InboundProtocols[0].Type != "oauth2" {
		t.Errorf("inbound protocols = %+v", app.InboundProtocols)
	}

	// The secret comes once, with the first read of the OIDC configuration.
	status, _, body = e.call(t, http.MethodGet, base+"/"+id+"/inbound-protocols/oidc", "admin", "")
	oidc := decode[oidcView](t, body)
	if status != http.StatusOK || oidc.ClientID != app.ClientID || oidc.ClientSecret == "" || oidc.PublicClient ||
		!oidc.PKCE.Mandatory || oidc.AccessToken.Type != "Default" || oidc.AccessToken.ApplicationAccessTokenExpiryInSeconds != 1800 ||
		len(oidc.CallbackURLs) != 1 || !strings.HasPrefix(oidc.CallbackURLs[0], "regexp=") {
		t.Fatalf("oidc: %d %s", status, body)
	}
	if _, _, again := e.call(t, http.MethodGet, base+"/"+id+"/inbound-protocols/oidc", "admin", ""); strings.Contains(again, "clientSecret") {
		t.Errorf("second read shows the secret: %s", again)
	}

	// The client works at the OAuth2 provider: its secret authenticates it and it gets tokens.
	cc := op.ClientCredentials{ClientID: oidc.ClientID, Secret: oidc.ClientSecret, Method: op.AuthSecretBasic}
	if _, err := e.prov.AuthenticateClient(t.Context(), cc); err != nil {
		t.Fatalf("AuthenticateClient: %v", err)
	}
	tok, err := e.prov.Token(t.Context(), cc, op.TokenRequest{GrantType: op.GrantClientCredentials})
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %+v %v", tok, err)
	}
	wrong := cc
	wrong.Secret = "not-the-secret"
	if _, err := e.prov.AuthenticateClient(t.Context(), wrong); err == nil {
		t.Error("a wrong secret authenticated")
	}

	// The Login Flow editor: PATCH the sequence. A blank script keeps the stored one.
	patch := `{"authenticationSequence": {"type": "USER_DEFINED", "steps": [
		{"id": 1, "options": [{"idp": "LOCAL", "authenticator": "BasicAuthenticator"}]}], "script": ""}}`
	if status, _, body := e.call(t, http.MethodPatch, base+"/"+id, "admin", patch); status != http.StatusOK {
		t.Fatalf("patch: %d %s", status, body)
	}
	stored, err := e.s.ApplicationByClientID(t.Context(), app.ClientID)
	if err != nil || len(stored.Sequence.Steps) != 1 || !strings.Contains(stored.Sequence.Script, "executeStep(2)") {
		t.Fatalf("after patch: %+v %v", stored.Sequence, err)
	}
	script := `{"script": "var onLoginRequest = function(context) { executeStep(1); };"}`
	if status, _, body := e.call(t, http.MethodPut, base+"/"+id+"/authenticationSequence/script", "admin", script); status != http.StatusOK {
		t.Fatalf("put script: %d %s", status, body)
	}
	// What a new login reads (by client id) is the new script.
	if stored, err = e.s.ApplicationByClientID(t.Context(), app.ClientID); err != nil || stored.Sequence.Script != "var onLoginRequest = function(context) { executeStep(1); };" {
		t.Fatalf("after script: %q %v", stored.Sequence.Script, err)
	}
	rename := `{"name": "pickup-2", "description": "", "advancedConfigurations": {"enableAPIBasedAuthentication": false},
		"authenticationSequence": {"type": "DEFAULT"}}`
	if status, _, body := e.call(t, http.MethodPatch, base+"/"+id, "m2m", rename); status != http.StatusOK {
		t.Fatalf("patch by a client: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, base+"/"+id, "viewer", "")
	app = decode[appView](t, body)
	if app.Name != "pickup-2" || app.Description != "" || app.AdvancedConfigurations.EnableAPIBasedAuthentication ||
		app.AuthenticationSequence.Type != store.SequenceDefault || len(app.AuthenticationSequence.Steps) != 0 ||
		app.AuthenticationSequence.Script != "" {
		t.Fatalf("after rename: %s", body)
	}

	if status, _, body := e.call(t, http.MethodDelete, base+"/"+id, "admin", ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _, body := e.call(t, http.MethodGet, base+"/"+id, "admin", ""); status != http.StatusNotFound || !strings.Contains(body, "APP-60006") {
		t.Errorf("get after delete: %d %s", status, body)
	}
	if _, err := e.s.OAuth2Client(t.Context(), app.ClientID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client after delete: %v", err)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), cc); err == nil {
		t.Error("the deleted client still authenticates")
	}
}

func TestListAndFilter(t *testing.T) {
	e := newEnv(t)
	e.create(t, `{"name": "alpha-web"}`)
	e.create(t, `{"name": "alpha_mobile", "inboundProtocolConfiguration": {"oidc": {"clientId": "mobile-client",
		"grantTypes": ["authorization_code"], "callbackURLs": ["com.example.app:/cb"], "publicClient": true}}}`)
	e.create(t, `{"name": "beta"}`)
	e.create(t, `{"name": "gamma-alpha"}`)

	cases := []struct {
		name, query string
		total       int
		names       []string
	}{
		{"all", "", 4, []string{"alpha-web", "alpha_mobile", "beta", "gamma-alpha"}},
		{"eq", "?filter=name+eq+beta", 1, []string{"beta"}},
		{"sw", "?filter=name+sw+alpha", 2, []string{"alpha-web", "alpha_mobile"}},
		{"co", "?filter=name+co+alpha", 3, []string{"alpha-web", "alpha_mobile", "gamma-alpha"}},
		{"ew", "?filter=name+ew+alpha", 1, []string{"gamma-alpha"}},
		{"underscore is literal", "?filter=name+co+a_m", 1, []string{"alpha_mobile"}},
		{"clientId", "?filter=clientId+eq+mobile-client", 1, []string{"alpha_mobile"}},
		{"page", "?limit=2&offset=1", 4, []string{"alpha_mobile", "beta"}},
		{"past the end", "?offset=10", 4, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodGet, base+c.query, "viewer", "")
			l := decode[listView](t, body)
			var names []string
			for _, a := range l.Applications {
				names = append(names, a.Name)
				if a.Access != "WRITE" || a.Self != "https://id.example.com"+base+"/"+a.ID {
					t.Errorf("item %+v", a)
				}
			}
			if status != http.StatusOK || l.TotalResults != c.total || l.Count != len(c.names) || strings.Join(names, ",") != strings.Join(c.names, ",") {
				t.Errorf("%d %s", status, body)
			}
		})
	}
	_, _, body := e.call(t, http.MethodGet, base+"?limit=2&offset=1", "viewer", "")
	l := decode[listView](t, body)
	if l.StartIndex != 2 || len(l.Links) != 2 || l.Links[0].Rel != "next" || !strings.Contains(l.Links[0].Href, "offset=3") {
		t.Errorf("paging links: %s", body)
	}
}

// TestCreateWritesAllOrNothing: when a later write of a creation fails, the earlier ones
// (the OAuth2 client) are not left behind.
func TestCreateWritesAllOrNothing(t *testing.T) {
	e := newEnv(t)
	e.create(t, `{"name": "taken"}`)
	e.create(t, `{"name": "saml-app", "inboundProtocolConfiguration": {"saml": {"metadataFile": "`+metadataFile(t, "https://sp.example.org/a")+`"}}}`)

	cases := []struct {
		name, body, clientID string
	}{
		// The client is created first; the application insert then fails on the name.
		{"duplicate name", `{"name": "taken", "inboundProtocolConfiguration": {"oidc": {"clientId": "fresh-1",
			"grantTypes": ["client_credentials"]}}}`, "fresh-1"},
		// Client and application are created; the SAML provider then fails on the issuer.
		{"duplicate SAML issuer", `{"name": "other", "inboundProtocolConfiguration": {"oidc": {"clientId": "fresh-2",
			"grantTypes": ["client_credentials"]}, "saml": {"metadataFile": "` + metadataFile(t, "https://sp.example.org/a") + `"}}}`, "fresh-2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPost, base, "admin", c.body)
			if status != http.StatusConflict || !strings.Contains(body, "APP-60007") {
				t.Fatalf("%d %s", status, body)
			}
			if _, err := e.s.OAuth2Client(t.Context(), c.clientID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("client %s exists after the failed create: %v", c.clientID, err)
			}
			_, _, list := e.call(t, http.MethodGet, base, "admin", "")
			if l := decode[listView](t, list); l.TotalResults != 2 {
				t.Errorf("applications after the failed create: %s", list)
			}
		})
	}
}

func TestOIDCInbound(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, `{"name": "spa"}`)
	oidcPath := base + "/" + id + "/inbound-protocols/oidc"
	if status, _, body := e.call(t, http.MethodGet, oidcPath, "admin", ""); status != http.StatusNotFound || !strings.Contains(body, "APP-60008") {
		t.Fatalf("no client yet: %d %s", status, body)
	}
	public := `{"grantTypes": ["authorization_code", "refresh_token"], "callbackURLs": ["https://spa.example.com/"], "publicClient": true,
		"accessToken": {"type": "JWT"}}`
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", public); status != http.StatusOK {
		t.Fatalf("put public: %d %s", status, body)
	}
	_, _, body := e.call(t, http.MethodGet, oidcPath, "admin", "")
	v := decode[oidcView](t, body)
	if !v.PublicClient || v.ClientSecret != "" || v.AccessToken.Type != "JWT" || v.ClientID == "" {
		t.Fatalf("public: %s", body)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), op.ClientCredentials{ClientID: v.ClientID, Method: op.AuthNone}); err != nil {
		t.Fatalf("public client: %v", err)
	}

	// Made confidential, it gets a secret, shown once.
	confidential := `{"grantTypes": ["authorization_code", "client_credentials"], "callbackURLs": ["https://spa.example.com/"]}`
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", confidential); status != http.StatusOK {
		t.Fatalf("put confidential: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, oidcPath, "admin", "")
	v2 := decode[oidcView](t, body)
	if v2.ClientID != v.ClientID || v2.PublicClient || v2.ClientSecret == "" {
		t.Fatalf("confidential: %s", body)
	}
	cc := op.ClientCredentials{ClientID: v2.ClientID, Secret: v2.ClientSecret, Method: op.AuthSecretPost}
	if _, err := e.prov.AuthenticateClient(t.Context(), cc); err != nil {
		t.Fatalf("confidential client: %v", err)
	}

	// A later change keeps the secret; the Console may send it back, not change it.
	again := `{"clientSecret": "` + v2.ClientSecret + `", "grantTypes": ["client_credentials"], "pkce": {"mandatory": true}}`
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", again); status != http.StatusOK {
		t.Fatalf("put again: %d %s", status, body)
	}
	if c, err := e.prov.AuthenticateClient(t.Context(), cc); err != nil || !c.PKCERequired || len(c.GrantTypes) != 1 {
		t.Fatalf("after update: %+v %v", c, err)
	}
	cases := []struct{ name, body string }{
		{"other secret", `{"clientSecret": "guess", "grantTypes": ["client_credentials"]}`},
		{"other client id", `{"clientId": "renamed", "grantTypes": ["client_credentials"]}`},
		{"no grant types", `{"grantTypes": []}`},
		{"unknown grant", `{"grantTypes": ["urn:example:grant"]}`},
		{"code without callback", `{"grantTypes": ["authorization_code"]}`},
		{"bad token type", `{"grantTypes": ["client_credentials"], "accessToken": {"type": "Paseto"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", c.body)
			if status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") {
				t.Errorf("%d %s", status, body)
			}
		})
	}
	if c, err := e.prov.AuthenticateClient(t.Context(), cc); err != nil || !c.PKCERequired {
		t.Errorf("a refused update changed the client: %+v %v", c, err)
	}
}

func spCertBase64(t *testing.T) string {
	t.Helper()
	p, err := os.ReadFile("testdata/sp.crt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("testdata/sp.crt is not PEM")
	}
	return base64.StdEncoding.EncodeToString(b.Bytes)
}

// metadataFile is an SP metadata document, base64 as WSO2's metadataFile.
func metadataFile(t *testing.T, entityID string) string {
	return base64.StdEncoding.EncodeToString([]byte(metadata(t, entityID)))
}

func metadata(t *testing.T, entityID string) string {
	c := spCertBase64(t)
	return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + entityID + `">
  <md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + c + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs" index="1" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`
}

type samlView struct {
	Issuer                      string   `json:"issuer"`
	AssertionConsumerURLs       []string `json:"assertionConsumerUrls"`
	DefaultAssertionConsumerURL string   `json:"defaultAssertionConsumerUrl"`
	SingleSignOnProfile         struct {
		EnableIdpInitiatedSingleSignOn bool `json:"enableIdpInitiatedSingleSignOn"`
		Assertion                      struct {
			NameIDFormat string `json:"nameIdFormat"`
		} `json:"assertion"`
	} `json:"singleSignOnProfile"`
	RequestValidation struct {
		EnableSignatureValidation bool `json:"enableSignatureValidation"`
	} `json:"requestValidation"`
}

func TestSAMLInbound(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, `{"name": "wiki"}`)
	path := base + "/" + id + "/inbound-protocols/saml"

	status, hdr, body := e.call(t, http.MethodPut, path, "admin", `{"metadataFile": "`+metadataFile(t, "https://wiki.example.org/sp")+`"}`)
	if status != http.StatusCreated || hdr.Get("Location") != "https://id.example.com"+path {
		t.Fatalf("put metadata: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, path, "admin", "")
	v := decode[samlView](t, body)
	if v.Issuer != "https://wiki.example.org/sp" || v.DefaultAssertionConsumerURL != "https://sp.example.org/acs" ||
		!v.RequestValidation.EnableSignatureValidation || v.SingleSignOnProfile.Assertion.NameIDFormat != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" {
		t.Fatalf("get: %s", body)
	}
	_, _, body = e.call(t, http.MethodGet, base+"?filter=issuer+eq+https://wiki.example.org/sp", "admin", "")
	if l := decode[listView](t, body); l.TotalResults != 1 || l.Applications[0].Issuer != "https://wiki.example.org/sp" {
		t.Errorf("filter by issuer: %s", body)
	}

	// Replaced by a manual configuration.
	manual := `{"manualConfiguration": {"issuer": "wiki-manual", "assertionConsumerUrls": ["https://wiki.example.org/acs1", "https://wiki.example.org/acs2"],
		"defaultAssertionConsumerUrl": "https://wiki.example.org/acs2", "singleSignOnProfile": {"bindings": ["HTTP_POST", "HTTP_REDIRECT"],
		"enableIdpInitiatedSingleSignOn": true}, "requestValidation": {"enableSignatureValidation": false},
		"singleLogoutProfile": {"enabled": true, "logoutRequestUrl": "https://wiki.example.org/slo", "logoutMethod": "FRONTCHANNEL_HTTP_REDIRECT"}}}`
	if status, _, body := e.call(t, http.MethodPut, path, "admin", manual); status != http.StatusOK {
		t.Fatalf("put manual: %d %s", status, body)
	}
	sp, err := e.s.SAMLServiceProviderByApplication(t.Context(), id)
	if err != nil || sp.EntityID != "wiki-manual" || len(sp.ACS) != 2 || !sp.ACS[1].Default || !sp.IdPInitiated || sp.RequireSignedRequests ||
		sp.SLOURL != "https://wiki.example.org/slo" || sp.SLOBinding != store.SAMLBindingRedirect {
		t.Fatalf("stored: %+v %v", sp, err)
	}
	if _, _, body := e.call(t, http.MethodGet, path, "admin", ""); !strings.Contains(body, `"logoutMethod":"FRONTCHANNEL_HTTP_REDIRECT"`) {
		t.Errorf("logout method not read back: %s", body)
	}
	// Without logoutMethod, WSO2's default: BACKCHANNEL (SOAP), stored and read back.
	for _, method := range []string{``, `, "logoutMethod": "BACKCHANNEL"`} {
		soap := `{"manualConfiguration": {"issuer": "wiki-manual", "assertionConsumerUrls": ["https://wiki.example.org/acs1"],
			"singleLogoutProfile": {"enabled": true, "logoutRequestUrl": "https://wiki.example.org/soap"` + method + `}}}`
		if status, _, body := e.call(t, http.MethodPut, path, "admin", soap); status != http.StatusOK {
			t.Fatalf("put back-channel %q: %d %s", method, status, body)
		}
		if sp, err := e.s.SAMLServiceProviderByApplication(t.Context(), id); err != nil || sp.SLOBinding != store.SAMLBindingSOAP {
			t.Fatalf("stored back-channel %q: %+v %v", method, sp, err)
		}
		if _, _, body := e.call(t, http.MethodGet, path, "admin", ""); !strings.Contains(body, `"logoutMethod":"BACKCHANNEL"`) {
			t.Errorf("back-channel %q not read back: %s", method, body)
		}
	}

	// From a metadata URL.
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, metadata(t, "https://fetched.example.org/sp"))
	}))
	t.Cleanup(md.Close)
	if status, _, body := e.call(t, http.MethodPut, path, "admin", `{"metadataURL": "`+md.URL+`"}`); status != http.StatusOK {
		t.Fatalf("put url: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, base+"/"+id, "admin", "")
	if app := decode[appView](t, body); app.Issuer != "https://fetched.example.org/sp" || len(app.InboundProtocols) != 1 || app.InboundProtocols[0].Type != "samlsso" {
		t.Fatalf("app after url: %s", body)
	}

	cases := []struct{ name, body string }{
		{"none", `{}`},
		{"two", `{"metadataURL": "https://x.example/md", "manualConfiguration": {"issuer": "x", "assertionConsumerUrls": ["https://x.example/acs"]}}`},
		{"not base64", `{"metadataFile": "***"}`},
		{"not metadata", `{"metadataFile": "` + base64.StdEncoding.EncodeToString([]byte("<x/>")) + `"}`},
		{"no ACS", `{"manualConfiguration": {"issuer": "x", "assertionConsumerUrls": []}}`},
		{"ACS not http", `{"manualConfiguration": {"issuer": "x", "assertionConsumerUrls": ["javascript:alert(1)"]}}`},
		{"default not listed", `{"manualConfiguration": {"issuer": "x", "assertionConsumerUrls": ["https://x.example/acs"], "defaultAssertionConsumerUrl": "https://y.example/acs"}}`},
		{"signature validation without certificate", `{"manualConfiguration": {"issuer": "x", "assertionConsumerUrls": ["https://x.example/acs"], "requestValidation": {"enableSignatureValidation": true}}}`},
		{"unreachable URL", `{"metadataURL": "` + md.URL + `/nowhere` + `"}`},
		{"unknown logout method", `{"manualConfiguration": {"issuer": "x", "assertionConsumerUrls": ["https://x.example/acs"], "singleLogoutProfile": {"enabled": true, "logoutRequestUrl": "https://x.example/slo", "logoutMethod": "SOAP"}}}`},
	}
	md.Config.Handler = http.NotFoundHandler()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPut, path, "admin", c.body)
			if status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") {
				t.Errorf("%d %s", status, body)
			}
		})
	}
	if sp, err := e.s.SAMLServiceProviderByApplication(t.Context(), id); err != nil || sp.EntityID != "https://fetched.example.org/sp" {
		t.Errorf("a refused update changed the provider: %+v %v", sp, err)
	}
	if status, _, body := e.call(t, http.MethodDelete, path, "admin", ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _, body := e.call(t, http.MethodGet, path, "admin", ""); status != http.StatusNotFound || !strings.Contains(body, "APP-60008") {
		t.Errorf("get after delete: %d %s", status, body)
	}
	if status, _, _ := e.call(t, http.MethodGet, base+"/"+id, "admin", ""); status != http.StatusOK {
		t.Errorf("the application went with its SAML configuration: %d", status)
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, `{"name": "existing"}`)
	// Another organization's application (the store has no organization creation yet).
	conn, err := pgx.Connect(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var otherID string
	if err := conn.QueryRow(t.Context(), `INSERT INTO organizations (parent_id, handle, name) VALUES ($1, 'other', 'Other') RETURNING id`,
		e.org.ID).Scan(&otherID); err != nil {
		t.Fatal(err)
	}
	foreign, err := e.s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: otherID, Name: "theirs"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", http.MethodGet, base, "", "", http.StatusUnauthorized, "APP-60010"},
		{"unknown token", http.MethodGet, base, "forged", "", http.StatusUnauthorized, "APP-60010"},
		{"no scope", http.MethodGet, base, "noscopes", "", http.StatusForbidden, "APP-60011"},
		{"not an administrator", http.MethodGet, base, "alice", "", http.StatusForbidden, "APP-60011"},
		{"view scope cannot create", http.MethodPost, base, "viewer", `{"name": "x"}`, http.StatusForbidden, "APP-60011"},
		{"view scope cannot delete", http.MethodDelete, base + "/" + id, "viewer", "", http.StatusForbidden, "APP-60011"},
		{"unknown application", http.MethodGet, base + "/6f1c3a52-3a52-4c4b-9a52-3a523a523a52", "admin", "", http.StatusNotFound, "APP-60006"},
		{"not a uuid", http.MethodGet, base + "/nope", "admin", "", http.StatusNotFound, "APP-60006"},
		{"another organization's", http.MethodGet, base + "/" + foreign.ID, "admin", "", http.StatusNotFound, "APP-60006"},
		{"duplicate name", http.MethodPost, base, "admin", `{"name": "existing"}`, http.StatusConflict, "APP-60007"},
		{"no name", http.MethodPost, base, "admin", `{"description": "x"}`, http.StatusBadRequest, "APP-60001"},
		{"name too long", http.MethodPost, base, "admin", `{"name": "` + strings.Repeat("n", 256) + `"}`, http.StatusBadRequest, "APP-60001"},
		{"not JSON", http.MethodPost, base, "admin", `name=x`, http.StatusBadRequest, "APP-60001"},
		{"wrong type", http.MethodPost, base, "admin", `{"name": 5}`, http.StatusBadRequest, "APP-60001"},
		{"secret too short", http.MethodPost, base, "admin", `{"name": "s", "inboundProtocolConfiguration": {"oidc": {"clientSecret": "mine", "grantTypes": ["client_credentials"]}}}`, http.StatusBadRequest, "APP-60001"},
		{"secret not printable", http.MethodPost, base, "admin", `{"name": "s", "inboundProtocolConfiguration": {"oidc": {"clientSecret": "0123456789abcdef0123456789\u00e9", "grantTypes": ["client_credentials"]}}}`, http.StatusBadRequest, "APP-60001"},
		{"secret for a public client", http.MethodPost, base, "admin", `{"name": "s", "inboundProtocolConfiguration": {"oidc": {"clientSecret": "0123456789abcdef0123456789", "publicClient": true, "grantTypes": ["authorization_code"], "callbackURLs": ["https://s.example/cb"]}}}`, http.StatusBadRequest, "APP-60001"},
		{"secret for private_key_jwt", http.MethodPost, base, "admin", `{"name": "s", "inboundProtocolConfiguration": {"oidc": {"clientSecret": "0123456789abcdef0123456789", "grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "https://s.example/jwks"}}}}`, http.StatusBadRequest, "APP-60001"},
		{"regenerate without client", http.MethodPost, base + "/" + id + "/inbound-protocols/oidc/regenerate-secret", "admin", "", http.StatusNotFound, "APP-60008"},
		{"regenerate needs its scope", http.MethodPost, base + "/" + id + "/inbound-protocols/oidc/regenerate-secret", "viewer", "", http.StatusForbidden, "APP-60011"},
		{"client id with spaces around", http.MethodPost, base, "admin", `{"name": "s", "inboundProtocolConfiguration": {"oidc": {"clientId": " padded ", "grantTypes": ["client_credentials"]}}}`, http.StatusBadRequest, "APP-60001"},
		{"public client_credentials", http.MethodPost, base, "admin", `{"name": "p", "inboundProtocolConfiguration": {"oidc": {"publicClient": true, "grantTypes": ["client_credentials"]}}}`, http.StatusBadRequest, "APP-60001"},
		{"empty user-defined sequence", http.MethodPost, base, "admin", `{"name": "q", "authenticationSequence": {"type": "USER_DEFINED", "steps": []}}`, http.StatusBadRequest, "APP-60001"},
		{"step ids not consecutive", http.MethodPatch, base + "/" + id, "admin", `{"authenticationSequence": {"type": "USER_DEFINED", "steps": [{"id": 2, "options": [{"idp": "LOCAL", "authenticator": "totp"}]}]}}`, http.StatusBadRequest, "APP-60001"},
		{"unknown sequence type", http.MethodPatch, base + "/" + id, "admin", `{"authenticationSequence": {"type": "CUSTOM"}}`, http.StatusBadRequest, "APP-60001"},
		{"script on DEFAULT", http.MethodPut, base + "/" + id + "/authenticationSequence/script", "admin", `{"script": "x"}`, http.StatusBadRequest, "APP-60001"},
		{"bad filter attribute", http.MethodGet, base + "?filter=owner+eq+x", "admin", "", http.StatusBadRequest, "APP-60004"},
		{"bad filter operator", http.MethodGet, base + "?filter=name+gt+x", "admin", "", http.StatusBadRequest, "APP-60004"},
		{"bad limit", http.MethodGet, base + "?limit=0", "admin", "", http.StatusBadRequest, "APP-60001"},
		{"bad offset", http.MethodGet, base + "?offset=-1", "admin", "", http.StatusBadRequest, "APP-60001"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, c.method, c.path, c.token, c.body)
			var got apps.Error
			if err := json.Unmarshal([]byte(body), &got); err != nil || status != c.status || got.Code != c.code || got.Message == "" {
				t.Errorf("%d %s, want %d %s", status, body, c.status, c.code)
			}
		})
	}
	_, _, body := e.call(t, http.MethodGet, base, "admin", "")
	if l := decode[listView](t, body); l.TotalResults != 1 {
		t.Errorf("refused requests created applications: %s", body)
	}
}

// TestClientSecrets: a creator may choose the secret; regenerate-secret replaces it, the old
// one failing and the new one working at once.
func TestClientSecrets(t *testing.T) {
	e := newEnv(t)
	const chosen = "migrated-from-wso2-28chars!"
	id := e.create(t, `{"name": "migrated", "inboundProtocolConfiguration": {"oidc": {"clientId": "migrated-client",
		"clientSecret": "`+chosen+`", "grantTypes": ["client_credentials"]}}}`)
	oidcPath := base + "/" + id + "/inbound-protocols/oidc"
	old := op.ClientCredentials{ClientID: "migrated-client", Secret: chosen, Method: op.AuthSecretBasic}
	if tok, err := e.prov.Token(t.Context(), old, op.TokenRequest{GrantType: op.GrantClientCredentials}); err != nil || tok.AccessToken == "" {
		t.Fatalf("chosen secret: %+v %v", tok, err)
	}
	// The chosen secret is the caller's: it is not shown back.
	if _, _, body := e.call(t, http.MethodGet, oidcPath, "admin", ""); strings.Contains(body, "clientSecret") {
		t.Errorf("the chosen secret is shown: %s", body)
	}

	status, _, body := e.call(t, http.MethodPost, oidcPath+"/regenerate-secret", "admin", "")
	v := decode[oidcView](t, body)
	if status != http.StatusOK || v.ClientID != "migrated-client" || len(v.ClientSecret) < 43 || v.ClientSecret == chosen {
		t.Fatalf("regenerate: %d %s", status, body)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), old); err == nil {
		t.Error("the old secret still works")
	}
	fresh := op.ClientCredentials{ClientID: "migrated-client", Secret: v.ClientSecret, Method: op.AuthSecretPost}
	if tok, err := e.prov.Token(t.Context(), fresh, op.TokenRequest{GrantType: op.GrantClientCredentials}); err != nil || tok.AccessToken == "" {
		t.Fatalf("new secret: %+v %v", tok, err)
	}
	if _, _, body := e.call(t, http.MethodGet, oidcPath, "admin", ""); strings.Contains(body, "clientSecret") {
		t.Errorf("the regenerated secret is shown again: %s", body)
	}

	// A generated secret waiting for its first read is dropped by a regeneration.
	id2 := e.create(t, `{"name": "fresh", "inboundProtocolConfiguration": {"oidc": {"grantTypes": ["client_credentials"]}}}`)
	status, _, body = e.call(t, http.MethodPost, base+"/"+id2+"/inbound-protocols/oidc/regenerate-secret", "admin", "")
	if status != http.StatusOK || decode[oidcView](t, body).ClientSecret == "" {
		t.Fatalf("regenerate fresh: %d %s", status, body)
	}
	if _, _, body := e.call(t, http.MethodGet, base+"/"+id2+"/inbound-protocols/oidc", "admin", ""); strings.Contains(body, "clientSecret") {
		t.Errorf("the superseded secret is shown: %s", body)
	}

	// A public client has no secret to regenerate.
	id3 := e.create(t, `{"name": "spa", "inboundProtocolConfiguration": {"oidc": {"publicClient": true,
		"grantTypes": ["authorization_code"], "callbackURLs": ["https://spa.example.com/cb"]}}}`)
	if status, _, body := e.call(t, http.MethodPost, base+"/"+id3+"/inbound-protocols/oidc/regenerate-secret", "admin", ""); status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") {
		t.Errorf("regenerate public: %d %s", status, body)
	}
}

type clientAuthView struct {
	ClientAuthentication struct {
		TokenEndpointAuthMethod          string          `json:"tokenEndpointAuthMethod"`
		TokenEndpointAuthSigningAlg      string          `json:"tokenEndpointAuthSigningAlg"`
		TokenEndpointAllowReusePvtKeyJwt bool            `json:"tokenEndpointAllowReusePvtKeyJwt"`
		JWKSURI                          string          `json:"jwksUri"`
		JWKS                             json.RawMessage `json:"jwks"`
	} `json:"clientAuthentication"`
	GrantTypes []string `json:"grantTypes"`
	PKCE       struct {
		Mandatory bool `json:"mandatory"`
	} `json:"pkce"`
}

// TestClientAuthentication: the client authentication settings are written by a PUT of the
// OIDC configuration and read back; a client switched to private_key_jwt loses its secret.
func TestClientAuthentication(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, `{"name": "svc", "inboundProtocolConfiguration": {"oidc": {"clientId": "svc-client",
		"grantTypes": ["client_credentials"]}}}`)
	oidcPath := base + "/" + id + "/inbound-protocols/oidc"
	_, _, body := e.call(t, http.MethodGet, oidcPath, "admin", "")
	secret := decode[oidcView](t, body).ClientSecret
	if secret == "" {
		t.Fatalf("no secret: %s", body)
	}
	jwks := `{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	put := `{"grantTypes": ["client_credentials", "password", "urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
		"pkce": {"mandatory": true}, "clientAuthentication": {"tokenEndpointAuthMethod": "private_key_jwt",
		"tokenEndpointAuthSigningAlg": "ES256", "tokenEndpointAllowReusePvtKeyJwt": false, "jwks": ` + jwks + `}}`
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", put); status != http.StatusOK {
		t.Fatalf("put private_key_jwt: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, oidcPath, "admin", "")
	v := decode[clientAuthView](t, body)
	ca := v.ClientAuthentication
	if ca.TokenEndpointAuthMethod != "private_key_jwt" || ca.TokenEndpointAuthSigningAlg != "ES256" || len(ca.JWKS) == 0 ||
		ca.JWKSURI != "" || len(v.GrantTypes) != 5 || !v.PKCE.Mandatory {
		t.Fatalf("read back: %s", body)
	}
	c, err := e.s.OAuth2Client(t.Context(), "svc-client")
	if err != nil || c.TokenEndpointAuthMethod != "private_key_jwt" || c.SecretHash != "" || !strings.Contains(string(c.JWKS), `"k1"`) {
		t.Fatalf("stored: %+v %v", c, err)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), op.ClientCredentials{ClientID: "svc-client", Secret: secret, Method: op.AuthSecretBasic}); err == nil {
		t.Error("the secret still works for a private_key_jwt client")
	}

	// A PUT without clientAuthentication keeps it; a jwksUri replaces the inline set.
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", `{"grantTypes": ["client_credentials"]}`); status != http.StatusOK {
		t.Fatalf("put without clientAuthentication: %d %s", status, body)
	}
	if c, err := e.s.OAuth2Client(t.Context(), "svc-client"); err != nil || c.TokenEndpointAuthMethod != "private_key_jwt" || len(c.JWKS) == 0 {
		t.Fatalf("kept: %+v %v", c, err)
	}
	byURI := `{"grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "https://svc.example.com/jwks"}}`
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", byURI); status != http.StatusOK {
		t.Fatalf("put jwksUri: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, oidcPath, "admin", "")
	if ca := decode[clientAuthView](t, body).ClientAuthentication; ca.JWKSURI != "https://svc.example.com/jwks" || len(ca.JWKS) != 0 {
		t.Fatalf("jwksUri read back: %s", body)
	}

	// Back to a secret method: a new secret, shown once by the next read.
	back := `{"grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "client_secret_basic"}}`
	if status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", back); status != http.StatusOK {
		t.Fatalf("put client_secret_basic: %d %s", status, body)
	}
	_, _, body = e.call(t, http.MethodGet, oidcPath, "admin", "")
	fresh := decode[oidcView](t, body).ClientSecret
	if fresh == "" || fresh == secret {
		t.Fatalf("no new secret: %s", body)
	}
	if _, err := e.prov.AuthenticateClient(t.Context(), op.ClientCredentials{ClientID: "svc-client", Secret: fresh, Method: op.AuthSecretBasic}); err != nil {
		t.Errorf("new secret: %v", err)
	}

	cases := []struct{ name, body string }{
		{"reuse of assertions", `{"grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "https://svc.example.com/jwks", "tokenEndpointAllowReusePvtKeyJwt": true}}`},
		{"private_key_jwt without keys", `{"grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "private_key_jwt"}}`},
		{"unknown method", `{"grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "tls_client_auth"}}`},
		{"algorithm not fitting", `{"grantTypes": ["client_credentials"], "clientAuthentication": {"tokenEndpointAuthMethod": "client_secret_basic", "tokenEndpointAuthSigningAlg": "ES256"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPut, oidcPath, "admin", c.body)
			if status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") {
				t.Errorf("%d %s", status, body)
			}
		})
	}
}

// TestTemplates: a template's safe defaults fill the OIDC configuration; what would make the
// template unsafe is refused.
func TestTemplates(t *testing.T) {
	e := newEnv(t)
	client := func(id string) store.OAuth2Client {
		t.Helper()
		_, _, body := e.call(t, http.MethodGet, base+"/"+id, "admin", "")
		app := decode[appView](t, body)
		c, err := e.s.OAuth2Client(t.Context(), app.ClientID)
		if err != nil {
			t.Fatalf("client of %s: %v (%s)", id, err, body)
		}
		return c
	}
	spa := client(e.create(t, `{"name": "spa", "templateId": "6a90e4b0-fbff-42d7-bfde-1efd98f07cd7",
		"inboundProtocolConfiguration": {"oidc": {"callbackURLs": ["https://spa.example.org/cb"]}}}`))
	if !spa.Public || spa.SecretHash != "" || !slices.Equal(spa.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("SPA client: public %v, secret %q, grants %v", spa.Public, spa.SecretHash, spa.GrantTypes)
	}
	web := client(e.create(t, `{"name": "web", "templateId": "web-app",
		"inboundProtocolConfiguration": {"oidc": {"callbackURLs": ["https://web.example.org/cb"]}}}`))
	if web.Public || web.SecretHash == "" || !web.PKCERequired {
		t.Errorf("web client: public %v, secret %v, PKCE required %v", web.Public, web.SecretHash != "", web.PKCERequired)
	}
	m2m := client(e.create(t, `{"name": "m2m", "templateId": "m2m-application"}`))
	if m2m.Public || !slices.Equal(m2m.GrantTypes, []string{"client_credentials"}) || len(m2m.RedirectURIs) != 0 {
		t.Errorf("M2M client: public %v, grants %v, redirects %v", m2m.Public, m2m.GrantTypes, m2m.RedirectURIs)
	}
	for name, body := range map[string]string{
		"SPA with a secret":              `{"name": "x1", "templateId": "spa", "inboundProtocolConfiguration": {"oidc": {"clientSecret": "0123456789abcdef0123456789abcdef", "callbackURLs": ["https://x.example/cb"]}}}`,
		"mobile with client credentials": `{"name": "x2", "templateId": "mobile", "inboundProtocolConfiguration": {"oidc": {"grantTypes": ["client_credentials"], "callbackURLs": ["https://x.example/cb"]}}}`,
		"M2M with a callback":            `{"name": "x3", "templateId": "m2m", "inboundProtocolConfiguration": {"oidc": {"callbackURLs": ["https://x.example/cb"]}}}`,
	} {
		if status, _, resp := e.call(t, http.MethodPost, base, "admin", body); status != http.StatusBadRequest || !strings.Contains(resp, "APP-60001") {
			t.Errorf("%s: %d %s", name, status, resp)
		}
	}
}

// TestSkipLoginConsent: advancedConfigurations.skipLoginConsent is the OIDC client's consent
// setting, set at creation, shown, and changed by PATCH.
func TestSkipLoginConsent(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, `{"name": "first-party", "advancedConfigurations": {"skipLoginConsent": true},
		"inboundProtocolConfiguration": {"oidc": {"grantTypes": ["authorization_code"], "callbackURLs": ["https://fp.example.org/cb"]}}}`)
	shown := func() string {
		t.Helper()
		_, _, body := e.call(t, http.MethodGet, base+"/"+id, "admin", "")
		return body
	}
	if body := shown(); !strings.Contains(body, `"skipLoginConsent":true`) {
		t.Fatalf("created: %s", body)
	}
	if status, _, body := e.call(t, http.MethodPatch, base+"/"+id, "admin", `{"advancedConfigurations": {"skipLoginConsent": false}}`); status != http.StatusOK {
		t.Fatalf("patch: %d %s", status, body)
	}
	app := decode[appView](t, shown())
	if c, err := e.s.OAuth2Client(t.Context(), app.ClientID); err != nil || c.SkipConsent {
		t.Fatalf("after PATCH the client skips consent: %v %v", c.SkipConsent, err)
	}
	noClient := e.create(t, `{"name": "no-client"}`)
	if status, _, body := e.call(t, http.MethodPatch, base+"/"+noClient, "admin", `{"advancedConfigurations": {"skipLoginConsent": true}}`); status != http.StatusBadRequest {
		t.Errorf("PATCH without a client: %d %s", status, body)
	}
}

// TestPassiveSTSInbound: the WS-Federation relying party of an application is created,
// read back, listed among the inbound protocols, replaced and deleted; bad settings are 400.
func TestPassiveSTSInbound(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, `{"name": "portal"}`)
	path := base + "/" + id + "/inbound-protocols/passive-sts"
	if status, _, body := e.call(t, http.MethodGet, path, "admin", ""); status != http.StatusNotFound {
		t.Fatalf("before: %d %s", status, body)
	}
	status, hdr, body := e.call(t, http.MethodPut, path, "admin", `{"realm": "urn:portal", "replyTo": "https://portal.example.org/wsfed", "tokenType": "SAML20"}`)
	if status != http.StatusCreated || !strings.HasSuffix(hdr.Get("Location"), "/inbound-protocols/passive-sts") {
		t.Fatalf("create: %d %s", status, body)
	}
	rp, err := e.s.WSFedRelyingPartyByRealm(t.Context(), e.org.ID, "urn:portal")
	if err != nil || rp.ApplicationID != id || rp.TokenType != store.WSFedTokenSAML20 || rp.DefaultReplyURL != "https://portal.example.org/wsfed" {
		t.Fatalf("stored: %+v %v", rp, err)
	}
	if _, _, body := e.call(t, http.MethodGet, path, "admin", ""); !strings.Contains(body, `"realm":"urn:portal"`) || !strings.Contains(body, `"tokenType":"SAML20"`) {
		t.Errorf("read back: %s", body)
	}
	if _, _, body := e.call(t, http.MethodGet, base+"/"+id, "admin", ""); !strings.Contains(body, `"type":"passivests"`) {
		t.Errorf("not listed among the inbound protocols: %s", body)
	}
	if status, _, body := e.call(t, http.MethodPut, path, "admin", `{"realm": "urn:portal2", "replyTo": "https://portal.example.org/wsfed"}`); status != http.StatusOK {
		t.Fatalf("replace: %d %s", status, body)
	}
	if _, err := e.s.WSFedRelyingPartyByRealm(t.Context(), e.org.ID, "urn:portal"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old realm is still registered: %v", err)
	}
	for name, b := range map[string]string{
		"no realm":      `{"replyTo": "https://portal.example.org/wsfed"}`,
		"relative":      `{"realm": "urn:x", "replyTo": "/wsfed"}`,
		"no reply":      `{"realm": "urn:x"}`,
		"bad token":     `{"realm": "urn:x", "replyTo": "https://x.example/", "tokenType": "JWT"}`,
		"bad logout to": `{"realm": "urn:x", "replyTo": "https://x.example/", "replyToLogout": "javascript:alert(1)"}`,
	} {
		if status, _, body := e.call(t, http.MethodPut, path, "admin", b); status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	if status, _, _ := e.call(t, http.MethodDelete, path, "admin", ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if status, _, _ := e.call(t, http.MethodDelete, path, "admin", ""); status != http.StatusNotFound {
		t.Fatalf("delete again: %d", status)
	}
	// Configured at creation, with the application, in one transaction.
	other := e.create(t, `{"name": "intranet", "inboundProtocolConfiguration": {"passiveSts": {"realm": "urn:intranet", "replyTo": "https://intranet.example.org/"}}}`)
	if rp, err := e.s.WSFedRelyingPartyByRealm(t.Context(), e.org.ID, "urn:intranet"); err != nil || rp.ApplicationID != other {
		t.Fatalf("created with the application: %+v %v", rp, err)
	}
}
