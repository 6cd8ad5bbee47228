package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// appNativeLogin logs username in to the demo application through WSO2's app-native API
// (POST /oauth2/authorize with response_mode=direct, then POST /oauth2/authn), exchanges the
// code with PKCE at /oauth2/token, and returns the token response. This is what a mobile app
// using WSO2's SDK does.
func appNativeLogin(t *testing.T, base, redirectURI, username, password string) map[string]any {
	t.Helper()
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	state := rand.Text()
	resp := postForm(t, base+"/oauth2/authorize", url.Values{
		"client_id": {demoClientID}, "response_type": {"code"}, "response_mode": {"direct"},
		"redirect_uri": {redirectURI}, "scope": {"openid profile"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	})
	var start struct {
		FlowID     string `json:"flowId"`
		FlowStatus string `json:"flowStatus"`
		NextStep   struct {
			StepType       string `json:"stepType"`
			Authenticators []struct {
				AuthenticatorID string   `json:"authenticatorId"`
				Authenticator   string   `json:"authenticator"`
				RequiredParams  []string `json:"requiredParams"`
			} `json:"authenticators"`
		} `json:"nextStep"`
		Links []struct {
			Href string `json:"href"`
		} `json:"links"`
	}
	decode(t, resp, http.StatusOK, &start)
	if start.FlowStatus != "INCOMPLETE" || len(start.NextStep.Authenticators) != 1 || len(start.Links) != 1 ||
		start.NextStep.Authenticators[0].Authenticator != "Username & Password" {
		t.Fatalf("authorize (direct) answered %+v", start)
	}
	body, _ := json.Marshal(map[string]any{
		"flowId": start.FlowID,
		"selectedAuthenticator": map[string]any{
			"authenticatorId": start.NextStep.Authenticators[0].AuthenticatorID,
			"params":          map[string]string{"username": username, "password": password},
		},
	})
	r, err := http.Post(start.Links[0].Href, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var done struct {
		FlowStatus string            `json:"flowStatus"`
		AuthData   map[string]string `json:"authData"`
	}
	decode(t, r, http.StatusOK, &done)
	if done.FlowStatus != "SUCCESS_COMPLETED" || done.AuthData["code"] == "" || done.AuthData["state"] != state {
		t.Fatalf("authn answered %+v", done)
	}
	resp = postForm(t, base+"/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {done.AuthData["code"]}, "client_id": {demoClientID},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	})
	var tokens map[string]any
	decode(t, resp, http.StatusOK, &tokens)
	if tokens["access_token"] == nil || tokens["id_token"] == nil || tokens["refresh_token"] == nil {
		t.Fatalf("token response %v", tokens)
	}
	return tokens
}

func postForm(t *testing.T, u string, v url.Values) *http.Response {
	t.Helper()
	resp, err := http.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decode(t *testing.T, resp *http.Response, wantStatus int, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, wantStatus, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", resp.Request.URL, err, b)
	}
}
