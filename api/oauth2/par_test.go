package oauth2_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	xoauth2 "golang.org/x/oauth2"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store/storetest"
)

// testUserParam names the query parameter of the test authorization
// endpoint that picks the logged-in user (default user-1).
const testUserParam = "test_user"

// newAuthzEnv is an env whose handler has an authorization endpoint (so
// that PAR is served and discovery advertises JAR, PAR and JARM), with a
// stand-in for the login front-end at /oauth2/authorize: it validates the
// request, "logs in" the user of testUserParam and renders the response;
// errors that must not redirect are a 400 JSON body.
func newAuthzEnv(t testing.TB, opts ...func(*op.Config)) *env {
	t.Helper()
	e := newReplicaWith(t, storetest.New(t), newClock(), "", func(c *oauth2.Config) {
		c.AuthorizationEndpoint = c.BaseURL + "/oauth2/authorize"
	}, opts...)
	serve := func(c *gin.Context) {
		if err := c.Request.ParseForm(); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		req, err := e.op.ValidateAuthorizeRequest(c.Request.Context(), op.ParseAuthorizeParams(c.Request.Form))
		if re, ok := errors.AsType[*op.RedirectError](err); ok {
			oauth2.WriteAuthorizeResponse(c.Writer, re.Response)
			return
		}
		if err != nil {
			oe := op.ToError(err)
			c.JSON(http.StatusBadRequest, gin.H{"error": oe.Code, "error_description": oe.Description})
			return
		}
		a := user()
		if sub := c.Query(testUserParam); sub != "" {
			a.Subject = sub
		}
		resp, err := e.op.CompleteAuthorization(c.Request.Context(), req, a)
		if re, ok := errors.AsType[*op.RedirectError](err); ok {
			resp = re.Response
		} else if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		oauth2.WriteAuthorizeResponse(c.Writer, resp)
	}
	e.router.GET("/oauth2/authorize", serve)
	e.router.POST("/oauth2/authorize", serve)
	return e
}

