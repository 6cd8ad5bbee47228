package oauth2_test

import (
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	xoauth2 "golang.org/x/oauth2"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

const (
	redirectURI = "https://app.example/cb"
	claimEmail  = "http://wso2.org/claims/emailaddress"
	claimGiven  = "http://wso2.org/claims/givenname"
	claimLast   = "http://wso2.org/claims/lastname"
	claimMobile = "http://wso2.org/claims/mobile"
)

// user is the login workflow's result, as the authorize front-end will
// pass it.
func user() op.Authenticated {
	return op.Authenticated{
		Subject: "user-1",
		Claims: map[string]string{claimEmail: "ann@example.com", claimGiven: "Ann", claimLast: "Lee",
			claimMobile: "+94770000000", "http://wso2.org/claims/identity/emailVerified": "true"},
		ACR: "urn:keyflow:acr:mfa", AMR: []string{"BasicAuthenticator", "totp"}, SessionID: "sess-1",
	}
}

// codeClient creates a client for the code flow and returns the x/oauth2
// configuration a relying party would use.
func (e *env) codeClient(t testing.TB, nc op.NewClient) xoauth2.Config {
	t.Helper()
	if nc.GrantTypes == nil {
		nc.GrantTypes = []string{op.GrantAuthorizationCode, op.GrantRefreshToken}
	}
	if nc.RedirectURIs == nil {
		nc.RedirectURIs = []string{redirectURI}
	}
	id, secret := e.client(t, nc)
	style := xoauth2.AuthStyleInHeader
	if nc.Public {
		style = xoauth2.AuthStyleInParams
	}
	return xoauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: redirectURI,
		Endpoint: xoauth2.Endpoint{AuthURL: e.srv.URL + "/oauth2/authorize", TokenURL: e.srv.URL + "/oauth2/token", AuthStyle: style},
		Scopes:   []string{oidc.ScopeOpenID, "profile", "email"},
	}
}

// authorize stands in for the authorization front-end: it validates the
// request URL the relying party built and completes it for a.
func (e *env) authorize(t testing.TB, authURL string, a op.Authenticated) (op.Response, error) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := e.op.ValidateAuthorizeRequest(t.Context(), op.ParseAuthorizeParams(u.Query()))
	if err != nil {
		return op.Response{}, err
	}
	return e.op.CompleteAuthorization(t.Context(), req, a)
}

