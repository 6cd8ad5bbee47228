// Package e2e runs WS-Federation sign-ins end to end: Keyflow's passive STS (api/wsfed), signing
// with api/saml's per-tenant key, over the real login workflow (api/authn's login pages, an
// embedded Temporal server, PostgreSQL) and a browser-like client with a cookie jar.
package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/gin-gonic/gin"
	dsig "github.com/russellhaering/goxmldsig"
	"go.temporal.io/sdk/worker"
	xhtml "golang.org/x/net/html"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/saml"
	"github.com/keyflow/keyflow/api/wsfed"
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
	dir, err := os.MkdirTemp("", "wsfed-temporal-")
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

const (
	alicePW   = "U$3r-pa55"
	realm     = "urn:portal"
	reply     = "https://portal.example.com/signin"
	byeURL    = "https://portal.example.com/bye"
	typeEmail = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
)

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
	if e.app, err = e.s.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "portal"}}); err != nil {
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
	if _, err := e.s.CreateWSFedRelyingParty(ctx, store.NewWSFedRelyingParty{WSFedRelyingParty: store.WSFedRelyingParty{
		ApplicationID: e.app.ID, Realm: realm, ReplyURLs: []string{reply}, LogoutReplyURL: byeURL,
		ClaimMapping: map[string]string{"http://wso2.org/claims/emailaddress": typeEmail}}}); err != nil {
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
	queue := "wsfed-" + t.Name()
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

	// HTTP: the login pages (api/authn), the SAML IdP (the signing keys) and the passive STS.
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
	late := &saml.DeferredLogins{}
	sh, err := saml.New(saml.Config{Store: e.s, Logins: late, BaseURL: e.srv.URL, KEKs: []jwtkeys.KEK{kek}})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := wsfed.New(wsfed.Config{Store: e.s, Keys: sh, Logins: late, BaseURL: e.srv.URL,
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
		Claims:     e.s,
		Completers: map[string]authn.Completer{saml.ProtocolSAML: sh, wsfed.ProtocolWSFed: wh}})
	if err != nil {
		t.Fatal(err)
	}
	late.Target = ah
	ah.Register(r)
	sh.Register(r)
	wh.Register(r)
	return e
}

// browser keeps cookies and follows redirects inside Keyflow, stopping at the relying party.
type browser struct {
	t *testing.T
	c *http.Client
}

func (e *env) newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(e.srv.URL, "http://")
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != host {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
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

func (e *env) signIn(b *browser, wctx string) (*http.Response, string) {
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {realm}, "wctx": {wctx}}
	return b.get(e.srv.URL + wsfed.PathPassiveSTS + "?" + q.Encode())
}

// submitLogin fills the login page's form with alice's credentials.
func (b *browser) submitLogin(resp *http.Response, body string) (*http.Response, string) {
	b.t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	var action string
	values := url.Values{}
	var walk func(n *xhtml.Node, in bool)
	walk = func(n *xhtml.Node, in bool) {
		if n.Type == xhtml.ElementNode && n.Data == "form" && action == "" && strings.Contains(attr(n, "class"), "auth") {
			u, err := resp.Request.URL.Parse(attr(n, "action"))
			if err != nil {
				b.t.Fatal(err)
			}
			action, in = u.String(), true
		}
		if in && n.Type == xhtml.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, in)
		}
	}
	walk(doc, false)
	if action == "" {
		b.t.Fatalf("no login form:\n%s", body)
	}
	values.Set("username", "alice")
	values.Set("password", alicePW)
	return b.post(action, values)
}