// browse sends GET /oauth2/authorize with q without following redirects.
func (e *env) browse(t testing.TB, q url.Values) response {
	t.Helper()
	req := mustRequest(t, http.MethodGet, e.srv.URL+"/oauth2/authorize?"+q.Encode())
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// redirected returns the parameters of a 302 to redirectURI (query and
// fragment merged).
func redirected(t testing.TB, r response) url.Values {
	t.Helper()
	loc := r.header.Get("Location")
	if r.status != http.StatusFound || !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("want a 302 to %s, got %d %q %s", redirectURI, r.status, loc, r.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range frag {
		v[k] = vs
	}
	return v
}

func pkceParams(verifier string) url.Values {
	return url.Values{"code_challenge": {xoauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
}

func merge(vs ...url.Values) url.Values {
	out := url.Values{}
	for _, v := range vs {
		for k, x := range v {
			out[k] = x
		}
	}
	return out
}

func TestPushedAuthorizationRequest(t *testing.T) {
	e := newAuthzEnv(t)
	cfg := e.codeClient(t, op.NewClient{Name: "par"})
	other := e.codeClient(t, op.NewClient{Name: "other"})
	verifier := xoauth2.GenerateVerifier()
	authz := merge(url.Values{"response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"openid profile"},
		"state": {"st-par"}, "nonce": {"n-par"}}, pkceParams(verifier))
	push := func(t *testing.T, form url.Values, basic []string) string {
		t.Helper()
		r := e.post(t, "/oauth2/par", form, basic)
		m := r.json(t)
		uri, _ := m["request_uri"].(string)
		if r.status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") ||
			m["expires_in"] != float64(op.DefaultPushedRequestLifetime/time.Second) || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("push: %d %s %v", r.status, r.body, r.header)
		}
		return uri
	}

	t.Run("happy path and single use", func(t *testing.T) {
		uri := push(t, authz, basicFor(cfg))
		// Only client_id and request_uri at the authorization endpoint; the
		// pushed parameters are the request.
		got := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request_uri": {uri}}))
		if got.Get("state") != "st-par" || got.Get("code") == "" || got.Get("iss") != e.issuer {
			t.Fatalf("callback %v", got)
		}
		p, err := oidc.NewProvider(t.Context(), e.issuer)
		if err != nil {
			t.Fatal(err)
		}
		cfg := cfg
		cfg.Endpoint = p.Endpoint()
		tok, err := cfg.Exchange(t.Context(), got.Get("code"), xoauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		idt, err := p.Verifier(&oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: allAlgs}).
			Verify(t.Context(), tok.Extra("id_token").(string))
		if err != nil || idt.Nonce != "n-par" {
			t.Fatalf("ID token: %v, nonce %q", err, idt.Nonce)
		}
		// Used once: the error goes to the one registered redirect URI.
		again := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request_uri": {uri}}))
		if again.Get("error") != op.CodeInvalidRequestURI || again.Get("code") != "" {
			t.Errorf("reused request_uri: %v", again)
		}
	})

	t.Run("expired", func(t *testing.T) {
		uri := push(t, authz, basicFor(cfg))
		e.clock.Add(op.DefaultPushedRequestLifetime + time.Second)
		got := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request_uri": {uri}}))
		if got.Get("error") != op.CodeInvalidRequestURI {
			t.Errorf("expired request_uri: %v", got)
		}
	})

	t.Run("another client's request_uri", func(t *testing.T) {
		uri := push(t, authz, basicFor(cfg))
		got := redirected(t, e.browse(t, url.Values{"client_id": {other.ClientID}, "request_uri": {uri}}))
		if got.Get("error") != op.CodeInvalidRequestURI {
			t.Errorf("foreign request_uri: %v", got)
		}
	})

	t.Run("bad client authentication", func(t *testing.T) {
		r := e.post(t, "/oauth2/par", authz, []string{cfg.ClientID, "wrong"})
		wantError(t, r, http.StatusUnauthorized, op.CodeInvalidClient)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
		// A confidential client cannot push with its id alone.
		wantError(t, e.post(t, "/oauth2/par", merge(authz, url.Values{"client_id": {cfg.ClientID}}), nil),
			http.StatusUnauthorized, op.CodeInvalidClient)
	})

	t.Run("validated as at the authorization endpoint", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"unregistered redirect URI": merge(authz, url.Values{"redirect_uri": {"https://evil.example/cb"}}),
			"request_uri pushed":        merge(authz, url.Values{"request_uri": {"urn:ietf:params:oauth:request_uri:x"}}),
			"other client_id":           merge(authz, url.Values{"client_id": {other.ClientID}}),
			"bad PKCE method":           merge(authz, url.Values{"code_challenge_method": {"S512"}}),
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, e.post(t, "/oauth2/par", form, basicFor(cfg)), http.StatusBadRequest, op.CodeInvalidRequest)
			})
		}
		// Public clients must use PKCE there too.
		pub := e.codeClient(t, op.NewClient{Name: "public", Public: true})
		noPKCE := url.Values{"client_id": {pub.ClientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}}
		wantError(t, e.post(t, "/oauth2/par", noPKCE, nil), http.StatusBadRequest, op.CodeInvalidRequest)
		push(t, merge(noPKCE, pkceParams(verifier)), nil)
	})

	t.Run("request_uri not from PAR", func(t *testing.T) {
		got := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request_uri": {"https://app.example/req.jwt"}}))
		if got.Get("error") != op.CodeRequestURINotSupported {
			t.Errorf("https request_uri: %v", got)
		}
	})
}

