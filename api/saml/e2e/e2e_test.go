// Package e2e runs SAML logins end to end: crewjam's samlsp as the service provider, Keyflow's
// IdP (api/saml) over the real login workflow (api/authn's login pages, an embedded Temporal
// server, PostgreSQL) and a browser-like client with a cookie jar.
package e2e

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/worker"
	"golang.org/x/net/html"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/saml"
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
	dir, err := os.MkdirTemp("", "saml-temporal-")
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

// lateLogins breaks the construction cycle: the SAML handler starts logins through api/authn,
// which needs the SAML handler as its Completer.
type lateLogins struct{ h *authn.Handler }

func (l *lateLogins) BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any) {
	l.h.BeginBrowserLogin(c, in, state)
}

type env struct {
	s   *store.Store
	org store.Organization
	app store.Application
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{s: storetest.New(t)}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(ctx); err != nil {
		t.Fatal(err)
	}
	if e.app, err = e.s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "wiki"}}); err != nil {
		t.Fatal(err)
	}
	h, err := password.Hash(alicePW, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: "alice", PasswordHash: h,
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
	queue := "saml-" + t.Name()
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

	// HTTP: the login pages (api/authn) and the IdP (api/saml).
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	kek := jwtkeys.KEK{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}
	jk, err := jwtkeys.New(ctx, jwtkeys.Config{Store: e.s, KEKs: []jwtkeys.KEK{kek}})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := op.New(op.Config{Store: e.s, Keys: jk, Issuer: e.srv.URL + "/oauth2/token", SecretPepper: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	late := &lateLogins{}
	sh, err := saml.New(saml.Config{Store: e.s, Logins: late, BaseURL: e.srv.URL, KEKs: []jwtkeys.KEK{kek},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := ui.New(ui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ah, err := authn.New(authn.Config{Applications: e.s, Provider: provider,
		Logins: &authn.Temporal{Client: tc, TaskQueue: queue}, BaseURL: e.srv.URL, UI: renderer, Sessions: e.s,
		Completers: map[string]authn.Completer{saml.ProtocolSAML: sh}})
	if err != nil {
		t.Fatal(err)
	}
	late.h = ah
	ah.Register(r)
	sh.Register(r)
	return e
}

func readKeyPair(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	kb, err := os.ReadFile("../testdata/sp.key")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile("../testdata/sp.crt")
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := pem.Decode(kb)
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := pem.Decode(cb)
	c, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), c
}

// newSP registers crewjam's samlsp from its metadata, after reading the IdP's.
func (e *env) newSP(t *testing.T, signRequests bool) *crewjam.ServiceProvider {
	t.Helper()
	resp, err := http.Get(e.srv.URL + saml.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	idpMeta, err := samlsp.ParseMetadata(body)
	if err != nil {
		t.Fatal(err)
	}
	key, cert := readKeyPair(t)
	root, _ := url.Parse("https://sp.example.com/app")
	m, err := samlsp.New(samlsp.Options{URL: *root, Key: key, Certificate: cert, IDPMetadata: idpMeta, SignRequest: signRequests})
	if err != nil {
		t.Fatal(err)
	}
	// Ask for no particular NameID format (crewjam's default is transient): the registration's
	// emailAddress applies.
	m.ServiceProvider.AuthnNameIDFormat = crewjam.UnspecifiedNameIDFormat
	spMeta, err := xml.Marshal(m.ServiceProvider.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := saml.ParseSPMetadata(spMeta)
	if err != nil {
		t.Fatal(err)
	}
	reg.ApplicationID = e.app.ID
	reg.NameIDFormat = string(crewjam.EmailAddressNameIDFormat)
	reg.AttributeMapping = map[string]string{"http://wso2.org/claims/emailaddress": "mail"}
	if _, err := e.s.CreateSAMLServiceProvider(t.Context(), store.NewSAMLServiceProvider{SAMLServiceProvider: reg}); err != nil {
		t.Fatal(err)
	}
	return &m.ServiceProvider
}

// browser follows redirects inside the IdP and keeps cookies.
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

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequestWithContext(b.t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// authn starts an SP-initiated login over HTTP-Redirect and returns the request ID and the page
// the browser ends on.
func (b *browser) authn(sp *crewjam.ServiceProvider, mutate func(*crewjam.AuthnRequest)) (string, *http.Response, string) {
	b.t.Helper()
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(crewjam.HTTPRedirectBinding),
		crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
	if err != nil {
		b.t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	u, err := req.Redirect("relay-1", sp)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, body := b.get(u.String())
	return req.ID, resp, body
}

// submitLogin fills the login page's form with alice's credentials.
func (b *browser) submitLogin(resp *http.Response, body string) (*http.Response, string) {
	b.t.Helper()
	action, values := loginForm(b.t, resp.Request.URL, body)
	values.Set("username", "alice")
	values.Set("password", alicePW)
	return b.post(action, values)
}

func loginForm(t *testing.T, base *url.URL, body string) (string, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	values := url.Values{}
	var walk func(n *html.Node, in bool)
	walk = func(n *html.Node, in bool) {
		if n.Type == html.ElementNode && n.Data == "form" && action == "" && strings.Contains(attr(n, "class"), "auth") {
			u, err := base.Parse(attr(n, "action"))
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
		t.Fatalf("no login form:\n%s", body)
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

var (
	reAction   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	reResponse = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	reRelay    = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
)

// acs posts the SAML form to the SP's validation, as the browser would, and returns its verdict.
func acs(t *testing.T, sp *crewjam.ServiceProvider, body string, requestID string) (*crewjam.Assertion, *crewjam.Response, error) {
	t.Helper()
	a, r := reAction.FindStringSubmatch(body), reResponse.FindStringSubmatch(body)
	if a == nil || r == nil {
		t.Fatalf("not a SAML POST form:\n%s", body)
	}
	form := url.Values{"SAMLResponse": {html.UnescapeString(r[1])}}
	if m := reRelay.FindStringSubmatch(body); m != nil {
		form.Set("RelayState", html.UnescapeString(m[1]))
	}
	req := httptest.NewRequest(http.MethodPost, html.UnescapeString(a[1]), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_ = req.ParseForm()
	raw, err := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	var resp crewjam.Response
	if err := xml.Unmarshal(raw, &resp); err != nil {
		t.Fatal(err)
	}
	assertion, err := sp.ParseResponse(req, []string{requestID})
	return assertion, &resp, err
}

func secondStatus(r *crewjam.Response) string {
	if r.Status.StatusCode.StatusCode == nil {
		return ""
	}
	return r.Status.StatusCode.StatusCode.Value
}

// TestSSOThroughTheLoginPage: SP-initiated Redirect → Keyflow's login page → password → the
// HTTP-POST Response samlsp accepts; then SSO without a page, ForceAuthn with one, and IsPassive
// without a session.
func TestSSOThroughTheLoginPage(t *testing.T) {
	e := newEnv(t)
	sp := e.newSP(t, true)
	b := newBrowser(t)

	id, resp, body := b.authn(sp, nil)
	if resp.Request.URL.Path != authn.PathLogin {
		t.Fatalf("SSO led to %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	resp, body = b.submitLogin(resp, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login submit = %d:\n%s", resp.StatusCode, body)
	}
	a, _, err := acs(t, sp, body, id)
	if err != nil {
		t.Fatalf("samlsp refused the response: %v", detail(err))
	}
	if a.Subject.NameID.Value != "alice@example.com" {
		t.Errorf("NameID = %+v", a.Subject.NameID)
	}
	if got := samlAttr(a, "mail"); got != "alice@example.com" {
		t.Errorf("mail attribute = %q", got)
	}
	if a.AuthnStatements[0].SessionIndex == "" {
		t.Error("no SessionIndex")
	}

	// The SSO session answers the next request without a login page.
	id, resp, body = b.authn(sp, nil)
	if resp.Request.URL.Path == authn.PathLogin {
		t.Fatalf("second login showed the login page")
	}
	if _, _, err := acs(t, sp, body, id); err != nil {
		t.Fatalf("SSO response refused: %v", detail(err))
	}

	// ForceAuthn re-authenticates.
	yes := true
	_, resp, _ = b.authn(sp, func(r *crewjam.AuthnRequest) { r.ForceAuthn = &yes })
	if resp.Request.URL.Path != authn.PathLogin {
		t.Errorf("ForceAuthn led to %s, want the login page", resp.Request.URL)
	}

	// IsPassive without a session: NoPassive, no page.
	id, resp, body = newBrowser(t).authn(sp, func(r *crewjam.AuthnRequest) { r.IsPassive = &yes })
	if resp.Request.URL.Path == authn.PathLogin {
		t.Fatalf("IsPassive showed the login page")
	}
	_, r, err := acs(t, sp, body, id)
	if err == nil || r.Status.StatusCode.Value != crewjam.StatusResponder || secondStatus(r) != crewjam.StatusNoPassive {
		t.Errorf("IsPassive answered %+v (%v)", r.Status, err)
	}
}

// TestWrongPasswordStaysOnThePage: a failed attempt shows the page again; no Response is sent.
func TestWrongPasswordStaysOnThePage(t *testing.T) {
	e := newEnv(t)
	sp := e.newSP(t, false)
	b := newBrowser(t)
	_, resp, body := b.authn(sp, nil)
	action, values := loginForm(t, resp.Request.URL, body)
	values.Set("username", "alice")
	values.Set("password", "wrong")
	resp, body = b.post(action, values)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "SAMLResponse") || resp.Request.URL.Path != authn.PathLogin {
		t.Errorf("wrong password answered %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

func samlAttr(a *crewjam.Assertion, name string) string {
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			if at.Name == name && len(at.Values) > 0 {
				return at.Values[0].Value
			}
		}
	}
	return ""
}

func detail(err error) error {
	if ire, ok := errors.AsType[*crewjam.InvalidResponseError](err); ok {
		return ire.PrivateErr
	}
	return err
}

// testWriter sends the handler's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
