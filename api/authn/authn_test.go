package authn_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pquerna/otp"
	ptotp "github.com/pquerna/otp/totp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/branding"
	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/magiclink"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/connectors/totp"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/flows/temporalx"
	"github.com/keyflow/keyflow/scripting/wfhost"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
	"github.com/keyflow/keyflow/workers/devserver"
)

// temporalAddress is the embedded Temporal server all tests share (like storetest's cluster,
// it is infrastructure: each test has its own task queue, worker, client and flows).
var temporalAddress string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "authn-temporal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := devserver.Start(context.Background(), devserver.Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	temporalAddress = srv.FrontendAddress()
	return storetest.Run(m)
}

// cheap keeps password hashing fast in tests.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

const (
	redirectURI = "https://example-app.com/redirect"
	appOrigin   = "https://example-app.com"
	alicePW     = "U$3r-pa55"
)

// The reference authenticators, copied from wso2-wire.md §1.3 and §1.11 A.
const (
	wantBasic = `{"authenticatorId":"QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM","authenticator":"Username & Password","idp":"LOCAL",
	  "metadata":{"i18nKey":"authenticator.basic","promptType":"USER_PROMPT","params":[
	    {"param":"username","type":"STRING","order":0,"i18nKey":"username.param","displayName":"Username","confidential":false},
	    {"param":"password","type":"STRING","order":1,"i18nKey":"password.param","displayName":"Password","confidential":true}]},
	  "requiredParams":["username","password"]}`
	wantTOTP = `{"authenticatorId":"dG90cDpMT0NBTA","authenticator":"TOTP","idp":"LOCAL","metadata":{"i18nKey":"authenticator.totp",
	  "promptType":"USER_PROMPT","params":[{"param":"token","type":"STRING","order":0,"i18nKey":"totp.authenticator",
	  "displayName":"Token","confidential":false}]},"requiredParams":["token"]}`
	// wantTOTPUninitiated is a TOTP option of a multi-option step before it is chosen (§1.7).
	wantTOTPUninitiated = `{"authenticatorId":"dG90cDpMT0NBTA","authenticator":"TOTP","idp":"LOCAL","metadata":{"i18nKey":"authenticator.totp"}}`
)

// env is one deployment: PostgreSQL, an embedded Temporal server, a worker with the real
// authenticators, the OAuth2 provider and the app-native API over HTTP.
type env struct {
	s          *store.Store
	org        store.Organization
	op         *op.Provider
	srv        *httptest.Server
	totp       *totp.Authenticator
	alice      store.User
	totpSecret string
	tc         client.Client
	queue      string
	// ah is the handler; completer answers logins of protocol "test" started with
	// BeginBrowserLogin.
	ah        *authn.Handler
	completer *recordingCompleter
	// mails receives what the magic link authenticator sends.
	mails chan notify.Mail
}

// mailbox is a magiclink.Mailer that hands mails to the test (the SMTP exchange itself is
// proven in connectors/magiclink).
type mailbox chan notify.Mail

