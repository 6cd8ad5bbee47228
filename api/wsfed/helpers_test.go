package wsfed

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/gin-gonic/gin"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixedNow is the injected clock; the test certificate (testdata/idp.crt, api/saml's) is valid
// then.
var fixedNow = time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	claimGiven  = "http://wso2.org/claims/givenname"
	typeEmail   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	typeGiven   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	typeCountry = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/country"
	realm       = "urn:portal"
	reply       = "https://portal.example.com/signin"
)

// fileKeys is the tenants' key as api/saml would return it, fixed so that metadata and tokens
// are reproducible.
type fileKeys struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func (k fileKeys) SigningKey(context.Context, string, string) (*rsa.PrivateKey, *x509.Certificate, error) {
	return k.key, k.cert, nil
}

func readKeys(t testing.TB) fileKeys {
	t.Helper()
	kb, err := os.ReadFile("testdata/idp.key")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile("testdata/idp.crt")
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
	return fileKeys{key: k.(*rsa.PrivateKey), cert: c}
}

// instantLogins stands in for api/authn's BrowserLogins: it records the login input and ends the
// login at once with the view of view, as authn does for an SSO-satisfied login.
type instantLogins struct {
	h    *Handler
	view func(in flows.LoginInput) flows.View
	mu   sync.Mutex
	got  []flows.LoginInput
}

func (f *instantLogins) BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any) {
	f.mu.Lock()
	f.got = append(f.got, in)
	f.mu.Unlock()
	data, err := json.Marshal(state)
	if err != nil {
		panic(err)
	}
	f.h.CompleteLogin(c, f.view(in), data, "sess-1")
}

func (f *instantLogins) last() flows.LoginInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[len(f.got)-1]
}

// successView is a finished login of alice (a local user whose stored claims add a country).
func (e *env) successView(flows.LoginInput) flows.View {
	return flows.View{FlowID: "flow-1", Status: flows.StatusSuccess, Result: &flows.Result{
		Status: flows.StatusSuccess,
		Subject: &connectors.User{ID: e.alice.ID, Username: "alice", UserStoreDomain: "PRIMARY", IdP: "LOCAL",
			Claims: map[string]string{claimEmail: "alice@example.com"}},
		Claims: map[string]string{claimGiven: "Alice"},
		AuthenticatedSteps: []flows.AuthenticatedStep{{Step: 1, Authenticator: "BasicAuthenticator",
			IdP: "LOCAL", At: fixedNow.Add(-time.Second)}},
	}}
}

// env is the STS on a real HTTP server over a fresh database.
type env struct {
	t      testing.TB
	st     *store.Store
	org    store.Organization
	app    store.Application
	alice  store.User
	keys   fileKeys
	h      *Handler
	logins *instantLogins
	srv    *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := &env{t: t, st: storetest.New(t), keys: readKeys(t)}
	ctx := t.Context()
	var err error
	if e.org, err = e.st.EnsureRootOrganization(ctx); err != nil {
		t.Fatal(err)
	}
	if e.app, err = e.st.CreateApplication(ctx, store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "portal"}}); err != nil {
		t.Fatal(err)
	}
	if e.alice, err = e.st.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: "alice",
		Claims: map[string]string{"http://wso2.org/claims/country": "NZ"}}); err != nil {
		t.Fatal(err)
	}
	var engine atomic.Pointer[gin.Engine]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { engine.Load().ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.logins = &instantLogins{view: e.successView}
	var ids atomic.Int64
	e.h, err = New(Config{Store: e.st, Keys: e.keys, Logins: e.logins, BaseURL: e.srv.URL,
		Now:   func() time.Time { return fixedNow },
		NewID: func() string { return fmt.Sprintf("_id%d", ids.Add(1)) }})
	if err != nil {
		t.Fatal(err)
	}
	e.logins.h = e.h
	g := gin.New()
	e.h.Register(g)
	engine.Store(g)
	return e
}