func TestRequirePushedAuthorizationRequests(t *testing.T) {
	e := newAuthzEnv(t, func(c *op.Config) { c.RequirePushedAuthorizationRequests = true })
	cfg := e.codeClient(t, op.NewClient{})
	authz := url.Values{"client_id": {cfg.ClientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "state": {"s"}}
	got := redirected(t, e.browse(t, authz))
	if got.Get("error") != op.CodeInvalidRequest || got.Get("state") != "s" {
		t.Errorf("unpushed request: %v", got)
	}
	r := e.post(t, "/oauth2/par", authz, basicFor(cfg))
	if r.status != http.StatusCreated {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	uri, _ := r.json(t)["request_uri"].(string)
	if got := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request_uri": {uri}})); got.Get("code") == "" {
		t.Errorf("pushed request: %v", got)
	}
	md := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration")).json(t)
	if md["require_pushed_authorization_requests"] != true {
		t.Errorf("discovery: require_pushed_authorization_requests %v", md["require_pushed_authorization_requests"])
	}
}

// jarClient is a private_key_jwt client for the code flow and its key.
func (e *env) jarClient(t testing.TB) (xoauth2.Config, *jose.JSONWebKey) {
	t.Helper()
	priv, pub := ecKey(t, "jar-1")
	cfg := e.codeClient(t, op.NewClient{Name: "jar", TokenEndpointAuthMethod: op.AuthPrivateKeyJWT, JWKS: jwksJSON(t, pub)})
	return cfg, priv
}

// requestObject returns valid request object claims for clientID.
func (e *env) requestObject(clientID string) map[string]any {
	now := e.clock.Now()
	return map[string]any{"iss": clientID, "aud": e.issuer, "exp": now.Add(5 * time.Minute).Unix(),
		"nbf": now.Unix(), "iat": now.Unix(), "jti": rand.Text(), "client_id": clientID,
		"response_type": "code", "redirect_uri": redirectURI, "scope": "openid email", "state": "st-jar",
		"nonce": "n-jar", "max_age": 600}
}

func TestRequestObject(t *testing.T) {
	e := newAuthzEnv(t)
	cfg, key := e.jarClient(t)
	outer := func(request string) url.Values {
		// Parameters beside the request object lose to it.
		return url.Values{"client_id": {cfg.ClientID}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"st-outer"}, "redirect_uri": {redirectURI}, "request": {request}}
	}

	t.Run("signed with the client's key", func(t *testing.T) {
		got := redirected(t, e.browse(t, outer(signJWT(t, jose.ES256, key, e.requestObject(cfg.ClientID)))))
		if got.Get("state") != "st-jar" || got.Get("code") == "" {
			t.Fatalf("callback %v: want the request object's state and a code", got)
		}
		// The token request authenticates with private_key_jwt.
		form := url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "redirect_uri": {redirectURI},
			"client_assertion_type": {op.ClientAssertionTypeJWT},
			"client_assertion":      {signJWT(t, jose.ES256, key, e.assertionClaims(cfg.ClientID, e.srv.URL+"/oauth2/token"))}}
		r := e.post(t, "/oauth2/token", form, nil)
		m := r.json(t)
		if r.status != 200 || m["scope"] != "openid email" {
			t.Fatalf("token: %d %s", r.status, r.body)
		}
		if claims := jwtPayload(t, m["id_token"].(string)); claims["nonce"] != "n-jar" {
			t.Errorf("ID token nonce %v, want the request object's", claims["nonce"])
		}
	})

	t.Run("pushed", func(t *testing.T) {
		ro := signJWT(t, jose.ES256, key, e.requestObject(cfg.ClientID))
		form := url.Values{"client_id": {cfg.ClientID}, "request": {ro}, "client_assertion_type": {op.ClientAssertionTypeJWT},
			"client_assertion": {signJWT(t, jose.ES256, key, e.assertionClaims(cfg.ClientID, e.issuer))}}
		r := e.post(t, "/oauth2/par", form, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		uri, _ := r.json(t)["request_uri"].(string)
		got := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request_uri": {uri}}))
		if got.Get("state") != "st-jar" || got.Get("code") == "" {
			t.Errorf("callback %v", got)
		}
	})

	otherKey, _ := ecKey(t, "jar-1") // same kid, not registered
	second, _ := e.jarClient(t)
	for _, tc := range []struct {
		name   string
		token  func() string
		client string
		desc   string
	}{
		{"bad signature", func() string { return signJWT(t, jose.ES256, otherKey, e.requestObject(cfg.ClientID)) }, "", "signature is not"},
		{"wrong aud", func() string {
			c := e.requestObject(cfg.ClientID)
			c["aud"] = e.srv.URL + "/oauth2/authorize"
			return signJWT(t, jose.ES256, key, c)
		}, "", "aud must be the issuer"},
		{"mismatched client_id claim", func() string {
			c := e.requestObject(cfg.ClientID)
			c["client_id"] = second.ClientID
			return signJWT(t, jose.ES256, key, c)
		}, "", "client_id differs"},
		{"client_id param of another client", func() string {
			return signJWT(t, jose.ES256, key, e.requestObject(cfg.ClientID))
		}, second.ClientID, "signature is not"},
		{"expired", func() string {
			c := e.requestObject(cfg.ClientID)
			c["exp"] = e.clock.Now().Add(-time.Hour).Unix()
			return signJWT(t, jose.ES256, key, c)
		}, "", "expired"},
		{"no exp", func() string {
			c := e.requestObject(cfg.ClientID)
			delete(c, "exp")
			return signJWT(t, jose.ES256, key, c)
		}, "", "no exp"},
		{"alg none", func() string {
			b, _ := json.Marshal(e.requestObject(cfg.ClientID))
			return "eyJhbGciOiJub25lIn0." + b64(b) + "."
		}, "", "not a JWS"},
		{"HMAC without a client_secret_jwt secret", func() string {
			return signJWT(t, jose.HS256, []byte(strings.Repeat("k", 32)), e.requestObject(cfg.ClientID))
		}, "", "signature is not"},
		{"encrypted", func() string { return "a.b.c.d.e" }, "", "encrypted request objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := outer(tc.token())
			if tc.client != "" {
				q.Set("client_id", tc.client)
			}
			got := redirected(t, e.browse(t, q))
			if got.Get("error") != op.CodeInvalidRequestObject || got.Get("code") != "" || got.Get("state") != "st-outer" ||
				!strings.Contains(got.Get("error_description"), tc.desc) {
				t.Errorf("callback %v: want invalid_request_object (%s) with the outer state", got, tc.desc)
			}
		})
	}

	t.Run("unverifiable request without a usable redirect URI", func(t *testing.T) {
		q := outer(signJWT(t, jose.ES256, otherKey, e.requestObject(cfg.ClientID)))
		q.Set("redirect_uri", "https://evil.example/cb")
		r := e.browse(t, q)
		if r.status != http.StatusBadRequest || r.json(t)["error"] != op.CodeInvalidRequestObject {
			t.Errorf("got %d %s, want a 400 page, no redirect", r.status, r.body)
		}
	})

	t.Run("request and request_uri", func(t *testing.T) {
		q := outer(signJWT(t, jose.ES256, key, e.requestObject(cfg.ClientID)))
		q.Set("request_uri", "urn:ietf:params:oauth:request_uri:x")
		if got := redirected(t, e.browse(t, q)); got.Get("error") != op.CodeInvalidRequest {
			t.Errorf("callback %v", got)
		}
	})
}