func (m mailbox) Send(_ context.Context, mail notify.Mail) error {
	m <- mail
	return nil
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{s: storetest.New(t), queue: "authn-" + t.Name()}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(ctx); err != nil {
		t.Fatal(err)
	}

	// Authenticators over the store.
	b, err := basic.New(basic.Config{HashParams: cheap}, basic.Deps{Users: e.s, Organizations: e.s})
	if err != nil {
		t.Fatal(err)
	}
	e.totp, err = totp.New(totp.Config{EncryptionKey: bytes.Repeat([]byte{0x42}, 32), KeyID: "k1"}, totp.Deps{Credentials: e.s})
	if err != nil {
		t.Fatal(err)
	}
	e.mails = make(chan notify.Mail, 4)
	ml, err := magiclink.New(magiclink.Config{BaseURL: "http://keyflow.test", HashKey: bytes.Repeat([]byte{0x43}, 32)},
		magiclink.Deps{Users: e.s, Organizations: e.s, Mailer: mailbox(e.mails)})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := connectors.NewRegistry(b, e.totp, ml)
	if err != nil {
		t.Fatal(err)
	}

	// Temporal: the shared server, a client with the payload codec, a worker in this process.
	keys, err := codec.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "payload.key"))
	if err != nil {
		t.Fatal(err)
	}
	e.tc, err = temporalx.Dial(ctx, temporalx.Config{Address: temporalAddress, Keyring: keys,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.tc.Close)
	login, err := flows.NewLogin(reg, flows.LoginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(e.tc, e.queue, temporalx.WorkerOptions())
	login.Register(w)
	(&flows.LoginActivities{Authenticators: reg}).Register(w)
	(&wfhost.Activities{}).Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	// HTTP: the OAuth2 provider (token endpoint) and the app-native API.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	jk, err := jwtkeys.New(ctx, jwtkeys.Config{Store: e.s, KEKs: []jwtkeys.KEK{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	e.op, err = op.New(op.Config{Store: e.s, Keys: jk, Issuer: e.srv.URL + "/oauth2/token", SecretPepper: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	oh, err := oauth2.New(oauth2.Config{Provider: e.op, Keys: jk, BaseURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	oh.Register(r)
	e.completer = &recordingCompleter{}
	// Branding preferences: the API (admin token "branding-admin") and the resolver.
	bh, err := branding.New(branding.Config{Store: e.s, Tokens: bearertest.Tokens{
		"branding-admin": {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: []string{branding.ScopeUpdate}}}})
	if err != nil {
		t.Fatal(err)
	}
	bh.Register(r)
	e.ah, err = authn.New(authn.Config{Applications: e.s, Provider: e.op, Logins: &authn.Temporal{Client: e.tc, TaskQueue: e.queue},
		BaseURL: e.srv.URL, AllowedOrigins: []string{appOrigin}, MountAuthorize: true, UI: newRenderer(t), Sessions: e.s, Claims: e.s,
		Completers: map[string]authn.Completer{"test": e.completer}, Consents: e.s, Interactions: e.s, Branding: bh})
	if err != nil {
		t.Fatal(err)
	}
	e.ah.Register(r)
	// A stand-in protocol front-end on the same host (TestBeginBrowserLogin).
	r.GET("/sp-login", func(c *gin.Context) {
		app, err := e.s.ApplicationByClientID(c.Request.Context(), "sp")
		if err != nil {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		e.ah.BeginBrowserLogin(c, flows.LoginInput{Application: authn.LoginApplication(app, "carbon.super"),
			Request: flows.LoginRequest{Protocol: "test", ClientID: "urn:sp", HTTP: authn.ScriptRequest(c, nil)}},
			map[string]string{"relayState": c.Query("rs")})
	})
	r.GET("/other-login", func(c *gin.Context) {
		e.ah.BeginBrowserLogin(c, flows.LoginInput{Request: flows.LoginRequest{Protocol: "nope"}}, nil)
	})

	// Alice has a password and a confirmed TOTP credential.
	h, err := password.Hash(alicePW, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if e.alice, err = e.s.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: "johnd", PasswordHash: h,
		Claims: map[string]string{magiclink.EmailClaim: "johnd@example.com"}}); err != nil {
		t.Fatal(err)
	}
	en, err := e.totp.Enroll(ctx, e.alice.ID, "johnd")
	if err != nil {
		t.Fatal(err)
	}
	e.totpSecret = en.Secret
	// Confirm with the previous step's code so the current one is still unused.
	if ok, err := e.totp.ConfirmEnrollment(ctx, e.alice.ID, e.code(t, time.Now().Add(-30*time.Second))); err != nil || !ok {
		t.Fatalf("confirm TOTP: %v %v", ok, err)
	}
	return e
}

func (e *env) code(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := ptotp.GenerateCodeCustom(e.totpSecret, at, ptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// app creates a public OAuth2 client and its application with the given steps.
func (e *env) app(t *testing.T, clientID string, apiBased bool, steps ...[]string) {
	t.Helper()
	if _, _, err := e.op.CreateClient(t.Context(), op.NewClient{OrgID: e.org.ID, Name: clientID, ClientID: clientID, Public: true,
		GrantTypes: []string{op.GrantAuthorizationCode}, RedirectURIs: []string{redirectURI}}); err != nil {
		t.Fatal(err)
	}
	seq := store.AuthenticationSequence{Type: store.SequenceUserDefined}
	for i, names := range steps {
		st := store.AuthenticationStep{ID: i + 1}
		for _, n := range names {
			st.Options = append(st.Options, store.AuthenticationOption{IdP: store.LocalIdP, Authenticator: n})
		}
		seq.Steps = append(seq.Steps, st)
	}
	if _, err := e.s.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{
		OrgID: e.org.ID, Name: clientID, ClientID: clientID, Sequence: seq, APIBasedAuthentication: apiBased}}); err != nil {
		t.Fatal(err)
	}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.body); err != nil {
			t.Fatalf("status %d body %q: %v", resp.StatusCode, b, err)
		}
	}
	return r
}

