package manage_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/api/manage"
	"github.com/keyflow/keyflow/store"
)

const googleIdP = `{
  "name": "google",
  "description": "Google Workspace",
  "image": "https://example.com/google.png",
  "isPrimary": false,
  "homeRealmIdentifier": "example.com",
  "certificate": {"jwksUri": "https://www.googleapis.com/oauth2/v3/certs"},
  "alias": "https://id.example.com/oauth2/token",
  "claims": {"userIdClaim": {"uri": "http://wso2.org/claims/emailaddress"},
             "mappings": [{"idpClaim": "email", "localClaim": {"uri": "http://wso2.org/claims/emailaddress"}}]},
  "roles": {"mappings": [{"idpRole": "g-admins", "localRole": "admin"}]},
  "federatedAuthenticators": {
    "defaultAuthenticatorId": "T3BlbklEQ29ubmVjdEF1dGhlbnRpY2F0b3I",
    "authenticators": [{
      "authenticatorId": "T3BlbklEQ29ubmVjdEF1dGhlbnRpY2F0b3I",
      "isEnabled": true,
      "properties": [
        {"key": "ClientId", "value": "google-client"},
        {"key": "ClientSecret", "value": "top-secret-value"},
        {"key": "OAuth2TokenEPUrl", "value": "https://oauth2.googleapis.com/token"}
      ]
    }]
  },
  "provisioning": {"jit": {"isEnabled": true, "scheme": "PROVISION_SILENTLY", "userstore": "PRIMARY"}}
}`

type idpView struct {
	ID                      string `json:"id"`
	Name                    string `json:"name"`
	Description             string `json:"description"`
	IsEnabled               bool   `json:"isEnabled"`
	FederatedAuthenticators struct {
		DefaultAuthenticatorID string `json:"defaultAuthenticatorId"`
		Authenticators         []struct {
			AuthenticatorID string `json:"authenticatorId"`
			Name            string `json:"name"`
			Properties      []struct{ Key, Value string }
		} `json:"authenticators"`
	} `json:"federatedAuthenticators"`
	Certificate struct {
		JWKSURI      string   `json:"jwksUri"`
		Certificates []string `json:"certificates"`
	} `json:"certificate"`
}

func (v idpView) prop(key string) string {
	for _, a := range v.FederatedAuthenticators.Authenticators {
		for _, p := range a.Properties {
			if p.Key == key {
				return p.Value
			}
		}
	}
	return "<absent>"
}