// callback parses the parameters of a query or fragment response.
func callback(t testing.TB, resp op.Response) url.Values {
	t.Helper()
	u, err := url.Parse(resp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Location(), resp.RedirectURI) {
		t.Fatalf("location %q does not start with the redirect URI %q", resp.Location(), resp.RedirectURI)
	}
	if resp.Mode == op.ResponseModeFragment {
		v, err := url.ParseQuery(u.Fragment)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return u.Query()
}

func (e *env) code(t testing.TB, cfg xoauth2.Config, opts ...xoauth2.AuthCodeOption) string {
	t.Helper()
	resp, err := e.authorize(t, cfg.AuthCodeURL("st-1", opts...), user())
	if err != nil {
		t.Fatal(err)
	}
	got := callback(t, resp)
	if got.Get("state") != "st-1" || got.Get("iss") != e.issuer || got.Get("code") == "" {
		t.Fatalf("callback %v: want state, iss (RFC 9207) and code", got)
	}
	return got.Get("code")
}

// TestCodeFlow runs the whole code flow with x/oauth2 and go-oidc as the
// relying party: PKCE, ID token (nonce, at_hash), userinfo, refresh with
// rotation, and reuse detection revoking the family.
func TestCodeFlow(t *testing.T) {
	e := newEnv(t)
	rs, rsSecret := e.client(t, op.NewClient{Name: "resource server"})
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range allAlgs {
		for _, public := range []bool{false, true} {
			name := alg + map[bool]string{false: "/confidential", true: "/public"}[public]
			t.Run(name, func(t *testing.T) {
				cfg := e.codeClient(t, op.NewClient{Name: name, Public: public, SigningAlg: alg})
				cfg.Endpoint = p.Endpoint()
				cfg.Endpoint.AuthURL = e.srv.URL + "/oauth2/authorize"
				if public {
					cfg.Endpoint.AuthStyle = xoauth2.AuthStyleInParams
				}
				verifier, nonce := xoauth2.GenerateVerifier(), "n-"+name
				code := e.code(t, cfg, xoauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
				tok, err := cfg.Exchange(t.Context(), code, xoauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatal(err)
				}
				if tok.RefreshToken == "" || tok.Extra("scope") != "openid profile email" {
					t.Errorf("refresh token %q scope %v", tok.RefreshToken, tok.Extra("scope"))
				}
				rawID, _ := tok.Extra("id_token").(string)
				v := p.VerifierContext(t.Context(), &oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: allAlgs})
				idt, err := v.Verify(t.Context(), rawID)
				if err != nil {
					t.Fatalf("go-oidc rejects the ID token: %v", err)
				}
				if idt.Nonce != nonce || idt.Subject != "user-1" {
					t.Errorf("nonce %q sub %q", idt.Nonce, idt.Subject)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Errorf("at_hash: %v", err)
				}
				var c struct {
					Email         string   `json:"email"`
					EmailVerified bool     `json:"email_verified"`
					GivenName     string   `json:"given_name"`
					FamilyName    string   `json:"family_name"`
					Phone         string   `json:"phone_number"`
					ACR           string   `json:"acr"`
					AMR           []string `json:"amr"`
					SID           string   `json:"sid"`
					AuthTime      int64    `json:"auth_time"`
					AZP           string   `json:"azp"`
				}
				if err := idt.Claims(&c); err != nil {
					t.Fatal(err)
				}
				want := user()
				if c.Email != want.Claims[claimEmail] || !c.EmailVerified || c.GivenName != "Ann" || c.FamilyName != "Lee" ||
					c.ACR != want.ACR || !slices.Equal(c.AMR, want.AMR) || c.SID != want.SessionID || c.AuthTime == 0 || c.AZP != cfg.ClientID {
					t.Errorf("ID token claims %+v", c)
				}
				if c.Phone != "" {
					t.Errorf("phone_number %q without the phone scope", c.Phone)
				}

				ui, err := p.UserInfo(t.Context(), xoauth2.StaticTokenSource(tok))
				if err != nil {
					t.Fatalf("userinfo: %v", err)
				}
				var uc map[string]any
				if err := ui.Claims(&uc); err != nil {
					t.Fatal(err)
				}
				if ui.Subject != "user-1" || ui.Email != want.Claims[claimEmail] || uc["given_name"] != "Ann" || uc["phone_number"] != nil {
					t.Errorf("userinfo %v", uc)
				}

				// Refresh: a new refresh token, the old one revoked.
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
				r1 := e.post(t, "/oauth2/token", withClient(form, cfg), basicFor(cfg))
				if r1.status != 200 {
					t.Fatalf("refresh: %d %s", r1.status, r1.body)
				}
				refreshed := r1.json(t)
				rt2, _ := refreshed["refresh_token"].(string)
				at2, _ := refreshed["access_token"].(string)
				if rt2 == "" || rt2 == tok.RefreshToken {
					t.Fatalf("refresh response %v: want a new refresh token", refreshed)
				}
				idt2, err := v.Verify(t.Context(), refreshed["id_token"].(string))
				if err != nil {
					t.Fatalf("refreshed ID token: %v", err)
				}
				var c2 struct {
					AuthTime int64 `json:"auth_time"`
				}
				_ = idt2.Claims(&c2)
				if idt2.Subject != "user-1" || idt2.Nonce != "" || c2.AuthTime != c.AuthTime {
					t.Errorf("refreshed ID token sub %q nonce %q auth_time %d (want the original %d)", idt2.Subject, idt2.Nonce, c2.AuthTime, c.AuthTime)
				}
				if e.introspect(t, rs, rsSecret, at2)["active"] != true {
					t.Fatal("refreshed access token inactive")
				}
				// Replaying the rotated refresh token revokes the whole family.
				r2 := e.post(t, "/oauth2/token", withClient(form, cfg), basicFor(cfg))
				if r2.status != 400 || r2.json(t)["error"] != "invalid_grant" {
					t.Fatalf("replayed refresh token: %d %s", r2.status, r2.body)
				}
				form.Set("refresh_token", rt2)
				if r3 := e.post(t, "/oauth2/token", withClient(form, cfg), basicFor(cfg)); r3.status != 400 {
					t.Errorf("refresh token of a revoked family: %d %s", r3.status, r3.body)
				}
				for name, at := range map[string]string{"first": tok.AccessToken, "refreshed": at2} {
					if e.introspect(t, rs, rsSecret, at)["active"] != false {
						t.Errorf("%s access token still active after refresh token reuse", name)
					}
				}
				if _, err := p.UserInfo(t.Context(), xoauth2.StaticTokenSource(tok)); err == nil {
					t.Error("userinfo accepts a token of a revoked family")
				}
			})
		}
	}
}

func withClient(form url.Values, cfg xoauth2.Config) url.Values {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if cfg.ClientSecret == "" {
		f.Set("client_id", cfg.ClientID)
	}
	return f
}

func basicFor(cfg xoauth2.Config) []string {
	if cfg.ClientSecret == "" {
		return nil
	}
	return []string{cfg.ClientID, cfg.ClientSecret}
}

// TestCodeReuse: a second exchange fails and revokes the tokens of the
// first (RFC 6749 §4.1.2), for both token formats.
func TestCodeReuse(t *testing.T) {
	e := newEnv(t)
	rs, rsSecret := e.client(t, op.NewClient{Name: "resource server"})
	for _, format := range []string{store.TokenFormatJWT, store.TokenFormatOpaque} {
		t.Run(format, func(t *testing.T) {
			cfg := e.codeClient(t, op.NewClient{TokenFormat: format})
			verifier := xoauth2.GenerateVerifier()
			code := e.code(t, cfg, xoauth2.S256ChallengeOption(verifier), oidc.Nonce("n"))
			tok, err := cfg.Exchange(t.Context(), code, xoauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if e.introspect(t, rs, rsSecret, tok.AccessToken)["active"] != true {
				t.Fatal("access token inactive before the replay")
			}
			_, err = cfg.Exchange(t.Context(), code, xoauth2.VerifierOption(verifier))
			var re *xoauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("second exchange: %v, want invalid_grant", err)
			}
			if got := e.introspect(t, rs, rsSecret, tok.AccessToken); got["active"] != false {
				t.Errorf("first access token after code reuse: %v", got)
			}
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
			if r := e.post(t, "/oauth2/token", form, basicFor(cfg)); r.status != 400 {
				t.Errorf("refresh token after code reuse: %d %s", r.status, r.body)
			}
		})
	}
}

// TestTokenCodeErrors covers the token endpoint's refusals of a code.
func TestTokenCodeErrors(t *testing.T) {
	e := newEnv(t)
	cfg := e.codeClient(t, op.NewClient{})
	other := e.codeClient(t, op.NewClient{})
	noPKCE := e.codeClient(t, op.NewClient{})
	verifier := xoauth2.GenerateVerifier()
	tests := []struct {
		name       string
		cfg        xoauth2.Config // client whose code it is
		pkce       bool
		form       func(code string) url.Values
		basic      []string
		wantStatus int
		wantCode   string
	}{
		{"PKCE mismatch", cfg, true, func(c string) url.Values {
			return codeForm(c, redirectURI, xoauth2.GenerateVerifier())
		}, []string{cfg.ClientID, cfg.ClientSecret}, 400, "invalid_grant"},
		{"missing verifier", cfg, true, func(c string) url.Values { return codeForm(c, redirectURI, "") },
			[]string{cfg.ClientID, cfg.ClientSecret}, 400, "invalid_grant"},
		{"verifier without challenge", noPKCE, false, func(c string) url.Values { return codeForm(c, redirectURI, verifier) },
			[]string{noPKCE.ClientID, noPKCE.ClientSecret}, 400, "invalid_grant"},
		{"redirect_uri mismatch", cfg, true, func(c string) url.Values { return codeForm(c, redirectURI+"x", verifier) },
			[]string{cfg.ClientID, cfg.ClientSecret}, 400, "invalid_grant"},
		{"another client's code", cfg, true, func(c string) url.Values { return codeForm(c, redirectURI, verifier) },
			[]string{other.ClientID, other.ClientSecret}, 400, "invalid_grant"},
		{"bad client secret", cfg, true, func(c string) url.Values { return codeForm(c, redirectURI, verifier) },
			[]string{cfg.ClientID, cfg.ClientSecret + "x"}, 401, "invalid_client"},
		{"unknown code", cfg, true, func(string) url.Values { return codeForm("nope", redirectURI, verifier) },
			[]string{cfg.ClientID, cfg.ClientSecret}, 400, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []xoauth2.AuthCodeOption
			if tc.pkce {
				opts = append(opts, xoauth2.S256ChallengeOption(verifier))
			}
			code := e.code(t, tc.cfg, opts...)
			r := e.post(t, "/oauth2/token", tc.form(code), tc.basic)
			if r.status != tc.wantStatus || r.json(t)["error"] != tc.wantCode {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.wantStatus, tc.wantCode)
			}
			if got := r.header.Get("WWW-Authenticate"); (tc.wantStatus == 401) != strings.HasPrefix(got, "Basic") {
				t.Errorf("WWW-Authenticate %q with status %d", got, r.status)
			}
			// A refused exchange does not consume the code: the right one still works.
			if tc.wantCode != "invalid_client" && tc.name != "verifier without challenge" && tc.name != "unknown code" {
				if r := e.post(t, "/oauth2/token", codeForm(code, redirectURI, verifier), []string{tc.cfg.ClientID, tc.cfg.ClientSecret}); r.status != 200 {
					t.Errorf("the correct exchange after a refused one: %d %s", r.status, r.body)
				}
			}
		})
	}
	t.Run("expired code", func(t *testing.T) {
		code := e.code(t, cfg, xoauth2.S256ChallengeOption(verifier))
		e.clock.Add(op.DefaultCodeLifetime + time.Second)
		if r := e.post(t, "/oauth2/token", codeForm(code, redirectURI, verifier), []string{cfg.ClientID, cfg.ClientSecret}); r.status != 400 {
			t.Errorf("expired code: %d %s", r.status, r.body)
		}
	})
}