// pkce is a verifier and its S256 challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := strings.Repeat("v3rifier-", 6)
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authorize sends the initial request as the JS SDK does (wso2-wire.md §1.2).
func (e *env) authorize(t *testing.T, clientID string, p pkce, change func(url.Values)) response {
	t.Helper()
	return e.authorizeAt(t, "/oauth2/authorize", clientID, p, change)
}

func (e *env) authorizeAt(t *testing.T, path, clientID string, p pkce, change func(url.Values)) response {
	t.Helper()
	form := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"state": {"logpg"}, "scope": {"openid internal_login"}, "response_mode": {"direct"},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}}
	if change != nil {
		change(form)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", appOrigin)
	return e.do(t, req)
}

// authn posts body to the response's links[0].href, as the React/Vue SDKs do.
func (e *env) authn(t *testing.T, href, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, href, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", appOrigin)
	return e.do(t, req)
}

func selection(flowID, authenticatorID string, params map[string]any) string {
	sel := map[string]any{"authenticatorId": authenticatorID}
	if params != nil {
		sel["params"] = params
	}
	b, _ := json.Marshal(map[string]any{"flowId": flowID, "selectedAuthenticator": sel})
	return string(b)
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("reference %q: %v", s, err)
	}
	return v
}

// wantStep is the reference AuthResponse of a non-final step (wso2-wire.md §1.3).
func (e *env) wantStep(t *testing.T, flowID, status, stepType string, messages string, authenticators ...string) any {
	t.Helper()
	msgs := ""
	if messages != "" {
		msgs = `,"messages":` + messages
	}
	return decode(t, `{"flowId":"`+flowID+`","flowStatus":"`+status+`","flowType":"AUTHENTICATION",
	  "nextStep":{"stepType":"`+stepType+`","authenticators":[`+strings.Join(authenticators, ",")+`]`+msgs+`},
	  "links":[{"name":"authentication","href":"`+e.srv.URL+`/oauth2/authn","method":"POST"}]}`)
}

