package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/gin-gonic/gin"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixedNow is the injected clock of the deterministic tests; the test certificates are valid
// then.
var fixedNow = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

var testKEK = jwtkeys.KEK{ID: "test-kek", Key: []byte("0123456789abcdef0123456789abcdef")}

func readKeyPair(t testing.TB, name string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	kb, err := os.ReadFile("testdata/" + name + ".key")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile("testdata/" + name + ".crt")
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

// fakeLogins stands in for api/authn's BrowserLogins: it records the login input and ends the
// login at once with the view view returns, as authn does for an SSO-satisfied login.
type fakeLogins struct {
	h    *Handler
	view func(in flows.LoginInput) flows.View
	mu   sync.Mutex
	got  []flows.LoginInput
	// session is the SSO session id handed to CompleteLogin ("sess-1" when empty).
	session atomic.Pointer[string]
}

func (f *fakeLogins) BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any) {
	f.mu.Lock()
	f.got = append(f.got, in)
	f.mu.Unlock()
	data, err := json.Marshal(state)
	if err != nil {
		panic(err)
	}
	sid := "sess-1"
	if p := f.session.Load(); p != nil {
		sid = *p
	}
	f.h.CompleteLogin(c, f.view(in), data, sid)
}

func (f *fakeLogins) inputs() []flows.LoginInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]flows.LoginInput(nil), f.got...)
}

// successView is a finished login of alice.
func successView(flows.LoginInput) flows.View {
	return flows.View{FlowID: "flow-1", Status: flows.StatusSuccess, Result: &flows.Result{
		Status: flows.StatusSuccess,
		Subject: &connectors.User{ID: "u-alice", Username: "alice", UserStoreDomain: "PRIMARY", IdP: "LOCAL",
			Claims: map[string]string{claimEmail: "alice@example.com"}},
		Claims: map[string]string{"http://wso2.org/claims/givenname": "Alice", claimEmail: "alice@example.com"},
		ACR:    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
		AuthenticatedSteps: []flows.AuthenticatedStep{{Step: 1, Authenticator: "BasicAuthenticator",
			IdP: "LOCAL", At: fixedNow.Add(-time.Second)}},
	}}
}

