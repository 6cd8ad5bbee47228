package device_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/worker"
	"golang.org/x/net/html"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/device"
	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/flows/temporalx"
	"github.com/keyflow/keyflow/scripting/wfhost"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
	"github.com/keyflow/keyflow/ui"
	"github.com/keyflow/keyflow/workers/devserver"
)

var temporalAddress string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "device-temporal-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	srv, err := devserver.Start(context.Background(), devserver.Config{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	temporalAddress = srv.FrontendAddress()
	return storetest.Run(m)
}

var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

const alicePW = "U$3r-pa55"

// lateLogins breaks the construction cycle: the device page starts logins through api/authn,
// which needs the device handler as its Completer.
type lateLogins struct{ h *authn.Handler }

func (l *lateLogins) BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any) {
	l.h.BeginBrowserLogin(c, in, state)
}

type env struct {
	s        *store.Store
	alice    store.User
	clientID string
	srv      *httptest.Server
	skew     *atomic.Int64 // the provider's clock runs this far ahead
	dh       *device.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{s: storetest.New(t), clientID: "tv", skew: &atomic.Int64{}}
	org, err := e.s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := password.Hash(alicePW, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if e.alice, err = e.s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "alice", PasswordHash: h,
		Claims: map[string]string{"http://wso2.org/claims/emailaddress": "alice@example.com"}}); err != nil {
		t.Fatal(err)
	}

	// The login workflow on an embedded Temporal server, with the basic authenticator.
	b, err := basic.New(basic.Config{HashParams: cheap}, basic.Deps{Users: e.s, Organizations: e.s})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := connectors.NewRegistry(b)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "payload.key"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := temporalx.Dial(ctx, temporalx.Config{Address: temporalAddress, Keyring: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	queue := "device-" + t.Name()
	login, err := flows.NewLogin(reg, flows.LoginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(tc, queue, temporalx.WorkerOptions())
	login.Register(w)
	(&flows.LoginActivities{Authenticators: reg}).Register(w)
	(&wfhost.Activities{}).Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	// HTTP: the OAuth2 endpoints, the login pages (api/authn) and the device page.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	kek := jwtkeys.KEK{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}
	jk, err := jwtkeys.New(ctx, jwtkeys.Config{Store: e.s, KEKs: []jwtkeys.KEK{kek}})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := op.New(op.Config{Store: e.s, Keys: jk, Issuer: e.srv.URL + "/oauth2/token", SecretPepper: bytes.Repeat([]byte{2}, 32),
		Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := provider.CreateClient(ctx, op.NewClient{OrgID: org.ID, Name: "Living room TV", ClientID: e.clientID, Public: true,
		GrantTypes: []string{op.GrantDeviceCode}, Scopes: []string{op.ScopeOpenID, "email"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateApplication(ctx, store.NewApplication{Application: store.Application{
		OrgID: org.ID, Name: "tv", ClientID: e.clientID}}); err != nil {
		t.Fatal(err)
	}
	oh, err := oauth2.New(oauth2.Config{Provider: provider, Keys: jk, BaseURL: e.srv.URL,
		DeviceVerificationURI: e.srv.URL + device.PathDevice})
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := ui.New(ui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	late := &lateLogins{}
	dh, err := device.New(device.Config{Provider: provider, Applications: e.s, Logins: late, UI: renderer,
		BaseURL: e.srv.URL, Claims: e.s, MaxFailures: 3, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ah, err := authn.New(authn.Config{Applications: e.s, Provider: provider,
		Logins: &authn.Temporal{Client: tc, TaskQueue: queue}, BaseURL: e.srv.URL, UI: renderer, Sessions: e.s, Claims: e.s,
		Completers: map[string]authn.Completer{device.ProtocolDevice: dh}})
	if err != nil {
		t.Fatal(err)
	}
	late.h = ah
	e.dh = dh
	oh.Register(r)
	ah.Register(r)
	dh.Register(r)
	return e
}

// authorize is the device's device authorization request.
func (e *env) authorize(t *testing.T) (userCode, deviceCode, complete string) {
	t.Helper()
	status, body := e.post(t, oauth2.PathDeviceAuthorize, url.Values{"client_id": {e.clientID}, "scope": {"openid email"}})
	if status != http.StatusOK {
		t.Fatalf("device_authorize = %d %v", status, body)
	}
	return body["user_code"].(string), body["device_code"].(string), body["verification_uri_complete"].(string)
}

// poll is the device's token request.
func (e *env) poll(t *testing.T, deviceCode string) (int, map[string]any) {
	t.Helper()
	e.skew.Add(int64(op.DeviceInterval + time.Second)) // keep to the interval
	return e.post(t, oauth2.PathToken, url.Values{"grant_type": {op.GrantDeviceCode}, "client_id": {e.clientID}, "device_code": {deviceCode}})
}

func (e *env) post(t *testing.T, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(e.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// browser keeps cookies and follows redirects.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar}}
}

type page struct {
	status int
	url    *url.URL
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Request.URL, string(body)}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// form returns the action and the inputs of the page's first form (buttons left out).
func (p page) form(t *testing.T) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	values := url.Values{}
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode && n.Data == "form" && action == "" {
			u, err := p.url.Parse(attr(n, "action"))
			if err != nil {
				t.Fatal(err)
			}
			action, in = u.String(), true
		}
		if in && n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, in)
		}
	}
	walk(doc, false)
	if action == "" {
		t.Fatalf("no form on %s (%d):\n%s", p.url, p.status, p.body)
	}
	return action, values
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// confirm opens the verification page, types code and returns the confirmation page.
func (b *browser) confirm(e *env, code string) page {
	b.t.Helper()
	p := b.get(e.srv.URL + device.PathDevice)
	action, values := p.form(b.t)
	values.Set(ui.FieldUserCode, code)
	return b.post(action, values)
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestApproveThroughTheLoginPage: device_authorize → verification_uri_complete (prefilled
// code) → confirmation with the client's name and scopes → approve → the real login page →
// "return to your device" → the device's poll gets tokens for alice.
func TestApproveThroughTheLoginPage(t *testing.T) {
	e := newEnv(t)
	userCode, deviceCode, complete := e.authorize(t)
	if st, body := e.poll(t, deviceCode); st != http.StatusBadRequest || body["error"] != op.CodeAuthorizationPending {
		t.Fatalf("first poll = %d %v", st, body)
	}

	b := newBrowser(t)
	p := b.get(complete)
	if p.status != http.StatusOK || !strings.Contains(p.body, `value="`+userCode+`"`) {
		t.Fatalf("verification page (%d) not prefilled with %s:\n%s", p.status, userCode, p.body)
	}
	action, values := p.form(t)
	// However the user types it.
	values.Set(ui.FieldUserCode, " "+strings.ToLower(strings.ReplaceAll(userCode, "-", "")))
	p = b.post(action, values)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Living room TV wants to access your account") ||
		!strings.Contains(p.body, userCode) || !strings.Contains(p.body, "<li>Your email address</li>") {
		t.Fatalf("confirmation page (%d):\n%s", p.status, p.body)
	}
	action, values = p.form(t)
	values.Set(ui.FieldDeviceDecision, ui.ConsentApprove)
	p = b.post(action, values)
	if p.url.Path != authn.PathLogin {
		t.Fatalf("approve led to %s (%d):\n%s", p.url, p.status, p.body)
	}
	action, values = p.form(t)
	values.Set("username", "alice")
	values.Set("password", alicePW)
	p = b.post(action, values)
	if p.status != http.StatusOK || !strings.Contains(p.body, "You may return to your device.") {
		t.Fatalf("after login (%d) %s:\n%s", p.status, p.url, p.body)
	}

	st, tokens := e.poll(t, deviceCode)
	if st != http.StatusOK {
		t.Fatalf("poll after approval = %d %v", st, tokens)
	}
	idToken, _ := tokens["id_token"].(string)
	claims := jwtClaims(t, idToken)
	if claims["sub"] != e.alice.ID || claims["email"] != "alice@example.com" || claims["aud"] != e.clientID {
		t.Errorf("id token claims %v", claims)
	}
	if tokens["access_token"] == nil || tokens["scope"] != "openid email" {
		t.Errorf("tokens %v", tokens)
	}

	// The code is used: typing it again is refused.
	if p := b.confirm(e, userCode); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not valid") {
		t.Errorf("used code (%d):\n%s", p.status, p.body)
	}
}

// TestDeny: deny on the confirmation page → the device's poll gets access_denied, no login.
func TestDeny(t *testing.T) {
	e := newEnv(t)
	userCode, deviceCode, _ := e.authorize(t)
	b := newBrowser(t)
	p := b.confirm(e, userCode)
	action, values := p.form(t)
	values.Set(ui.FieldDeviceDecision, ui.ConsentDeny)
	p = b.post(action, values)
	if p.status != http.StatusOK || !strings.Contains(p.body, "Request denied") {
		t.Fatalf("deny (%d) %s:\n%s", p.status, p.url, p.body)
	}
	if st, body := e.poll(t, deviceCode); st != http.StatusBadRequest || body["error"] != op.CodeAccessDenied {
		t.Errorf("poll after deny = %d %v", st, body)
	}
}

// TestWrongCode: an unknown code shows the form again with a message and changes nothing; after
// Config.MaxFailures wrong codes even the right one is refused (429).
func TestWrongCode(t *testing.T) {
	e := newEnv(t)
	userCode, deviceCode, _ := e.authorize(t)
	b := newBrowser(t)
	wrong := "BCDF-GHJK"
	if wrong == userCode {
		wrong = "CDFG-HJKL"
	}
	p := b.confirm(e, wrong)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "That code is not valid") ||
		!strings.Contains(p.body, `value="`+wrong+`"`) {
		t.Fatalf("wrong code (%d):\n%s", p.status, p.body)
	}
	if st, body := e.poll(t, deviceCode); st != http.StatusBadRequest || body["error"] != op.CodeAuthorizationPending {
		t.Errorf("poll after a wrong code = %d %v", st, body)
	}
	// The right code still works.
	if p := b.confirm(e, userCode); p.status != http.StatusOK || !strings.Contains(p.body, "Living room TV") {
		t.Fatalf("right code (%d):\n%s", p.status, p.body)
	}
	// Two more wrong codes use up MaxFailures (3): then every code is refused.
	for range 2 {
		b.confirm(e, wrong)
	}
	if p := b.confirm(e, userCode); p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many wrong codes") {
		t.Fatalf("throttled (%d):\n%s", p.status, p.body)
	}
}

// TestCSRF: a post without the cookie's token, or with another, is refused with 403 and
// changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	userCode, deviceCode, _ := e.authorize(t)
	b := newBrowser(t)
	// No cookie and no token: a cross-site form.
	if p := b.post(e.srv.URL+device.PathDevice, url.Values{ui.FieldUserCode: {userCode}, ui.FieldDeviceDecision: {ui.ConsentDeny}}); p.status != http.StatusForbidden {
		t.Errorf("no CSRF token = %d", p.status)
	}
	// A cookie but a forged token.
	p := b.get(e.srv.URL + device.PathDevice)
	action, values := p.form(t)
	values.Set(ui.FieldCSRF, "forged")
	values.Set(ui.FieldUserCode, userCode)
	values.Set(ui.FieldDeviceDecision, ui.ConsentDeny)
	if p := b.post(action, values); p.status != http.StatusForbidden {
		t.Errorf("forged CSRF token = %d", p.status)
	}
	if st, body := e.poll(t, deviceCode); st != http.StatusBadRequest || body["error"] != op.CodeAuthorizationPending {
		t.Errorf("poll after refused posts = %d %v", st, body)
	}
}

// TestFailedLogin: a login that ends in failure shows the error page and leaves the request
// pending (only Deny refuses it); the device can still be approved afterwards.
func TestFailedLogin(t *testing.T) {
	e := newEnv(t)
	userCode, deviceCode, _ := e.authorize(t)
	state, _ := json.Marshal(map[string]string{"userCode": userCode})
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/authenticationendpoint/login", nil)
	e.dh.CompleteLogin(c, flows.View{FlowID: "f1", Status: flows.StatusFailed,
		Error: &flows.FlowError{Kind: flows.ErrorAuthentication}}, state, "")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `role="alert"`) {
		t.Fatalf("failed login answered %d:\n%s", w.Code, w.Body.String())
	}
	if st, body := e.poll(t, deviceCode); st != http.StatusBadRequest || body["error"] != op.CodeAuthorizationPending {
		t.Errorf("poll after a failed login = %d %v", st, body)
	}
	w = httptest.NewRecorder()
	c, _ = gin.CreateTestContext(w)
	c.Request = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/authenticationendpoint/login", nil)
	e.dh.CompleteLogin(c, flows.View{FlowID: "f2", Status: flows.StatusSuccess,
		Result: &flows.Result{Subject: &connectors.User{ID: e.alice.ID, Username: "alice"}}}, state, "")
	if w.Code != http.StatusOK {
		t.Fatalf("approval after the failure answered %d:\n%s", w.Code, w.Body.String())
	}
	if st, body := e.poll(t, deviceCode); st != http.StatusOK {
		t.Errorf("poll after approval = %d %v", st, body)
	}
}
