package ratelimit_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/branding"
	"github.com/keyflow/keyflow/api/device"
	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/ratelimit"
	"github.com/keyflow/keyflow/api/scim"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
	"github.com/keyflow/keyflow/ui"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// logBuffer collects the server's logs; handlers write while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is the HTTP edge (api.New) with the real OAuth2 provider, app-native and login pages,
// SCIM and a management API on a fresh database, behind a Guard whose clock does not move:
// no bucket refills during a test.
type server struct {
	url   string
	logs  *logBuffer
	prov  *op.Provider
	orgID string // the root organization's
}

// newServer starts the edge; trusted are its trusted proxies, limits the Guard's.
func newServer(t *testing.T, trusted []string, limits map[ratelimit.Class]ratelimit.Limit) *server {
	t.Helper()
	ctx := t.Context()
	s := storetest.New(t)
	root, err := s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var edge http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { edge.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)

	keys, err := jwtkeys.New(ctx, jwtkeys.Config{Store: s, KEKs: []jwtkeys.KEK{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := basic.New(basic.Config{HashParams: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}},
		basic.Deps{Users: s, Organizations: s})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := op.New(op.Config{Store: s, Keys: keys, Issuer: srv.URL + "/oauth2/token", SecretPepper: bytes.Repeat([]byte{2}, 32),
		TokenEndpoint: srv.URL + "/oauth2/token", Passwords: passwords})
	if err != nil {
		t.Fatal(err)
	}
	oh, err := oauth2.New(oauth2.Config{Provider: prov, Keys: keys, BaseURL: srv.URL,
		AuthorizationEndpoint: srv.URL + "/oauth2/authorize", DeviceVerificationURI: srv.URL + "/oauth2/device"})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := ui.New(ui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// No request of these tests reaches a login workflow: they are refused, or fail validation
	// before one would start.
	ah, err := authn.New(authn.Config{Applications: s, Provider: prov, Logins: &authn.Temporal{}, BaseURL: srv.URL,
		MountAuthorize: true, UI: pages, AllowedOrigins: []string{spaOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := scim.New(scim.Config{Store: s, BaseURL: srv.URL, Passwords: prov})
	if err != nil {
		t.Fatal(err)
	}
	bh, err := branding.New(branding.Config{Store: s, Tokens: prov})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	frozen := newClock()
	guard, err := ratelimit.New(ratelimit.Config{Limits: limits, Pages: pages, TraceID: api.RequestID, Logger: log,
		Registerer: reg, Now: frozen.Now, CORS: ah.CORSHeaders})
	if err != nil {
		t.Fatal(err)
	}
	edge, err = api.New(api.Config{Logger: log, Registry: reg, Routes: []api.Routes{oh, ah, sh, bh},
		TrustedProxies: trusted, RootTenant: store.RootOrganizationHandle, RateLimit: guard})
	if err != nil {
		t.Fatal(err)
	}
	return &server{url: srv.URL, logs: logs, prov: prov, orgID: root.ID}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// call sends a request; hdr sets headers ("Content-Type" included).
func (s *server) call(t *testing.T, method, path, body string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (s *server) form(t *testing.T, path string, v url.Values, hdr map[string]string) response {
	t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, x := range hdr {
		h[k] = x
	}
	return s.call(t, http.MethodPost, path, v.Encode(), h)
}

// Every class gets 6 requests a minute and a burst of 2: the third request is refused, and
// the bucket is one token short, i.e. 10 s.
var tight = ratelimit.Limit{PerMinute: 6, Burst: 2}

func allTight() map[ratelimit.Class]ratelimit.Limit {
	return map[ratelimit.Class]ratelimit.Limit{ratelimit.Login: tight, ratelimit.Token: tight, ratelimit.Basic: tight}
}

func expectRefused(t *testing.T, what string, r response, contentType string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429: %s", what, r.status, r.body)
	}
	if got := r.header.Get("Retry-After"); got != "10" {
		t.Fatalf("%s: Retry-After %q, want \"10\"", what, got)
	}
	if got := r.header.Get("Content-Type"); !strings.HasPrefix(got, contentType) {
		t.Fatalf("%s: Content-Type %q, want %s", what, got, contentType)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("%s: Cache-Control %q", what, got)
	}
}

func expectPassed(t *testing.T, what string, r response) {
	t.Helper()
	if r.status == http.StatusTooManyRequests || r.status >= 500 {
		t.Fatalf("%s: status %d, want the handler's answer: %s", what, r.status, r.body)
	}
}

func TestOAuth2EndpointsOverLimit(t *testing.T) {
	s := newServer(t, nil, allTight())
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"wrong"}}
	// The budget is spent on wrong client credentials, also through the tenant-qualified URL.
	for _, path := range []string{"/oauth2/token", "/t/carbon.super/oauth2/token"} {
		r := s.form(t, path, cc, nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%s under the limit: %d %s", path, r.status, r.body)
		}
	}
	tests := []struct {
		name, path string
		form       url.Values
		wantCode   string
	}{
		{"token", "/oauth2/token", cc, op.CodeTemporarilyUnavailable},
		{"token, tenant-qualified", "/t/carbon.super/oauth2/token", cc, op.CodeTemporarilyUnavailable},
		{"device code poll", "/oauth2/token", url.Values{"grant_type": {op.GrantDeviceCode}, "device_code": {"x"}, "client_id": {"c"}}, op.CodeSlowDown},
		{"pushed authorization request", "/oauth2/par", url.Values{"client_id": {"c"}, "response_type": {"code"}}, op.CodeTemporarilyUnavailable},
		{"device authorization", "/oauth2/device_authorize", url.Values{"client_id": {"c"}}, op.CodeTemporarilyUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.form(t, tc.path, tc.form, nil)
			expectRefused(t, tc.path, r, "application/json")
			body := r.json(t)
			if body["error"] != tc.wantCode || !strings.Contains(body["error_description"].(string), "Retry after 10 seconds") {
				t.Fatalf("body %v, want error %s", body, tc.wantCode)
			}
		})
	}
}

// Relying parties' back ends exchange codes and refresh tokens for all their users from a few
// addresses: at the token endpoint successful requests cost nothing, refused ones spend the
// budget, and once it is spent every request of that client address waits.
func TestTokenEndpointCountsFailures(t *testing.T) {
	s := newServer(t, nil, allTight())
	c, secret, err := s.prov.CreateClient(t.Context(), op.NewClient{OrgID: s.orgID, Name: "backend",
		GrantTypes: []string{op.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {secret}}
	for i := range 3 * tight.Burst {
		if r := s.form(t, "/oauth2/token", good, nil); r.status != http.StatusOK {
			t.Fatalf("token request %d with the right secret: %d %s", i+1, r.status, r.body)
		}
	}
	// A device polling before the user approved gets 400 authorization_pending: not charged.
	poll := url.Values{"grant_type": {op.GrantDeviceCode}, "device_code": {"unknown"}, "client_id": {c.ClientID},
		"client_secret": {secret}}
	for i := range 3 * tight.Burst {
		if r := s.form(t, "/oauth2/token", poll, nil); r.status == http.StatusTooManyRequests {
			t.Fatalf("device poll %d refused: %s", i+1, r.body)
		}
	}
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {"wrong"}}
	for i := range tight.Burst {
		if r := s.form(t, "/oauth2/token", bad, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong secret %d: %d %s", i+1, r.status, r.body)
		}
	}
	expectRefused(t, "wrong secret over the budget", s.form(t, "/oauth2/token", bad, nil), "application/json")
	expectRefused(t, "right secret after the budget is spent", s.form(t, "/oauth2/token", good, nil), "application/json")
}

// spaOrigin is a browser app allowed to call the app-native API (CORS).
const spaOrigin = "https://spa.example.com"

func TestAppNativeOverLimit(t *testing.T) {
	s := newServer(t, nil, allTight())
	for _, path := range []string{"/oauth2/authn", "/t/carbon.super/oauth2/authn"} {
		r := s.call(t, http.MethodPost, path, `{}`, map[string]string{"Content-Type": "application/json"})
		if r.status != http.StatusBadRequest || r.json(t)["code"] != "ABA-60009" {
			t.Fatalf("%s under the limit: %d %s", path, r.status, r.body)
		}
	}
	direct := url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {"https://app/cb"},
		"response_mode": {"direct"}}.Encode()
	tests := []struct {
		name, path, body, contentType string
	}{
		{"authn", "/oauth2/authn", `{"flowId":"f"}`, "application/json"},
		{"authn, tenant-qualified", "/t/carbon.super/oauth2/authn", `{}`, "application/json"},
		{"authorize, response_mode=direct", "/oauth2/authorize", direct, "application/x-www-form-urlencoded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, http.MethodPost, tc.path, tc.body, map[string]string{"Content-Type": tc.contentType,
				"Origin": spaOrigin})
			expectRefused(t, tc.path, r, "application/json")
			// A browser app calling from its origin can read the refusal.
			if got := r.header.Get("Access-Control-Allow-Origin"); got != spaOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, spaOrigin)
			}
			body := r.json(t)
			if body["code"] != "ABA-60001" || body["message"] != "Invalid authentication request." ||
				!strings.Contains(body["description"].(string), "Retry after 10 seconds") {
				t.Fatalf("body %v, want ABA-60001", body)
			}
			if id := r.header.Get(api.RequestIDHeader); id == "" || body["traceId"] != id {
				t.Fatalf("traceId %v, request id %q", body["traceId"], id)
			}
		})
	}
	// Three refusals, one warning; all three counted.
	if n := strings.Count(s.logs.String(), "rate limit: client over its budget"); n != 1 {
		t.Fatalf("%d warnings logged, want 1:\n%s", n, s.logs.String())
	}
	metrics := s.call(t, http.MethodGet, "/metrics", "", nil).body
	if !strings.Contains(metrics, `keyflow_rate_limited_requests_total{class="login"} 3`) ||
		!strings.Contains(metrics, `keyflow_rate_limit_tracked_clients{class="login"} 1`) {
		t.Fatalf("metrics lack the refusals or the tracked client:\n%s", grep(metrics, "rate_limit"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestLoginFormOverLimit(t *testing.T) {
	s := newServer(t, nil, allTight())
	login := url.Values{"sessionDataKey": {"f"}, "username": {"alice"}, "password": {"guess"}}
	for range 2 {
		r := s.form(t, authn.PathLogin, login, nil)
		if r.status != http.StatusForbidden || !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("under the limit: %d %s", r.status, r.body)
		}
	}
	browser := url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {"https://app/cb"}}
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"login form", authn.PathLogin, login},
		{"browser authorization POST", "/oauth2/authorize", browser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.form(t, tc.path, tc.form, map[string]string{"Accept-Language": "es"})
			expectRefused(t, tc.path, r, "text/html")
			// The page speaks the user's language (ui/locales, error.rateLimited).
			for _, want := range []string{"<html", "429", "Demasiados intentos desde tu red."} {
				if !strings.Contains(r.body, want) {
					t.Fatalf("page lacks %q:\n%s", want, r.body)
				}
			}
			if r.header.Get("Content-Security-Policy") == "" || r.header.Get("X-Frame-Options") != "DENY" {
				t.Fatalf("page without the security headers: %v", r.header)
			}
		})
	}
}