// storedSecret opens the stored ClientSecret of the provider's authenticator.
func (e *env) storedSecret(t *testing.T, id string) string {
	t.Helper()
	p, err := e.s.IdentityProvider(t.Context(), e.org.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Authenticators.Items[0]
	for _, pr := range a.Properties {
		if pr.Key == "ClientSecret" {
			if pr.Value != "" || len(pr.Sealed) == 0 {
				t.Fatalf("ClientSecret stored in clear: %+v", pr)
			}
			s, err := e.h.Sealer().Open(p.ID, a.ID, pr)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatal("no stored ClientSecret")
	return ""
}

func TestIdentityProviderLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.call(t, http.MethodPost, base+"/identity-providers", adminToken, googleIdP)
	want(t, "create", r, http.StatusCreated, "")
	var created idpView
	r.json(t, &created)
	if loc := r.header.Get("Location"); loc != "https://id.example.com/api/server/v1/identity-providers/"+created.ID {
		t.Errorf("Location %q", loc)
	}
	if created.prop("ClientSecret") != manage.Mask || created.prop("ClientId") != "google-client" ||
		created.FederatedAuthenticators.Authenticators[0].Name != "OpenIDConnectAuthenticator" {
		t.Errorf("created %+v", created)
	}
	if strings.Contains(r.body, "top-secret-value") {
		t.Error("the response carries the secret")
	}
	if got := e.storedSecret(t, created.ID); got != "top-secret-value" {
		t.Errorf("stored secret opens to %q", got)
	}

	want(t, "duplicate", e.call(t, http.MethodPost, base+"/identity-providers", adminToken, googleIdP),
		http.StatusConflict, "IDP-60001")
	for _, tt := range []struct{ name, body string }{
		{"no name", `{"description": "x"}`},
		{"control character", `{"name": "a\u0001b"}`},
		{"bad jit scheme", `{"name": "x", "provisioning": {"jit": {"isEnabled": true, "scheme": "MAGIC"}}}`},
		{"default not listed", `{"name": "x", "federatedAuthenticators": {"defaultAuthenticatorId": "QQ", "authenticators": [{"authenticatorId": "Qg"}]}}`},
		{"mask without a stored secret", `{"name": "x", "federatedAuthenticators": {"authenticators": [{"name": "OIDC", "properties": [{"key": "ClientSecret", "value": "******"}]}]}}`},
		{"wrong type", `{"name": 5}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want(t, tt.name, e.call(t, http.MethodPost, base+"/identity-providers", adminToken, tt.body), http.StatusBadRequest, "IDP-60003")
		})
	}

	for _, name := range []string{"github", "gitlab"} {
		want(t, "create "+name, e.call(t, http.MethodPost, base+"/identity-providers", adminToken, `{"name":"`+name+`"}`),
			http.StatusCreated, "")
	}
	var list struct {
		TotalResults      int       `json:"totalResults"`
		Count             int       `json:"count"`
		IdentityProviders []idpView `json:"identityProviders"`
		Links             []struct{ Href, Rel string }
	}
	r = e.call(t, http.MethodGet, base+"/identity-providers?limit=1&filter="+url.QueryEscape(`name sw "git" and isEnabled eq true`), adminToken, "")
	want(t, "list", r, http.StatusOK, "")
	r.json(t, &list)
	if list.TotalResults != 2 || list.Count != 1 || list.IdentityProviders[0].Name != "github" ||
		len(list.Links) != 1 || list.Links[0].Rel != "next" {
		t.Errorf("filtered list %+v", list)
	}
	want(t, "bad filter", e.call(t, http.MethodGet, base+"/identity-providers?filter=owner+eq+x", adminToken, ""),
		http.StatusBadRequest, "IDP-60007")

	self := base + "/identity-providers/" + created.ID
	r = e.call(t, http.MethodGet, self, viewerToken, "")
	want(t, "get", r, http.StatusOK, "")
	if strings.Contains(r.body, "top-secret-value") || !strings.Contains(r.body, manage.Mask) {
		t.Errorf("get shows the secret or no mask: %s", r.body)
	}

	r = e.call(t, http.MethodPatch, self, adminToken, `[
		{"operation": "REPLACE", "path": "/description", "value": "Google"},
		{"operation": "REPLACE", "path": "/isEnabled", "value": "false"},
		{"operation": "ADD", "path": "/certificate/certificates/-", "value": "MIIB..."}]`)
	want(t, "patch", r, http.StatusOK, "")
	var patched idpView
	r.json(t, &patched)
	if patched.Description != "Google" || patched.IsEnabled || len(patched.Certificate.Certificates) != 1 ||
		patched.Certificate.JWKSURI == "" {
		t.Errorf("patched %+v", patched)
	}
	want(t, "patch unknown path", e.call(t, http.MethodPatch, self, adminToken, `[{"operation":"REPLACE","path":"/owner","value":"x"}]`),
		http.StatusBadRequest, "IDP-60006")
	want(t, "patch to a taken name", e.call(t, http.MethodPatch, self, adminToken, `[{"operation":"REPLACE","path":"/name","value":"github"}]`),
		http.StatusConflict, "IDP-60001")

	// Sending the mask back keeps the stored secret; a new value replaces it.
	auths := `{"defaultAuthenticatorId": "T3BlbklEQ29ubmVjdEF1dGhlbnRpY2F0b3I", "authenticators": [{
		"authenticatorId": "T3BlbklEQ29ubmVjdEF1dGhlbnRpY2F0b3I", "isEnabled": true,
		"properties": [{"key": "ClientId", "value": "client-2"}, {"key": "ClientSecret", "value": "%s"}]}]}`
	r = e.call(t, http.MethodPut, self+"/federated-authenticators", adminToken, strings.Replace(auths, "%s", manage.Mask, 1))
	want(t, "put authenticators (mask)", r, http.StatusOK, "")
	if got := e.storedSecret(t, created.ID); got != "top-secret-value" {
		t.Errorf("after a masked PUT the secret opens to %q", got)
	}
	want(t, "put authenticators (new)", e.call(t, http.MethodPut, self+"/federated-authenticators", adminToken,
		strings.Replace(auths, "%s", "rotated-secret", 1)), http.StatusOK, "")
	if got := e.storedSecret(t, created.ID); got != "rotated-secret" {
		t.Errorf("after a new secret the secret opens to %q", got)
	}
	r = e.call(t, http.MethodGet, self+"/federated-authenticators/T3BlbklEQ29ubmVjdEF1dGhlbnRpY2F0b3I", adminToken, "")
	want(t, "get authenticator", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"client-2"`) || strings.Contains(r.body, "rotated-secret") {
		t.Errorf("authenticator %s", r.body)
	}
	want(t, "put roles", e.call(t, http.MethodPut, self+"/roles", adminToken, `{"mappings":[{"idpRole":"x","localRole":"y"}]}`),
		http.StatusOK, "")
	r = e.call(t, http.MethodGet, self+"/roles", adminToken, "")
	want(t, "get roles", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"idpRole":"x"`) {
		t.Errorf("roles %s", r.body)
	}

	// Every change is audited with before/after, never with a secret.
	events, raw := e.audit(t, "identity_provider.")
	if strings.Contains(raw, "top-secret-value") || strings.Contains(raw, "rotated-secret") {
		t.Error("the audit trail carries a secret")
	}
	// 3 creates, 1 patch, 2 authenticator PUTs, 1 roles PUT.
	if len(events) != 7 {
		t.Fatalf("%d identity provider events, want 7", len(events))
	}
	first := events[len(events)-1]
	if first.Action != store.AuditIdentityProviderCreate || first.Actor.Type != store.ActorUser || first.Target.ID != created.ID ||
		!strings.Contains(string(first.After), `"secret":true`) {
		t.Errorf("create event %+v", first)
	}
	if p := events[3]; p.Action != store.AuditIdentityProviderUpdate || !strings.Contains(string(p.Before), `"description":"Google Workspace"`) ||
		!strings.Contains(string(p.After), `"description":"Google"`) {
		t.Errorf("patch event %+v / %s / %s", p, p.Before, p.After)
	}

	want(t, "delete", e.call(t, http.MethodDelete, self, adminToken, ""), http.StatusNoContent, "")
	want(t, "get deleted", e.call(t, http.MethodGet, self, adminToken, ""), http.StatusNotFound, "IDP-60002")
	want(t, "delete again", e.call(t, http.MethodDelete, self, adminToken, ""), http.StatusNotFound, "IDP-60002")
	want(t, "not a uuid", e.call(t, http.MethodGet, base+"/identity-providers/nope", adminToken, ""), http.StatusNotFound, "IDP-60002")
	if events, _ := e.audit(t, store.AuditIdentityProviderDelete); len(events) != 1 || len(events[0].Before) < 10 {
		t.Errorf("delete events %+v", events)
	}
}
