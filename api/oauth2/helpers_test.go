package oauth2_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// clock is a settable clock starting at the real time (go-oidc checks exp
// against its own clock unless told otherwise).
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// env is one provider replica over an HTTP server.
type env struct {
	store   *store.Store
	clock   *clock
	keys    *jwtkeys.Manager
	op      *op.Provider
	handler http.Handler
	router  *gin.Engine
	srv     *httptest.Server
	issuer  string
	org     store.Organization
}

var (
	testKEK    = jwtkeys.KEK{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}
	testPepper = bytes.Repeat([]byte{2}, 32)
)

// newEnv starts a provider on a fresh database; opts adjust its op.Config.
func newEnv(t testing.TB, opts ...func(*op.Config)) *env {
	t.Helper()
	return newReplica(t, storetest.New(t), newClock(), "", opts...)
}

// newReplica starts a provider on s with clock c; an empty issuer means
// the server's own {base}/oauth2/token. Replicas of one deployment share
// the issuer.
func newReplica(t testing.TB, s *store.Store, c *clock, issuer string, opts ...func(*op.Config)) *env {
	t.Helper()
	return newReplicaWith(t, s, c, issuer, nil, opts...)
}

// newReplicaWith is newReplica with hcfg adjusting the handler's
// configuration (nil for none).
func newReplicaWith(t testing.TB, s *store.Store, c *clock, issuer string, hcfg func(*oauth2.Config), opts ...func(*op.Config)) *env {
	t.Helper()
	e := &env{store: s, clock: c}
	var err error
	e.keys, err = jwtkeys.New(t.Context(), jwtkeys.Config{Store: s, KEKs: []jwtkeys.KEK{testKEK}, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	e.srv = httptest.NewServer(r)
	t.Cleanup(e.srv.Close)
	e.issuer = issuer
	if e.issuer == "" {
		e.issuer = e.srv.URL + "/oauth2/token"
	}
	cfg := op.Config{Store: s, Keys: e.keys, Issuer: e.issuer, SecretPepper: testPepper, Now: c.Now,
		TokenEndpoint: e.srv.URL + "/oauth2/token"}
	for _, o := range opts {
		o(&cfg)
	}
	e.op, err = op.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc := oauth2.Config{Provider: e.op, Keys: e.keys, BaseURL: e.srv.URL}
	if hcfg != nil {
		hcfg(&hc)
	}
	h, err := oauth2.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	h.Register(r)
	e.handler, e.router = r, r
	e.org, err = s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// client creates a client with defaults suitable for client_credentials.
func (e *env) client(t testing.TB, nc op.NewClient) (id, secret string) {
	t.Helper()
	nc.OrgID = e.org.ID
	if nc.GrantTypes == nil && !nc.Public {
		nc.GrantTypes = []string{op.GrantClientCredentials}
	}
	c, secret, err := e.op.CreateClient(t.Context(), nc)
	if err != nil {
		t.Fatal(err)
	}
	return c.ClientID, secret
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// post sends a form POST; basic, when not nil, is [id, secret] for HTTP
// Basic (form-urlencoded first, RFC 6749 §2.3.1).
func (e *env) post(t testing.TB, path string, form url.Values, basic []string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
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
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func mustRequest(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