func expectBody(t *testing.T, what string, got response, status int, want any) {
	t.Helper()
	if got.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, got.status, status, got.raw)
	}
	if !reflect.DeepEqual(any(got.body), want) {
		g, _ := json.MarshalIndent(got.body, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func expectABA(t *testing.T, what string, got response, status int, code, message, description string) {
	t.Helper()
	expectBody(t, what, got, status, map[string]any{"code": code, "message": message, "description": description, "traceId": ""})
}

// exchange redeems the code at /oauth2/token with the PKCE verifier (public client).
func (e *env) exchange(t *testing.T, clientID, code, verifier string) response {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {clientID}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(t, req)
}

// expectSuccess checks the §1.8 body and closes the loop at the token endpoint.
func (e *env) expectSuccess(t *testing.T, got response, clientID string, p pkce) {
	t.Helper()
	if got.status != http.StatusOK || got.body["flowStatus"] != "SUCCESS_COMPLETED" {
		t.Fatalf("status %d body %s, want SUCCESS_COMPLETED", got.status, got.raw)
	}
	if len(got.body) != 2 {
		t.Errorf("success body has %d fields, want flowStatus and authData only: %s", len(got.body), got.raw)
	}
	data, _ := got.body["authData"].(map[string]any)
	code, _ := data["code"].(string)
	ss, _ := data["session_state"].(string)
	if code == "" || ss == "" || data["state"] != "logpg" || len(data) != 3 {
		t.Fatalf("authData %v, want code, state=logpg and session_state", data)
	}
	tok := e.exchange(t, clientID, code, p.verifier)
	if tok.status != http.StatusOK || tok.body["access_token"] == nil || tok.body["id_token"] == nil {
		t.Fatalf("token exchange: %d %s", tok.status, tok.raw)
	}
	// The code is single use.
	if again := e.exchange(t, clientID, code, p.verifier); again.status != http.StatusBadRequest {
		t.Errorf("second exchange: %d %s", again.status, again.raw)
	}
}

// TestTwoFactorReferenceFlow follows wso2-wire.md §1.11 A (username+password, then TOTP) as the
// Android SDK sends it, including its selection-only "get details" call before TOTP, and
// compares every response with the reference.
func TestTwoFactorReferenceFlow(t *testing.T) {
	e := newEnv(t)
	e.app(t, "mobile", true, []string{connectors.BasicAuthenticator}, []string{connectors.TOTPAuthenticator})
	p := newPKCE()

	r := e.authorize(t, "mobile", p, nil)
	flowID, _ := r.body["flowId"].(string)
	if flowID == "" {
		t.Fatalf("authorize: %d %s", r.status, r.raw)
	}
	expectBody(t, "authorize", r, http.StatusOK, e.wantStep(t, flowID, "INCOMPLETE", "AUTHENTICATOR_PROMPT", "", wantBasic))
	if r.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("CORS header %q on authorize", r.header.Get("Access-Control-Allow-Origin"))
	}
	href := r.body["links"].([]any)[0].(map[string]any)["href"].(string)

	r = e.authn(t, href, selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM", map[string]any{"username": "johnd", "password": alicePW}))
	expectBody(t, "password", r, http.StatusOK, e.wantStep(t, flowID, "INCOMPLETE", "AUTHENTICATOR_PROMPT", "", wantTOTP))

	// Android's selection-only request: same answer, nothing consumed.
	r = e.authn(t, href, `{"flowId":"`+flowID+`","selectedAuthenticator":{"authenticatorId":"dG90cDpMT0NBTA"}}`)
	expectBody(t, "TOTP details", r, http.StatusOK, e.wantStep(t, flowID, "INCOMPLETE", "AUTHENTICATOR_PROMPT", "", wantTOTP))

	r = e.authn(t, href, selection(flowID, "dG90cDpMT0NBTA", map[string]any{"token": e.code(t, time.Now())}))
	e.expectSuccess(t, r, "mobile", p)

	// The flowId is single use after success (§5 rule 14).
	r = e.authn(t, href, selection(flowID, "dG90cDpMT0NBTA", map[string]any{"token": "000000"}))
	expectABA(t, "after success", r, http.StatusBadRequest, "ABA-60009", "Invalid flow identifier.", "The provided flowId is invalid.")
}

// TestMultiOptionStep follows §1.11 B: a step offering password or TOTP lists both, Basic with
// full metadata and TOTP with its i18nKey only; posting credentials with the Basic id picks it.
func TestMultiOptionStep(t *testing.T) {
	e := newEnv(t)
	e.app(t, "spa", true, []string{connectors.BasicAuthenticator, connectors.TOTPAuthenticator})
	p := newPKCE()
	r := e.authorize(t, "spa", p, nil)
	flowID, _ := r.body["flowId"].(string)
	expectBody(t, "authorize", r, http.StatusOK,
		e.wantStep(t, flowID, "INCOMPLETE", "MULTI_OPTIONS_PROMPT", "", wantBasic, wantTOTPUninitiated))
	href := e.srv.URL + "/oauth2/authn"
	// Array values are accepted (§1.5); the first one counts.
	r = e.authn(t, href, selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM",
		map[string]any{"username": []string{"johnd"}, "password": alicePW}))
	e.expectSuccess(t, r, "spa", p)

	// Under a tenant path, links[0].href is tenant-qualified and works.
	p = newPKCE()
	r = e.authorizeAt(t, "/t/carbon.super/oauth2/authorize", "spa", p, nil)
	flowID, _ = r.body["flowId"].(string)
	links, _ := r.body["links"].([]any)
	if len(links) != 1 || links[0].(map[string]any)["href"] != e.srv.URL+"/t/carbon.super/oauth2/authn" {
		t.Fatalf("tenant links %v", r.body["links"])
	}
	r = e.authn(t, e.srv.URL+"/t/carbon.super/oauth2/authn", selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM",
		map[string]any{"username": "johnd", "password": alicePW}))
	e.expectSuccess(t, r, "spa", p)
}

