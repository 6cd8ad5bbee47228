package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// errNoManagementAuth reports that the application management API refused the bootstrap admin's
// HTTP Basic credentials: this Keyflow accepts only bearer tokens there, and no client can obtain
// the internal_application_mgt_* scopes over HTTP.
var errNoManagementAuth = errors.New("the application management API refuses HTTP Basic for the admin (401)")

// pathApplications is WSO2's application management API.
const pathApplications = "/api/server/v1/applications"

// scriptPassword is the adaptive script of the scripted application: it runs the password step
// and decides on its result, so each login runs the script engine twice (onLoginRequest and the
// step's onSuccess) around the same work as the demo application's login.
const scriptPassword = `var onLoginRequest = function(context) {
    executeStep(1, {
        onSuccess: function(context) {
            var user = context.currentKnownSubject;
            if (user == null || user.username == "") {
                sendError(null, {"status": "denied"});
            }
        }
    });
};`

// admin is a client of the management APIs as the bootstrap admin over HTTP Basic.
type admin struct {
	base string
	hc   *http.Client
}

func (a admin) basic(r *http.Request) { r.SetBasicAuth(adminUser, adminPassword) }

// createApplication creates an application with one OIDC client and returns its client id and
// (for a confidential client) secret, which the first read of its OIDC configuration returns.
func (a admin) createApplication(ctx context.Context, body map[string]any) (clientID, secret string, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+pathApplications, strings.NewReader(string(b)))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	a.basic(req)
	resp, err := a.hc.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
	case http.StatusUnauthorized:
		return "", "", errNoManagementAuth
	default:
		return "", "", fmt.Errorf("create application: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", "", errors.New("create application: 201 without Location")
	}
	if u, err := url.Parse(loc); err == nil && !u.IsAbs() {
		loc = a.base + loc
	}
	out, err := request(ctx, a.hc, http.MethodGet, loc+"/inbound-protocols/oidc", "", "", http.StatusOK, a.basic)
	if err != nil {
		return "", "", fmt.Errorf("read OIDC configuration: %w", err)
	}
	var oidc struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal(out, &oidc); err != nil || oidc.ClientID == "" {
		return "", "", fmt.Errorf("read OIDC configuration: %.300s", out)
	}
	return oidc.ClientID, oidc.ClientSecret, nil
}

// confidentialClient creates an application whose client has the client_credentials grant
// (client_secret_basic, JWT access tokens: the default).
func (a admin) confidentialClient(ctx context.Context) (id, secret string, err error) {
	id, secret, err = a.createApplication(ctx, map[string]any{
		"name": "bench client credentials",
		"inboundProtocolConfiguration": map[string]any{"oidc": map[string]any{
			"grantTypes": []string{"client_credentials"}, "publicClient": false, "callbackURLs": []string{},
		}},
	})
	if err == nil && secret == "" {
		err = errors.New("the new confidential client's OIDC configuration carries no clientSecret")
	}
	return id, secret, err
}

// nativeApp creates a public, app-native application like the demo one (PKCE, one
// BasicAuthenticator step), with the adaptive script when script is not empty.
func (a admin) nativeApp(ctx context.Context, name, redirectURI, script string) (clientID string, err error) {
	seq := map[string]any{
		"type":          "USER_DEFINED",
		"steps":         []map[string]any{{"id": 1, "options": []map[string]string{{"idp": "LOCAL", "authenticator": "BasicAuthenticator"}}}},
		"subjectStepId": 1, "attributeStepId": 1,
	}
	if script != "" {
		seq["script"] = script
	}
	clientID, _, err = a.createApplication(ctx, map[string]any{
		"name":                   name,
		"authenticationSequence": seq,
		"advancedConfigurations": map[string]any{"enableAPIBasedAuthentication": true},
		"inboundProtocolConfiguration": map[string]any{"oidc": map[string]any{
			"grantTypes": []string{"authorization_code"}, "publicClient": true,
			"callbackURLs": []string{redirectURI}, "pkce": map[string]any{"mandatory": true},
		}},
	})
	return clientID, err
}

// registerClient registers a client through Dynamic Client Registration (RFC 7591 metadata in
// body) as the bootstrap admin over HTTP Basic, and returns its id and secret.
func registerClient(ctx context.Context, hc *http.Client, base, body string) (id, secret string, err error) {
	b, err := request(ctx, hc, http.MethodPost, base+"/api/identity/oauth2/dcr/v1.1/register", "application/json",
		body, http.StatusCreated, admin{}.basic)
	if err != nil {
		return "", "", err
	}
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(b, &reg); err != nil || reg.ClientID == "" || reg.ClientSecret == "" {
		return "", "", fmt.Errorf("registration answer %.200s", b)
	}
	return reg.ClientID, reg.ClientSecret, nil
}
