package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

// The real-browser end-to-end suite: Node scenarios in e2e/ (openid-client as the relying
// party, @node-saml/node-saml as the service provider, Debian's Chromium through
// playwright-core, with a CDP virtual authenticator for passkeys) against `keyflow api` and
// `keyflow worker` processes. The base URL is http://localhost:PORT: WebAuthn needs a domain
// name and accepts localhost over plain HTTP.

// chromiumPath is where Debian's chromium package puts the browser (scripts/deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// e2eOptional is the environment variable that turns a machine without Chromium or
// e2e/node_modules into a skip instead of a failure.
const e2eOptional = "KEYFLOW_E2E_OPTIONAL"

// e2eDir returns the Node project's directory, failing (or skipping, with KEYFLOW_E2E_OPTIONAL=1)
// when Chromium, node or the installed packages are missing.
func e2eDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (Debian package chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, filepath.Join(dir, "node_modules")+" (npm ci --prefix e2e)")
	}
	if len(missing) > 0 {
		msg := "the browser end-to-end suite needs " + strings.Join(missing, ", ") +
			"; scripts/deps.sh (make deps) installs them"
		if os.Getenv(e2eOptional) == "1" {
			t.Skip(msg + " (skipped: " + e2eOptional + "=1)")
		}
		t.Fatal(msg + "; or set " + e2eOptional + "=1 to skip")
	}
	return dir
}

// e2eSummary is the JSON line a scenario prints last; the rest is scenario-specific.
type e2eSummary struct {
	Scenario      string `json:"scenario"`
	OK            bool   `json:"ok"`
	Error         string `json:"error"`
	PageURL       string `json:"pageURL"`
	Screenshot    string `json:"screenshot"`
	HTML          string `json:"html"`
	PageText      string `json:"pageText"`
	ArtifactError string `json:"artifactError"`
}