func codeForm(code, redirect, verifier string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return f
}

// TestAuthorizeErrors checks which errors go back to the client and which
// must not (RFC 6749 §4.1.2.1).
func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	conf := e.codeClient(t, op.NewClient{RedirectURIs: []string{redirectURI, `regexp=https://app\.example/cb/[a-z]+`}})
	public := e.codeClient(t, op.NewClient{Public: true})
	implicit := e.codeClient(t, op.NewClient{GrantTypes: []string{op.GrantImplicit}})
	challenge := xoauth2.S256ChallengeFromVerifier(xoauth2.GenerateVerifier())
	base := func(cfg xoauth2.Config, extra ...string) url.Values {
		v := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"xyz"}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return v
	}
	tests := []struct {
		name     string
		params   url.Values
		wantCode string // "" means success
		redirect bool   // error goes back to the client
		wantMode string
	}{
		{"ok", base(conf), "", false, op.ResponseModeQuery},
		{"regexp redirect URI", base(conf, "redirect_uri", "https://app.example/cb/two"), "", false, op.ResponseModeQuery},
		{"unknown client", base(conf, "client_id", "nobody"), "invalid_request", false, ""},
		{"missing client", base(conf, "client_id", ""), "invalid_request", false, ""},
		{"wrong redirect URI", base(conf, "redirect_uri", "https://evil.example/cb"), "invalid_request", false, ""},
		{"redirect URI prefix", base(conf, "redirect_uri", redirectURI+"x"), "invalid_request", false, ""},
		{"regexp must match whole URI", base(conf, "redirect_uri", "https://app.example/cb/two/evil"), "invalid_request", false, ""},
		{"OIDC request without redirect URI", base(conf, "redirect_uri", ""), "invalid_request", false, ""},
		{"unsupported response type", base(conf, "response_type", "code foo"), "unsupported_response_type", true, op.ResponseModeQuery},
		{"missing response type", base(conf, "response_type", ""), "invalid_request", true, op.ResponseModeQuery},
		{"response type not allowed", base(conf, "response_type", "token"), "unauthorized_client", true, op.ResponseModeFragment},
		{"public client without PKCE", base(public), "invalid_request", true, op.ResponseModeQuery},
		{"public client with PKCE", base(public, "code_challenge", challenge, "code_challenge_method", "S256"), "", false, op.ResponseModeQuery},
		{"plain PKCE not allowed", base(public, "code_challenge", challenge, "code_challenge_method", "plain"), "invalid_request", true, op.ResponseModeQuery},
		{"PKCE method defaults to plain", base(public, "code_challenge", challenge), "invalid_request", true, op.ResponseModeQuery},
		{"malformed challenge", base(public, "code_challenge", "short", "code_challenge_method", "S256"), "invalid_request", true, op.ResponseModeQuery},
		{"implicit without nonce", base(implicit, "response_type", "id_token token"), "invalid_request", true, op.ResponseModeFragment},
		{"implicit id_token without openid", base(implicit, "response_type", "id_token", "nonce", "n", "scope", "profile"), "invalid_scope", true, op.ResponseModeFragment},
		{"implicit in query", base(implicit, "response_type", "token", "response_mode", "query"), "invalid_request", true, op.ResponseModeQuery},
		{"implicit ok", base(implicit, "response_type", "token id_token", "nonce", "n"), "", false, op.ResponseModeFragment},
		{"form_post", base(conf, "response_mode", "form_post"), "", false, op.ResponseModeFormPost},
		{"unknown response mode", base(conf, "response_mode", "jwt.query"), "invalid_request", true, op.ResponseModeQuery},
		{"prompt none with login", base(conf, "prompt", "none login"), "invalid_request", true, op.ResponseModeQuery},
		{"bad max_age", base(conf, "max_age", "-1"), "invalid_request", true, op.ResponseModeQuery},
		{"malformed request object", base(conf, "request", "eyJ.x.y"), "invalid_request_object", true, op.ResponseModeQuery},
		{"request_uri not pushed", base(conf, "request_uri", "urn:x"), "request_uri_not_supported", true, op.ResponseModeQuery},
		{"unknown pushed request_uri", base(conf, "request_uri", op.RequestURIPrefix+"x"), "invalid_request_uri", true, op.ResponseModeQuery},
		{"malformed scope", base(conf, "scope", `openid a"b`), "invalid_scope", true, op.ResponseModeQuery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := e.srv.URL + "/oauth2/authorize?" + tc.params.Encode()
			resp, err := e.authorize(t, u, user())
			var re *op.RedirectError
			isRedirect := errors.As(err, &re)
			switch {
			case tc.wantCode == "":
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if resp.Mode != tc.wantMode {
					t.Errorf("mode %q, want %q", resp.Mode, tc.wantMode)
				}
				if resp.Params.Get("state") != "xyz" || resp.Params.Get("iss") != e.issuer {
					t.Errorf("response %v lacks state or iss", resp.Params)
				}
				return
			case err == nil:
				t.Fatalf("accepted, want %s", tc.wantCode)
			case isRedirect != tc.redirect:
				t.Fatalf("redirect = %v, want %v (%v)", isRedirect, tc.redirect, err)
			case !errors.Is(err, &op.Error{Code: tc.wantCode}):
				t.Fatalf("err %v, want %s", err, tc.wantCode)
			}
			if !isRedirect {
				return
			}
			got := callback(t, re.Response)
			if re.Response.Mode != tc.wantMode || got.Get("error") != tc.wantCode || got.Get("state") != "xyz" ||
				got.Get("iss") != e.issuer || got.Get("error_description") == "" {
				t.Errorf("error response %s (mode %s): want error %s, state echoed, iss", re.Response.Location(), re.Response.Mode, tc.wantCode)
			}
		})
	}
}