// newRP registers the relying party of e.app.
func (e *env) newRP(mutate func(*store.WSFedRelyingParty)) store.WSFedRelyingParty {
	e.t.Helper()
	rp := store.WSFedRelyingParty{ApplicationID: e.app.ID, Realm: realm,
		ReplyURLs:      []string{reply, "https://portal.example.com/other"},
		LogoutReplyURL: "https://portal.example.com/bye",
		ClaimMapping: map[string]string{claimEmail: typeEmail, claimGiven: typeGiven,
			"http://wso2.org/claims/country": typeCountry}}
	if mutate != nil {
		mutate(&rp)
	}
	out, err := e.st.CreateWSFedRelyingParty(e.t.Context(), store.NewWSFedRelyingParty{WSFedRelyingParty: rp})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// client does not follow redirects.
func (e *env) client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) do(req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) get(path string, q url.Values) (*http.Response, string) {
	e.t.Helper()
	u := e.srv.URL + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodGet, u, nil)
	return e.do(req)
}

var (
	reAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	reField  = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
)

// postedForm reads the auto-submitting form: its action and fields.
func postedForm(t testing.TB, body string) (string, url.Values) {
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

// parseRSTR reads a wresult; it fails the test unless it is a well-formed RSTR.
func parseRSTR(t testing.TB, wresult string) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(wresult); err != nil {
		t.Fatalf("wresult: %v\n%s", err, wresult)
	}
	r := doc.Root()
	if r == nil || r.Tag != "RequestSecurityTokenResponse" || r.NamespaceURI() != nsTrust {
		t.Fatalf("wresult root is not a WS-Trust 2005/02 RSTR:\n%s", wresult)
	}
	return r
}

// verifyGo checks the assertion's signature with goxmldsig against cert and returns the
// signed content.
func verifyGo(t testing.TB, cert *x509.Certificate, el *etree.Element, idAttr string) *etree.Element {
	t.Helper()
	got, err := dsigContext(cert, idAttr).Validate(el.Copy())
	if err != nil {
		t.Fatalf("goxmldsig refused the signature: %v", err)
	}
	return got
}

// validateGo is verifyGo's verdict alone.
func validateGo(cert *x509.Certificate, el *etree.Element, idAttr string) error {
	_, err := dsigContext(cert, idAttr).Validate(el.Copy())
	return err
}

func dsigContext(cert *x509.Certificate, idAttr string) *dsig.ValidationContext {
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = idAttr
	vc.Clock = dsig.NewFakeClockAt(fixedNow)
	return vc
}

func newEngine(h *Handler) *gin.Engine {
	g := gin.New()
	h.Register(g)
	return g
}

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with the file, or rewrites it with -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (run with -update after checking):\n%s", file, got)
	}
}

// verifyXMLSecMetadata checks the metadata's signature with xmlsec1.
func verifyXMLSecMetadata(t testing.TB, cert *x509.Certificate, doc string) error {
	t.Helper()
	return xmlsec(t, cert, doc, "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor")
}

// verifyXMLSec checks the signature in wresult with xmlsec1, an independent XML-DSig
// implementation; it returns xmlsec1's error.
func verifyXMLSec(t testing.TB, cert *x509.Certificate, wresult string, saml11 bool) error {
	t.Helper()
	if saml11 {
		return xmlsec(t, cert, wresult, "--id-attr:AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion:Assertion")
	}
	return xmlsec(t, cert, wresult, "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
}

// xmlsec runs xmlsec1 --verify on doc against cert.
func xmlsec(t testing.TB, cert *x509.Certificate, doc string, idAttr ...string) error {
	t.Helper()
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		t.Skip("xmlsec1 not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	certFile, file := filepath.Join(dir, "idp.crt"), filepath.Join(dir, "rstr.xml")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--verify", "--pubkey-cert-pem", certFile}, idAttr...)
	out, err := exec.Command("xmlsec1", append(args, file)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// newSession stores a live SSO session of alice and returns its cookie token.
func (e *env) newSession(t testing.TB) (string, store.SSOSession) {
	t.Helper()
	token := fmt.Sprintf("tok-%d", time.Now().UnixNano())
	sum := sha256.Sum256([]byte(token))
	now := fixedNow
	s, err := e.st.CreateSSOSession(t.Context(), sum[:], store.SSOSession{OrgID: e.org.ID, UserID: e.alice.ID,
		Subject: e.alice.ID, AuthTime: now, LastActiveAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return token, s
}

func childText(el *etree.Element, path string) string {
	if c := el.FindElement(path); c != nil {
		return strings.TrimSpace(c.Text())
	}
	return ""
}