// TestClientAddress: the key is gin's ClientIP: X-Forwarded-For from a trusted proxy names
// the client, so other clients behind it keep their budget; from anyone else it is ignored,
// so a client cannot dodge the limit by making up addresses.
func TestClientAddress(t *testing.T) {
	authnReq := func(s *server, xff string) response {
		hdr := map[string]string{"Content-Type": "application/json"}
		if xff != "" {
			hdr["X-Forwarded-For"] = xff
		}
		return s.call(t, http.MethodPost, "/oauth2/authn", `{}`, hdr)
	}
	t.Run("behind a trusted proxy", func(t *testing.T) {
		s := newServer(t, []string{"127.0.0.1"}, allTight())
		for range 2 {
			expectPassed(t, "203.0.113.1 under the limit", authnReq(s, "203.0.113.1"))
		}
		expectRefused(t, "203.0.113.1 over the limit", authnReq(s, "203.0.113.1"), "application/json")
		expectPassed(t, "another client behind the proxy", authnReq(s, "203.0.113.2"))
		expectPassed(t, "the proxy itself", authnReq(s, ""))
		// A client that prepends its own entry is still known by the address the proxy appended.
		expectRefused(t, "203.0.113.1 with a forged entry", authnReq(s, "198.51.100.9, 203.0.113.1"), "application/json")
	})
	t.Run("from an untrusted peer", func(t *testing.T) {
		s := newServer(t, nil, allTight())
		expectPassed(t, "first", authnReq(s, "203.0.113.1"))
		expectPassed(t, "second", authnReq(s, "203.0.113.2"))
		expectRefused(t, "third, another forged address", authnReq(s, "203.0.113.3"), "application/json")
	})
}