// runScenario runs `node e2e/<scenario>.mjs` with env and returns its summary decoded into out
// (and as raw JSON); it fails the test with the scenario's diagnostics when it did not succeed.
func runScenario(t *testing.T, dir, scenario string, env map[string]string, out any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	artifacts := t.TempDir()
	cmd := exec.CommandContext(ctx, "node", scenario+".mjs")
	cmd.Dir = dir
	// Node resolves localhost to ::1 first on some machines; the servers listen on 127.0.0.1.
	cmd.Env = append(os.Environ(), "ARTIFACT_DIR="+artifacts, "CHROMIUM="+chromiumPath,
		"NODE_OPTIONS=--dns-result-order=ipv4first")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	var s e2eSummary
	if err := json.Unmarshal([]byte(last), &s); err != nil {
		t.Fatalf("%s: no JSON summary (exit %v): %v\nstdout:\n%s\nstderr:\n%s", scenario, runErr, err, stdout.String(), stderr.String())
	}
	t.Logf("%s summary: %s", scenario, last)
	if runErr != nil || !s.OK {
		t.Fatalf("%s failed (exit %v): %s\npage %s\nscreenshot %s\nhtml %s\n%s\npage text:\n%s\nstderr:\n%s",
			scenario, runErr, s.Error, s.PageURL, s.Screenshot, s.HTML, s.ArtifactError, s.PageText, stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal([]byte(last), out); err != nil {
			t.Fatalf("%s summary: %v", scenario, err)
		}
	}
	return last
}

// e2eEnv is the cluster with what the scenarios need to configure clients.
type e2eEnv struct {
	c    *cluster
	prov *op.Provider
}

func newE2EEnv(t *testing.T, c *cluster) *e2eEnv {
	t.Helper()
	var pepper []byte
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "KEYFLOW_CLIENT_SECRET_PEPPER="); ok {
			var err error
			if pepper, err = base64.StdEncoding.DecodeString(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys, err := jwtkeys.New(t.Context(), jwtkeys.Config{Store: c.store, KEKs: []jwtkeys.KEK{{ID: c.kek.ID, Key: c.kek.Key}}})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := op.New(op.Config{Store: c.store, Keys: keys, Issuer: c.base + "/oauth2/token", SecretPepper: pepper})
	if err != nil {
		t.Fatal(err)
	}
	return &e2eEnv{c: c, prov: prov}
}

// client registers a confidential OAuth2 client (client_secret_basic) and an application with
// the steps (each a list of local authenticator names) and script; it returns the client id and
// secret.
func (e *e2eEnv) client(t *testing.T, name, redirectURI, script string, steps ...[]string) (string, string) {
	t.Helper()
	ctx := t.Context()
	cl, secret, err := e.prov.CreateClient(ctx, op.NewClient{
		OrgID: e.c.orgID, Name: name, ClientID: "e2e-" + name,
		GrantTypes:   []string{op.GrantAuthorizationCode, op.GrantRefreshToken, op.GrantClientCredentials},
		RedirectURIs: []string{redirectURI}, Scopes: []string{"openid", "profile", "email"},
		PostLogoutRedirectURIs: []string{redirectURI + "/logged-out"},
		PKCERequired:           true, SkipConsent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.store.CreateApplication(ctx, store.NewApplication{Application: store.Application{
		OrgID: e.c.orgID, Name: name, ClientID: cl.ClientID, Sequence: e2eSequence(script, steps...),
	}}); err != nil {
		t.Fatal(err)
	}
	return cl.ClientID, secret
}

// e2eSequence is a user-defined authentication sequence of local authenticators.
func e2eSequence(script string, steps ...[]string) store.AuthenticationSequence {
	seq := store.AuthenticationSequence{Type: store.SequenceUserDefined, Script: script}
	for i, names := range steps {
		st := store.AuthenticationStep{ID: i + 1}
		for _, n := range names {
			st.Options = append(st.Options, store.AuthenticationOption{IdP: store.LocalIdP, Authenticator: n})
		}
		seq.Steps = append(seq.Steps, st)
	}
	return seq
}

// user creates a local user with a password and an email address and returns its id.
func (e *e2eEnv) user(t *testing.T, username, pw string) string {
	t.Helper()
	hash, err := password.Hash(pw, password.OWASP)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.c.store.CreateUser(t.Context(), store.NewUser{
		OrgID: e.c.orgID, Username: username, PasswordHash: hash,
		Claims: map[string]string{
			"http://wso2.org/claims/username":     username,
			"http://wso2.org/claims/emailaddress": username + "@example.com",
			"http://wso2.org/claims/givenname":    "E2E",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestE2E runs the browser scenarios against one cluster, one Chromium per scenario.
func TestE2E(t *testing.T) {
	dir := e2eDir(t)
	c := startClusterOn(t, "localhost")
	e := newE2EEnv(t, c)
	issuer := c.base + "/oauth2/token"

	t.Run("OIDC", func(t *testing.T) {
		const pw = "e2e-oidc-Pa55word"
		userID := e.user(t, "e2e-oidc", pw)
		redirect := fmt.Sprintf("http://127.0.0.1:%d/cb", freeTCPPort(t))
		id, secret := e.client(t, "oidc", redirect, "", []string{"BasicAuthenticator"})
		var s struct {
			First struct {
				Sub, Iss, Alg string
				HasRefresh    bool `json:"has_refresh"`
			}
			Userinfo map[string]any
			Refresh  struct {
				Rotated          bool
				Reuse            string
				FamilyAfterReuse string
			}
			SSO           struct{ LoginShown bool } `json:"sso"`
			PromptLogin   struct{ LoginShown bool }
			Introspection struct {
				Active, AfterRevocation bool
			}
			UserinfoAfterRevocation string
			ClientCredentials       struct{ Active bool }
			Logout                  struct {
				State, Path     string
				LoginShownAfter bool
			}
			Negatives struct {
				PKCEMismatch string `json:"pkceMismatch"`
				CodeReuse    struct {
					Second                string
					FirstTokenActiveAfter bool
				}
				BadSecret struct {
					Status          int
					WWWAuthenticate string `json:"wwwAuthenticate"`
					Body            struct{ Error string }
				}
				WrongRedirectURI struct {
					Status       int
					Stayed       bool
					CallbackHits int
				} `json:"wrongRedirectURI"`
				UnsupportedResponseType struct{ Error, State string }
			}
		}
		runScenario(t, dir, "oidc", map[string]string{"ISSUER": issuer, "CLIENT_ID": id, "CLIENT_SECRET": secret,
			"REDIRECT_URI": redirect, "POST_LOGOUT_URI": redirect + "/logged-out", "USERNAME": "e2e-oidc", "PASSWORD": pw}, &s)
		if s.Logout.State != "s-logout" || s.Logout.Path != "/cb/logged-out" || !s.Logout.LoginShownAfter {
			t.Errorf("RP-initiated logout: %+v, want the post-logout URI with state, then the login page again", s.Logout)
		}
		if s.First.Iss != issuer || s.First.Sub != userID || !s.First.HasRefresh || s.Userinfo["sub"] != s.First.Sub {
			t.Errorf("first login: %+v, userinfo %v", s.First, s.Userinfo)
		}
		if s.SSO.LoginShown || !s.PromptLogin.LoginShown {
			t.Errorf("SSO shows the login page: %v; prompt=login shows it: %v", s.SSO.LoginShown, s.PromptLogin.LoginShown)
		}
		if !s.Refresh.Rotated || s.Refresh.Reuse != "invalid_grant" || s.Refresh.FamilyAfterReuse != "invalid_grant" {
			t.Errorf("refresh rotation: %+v (want rotated, the reused token and then its family refused with invalid_grant)", s.Refresh)
		}
		if !s.Introspection.Active || s.Introspection.AfterRevocation || s.UserinfoAfterRevocation == "no error" ||
			!s.ClientCredentials.Active {
			t.Errorf("introspection %+v, userinfo after revocation %q, client credentials %+v",
				s.Introspection, s.UserinfoAfterRevocation, s.ClientCredentials)
		}
		n := s.Negatives
		if n.PKCEMismatch != "invalid_grant" {
			t.Errorf("PKCE mismatch: %q, want invalid_grant", n.PKCEMismatch)
		}
		if n.CodeReuse.Second != "invalid_grant" || n.CodeReuse.FirstTokenActiveAfter {
			t.Errorf("code reuse: %+v, want invalid_grant and the first exchange's token revoked", n.CodeReuse)
		}
		if n.BadSecret.Status != http.StatusUnauthorized || !strings.HasPrefix(n.BadSecret.WWWAuthenticate, "Basic") ||
			n.BadSecret.Body.Error != "invalid_client" {
			t.Errorf("bad client secret: %+v, want 401 invalid_client with WWW-Authenticate: Basic", n.BadSecret)
		}
		if n.WrongRedirectURI.Status != http.StatusBadRequest || !n.WrongRedirectURI.Stayed || n.WrongRedirectURI.CallbackHits != 0 {
			t.Errorf("wrong redirect URI: %+v, want a 400 error page and no redirect", n.WrongRedirectURI)
		}
		if n.UnsupportedResponseType.Error != "unsupported_response_type" || n.UnsupportedResponseType.State != "s-unsupported" {
			t.Errorf("unsupported response type: %+v, want the error at the redirect URI with state", n.UnsupportedResponseType)
		}
	})

	t.Run("TOTP", func(t *testing.T) {
		const pw = "e2e-totp-Pa55word"
		userID := e.user(t, "e2e-totp", pw)
		redirect := fmt.Sprintf("http://127.0.0.1:%d/cb", freeTCPPort(t))
		id, secret := e.client(t, "totp", redirect, `var onLoginRequest = function (context) {
	executeStep(1, {
		onSuccess: function (context) {
			executeStep(2, {authenticatorParams: {local: {totp: {enrolUserInAuthenticationFlow: "true"}}}}, {});
		}
	});
};`, []string{"BasicAuthenticator"}, []string{"totp"})
		var s struct {
			Enrol  struct{ Sub string }
			Verify struct {
				Sub string
				AMR []string `json:"amr"`
			}
		}
		runScenario(t, dir, "totp", map[string]string{"ISSUER": issuer, "CLIENT_ID": id, "CLIENT_SECRET": secret,
			"REDIRECT_URI": redirect, "USERNAME": "e2e-totp", "PASSWORD": pw}, &s)
		if s.Enrol.Sub != userID || s.Verify.Sub != userID || !slices.Equal(s.Verify.AMR, []string{"BasicAuthenticator", "totp"}) {
			t.Errorf("TOTP logins: %+v, want user %s with amr [BasicAuthenticator totp]", s, userID)
		}
	})

	t.Run("SAML", func(t *testing.T) {
		const pw = "e2e-saml-Pa55word"
		e.user(t, "e2e-saml", pw)
		testSAMLScenario(t, e, dir, "e2e-saml", pw)
	})

	t.Run("Passkeys", func(t *testing.T) {
		const pw = "e2e-passkey-Pa55word"
		userID := e.user(t, "e2e-passkey", pw)
		redirect := fmt.Sprintf("http://127.0.0.1:%d/cb", freeTCPPort(t))
		enrolID, enrolSecret := e.client(t, "passkey-enrol", redirect, `var onLoginRequest = function (context) {
	executeStep(1, {
		onSuccess: function (context) {
			executeStep(2, {authenticatorParams: {local: {FIDOAuthenticator: {enablePasskeyProgressiveEnrollment: "true"}}}}, {});
		}
	});
};`, []string{"BasicAuthenticator"}, []string{"FIDOAuthenticator"})
		pkID, pkSecret := e.client(t, "passkey", redirect, "", []string{"FIDOAuthenticator"})
		var s struct {
			Enrol   struct{ Sub, RPID string } `json:"enrol"`
			Passkey struct {
				Sub              string
				AllowCredentials int
			}
		}
		runScenario(t, dir, "passkey", map[string]string{"ISSUER": issuer, "REDIRECT_URI": redirect,
			"ENROL_CLIENT_ID": enrolID, "ENROL_CLIENT_SECRET": enrolSecret,
			"PASSKEY_CLIENT_ID": pkID, "PASSKEY_CLIENT_SECRET": pkSecret,
			"USERNAME": "e2e-passkey", "PASSWORD": pw}, &s)
		if s.Enrol.RPID != "localhost" || s.Enrol.Sub != userID || s.Passkey.Sub != userID || s.Passkey.AllowCredentials != 0 {
			t.Errorf("passkey summary: %+v", s)
		}
		creds, err := c.store.WebAuthnCredentials(t.Context(), "localhost", userID)
		if err != nil || len(creds) != 1 {
			t.Fatalf("stored passkeys of the user: %d (err %v), want 1", len(creds), err)
		}
	})
}

// testSAMLScenario registers a service provider for node-saml, runs the scenario and verifies
// every Response the ACS received with xmlsec1 against the certificate of the IdP metadata.
func testSAMLScenario(t *testing.T, e *e2eEnv, dir, username, pw string) {
	ctx := t.Context()
	app, err := e.c.store.CreateApplication(ctx, store.NewApplication{Application: store.Application{
		OrgID: e.c.orgID, Name: "saml-sp", Sequence: e2eSequence("", []string{"BasicAuthenticator"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	acsBase := "http://127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	sp := store.SAMLServiceProvider{ApplicationID: app.ID, EntityID: "urn:keyflow:e2e:node-saml",
		ACS:          []store.SAMLEndpoint{{URL: acsBase + "/acs", Binding: crewjam.HTTPPostBinding, Index: 1, Default: true}},
		SignResponse: true, SignAssertion: true,
		AttributeMapping: map[string]string{"http://wso2.org/claims/emailaddress": "email"}}
	if _, err := e.c.store.CreateSAMLServiceProvider(ctx, store.NewSAMLServiceProvider{SAMLServiceProvider: sp}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var s struct {
		Responses []struct {
			Label  string
			File   string
			Status []string
		}
		Passive struct {
			Status   []string
			NodeSaml string
		}
		Login struct {
			NameID, NameIDFormat string
			Attributes           map[string]any
		}
		SSO        struct{ LoginShown bool } `json:"sso"`
		SSOPost    struct{ LoginShown bool } `json:"ssoPost"`
		ForceAuthn struct{ LoginShown bool }
		UnknownSP  struct{ Status int } `json:"unknownSP"`
		UnregACS   struct{ Status int } `json:"unregisteredACS"`
	}
	runScenario(t, dir, "saml", map[string]string{"BASE_URL": e.c.base, "SP_ENTITY_ID": sp.EntityID,
		"ACS_URL": acsBase + "/acs", "UNREGISTERED_ACS_URL": acsBase + "/unregistered-acs", "OUT_DIR": out,
		"USERNAME": username, "PASSWORD": pw}, &s)
	// Both refusals are for the intended reason (the api logs the cause).
	var refusals []string
	for _, line := range strings.Split(e.c.api.output(true), "\n") {
		if strings.Contains(line, "saml: request refused") || strings.Contains(line, "saml: AuthnRequest refused") {
			refusals = append(refusals, line)
		}
	}
	if len(refusals) != 2 || !strings.Contains(refusals[0], "unknown service provider") ||
		!strings.Contains(refusals[1], "assertion consumer service") {
		t.Errorf("want the unknown SP and then the unregistered ACS refused, the api logged:\n%s", strings.Join(refusals, "\n"))
	}
	if s.SSO.LoginShown || !s.ForceAuthn.LoginShown || s.UnknownSP.Status != http.StatusBadRequest ||
		s.UnregACS.Status != http.StatusBadRequest {
		t.Errorf("SSO %+v, ForceAuthn %+v, unknown SP %+v, unregistered ACS %+v", s.SSO, s.ForceAuthn, s.UnknownSP, s.UnregACS)
	}
	if s.SSOPost.LoginShown {
		// commonAuthId is SameSite=None; Secure on localhost, so an SP's cross-site POST of an
		// AuthnRequest carries it.
		t.Errorf("SSO over the HTTP-POST binding showed the login page again")
	}
	if email := "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"; s.Login.NameIDFormat != email ||
		s.Login.NameID != username+"@example.com" {
		// node-saml's AuthnRequest asks for NameIDPolicy Format emailAddress (saml-core §3.4.1.1).
		t.Errorf("NameIDPolicy %s requested, NameID %q of format %s returned", email, s.Login.NameID, s.Login.NameIDFormat)
	}
	if s.Login.NameID == "" || fmt.Sprint(s.Login.Attributes["email"]) != username+"@example.com" {
		t.Errorf("login profile: %+v", s.Login)
	}
	if !strings.HasPrefix(s.Passive.NodeSaml, "profile null") {
		t.Errorf("node-saml on the NoPassive response: %s", s.Passive.NodeSaml)
	}

	// xmlsec1, an independent XML-DSig implementation, verifies each Response.
	certFile := idpCertificate(t, e.c.base)
	if len(s.Responses) != 6 {
		t.Fatalf("%d responses received, want 6", len(s.Responses))
	}
	for _, r := range s.Responses {
		out, err := exec.Command("xmlsec1", "--verify", "--pubkey-cert-pem", certFile,
			"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
			"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", r.File).CombinedOutput()
		if err != nil {
			raw, _ := os.ReadFile(r.File)
			t.Errorf("xmlsec1 refused the %s response (%v): %v\n%s\n%s", r.Label, r.Status, err, out, raw)
		}
	}
}

// idpCertificate writes the signing certificate of the IdP metadata to a PEM file.
func idpCertificate(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/samlsso/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ed, err := samlsp.ParseMetadata(body)
	if err != nil || len(ed.IDPSSODescriptors) == 0 {
		t.Fatalf("IdP metadata: %v\n%s", err, body)
	}
	var der []byte
	for _, kd := range ed.IDPSSODescriptors[0].KeyDescriptors {
		if kd.Use == "signing" || kd.Use == "" {
			if certs := kd.KeyInfo.X509Data.X509Certificates; len(certs) > 0 {
				der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(certs[0].Data), ""))
				if err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	if der == nil {
		t.Fatalf("no signing certificate in the IdP metadata:\n%s", body)
	}
	file := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