// TestWrongPassword: a wrong password re-shows the step with FAIL_INCOMPLETE and an ABA-60003
// error message (§1.9); the same flowId then succeeds.
func TestWrongPassword(t *testing.T) {
	e := newEnv(t)
	e.app(t, "mobile", true, []string{connectors.BasicAuthenticator})
	p := newPKCE()
	r := e.authorize(t, "mobile", p, nil)
	flowID, _ := r.body["flowId"].(string)
	href := e.srv.URL + "/oauth2/authn"
	r = e.authn(t, href, selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM", map[string]any{"username": "johnd", "password": "wrong"}))
	msgs, _ := r.body["nextStep"].(map[string]any)["messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("messages %s", r.raw)
	}
	m := msgs[0].(map[string]any)
	if m["type"] != "ERROR" || m["messageId"] != "ABA-60003" || m["i18nKey"] != "message.ABA-60003" || m["message"] == "" {
		t.Errorf("message %v, want an ERROR ABA-60003 with i18nKey message.ABA-60003", m)
	}
	expectBody(t, "wrong password", r, http.StatusOK,
		e.wantStep(t, flowID, "FAIL_INCOMPLETE", "AUTHENTICATOR_PROMPT", mustJSON(t, msgs), wantBasic))
	r = e.authn(t, href, selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM", map[string]any{"username": "johnd", "password": alicePW}))
	e.expectSuccess(t, r, "mobile", p)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuthorizeErrors checks the initial request's failures (§1.2) and their ABA bodies.
func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	e.app(t, "mobile", true, []string{connectors.BasicAuthenticator})
	e.app(t, "web-only", false, []string{connectors.BasicAuthenticator})
	tests := []struct {
		name        string
		client      string
		change      func(url.Values)
		status      int
		code        string
		message     string
		description string
	}{
		{name: "api-based authentication disabled", client: "web-only", status: 400, code: "ABA-60007",
			message:     "App native authentication is not enabled for the application.",
			description: "App native authentication is not enabled for this application with id "},
		{name: "unknown client", client: "nobody", status: 400, code: "ABA-60005", message: "Unable to find application.",
			description: "Unable to find application for clientId nobody in tenant domain carbon.super"},
		{name: "response_type token", client: "mobile", change: func(v url.Values) { v.Set("response_type", "token") },
			status: 400, code: "ABA-60001", message: "Invalid authentication request.",
			description: "App native authentication is only supported with code response type."},
		{name: "unregistered redirect_uri", client: "mobile", change: func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") },
			status: 400, code: "ABA-60001", message: "Invalid authentication request.",
			description: "invalid_request - redirect_uri is not registered for this client"},
		{name: "public client without PKCE", client: "mobile", change: func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
			status: 400, code: "ABA-60001", message: "Invalid authentication request.",
			description: "invalid_request - code_challenge is required (PKCE, RFC 7636)"},
		{name: "public client presenting a secret", client: "mobile", change: func(v url.Values) { v.Set("client_secret", "x") },
			status: 401, code: "401", message: "Unauthorized",
			description: "Authorization failure. Authorization information was invalid or missing from your request."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.authorize(t, tc.client, newPKCE(), tc.change)
			desc := tc.description
			if tc.code == "ABA-60007" {
				// The description names the application id, which the store generated.
				d, _ := r.body["description"].(string)
				if !strings.HasPrefix(d, desc) || len(d) == len(desc) {
					t.Fatalf("description %q", d)
				}
				desc = d
			}
			expectABA(t, tc.name, r, tc.status, tc.code, tc.message, desc)
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestAuthnErrors checks /oauth2/authn's request errors (§1.4, §1.5).
func TestAuthnErrors(t *testing.T) {
	e := newEnv(t)
	e.app(t, "mobile", true, []string{connectors.BasicAuthenticator})
	r := e.authorize(t, "mobile", newPKCE(), nil)
	flowID, _ := r.body["flowId"].(string)
	href := e.srv.URL + "/oauth2/authn"
	tests := []struct {
		name        string
		body        string
		code        string
		message     string
		description string
	}{
		{name: "unknown flowId", body: selection("7b1f2e43-0000-4000-8000-000000000000", "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM", nil),
			code: "ABA-60009", message: "Invalid flow identifier.", description: "The provided flowId is invalid."},
		{name: "no flowId", body: `{"selectedAuthenticator":{"authenticatorId":"QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM"}}`,
			code: "ABA-60009", message: "Invalid flow identifier.", description: "The provided flowId is invalid."},
		{name: "malformed JSON", body: `{"flowId":`, code: "ABA-60001", message: "Invalid authentication request.",
			description: "Error occurred while parsing the authentication request."},
		{name: "no authenticatorId", body: `{"flowId":"` + flowID + `","selectedAuthenticator":{}}`,
			code: "ABA-60004", message: "Invalid authenticatorId.", description: "Authenticator id is not provided."},
		{name: "undecodable authenticatorId", body: selection(flowID, "bm9jb2xvbg", nil), // "nocolon"
			code: "ABA-60004", message: "Invalid authenticatorId.", description: "Provided authenticatorId bm9jb2xvbg is invalid."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectABA(t, tc.name, e.authn(t, href, tc.body), http.StatusBadRequest, tc.code, tc.message, tc.description)
		})
	}
	// None of these touched the flow: it still shows its first step.
	r = e.authn(t, href, selection(flowID, "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM", nil))
	expectBody(t, "selection-only", r, http.StatusOK, e.wantStep(t, flowID, "INCOMPLETE", "AUTHENTICATOR_PROMPT", "", wantBasic))
}

// TestStaleSubmission: the client helpers reject a submission answering an old view with
// ErrStale (no history written), and the API maps that to ABA-60001.
func TestStaleSubmission(t *testing.T) {
	e := newEnv(t)
	e.app(t, "mobile", true, []string{connectors.BasicAuthenticator}, []string{connectors.TOTPAuthenticator})
	r := e.authorize(t, "mobile", newPKCE(), nil)
	flowID, _ := r.body["flowId"].(string)
	first, err := flows.CurrentLoginView(t.Context(), e.tc, flowID)
	if err != nil {
		t.Fatal(err)
	}
	next, err := flows.SubmitLogin(t.Context(), e.tc, flowID, flows.Submission{Seq: first.Seq,
		AuthenticatorID: flows.AuthenticatorID(connectors.BasicAuthenticator, connectors.LocalIdP),
		Params:          map[string]string{"username": "johnd", "password": alicePW}})
	if err != nil || next.Seq <= first.Seq {
		t.Fatalf("submit: %+v %v", next, err)
	}
	// A submission answering a view that is not the current one is stale.
	_, err = flows.SubmitLogin(t.Context(), e.tc, flowID, flows.Submission{Seq: next.Seq + 1})
	if !errors.Is(err, flows.ErrStale) {
		t.Fatalf("stale submit: %v, want ErrStale", err)
	}
	// A retried request (same update id) is answered from the first execution.
	again, err := flows.SubmitLogin(t.Context(), e.tc, flowID, flows.Submission{Seq: first.Seq,
		AuthenticatorID: flows.AuthenticatorID(connectors.BasicAuthenticator, connectors.LocalIdP),
		Params:          map[string]string{"username": "johnd", "password": alicePW}})
	if err != nil || again.Seq != next.Seq {
		t.Fatalf("retried submit: %+v %v, want view %d", again, err, next.Seq)
	}
	if _, err := flows.SubmitLogin(t.Context(), e.tc, "no-such-flow", flows.Submission{Seq: 1}); !errors.Is(err, flows.ErrLoginNotFound) {
		t.Fatalf("unknown flow: %v, want ErrLoginNotFound", err)
	}
}

// TestCORS: preflights from configured origins are answered, others refused.
func TestCORS(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		path   string
		origin string
		status int
		allow  string
	}{
		{name: "authn from the app", path: "/oauth2/authn", origin: appOrigin, status: http.StatusNoContent, allow: appOrigin},
		{name: "authorize from the app", path: "/oauth2/authorize", origin: appOrigin, status: http.StatusNoContent, allow: appOrigin},
		{name: "tenant path", path: "/t/carbon.super/oauth2/authn", origin: appOrigin, status: http.StatusNoContent, allow: appOrigin},
		{name: "other origin", path: "/oauth2/authn", origin: "https://evil.example", status: http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			r := e.do(t, req)
			if r.status != tc.status || r.header.Get("Access-Control-Allow-Origin") != tc.allow {
				t.Fatalf("status %d allow-origin %q, want %d %q", r.status, r.header.Get("Access-Control-Allow-Origin"), tc.status, tc.allow)
			}
		})
	}
}