// TestNotLimited: discovery, JWKS, introspection and userinfo are served at any rate, and a
// spent budget does not spill over to them.
func TestNotLimited(t *testing.T) {
	s := newServer(t, nil, allTight())
	for range 3 {
		s.form(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, nil)
		s.call(t, http.MethodPost, "/oauth2/authn", `{}`, nil)
	}
	for range 10 {
		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/.well-known/openid-configuration"},
			{http.MethodGet, "/oauth2/jwks"},
			{http.MethodGet, "/t/carbon.super/oauth2/jwks"},
			{http.MethodPost, "/oauth2/introspect"},
			{http.MethodGet, "/oauth2/userinfo"},
		} {
			r := s.call(t, tc.method, tc.path, "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			expectPassed(t, tc.method+" "+tc.path, r)
			if tc.method == http.MethodGet && tc.path != "/oauth2/userinfo" && r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
			}
		}
	}
}

// TestBasicFailures: on SCIM and the management APIs only failed HTTP Basic authentications
// spend the budget; once spent, Basic requests are refused in each API's error format before
// the password is checked, and other requests still pass.
func TestBasicFailures(t *testing.T) {
	s := newServer(t, nil, allTight())
	basic := func(user, pw string) map[string]string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pw)
		return map[string]string{"Authorization": req.Header.Get("Authorization")}
	}
	for range 3 {
		r := s.call(t, http.MethodGet, "/scim2/Users", "", map[string]string{"Authorization": "Bearer nope"})
		if r.status != http.StatusUnauthorized {
			t.Fatalf("bearer failure: %d %s", r.status, r.body)
		}
	}
	for _, tc := range []struct{ method, path string }{{http.MethodGet, "/scim2/Users"}, {http.MethodPost, branding.Path}} {
		if r := s.call(t, tc.method, tc.path, `{}`, basic("nobody", "wrong")); r.status != http.StatusUnauthorized {
			t.Fatalf("%s under the limit: %d %s", tc.path, r.status, r.body)
		}
	}
	r := s.call(t, http.MethodGet, "/t/carbon.super/scim2/Users", "", basic("admin", "guess"))
	expectRefused(t, "SCIM", r, "application/scim+json")
	if body := r.json(t); body["status"] != "429" || body["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Fatalf("SCIM body %v", body)
	}
	r = s.call(t, http.MethodPost, branding.Path, `{}`, basic("admin", "guess"))
	expectRefused(t, "management API", r, "application/json")
	if body := r.json(t); body["code"] != "429" || body["traceId"] != r.header.Get(api.RequestIDHeader) {
		t.Fatalf("management API body %v", body)
	}
	if r := s.call(t, http.MethodGet, "/scim2/Users", "", map[string]string{"Authorization": "Bearer nope"}); r.status != http.StatusUnauthorized {
		t.Fatalf("bearer request after the Basic budget is spent: %d %s", r.status, r.body)
	}
}

