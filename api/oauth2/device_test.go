package oauth2_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/op"
)

const verificationURI = "https://id.example/device"

// newDeviceEnv serves the same provider with a device verification page
// configured.
func newDeviceEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	r := gin.New()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	h, err := oauth2.New(oauth2.Config{Provider: e.op, Keys: e.keys, BaseURL: srv.URL, DeviceVerificationURI: verificationURI})
	if err != nil {
		t.Fatal(err)
	}
	h.Register(r)
	d := *e
	d.srv = srv
	return &d
}

func pollForm(clientID, deviceCode string) url.Values {
	return url.Values{"grant_type": {op.GrantDeviceCode}, "client_id": {clientID}, "device_code": {deviceCode}}
}

func TestDeviceGrant(t *testing.T) {
	e := newDeviceEnv(t)
	alice := e.user(t, "alice", "pw", map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"})
	tv, _ := e.client(t, op.NewClient{Public: true, Name: "TV", GrantTypes: []string{op.GrantDeviceCode, op.GrantRefreshToken},
		Scopes: []string{op.ScopeOpenID, "email", "read"}})
	authorize := func(t *testing.T, clientID string) map[string]any {
		t.Helper()
		r := e.post(t, "/oauth2/device_authorize", url.Values{"client_id": {clientID}, "scope": {"openid email"}}, nil)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("device_authorize: %d %s", r.status, r.body)
		}
		return r.json(t)
	}

	da := authorize(t, tv)
	userCode, deviceCode := da["user_code"].(string), da["device_code"].(string)
	if !regexp.MustCompile(`^[B-Z]{4}-[B-Z]{4}$`).MatchString(userCode) || da["verification_uri"] != verificationURI ||
		da["verification_uri_complete"] != verificationURI+"?user_code="+userCode || da["interval"] != float64(5) ||
		da["expires_in"] != float64(600) {
		t.Fatalf("device authorization %v", da)
	}
	poll := func() response { return e.post(t, "/oauth2/token", pollForm(tv, deviceCode), nil) }
	wantError(t, poll(), http.StatusBadRequest, op.CodeAuthorizationPending)
	wantError(t, poll(), http.StatusBadRequest, op.CodeSlowDown) // no time passed: the interval grows to 10 s
	e.clock.Add(5 * time.Second)
	wantError(t, poll(), http.StatusBadRequest, op.CodeSlowDown) // and to 15 s
	e.clock.Add(15 * time.Second)
	wantError(t, poll(), http.StatusBadRequest, op.CodeAuthorizationPending)

	// The verification page finds the request however the code is typed.
	typed := " " + strings.ToLower(strings.ReplaceAll(userCode, "-", " ")) + " "
	dr, err := e.op.DeviceRequest(t.Context(), typed)
	if err != nil || dr.ClientID != tv || dr.ClientName != "TV" || !slices.Equal(dr.Scopes, []string{"openid", "email"}) {
		t.Fatalf("device request %+v, %v", dr, err)
	}
	if err := e.op.ApproveDevice(t.Context(), typed, op.Authenticated{Subject: alice.ID,
		Claims: map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.op.ApproveDevice(t.Context(), userCode, op.Authenticated{Subject: alice.ID}); err == nil {
		t.Error("approved twice")
	}
	if _, err := e.op.DeviceRequest(t.Context(), userCode); err == nil {
		t.Error("an approved request is still offered")
	}
	e.clock.Add(15 * time.Second)
	r := poll()
	if r.status != http.StatusOK {
		t.Fatalf("poll after approval: %d %s", r.status, r.body)
	}
	tokens := r.json(t)
	if tokens["id_token"] == nil || tokens["refresh_token"] == nil || tokens["scope"] != "openid email" {
		t.Fatalf("tokens %s", r.body)
	}
	if jwtPayload(t, tokens["id_token"].(string))["email"] != "alice@example.com" {
		t.Errorf("id token %v", jwtPayload(t, tokens["id_token"].(string)))
	}
	// Redeemed once: the next poll fails and revokes what was issued.
	e.clock.Add(15 * time.Second)
	wantError(t, poll(), http.StatusBadRequest, op.CodeInvalidGrant)
	rr := e.post(t, "/oauth2/token", url.Values{"grant_type": {op.GrantRefreshToken}, "client_id": {tv},
		"refresh_token": {tokens["refresh_token"].(string)}}, nil)
	wantError(t, rr, http.StatusBadRequest, op.CodeInvalidGrant)

	t.Run("denied", func(t *testing.T) {
		da := authorize(t, tv)
		if err := e.op.DenyDevice(t.Context(), da["user_code"].(string)); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.post(t, "/oauth2/token", pollForm(tv, da["device_code"].(string)), nil),
			http.StatusBadRequest, op.CodeAccessDenied)
	})
	t.Run("expired", func(t *testing.T) {
		da := authorize(t, tv)
		e.clock.Add(op.DeviceCodeLifetime)
		wantError(t, e.post(t, "/oauth2/token", pollForm(tv, da["device_code"].(string)), nil),
			http.StatusBadRequest, op.CodeExpiredToken)
		if err := e.op.ApproveDevice(t.Context(), da["user_code"].(string), op.Authenticated{Subject: alice.ID}); err == nil {
			t.Error("expired request approved")
		}
	})
	t.Run("another client's device code", func(t *testing.T) {
		other, _ := e.client(t, op.NewClient{Public: true, GrantTypes: []string{op.GrantDeviceCode}})
		da := authorize(t, tv)
		wantError(t, e.post(t, "/oauth2/token", pollForm(other, da["device_code"].(string)), nil),
			http.StatusBadRequest, op.CodeInvalidGrant)
		wantError(t, e.post(t, "/oauth2/token", pollForm(other, "unknown"), nil), http.StatusBadRequest, op.CodeInvalidGrant)
	})
	t.Run("client without the grant", func(t *testing.T) {
		creds := e.clientCreds(t, op.NewClient{})
		wantError(t, e.post(t, "/oauth2/device_authorize", url.Values{}, creds), http.StatusBadRequest, op.CodeUnauthorizedClient)
	})
	t.Run("discovery", func(t *testing.T) {
		md := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration")).json(t)
		if md["device_authorization_endpoint"] != e.srv.URL+"/oauth2/device_authorize" ||
			!slices.Contains(toStrings(md["grant_types_supported"]), op.GrantDeviceCode) {
			t.Errorf("discovery %v", md)
		}
	})
}

func TestDeviceGrantNotServed(t *testing.T) {
	e := newEnv(t)
	md := do(t, mustRequest(t, http.MethodGet, e.srv.URL+"/.well-known/openid-configuration")).json(t)
	if _, ok := md["device_authorization_endpoint"]; ok || slices.Contains(toStrings(md["grant_types_supported"]), op.GrantDeviceCode) {
		t.Errorf("device flow advertised without a verification page: %v", md)
	}
	if r := e.post(t, "/oauth2/device_authorize", url.Values{"client_id": {"x"}}, nil); r.status != http.StatusNotFound {
		t.Errorf("device_authorize without a verification page: %d", r.status)
	}
}