// TestRequestObjectClientSecretJWT: HS256 with the secret of a
// client_secret_jwt client.
func TestRequestObjectClientSecretJWT(t *testing.T) {
	e := newAuthzEnv(t)
	cfg := e.codeClient(t, op.NewClient{TokenEndpointAuthMethod: op.AuthSecretJWT})
	ro := signJWT(t, jose.HS256, []byte(cfg.ClientSecret), e.requestObject(cfg.ClientID))
	got := redirected(t, e.browse(t, url.Values{"client_id": {cfg.ClientID}, "request": {ro}}))
	if got.Get("code") == "" || got.Get("state") != "st-jar" {
		t.Errorf("callback %v", got)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jarmClaims verifies a JARM response with the published JWKS (as a
// client would, through go-oidc's remote key set) and returns its claims.
func (e *env) jarmClaims(t testing.TB, clientID, token string) map[string]any {
	t.Helper()
	ks := oidc.NewRemoteKeySet(t.Context(), e.srv.URL+"/oauth2/jwks")
	payload, err := ks.VerifySignature(t.Context(), token)
	if err != nil {
		t.Fatalf("JARM response signature: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	exp, _ := m["exp"].(float64)
	if m["iss"] != e.issuer || m["aud"] != clientID || time.Unix(int64(exp), 0).Before(e.clock.Now()) ||
		time.Unix(int64(exp), 0).After(e.clock.Now().Add(op.JARMLifetime+time.Second)) {
		t.Errorf("JARM claims %v: want iss, aud = client id, exp within %v", m, op.JARMLifetime)
	}
	return m
}

func TestJARM(t *testing.T) {
	e := newAuthzEnv(t)
	cfg := e.codeClient(t, op.NewClient{GrantTypes: []string{op.GrantAuthorizationCode, op.GrantImplicit},
		ResponseTypes: []string{"code", "code id_token"}})
	base := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {redirectURI}, "scope": {"openid"}, "state": {"st-jarm"}, "nonce": {"n"}}

	t.Run("jwt is query.jwt for code", func(t *testing.T) {
		r := e.browse(t, merge(base, url.Values{"response_type": {"code"}, "response_mode": {"jwt"}}))
		loc, _ := url.Parse(r.header.Get("Location"))
		got := redirected(t, r)
		if len(got) != 1 || got.Get("response") == "" || loc.Fragment != "" {
			t.Fatalf("callback %v: want only response in the query", got)
		}
		m := e.jarmClaims(t, cfg.ClientID, got.Get("response"))
		if m["code"] == nil || m["state"] != "st-jarm" {
			t.Fatalf("JARM claims %v", m)
		}
		if _, err := cfg.Exchange(t.Context(), m["code"].(string)); err != nil {
			t.Errorf("exchange: %v", err)
		}
	})

	t.Run("fragment.jwt error", func(t *testing.T) {
		r := e.browse(t, merge(base, url.Values{"response_type": {"code"}, "response_mode": {"fragment.jwt"}, "prompt": {"bogus"}}))
		loc, _ := url.Parse(r.header.Get("Location"))
		frag, _ := url.ParseQuery(loc.Fragment)
		if loc.RawQuery != "" || frag.Get("response") == "" {
			t.Fatalf("location %q: want the response in the fragment", loc)
		}
		m := e.jarmClaims(t, cfg.ClientID, frag.Get("response"))
		if m["error"] != op.CodeInvalidRequest || m["state"] != "st-jarm" || m["error_description"] == nil {
			t.Errorf("JARM error claims %v", m)
		}
	})

	t.Run("form_post.jwt hybrid", func(t *testing.T) {
		r := e.browse(t, merge(base, url.Values{"response_type": {"code id_token"}, "response_mode": {"form_post.jwt"}}))
		body := string(r.body)
		i := strings.Index(body, `name="response" value="`)
		if r.status != 200 || i < 0 {
			t.Fatalf("form_post.jwt: %d %s", r.status, body)
		}
		tok := body[i+len(`name="response" value="`):]
		tok = tok[:strings.IndexByte(tok, '"')]
		m := e.jarmClaims(t, cfg.ClientID, tok)
		if m["code"] == nil || m["id_token"] == nil {
			t.Errorf("JARM claims %v", m)
		}
	})

	t.Run("query.jwt refused with tokens", func(t *testing.T) {
		got := redirected(t, e.browse(t, merge(base, url.Values{"response_type": {"code id_token"}, "response_mode": {"query.jwt"}})))
		if got.Get("response") == "" {
			t.Fatalf("callback %v", got)
		}
		if m := e.jarmClaims(t, cfg.ClientID, got.Get("response")); m["error"] != op.CodeInvalidRequest || m["code"] != nil {
			t.Errorf("JARM claims %v", m)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		var m oauth2.Metadata
		if err := jsonUnmarshal(do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration")).body, &m); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(m.ResponseModesSupported, "form_post.jwt") || !slices.Contains(m.AuthorizationSigningAlgValuesSupported, "ES256") ||
			!slices.Contains(m.RequestObjectSigningAlgValuesSupported, "PS256") || slices.Contains(m.RequestObjectSigningAlgValuesSupported, "none") ||
			m.PushedAuthorizationRequestEndpoint != e.srv.URL+"/oauth2/par" || !m.RequestParameterSupported ||
			m.RequestURIParameterSupported || m.RequirePushedAuthorizationRequests {
			t.Errorf("metadata %+v", m)
		}
	})
}

func TestIDTokenHint(t *testing.T) {
	e := newAuthzEnv(t)
	cfg := e.codeClient(t, op.NewClient{})
	tok, err := cfg.Exchange(t.Context(), e.code(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	hint := tok.Extra("id_token").(string)
	authz := func(hint string) url.Values {
		return url.Values{"client_id": {cfg.ClientID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
			"scope": {"openid"}, "state": {"st-h"}, "id_token_hint": {hint}}
	}

	// Expired hints are fine: the hint names a user, it grants nothing.
	e.clock.Add(48 * time.Hour)
	req, err := e.op.ValidateAuthorizeRequest(t.Context(), op.ParseAuthorizeParams(authz(hint)))
	if err != nil || req.HintSubject != "user-1" {
		t.Fatalf("HintSubject %v, %v; want user-1", req, err)
	}
	if got := redirected(t, e.browse(t, authz(hint))); got.Get("code") == "" {
		t.Errorf("same user: %v", got)
	}
	q := authz(hint)
	q.Set(testUserParam, "user-2")
	if got := redirected(t, e.browse(t, q)); got.Get("error") != op.CodeLoginRequired || got.Get("code") != "" {
		t.Errorf("another user: %v, want login_required", got)
	}

	// Another deployment's ID token (other keys), and an ID token signed
	// with our keys for another issuer, are refused.
	foreign := newEnv(t)
	fcfg := foreign.codeClient(t, op.NewClient{})
	ftok, err := fcfg.Exchange(t.Context(), foreign.code(t, fcfg))
	if err != nil {
		t.Fatal(err)
	}
	replica := newReplica(t, e.store, e.clock, "https://other.example/oauth2/token")
	rcfg := replica.codeClient(t, op.NewClient{})
	rresp, err := replica.authorize(t, rcfg.AuthCodeURL("s", xoauth2.SetAuthURLParam("response_type", "code")), user())
	if err != nil {
		t.Fatal(err)
	}
	rtok := replica.post(t, "/oauth2/token", codeForm(callback(t, rresp).Get("code"), redirectURI, ""), basicFor(rcfg)).json(t)
	for name, h := range map[string]string{"other keys": ftok.Extra("id_token").(string),
		"other issuer": rtok["id_token"].(string), "access token": tok.AccessToken, "garbage": "x.y.z"} {
		t.Run(name, func(t *testing.T) {
			got := redirected(t, e.browse(t, authz(h)))
			if got.Get("error") != op.CodeInvalidRequest || got.Get("state") != "st-h" {
				t.Errorf("callback %v, want invalid_request", got)
			}
		})
	}
}