func TestDisabledClass(t *testing.T) {
	s := newServer(t, nil, map[ratelimit.Class]ratelimit.Limit{ratelimit.Token: tight})
	for range 5 {
		expectPassed(t, "app-native without a Login limit", s.call(t, http.MethodPost, "/oauth2/authn", `{}`, nil))
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  ratelimit.Config
	}{
		{"negative limit", ratelimit.Config{Limits: map[ratelimit.Class]ratelimit.Limit{ratelimit.Login: {PerMinute: -1}}}},
		{"rule without format", ratelimit.Config{Limits: map[ratelimit.Class]ratelimit.Limit{ratelimit.Login: tight},
			Rules: []ratelimit.Rule{{Route: "/x", Class: ratelimit.Login}}}},
		{"duplicate rule", ratelimit.Config{Limits: map[ratelimit.Class]ratelimit.Limit{ratelimit.Login: tight},
			Rules: []ratelimit.Rule{{Route: "/x", Class: ratelimit.Login, Format: ratelimit.Page},
				{Route: "/x", Class: ratelimit.Login, Format: ratelimit.OAuth2}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ratelimit.New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestDefaultRulesFollowRoutes: the rules name the front-ends' own path constants, with and
// without /t/{tenant} where a front-end routes both.
func TestDefaultRulesFollowRoutes(t *testing.T) {
	have := map[string]ratelimit.Class{}
	for _, r := range ratelimit.DefaultRules() {
		have[r.Method+" "+r.Route] = r.Class
	}
	want := map[string]ratelimit.Class{
		"POST " + authn.PathAuthn:               ratelimit.Login,
		"POST /t/:tenant" + authn.PathAuthn:     ratelimit.Login,
		"POST " + authn.PathAuthorize:           ratelimit.Login,
		"POST /t/:tenant" + authn.PathAuthorize: ratelimit.Login,
		"POST " + authn.PathLogin:               ratelimit.Login,
		"POST " + device.PathDevice:             ratelimit.Login,
		"POST /t/:tenant" + device.PathDevice:   ratelimit.Login,
		"POST " + oauth2.PathToken:              ratelimit.Token,
		"POST " + oauth2.PathPAR:                ratelimit.Token,
		"POST " + oauth2.PathDeviceAuthorize:    ratelimit.Token,
		" /scim2/":                              ratelimit.Basic,
		" /t/:tenant/scim2/":                    ratelimit.Basic,
		" /o/:org/scim2/":                       ratelimit.Basic,
		" /api/":                                ratelimit.Basic,
	}
	for k, class := range want {
		if have[k] != class {
			t.Errorf("rule %q: class %q, want %q", k, have[k], class)
		}
	}
	for _, unlimited := range []string{oauth2.PathJWKS, oauth2.PathIntrospect, oauth2.PathUserInfo, oauth2.PathRevoke, oauth2.PathDiscovery} {
		for _, m := range []string{"GET ", "POST "} {
			if _, ok := have[m+unlimited]; ok {
				t.Errorf("%s%s is limited", m, unlimited)
			}
		}
	}
}