// env is an IdP on a real HTTP server over a fresh database.
type env struct {
	t      testing.TB
	st     *store.Store
	org    store.Organization
	app    store.Application
	h      *Handler
	logins *fakeLogins
	srv    *httptest.Server
	now    atomic.Pointer[time.Time]
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := &env{t: t, st: storetest.New(t)}
	now := fixedNow
	e.now.Store(&now)
	ctx := t.Context()
	var err error
	if e.org, err = e.st.EnsureRootOrganization(ctx); err != nil {
		t.Fatal(err)
	}
	if e.app, err = e.st.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "wiki"}}); err != nil {
		t.Fatal(err)
	}
	// The IdP key is fixed (testdata/idp.*) so that metadata and responses are reproducible.
	key, cert := readKeyPair(t, "idp")
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal(testKEK, e.org.ID, pkcs8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateSAMLSigningKey(ctx, store.SAMLSigningKey{OrgID: e.org.ID, Certificate: cert.Raw,
		PrivateKey: sealed, KEKID: testKEK.ID}); err != nil {
		t.Fatal(err)
	}
	var engine atomic.Pointer[gin.Engine]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { engine.Load().ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.logins = &fakeLogins{view: successView}
	var ids atomic.Int64
	cfg := Config{Store: e.st, Logins: e.logins, BaseURL: e.srv.URL, KEKs: []jwtkeys.KEK{testKEK},
		Now:   func() time.Time { return *e.now.Load() },
		NewID: func() string { return fmt.Sprintf("_id%d", ids.Add(1)) }}
	for _, o := range opts {
		o(&cfg)
	}
	if e.h, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	e.logins.h = e.h
	g := gin.New()
	e.h.Register(g)
	engine.Store(g)
	return e
}

// client does not follow redirects.
func (e *env) client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) get(u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client().Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) postForm(u string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client().PostForm(u, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// sp is crewjam's samlsp service provider, registered with the IdP from its own metadata.
type sp struct {
	m      *samlsp.Middleware
	reg    store.SAMLServiceProvider
	lastID string
}

type spOption func(*samlsp.Options, *store.SAMLServiceProvider)

func (e *env) newSP(opts ...spOption) *sp {
	e.t.Helper()
	key, cert := readKeyPair(e.t, "sp")
	resp, body := e.get(e.srv.URL + PathMetadata)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	idpMeta, err := samlsp.ParseMetadata([]byte(body))
	if err != nil {
		e.t.Fatal(err)
	}
	root, _ := url.Parse("https://sp.example.com/app")
	o := samlsp.Options{URL: *root, Key: key, Certificate: cert, IDPMetadata: idpMeta}
	var reg store.SAMLServiceProvider
	for _, f := range opts {
		f(&o, nil)
	}
	m, err := samlsp.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	m.ServiceProvider.Clock = dsig.NewFakeClockAt(*e.now.Load())
	// crewjam asks for transient NameIDs by default; leave the choice to the SP's registration
	// (tests that need a NameIDPolicy set it on the request).
	m.ServiceProvider.AuthnNameIDFormat = crewjam.UnspecifiedNameIDFormat
	// Metadata exchange: the SP's own metadata document is what registers it.
	spMeta, err := xml.Marshal(m.ServiceProvider.Metadata())
	if err != nil {
		e.t.Fatal(err)
	}
	reg, err = ParseSPMetadata(spMeta)
	if err != nil {
		e.t.Fatal(err)
	}
	reg.ApplicationID = e.app.ID
	reg.AttributeMapping = map[string]string{claimEmail: "email", "http://wso2.org/claims/givenname": "givenName"}
	reg.NameIDFormat = string(crewjam.EmailAddressNameIDFormat)
	for _, f := range opts {
		f(nil, &reg)
	}
	if reg, err = e.st.CreateSAMLServiceProvider(e.t.Context(), store.NewSAMLServiceProvider{SAMLServiceProvider: reg}); err != nil {
		e.t.Fatal(err)
	}
	return &sp{m: m, reg: reg}
}

func withSP(f func(*store.SAMLServiceProvider)) spOption {
	return func(_ *samlsp.Options, r *store.SAMLServiceProvider) {
		if r != nil {
			f(r)
		}
	}
}

func withSPOptions(f func(*samlsp.Options)) spOption {
	return func(o *samlsp.Options, _ *store.SAMLServiceProvider) {
		if o != nil {
			f(o)
		}
	}
}

// redirectRequest makes an AuthnRequest for the HTTP-Redirect binding (signed when the SP signs
// requests) and returns its URL and ID.
func (s *sp) redirectRequest(t *testing.T, relay string, mutate func(*crewjam.AuthnRequest)) (string, string) {
	t.Helper()
	sp := &s.m.ServiceProvider
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(crewjam.HTTPRedirectBinding),
		crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	u, err := req.Redirect(relay, sp)
	if err != nil {
		t.Fatal(err)
	}
	return u.String(), req.ID
}

var (
	reAction   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	reResponse = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	reRelay    = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
)

// postedForm reads the HTTP-POST binding page.
func postedForm(t *testing.T, body string) (action, samlResponse, relay string) {
	t.Helper()
	a := reAction.FindStringSubmatch(body)
	r := reResponse.FindStringSubmatch(body)
	if a == nil || r == nil {
		t.Fatalf("not a SAML POST form:\n%s", body)
	}
	if m := reRelay.FindStringSubmatch(body); m != nil {
		relay = html.UnescapeString(m[1])
	}
	return html.UnescapeString(a[1]), html.UnescapeString(r[1]), relay
}

func xmlBytes(t *testing.T, el *etree.Element) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// acsRequest is the browser's POST of the form to the SP's ACS.
func acsRequest(action, samlResponse, relay string) *http.Request {
	form := url.Values{"SAMLResponse": {samlResponse}}
	if relay != "" {
		form.Set("RelayState", relay)
	}
	r := httptest.NewRequest(http.MethodPost, action, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_ = r.ParseForm()
	return r
}

// parse validates a posted Response the way the SP's ACS does.
func (s *sp) parse(t *testing.T, body string, requestIDs ...string) (*crewjam.Assertion, error) {
	t.Helper()
	action, resp, relay := postedForm(t, body)
	return s.m.ServiceProvider.ParseResponse(acsRequest(action, resp, relay), requestIDs)
}

// decodeResponse reads the Response of a POST form without validating it.
func decodeResponse(t *testing.T, body string) (*crewjam.Response, []byte) {
	t.Helper()
	_, b64, _ := postedForm(t, body)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var r crewjam.Response
	if err := xml.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return &r, raw
}

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }

// statusOf is the top and second-level status of a Response.
func statusOf(r *crewjam.Response) (string, string) {
	second := ""
	if r.Status.StatusCode.StatusCode != nil {
		second = r.Status.StatusCode.StatusCode.Value
	}
	return r.Status.StatusCode.Value, second
}