// TestHybridAndFormPost: code id_token token in a form_post, ID token with
// c_hash and at_hash, rendered by WriteAuthorizeResponse.
func TestHybridAndFormPost(t *testing.T) {
	e := newEnv(t)
	cfg := e.codeClient(t, op.NewClient{GrantTypes: []string{op.GrantAuthorizationCode, op.GrantImplicit},
		ResponseTypes: []string{"token id_token code"}, SigningAlg: jwtkeys.EdDSA})
	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.AuthCodeURL("s&<t>", xoauth2.SetAuthURLParam("response_type", "code id_token token"),
		xoauth2.SetAuthURLParam("response_mode", "form_post"), oidc.Nonce("n1"))
	resp, err := e.authorize(t, u, user())
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	oauth2.WriteAuthorizeResponse(w, resp)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Security-Policy"), "form-action "+redirectURI) ||
		w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("form_post: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(body, `action="`+redirectURI+`"`) || !strings.Contains(body, `value="s&amp;&lt;t&gt;"`) {
		t.Errorf("form_post body does not post the escaped state to the redirect URI:\n%s", body)
	}
	idt, err := p.VerifierContext(t.Context(), &oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: allAlgs}).
		Verify(t.Context(), resp.Params.Get("id_token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := idt.VerifyAccessToken(resp.Params.Get("access_token")); err != nil || idt.Nonce != "n1" {
		t.Errorf("at_hash: %v, nonce %q", err, idt.Nonce)
	}
	var c struct {
		CHash string `json:"c_hash"`
	}
	_ = idt.Claims(&c)
	if c.CHash != edHalfHash(resp.Params.Get("code")) {
		t.Errorf("c_hash %q", c.CHash)
	}
	// The code of a hybrid response is exchanged as usual.
	if _, err := cfg.Exchange(t.Context(), resp.Params.Get("code")); err != nil {
		t.Errorf("exchange: %v", err)
	}

	// Query mode: a 302 to the redirect URI.
	resp.Mode = op.ResponseModeQuery
	w = httptest.NewRecorder()
	oauth2.WriteAuthorizeResponse(w, resp)
	if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), redirectURI+"?") {
		t.Errorf("query mode: %d %q", w.Code, w.Header().Get("Location"))
	}
}