func attr(n *xhtml.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

var (
	reAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	reField  = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
	reCert   = regexp.MustCompile(`<X509Certificate>([^<]+)</X509Certificate>`)
)

// postedForm reads the auto-submitting form to the relying party.
func postedForm(t *testing.T, body string) (string, url.Values) {
	t.Helper()
	a := reAction.FindStringSubmatch(body)
	if a == nil {
		t.Fatalf("not a WS-Federation POST form:\n%s", body)
	}
	v := url.Values{}
	for _, m := range reField.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return html.UnescapeString(a[1]), v
}

// stsCertificate is the token signing certificate of the federation metadata.
func (e *env) stsCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	resp, err := http.Get(e.srv.URL + wsfed.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	m := reCert.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("metadata = %d:\n%s", resp.StatusCode, body)
	}
	der, err := base64.StdEncoding.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// checkToken verifies the RSTR's SAML 1.1 assertion with goxmldsig and xmlsec1 against the
// metadata's certificate and checks what it asserts.
func checkToken(t *testing.T, cert *x509.Certificate, wresult string) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(wresult); err != nil {
		t.Fatal(err)
	}
	if doc.Root().Tag != "RequestSecurityTokenResponse" || strings.Contains(wresult, "InResponseTo") {
		t.Fatalf("not an RSTR for WS-Federation:\n%s", wresult)
	}
	a := doc.Root().FindElement("t:RequestedSecurityToken/saml:Assertion")
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "AssertionID"
	vc.Clock = dsig.NewFakeClockAt(time.Now())
	signed, err := vc.Validate(a)
	if err != nil {
		t.Fatalf("goxmldsig refused the token: %v\n%s", err, wresult)
	}
	if got := signed.FindElement("saml:Conditions/saml:AudienceRestrictionCondition/saml:Audience"); got == nil || got.Text() != realm {
		t.Errorf("audience = %v", got)
	}
	if got := signed.FindElement("saml:AuthenticationStatement/saml:Subject/saml:NameIdentifier"); got == nil || got.Text() != "alice" {
		t.Errorf("NameIdentifier = %v", got)
	}
	at := signed.FindElement("saml:AttributeStatement/saml:Attribute")
	if at == nil || at.SelectAttrValue("AttributeNamespace", "")+"/"+at.SelectAttrValue("AttributeName", "") != typeEmail ||
		at.FindElement("saml:AttributeValue").Text() != "alice@example.com" {
		t.Errorf("attribute = %v", at)
	}
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		t.Log("xmlsec1 not installed; skipping its verification")
		return
	}
	dir := t.TempDir()
	certFile, file := filepath.Join(dir, "sts.crt"), filepath.Join(dir, "rstr.xml")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600)
	_ = os.WriteFile(file, []byte(wresult), 0o600)
	out, err := exec.Command("xmlsec1", "--verify", "--pubkey-cert-pem", certFile,
		"--id-attr:AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion:Assertion", file).CombinedOutput()
	if err != nil {
		t.Fatalf("xmlsec1 refused the token: %v\n%s", err, out)
	}
}

// TestSignInSSOAndSignOut: wsignin1.0 → the login page → password → the token posted to the
// reply URL with wctx; the SSO session answers the next sign-in without a page; wsignout1.0
// ends it, and the sign-in after shows the login page again.
func TestSignInSSOAndSignOut(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser(t)
	cert := e.stsCertificate(t)

	resp, body := e.signIn(b, "ctx-1")
	if resp.Request.URL.Path != authn.PathLogin {
		t.Fatalf("sign-in led to %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	resp, body = b.submitLogin(resp, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login submit = %d:\n%s", resp.StatusCode, body)
	}
	action, form := postedForm(t, body)
	if action != reply || form.Get("wa") != "wsignin1.0" || form.Get("wctx") != "ctx-1" {
		t.Fatalf("form to %s: %v", action, form)
	}
	checkToken(t, cert, form.Get("wresult"))

	// SSO: no page the second time.
	resp, body = e.signIn(b, "ctx-2")
	if resp.Request.URL.Path == authn.PathLogin {
		t.Fatal("second sign-in showed the login page")
	}
	_, form = postedForm(t, body)
	if form.Get("wctx") != "ctx-2" {
		t.Errorf("wctx = %q", form.Get("wctx"))
	}
	checkToken(t, cert, form.Get("wresult"))

	// Sign-out ends the session and sends the browser to the registered reply.
	resp, _ = b.get(e.srv.URL + wsfed.PathPassiveSTS + "?" + url.Values{"wa": {"wsignout1.0"}, "wreply": {byeURL}}.Encode())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != byeURL {
		t.Fatalf("sign-out = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = e.signIn(b, "ctx-3")
	if resp.Request.URL.Path != authn.PathLogin {
		t.Fatalf("sign-in after sign-out led to %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
	}
}

// TestOneCertificateForSAMLAndWSFed: the passive STS signs with the SAML IdP's key.
func TestOneCertificateForSAMLAndWSFed(t *testing.T) {
	e := newEnv(t)
	cert := e.stsCertificate(t)
	resp, err := http.Get(e.srv.URL + saml.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), base64.StdEncoding.EncodeToString(cert.Raw)) {
		t.Errorf("the SAML metadata does not publish the STS certificate:\n%s", body)
	}
}

// testWriter sends the handler's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
