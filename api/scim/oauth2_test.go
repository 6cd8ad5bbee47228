package scim

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	oauth2op "github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// newOAuth2Env serves SCIM and Keyflow's OAuth2 endpoints from one engine,
// SCIM verifying bearer tokens with the provider, as cmd/keyflow wires them.
func newOAuth2Env(t *testing.T) (*env, *oauth2op.Provider) {
	t.Helper()
	e := newEnv(t) // the admin user and organization
	keys, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: e.s,
		KEKs: []jwtkeys.KEK{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := oauth2op.New(oauth2op.Config{Store: e.s, Keys: keys, Issuer: "http://localhost/oauth2/token",
		SecretPepper: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	oh, err := oauth2.New(oauth2.Config{Provider: prov, Keys: keys, BaseURL: "http://localhost"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: e.s, PasswordParams: cheap, BaseURL: "https://id.example.com",
		Tokens: OAuth2Tokens{Verifier: prov}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	oh.Register(r)
	h.Register(r)
	e.h = r
	return e, prov
}

// form posts an OAuth2 form request with HTTP Basic client authentication.
func (e *env) form(path string, v url.Values, id, secret string) resp {
	e.t.Helper()
	return e.do("POST", path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Authorization", "Basic "+basicCred(id, secret))
}

func basicCred(id, secret string) string {
	return strings.TrimPrefix(basic(url.QueryEscape(id), url.QueryEscape(secret)), "Basic ")
}

// TestOAuth2Bearer gets client_credentials tokens at /oauth2/token and uses
// them on /scim2: the application is permitted by its scopes alone.
func TestOAuth2Bearer(t *testing.T) {
	t.Parallel()
	e, prov := newOAuth2Env(t)
	client := func(format string, scopes ...string) (string, string) {
		c, secret, err := prov.CreateClient(t.Context(), oauth2op.NewClient{OrgID: e.org.ID, Name: "provisioner",
			GrantTypes: []string{oauth2op.GrantClientCredentials}, Scopes: scopes, TokenFormat: format})
		if err != nil {
			t.Fatal(err)
		}
		return c.ClientID, secret
	}
	token := func(id, secret, scope string) string {
		t.Helper()
		v := url.Values{"grant_type": {"client_credentials"}}
		if scope != "" {
			v.Set("scope", scope)
		}
		r := e.form("/oauth2/token", v, id, secret).must(t, http.StatusOK)
		return str0(r.body["access_token"])
	}
	jwtID, jwtSecret := client(store.TokenFormatJWT, "internal_user_mgt_list", "internal_user_mgt_create")
	opqID, opqSecret := client(store.TokenFormatOpaque, "internal_user_mgt_list")
	revoked := map[string]string{"JWT": token(jwtID, jwtSecret, ""), "opaque": token(opqID, opqSecret, "")}
	for name, id := range map[string][2]string{"JWT": {jwtID, jwtSecret}, "opaque": {opqID, opqSecret}} {
		e.form("/oauth2/revoke", url.Values{"token": {revoked[name]}}, id[0], id[1]).must(t, http.StatusOK)
	}

	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"JWT with the list scope", "GET", "/scim2/Users", token(jwtID, jwtSecret, ""), nil, 200},
		{"opaque with the list scope", "GET", "/scim2/Users", token(opqID, opqSecret, ""), nil, 200},
		{"create with the create scope", "POST", "/scim2/Users", token(jwtID, jwtSecret, "internal_user_mgt_create"),
			map[string]any{"schemas": []string{SchemaUser}, "userName": "provisioned"}, 201},
		{"list without the list scope", "GET", "/scim2/Users", token(jwtID, jwtSecret, "internal_user_mgt_create"), nil, 403},
		{"groups without a group scope", "GET", "/scim2/Groups", token(jwtID, jwtSecret, ""), nil, 403},
		{"application has no Me", "GET", "/scim2/Me", token(jwtID, jwtSecret, ""), nil, 404},
		{"revoked JWT", "GET", "/scim2/Users", revoked["JWT"], nil, 401},
		{"revoked opaque", "GET", "/scim2/Users", revoked["opaque"], nil, 401},
		{"garbage", "GET", "/scim2/Users", "garbage", nil, 401},
		{"garbage JWT", "GET", "/scim2/Users", "a.b.c", nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, "Authorization", "Bearer "+tc.token)
			if tc.status < 400 {
				r.must(t, tc.status)
				return
			}
			r.checkError(t, tc.status, "")
			ch := r.header.Get("WWW-Authenticate")
			switch tc.status {
			case 401:
				if !strings.Contains(ch, "Bearer") {
					t.Errorf("WWW-Authenticate %q", ch)
				}
			case 403:
				if tc.path != "/scim2/Me" && !strings.Contains(ch, `error="insufficient_scope"`) {
					t.Errorf("WWW-Authenticate %q, want insufficient_scope", ch)
				}
			}
		})
	}
}

type verifierFunc func(ctx context.Context, token string) (oauth2op.AccessToken, error)

func (f verifierFunc) VerifyAccessToken(ctx context.Context, token string) (oauth2op.AccessToken, error) {
	return f(ctx, token)
}

// TestOAuth2TokensIdentity checks what a verified token acts as.
func TestOAuth2TokensIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		at         oauth2op.AccessToken
		err        error
		want       Token
		wantStatus int // of an *Error; 0: a plain error or none
		wantErr    bool
	}{
		{name: "user token acts for its user",
			at:   oauth2op.AccessToken{Subject: "u1", ClientID: "app", Scopes: []string{"s"}},
			want: Token{UserID: "u1", ClientID: "app", Scopes: []string{"s"}}},
		{name: "client_credentials token acts as the application",
			at:   oauth2op.AccessToken{Subject: "app", ClientID: "app", Scopes: []string{"s"}, ClientOnly: true},
			want: Token{ClientID: "app", Scopes: []string{"s"}}},
		{name: "invalid token", err: oauth2op.ErrInvalidToken("bad"), wantErr: true},
		{name: "verification unavailable", err: errors.New("db down"), wantErr: true, wantStatus: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := OAuth2Tokens{Verifier: verifierFunc(func(context.Context, string) (oauth2op.AccessToken, error) {
				return tc.at, tc.err
			})}
			got, err := o.VerifyAccessToken(t.Context(), "tok")
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			var e *Error
			if status := 0; errors.As(err, &e) {
				status = e.Status
				if status != tc.wantStatus {
					t.Errorf("status %d, want %d", status, tc.wantStatus)
				}
			} else if tc.wantStatus != 0 {
				t.Errorf("error %v, want an *Error with status %d", err, tc.wantStatus)
			}
			if err == nil && (got.UserID != tc.want.UserID || got.ClientID != tc.want.ClientID ||
				strings.Join(got.Scopes, " ") != strings.Join(tc.want.Scopes, " ")) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