// edHalfHash is c_hash for EdDSA, computed independently: SHA-512, left half.
func edHalfHash(s string) string {
	sum := sha512.Sum512([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:32])
}

func TestUserInfoErrors(t *testing.T) {
	e := newEnv(t)
	ccID, ccSecret := e.client(t, op.NewClient{Scopes: []string{"openid", "read"}})
	cfg := e.codeClient(t, op.NewClient{})
	code := e.code(t, cfg)
	tok, err := cfg.Exchange(t.Context(), code)
	if err != nil {
		t.Fatal(err)
	}
	ccTok := e.token(t, ccID, ccSecret)
	req := func(method, auth string, form url.Values) response {
		r := mustRequest(t, method, e.srv.URL+"/oauth2/userinfo")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if form != nil {
			r.Body = ioNopCloser(form.Encode())
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return do(t, r)
	}
	tests := []struct {
		name       string
		resp       response
		wantStatus int
		wantError  string // in WWW-Authenticate; "" means none
	}{
		{"GET bearer", req(http.MethodGet, "Bearer "+tok.AccessToken, nil), 200, ""},
		{"POST form", req(http.MethodPost, "", url.Values{"access_token": {tok.AccessToken}}), 200, ""},
		{"no token", req(http.MethodGet, "", nil), 401, ""},
		{"garbage token", req(http.MethodGet, "Bearer nope", nil), 401, "invalid_token"},
		{"two methods", req(http.MethodPost, "Bearer "+tok.AccessToken, url.Values{"access_token": {tok.AccessToken}}), 400, "invalid_request"},
		{"client_credentials token", req(http.MethodGet, "Bearer "+ccTok, nil), 401, "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.resp
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if r.status == 200 {
				if got := r.json(t); got["sub"] != "user-1" || got["email"] != "ann@example.com" {
					t.Errorf("userinfo %v", got)
				}
				return
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer") || strings.Contains(ch, "error=") != (tc.wantError != "") ||
				(tc.wantError != "" && !strings.Contains(ch, `error="`+tc.wantError+`"`)) {
				t.Errorf("WWW-Authenticate %q, want Bearer with error %q", ch, tc.wantError)
			}
		})
	}
	// Without openid the token may not read userinfo (403 insufficient_scope).
	noOIDC := e.codeClient(t, op.NewClient{Scopes: []string{"read"}})
	noOIDC.Scopes = []string{"read"}
	tok2, err := noOIDC.Exchange(t.Context(), e.code(t, noOIDC))
	if err != nil {
		t.Fatal(err)
	}
	r := req(http.MethodGet, "Bearer "+tok2.AccessToken, nil)
	if r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("token without openid: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	if tok2.Extra("id_token") != nil {
		t.Error("ID token issued without the openid scope")
	}
}

func TestDiscoveryWithAuthorizationEndpoint(t *testing.T) {
	e := newEnv(t)
	h, err := oauth2.New(oauth2.Config{Provider: e.op, Keys: e.keys, BaseURL: e.srv.URL,
		AuthorizationEndpoint: e.srv.URL + "/oauth2/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	h.Register(r)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil))
	var m oauth2.Metadata
	if err := jsonUnmarshal(w.Body.Bytes(), &m); err != nil || w.Code != 200 {
		t.Fatalf("discovery: %d %v", w.Code, err)
	}
	if m.AuthorizationEndpoint != e.srv.URL+"/oauth2/authorize" {
		t.Errorf("authorization_endpoint %q", m.AuthorizationEndpoint)
	}
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"response types", m.ResponseTypesSupported, "code id_token"},
		{"response modes", m.ResponseModesSupported, "form_post"},
		{"grants", m.GrantTypesSupported, "refresh_token"},
		{"PKCE", m.CodeChallengeMethodsSupported, "S256"},
		{"ID token algs", m.IDTokenSigningAlgValuesSupported, "EdDSA"},
		{"claims", m.ClaimsSupported, "email"},
	} {
		if !slices.Contains(tc.got, tc.want) {
			t.Errorf("%s %v lacks %s", tc.name, tc.got, tc.want)
		}
	}
	if m.UserInfoEndpoint != e.srv.URL+"/oauth2/userinfo" || !m.AuthorizationResponseIssParameterSupported || m.RequestURIParameterSupported {
		t.Errorf("metadata %+v", m)
	}
}
