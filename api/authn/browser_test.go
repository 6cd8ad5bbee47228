package authn_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/ui"
)

func newRenderer(t *testing.T) *ui.Renderer {
	t.Helper()
	r, err := ui.New(ui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// browser is a user agent with a cookie jar that follows redirects except those to the
// client's redirect URI, which it leaves for the test to read.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

type page struct {
	status int
	header http.Header
	url    *url.URL
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL, body: string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// authorizeURL is a browser authorization request (code + PKCE, no response_mode=direct).
func (e *env) authorizeURL(clientID string, p pkce, change func(url.Values)) string {
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"state": {"st-123"}, "scope": {"openid"}, "code_challenge": {p.challenge}, "code_challenge_method": {"S256"}}
	if change != nil {
		change(q)
	}
	return e.srv.URL + "/oauth2/authorize?" + q.Encode()
}

// loginForm is the first authenticator form of a login page: its absolute action and fields.
type loginForm struct {
	action string
	values url.Values
}

func parseLoginForm(t *testing.T, p page) loginForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var found *loginForm
	var walk func(n *html.Node, f *loginForm)
	walk = func(n *html.Node, f *loginForm) {
		if n.Type == html.ElementNode && n.Data == "form" && found == nil && strings.Contains(attr(n, "class"), "auth") {
			action, err := p.url.Parse(attr(n, "action"))
			if err != nil {
				t.Fatal(err)
			}
			f = &loginForm{action: action.String(), values: url.Values{}}
			found = f
		}
		if f != nil && n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			f.values.Set(attr(n, "name"), attr(n, "value"))
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, f)
		}
	}
	walk(doc, nil)
	if found == nil {
		t.Fatalf("no login form on the page (status %d):\n%s", p.status, p.body)
	}
	return *found
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// errorMessages are the texts of the page's error messages.
func errorMessages(t *testing.T, p page) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "p" && strings.Contains(attr(n, "class"), "msg-error") && n.FirstChild != nil {
			out = append(out, strings.TrimSpace(n.FirstChild.Data))
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	return out
}

func expectPageHeaders(t *testing.T, what string, p page) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":   "no-store",
		"X-Frame-Options": "DENY",
	}
	// Our own assets (branding may add its logo's and stylesheet's origins), never framed.
	if csp := p.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'; img-src 'self' data:") ||
		!strings.HasSuffix(csp, "; frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
	for k, v := range want {
		if got := p.header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: Content-Type %q", what, p.header.Get("Content-Type"))
	}
}

// startBrowserLogin runs the authorization request and returns the login page it leads to.
func (e *env) startBrowserLogin(t *testing.T, b *browser, clientID string, p pkce) page {
	t.Helper()
	pg := b.get(e.authorizeURL(clientID, p, nil))
	if pg.status != http.StatusOK || pg.url.Path != authn.PathLogin || pg.url.Query().Get("flowId") == "" {
		t.Fatalf("authorize led to %d %s:\n%s", pg.status, pg.url, pg.body)
	}
	expectPageHeaders(t, "login page", pg)
	return pg
}

// expectCode checks the final redirect to the client and redeems the code.
func (e *env) expectCode(t *testing.T, p page, clientID string, pk pkce) {
	t.Helper()
	if p.status != http.StatusFound {
		t.Fatalf("status %d, want 302 to the client:\n%s", p.status, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	loc.RawQuery = ""
	if loc.String() != redirectURI || q.Get("code") == "" || q.Get("state") != "st-123" {
		t.Fatalf("redirect %s, want %s with code and state=st-123", p.header.Get("Location"), redirectURI)
	}
	tok := e.exchange(t, clientID, q.Get("code"), pk.verifier)
	if tok.status != http.StatusOK || tok.body["access_token"] == nil || tok.body["id_token"] == nil {
		t.Fatalf("token exchange: %d %s", tok.status, tok.raw)
	}
}

// TestBrowserLogin: the browser flow from the authorization request through the login page to
// the client's redirect URI, and the code at the token endpoint.
func TestBrowserLogin(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})

	t.Run("password", func(t *testing.T) {
		b, pk := newBrowser(t), newPKCE()
		f := parseLoginForm(t, e.startBrowserLogin(t, b, "web", pk))
		f.values.Set("username", "johnd")
		f.values.Set("password", alicePW)
		e.expectCode(t, b.post(f.action, f.values), "web", pk)
	})

	t.Run("CSRF cookie and assets", func(t *testing.T) {
		b := newBrowser(t)
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		pg := b.get(e.authorizeURL("web", newPKCE(), nil))
		loc, err := url.Parse(pg.header.Get("Location"))
		if pg.status != http.StatusSeeOther || err != nil || loc.Path != authn.PathLogin || loc.Query().Get("flowId") == "" {
			t.Fatalf("authorize: %d Location %q, want 303 to the login page", pg.status, pg.header.Get("Location"))
		}
		cookies := (&http.Response{Header: pg.header}).Cookies()
		if len(cookies) != 1 {
			t.Fatalf("cookies %v, want the CSRF cookie", cookies)
		}
		c := cookies[0]
		// httptest serves http, so Secure is off here.
		if c.Value == "" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Errorf("CSRF cookie %+v, want HttpOnly, SameSite=Lax, Path=/", c)
		}
		login := b.get(e.srv.URL + loc.String())
		if got := parseLoginForm(t, login).values.Get("csrf_token"); got != c.Value {
			t.Errorf("csrf_token field %q, want the cookie's value", got)
		}
		css := b.get(e.srv.URL + authn.DefaultUIAssetsPath + "/style.css")
		if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
			t.Errorf("style.css: %d %q", css.status, css.header.Get("Content-Type"))
		}
	})

	t.Run("sessionDataKey alias", func(t *testing.T) {
		b := newBrowser(t)
		pg := e.startBrowserLogin(t, b, "web", newPKCE())
		again := b.get(e.srv.URL + authn.PathLogin + "?sessionDataKey=" + url.QueryEscape(pg.url.Query().Get("flowId")))
		if again.status != http.StatusOK || parseLoginForm(t, again).values.Get("flowId") != pg.url.Query().Get("flowId") {
			t.Fatalf("sessionDataKey page: %d\n%s", again.status, again.body)
		}
	})

	t.Run("wrong password, then right", func(t *testing.T) {
		b, pk := newBrowser(t), newPKCE()
		first := parseLoginForm(t, e.startBrowserLogin(t, b, "web", pk))
		f := first
		f.values = url.Values{}
		for k, v := range first.values {
			f.values[k] = v
		}
		f.values.Set("username", "johnd")
		f.values.Set("password", "wrong")
		pg := b.post(f.action, f.values)
		if pg.status != http.StatusOK {
			t.Fatalf("wrong password: %d\n%s", pg.status, pg.body)
		}
		expectPageHeaders(t, "wrong password", pg)
		if msgs := errorMessages(t, pg); len(msgs) != 1 || msgs[0] == "" {
			t.Fatalf("error messages %q, want one", msgs)
		}
		next := parseLoginForm(t, pg)
		if next.values.Get("seq") == first.values.Get("seq") {
			t.Fatalf("seq %s did not advance", next.values.Get("seq"))
		}
		next.values.Set("username", "johnd")
		next.values.Set("password", alicePW)
		e.expectCode(t, b.post(next.action, next.values), "web", pk)
	})

	t.Run("stale submission re-renders", func(t *testing.T) {
		b := newBrowser(t)
		first := parseLoginForm(t, e.startBrowserLogin(t, b, "web", newPKCE()))
		first.values.Set("username", "johnd")
		first.values.Set("password", "wrong")
		if pg := b.post(first.action, first.values); pg.status != http.StatusOK {
			t.Fatalf("wrong password: %d", pg.status)
		}
		// The same form again (a double click) and a form for a view that is not current
		// both show the current page again.
		for _, seq := range []string{first.values.Get("seq"), "999"} {
			first.values.Set("seq", seq)
			pg := b.post(first.action, first.values)
			if pg.status != http.StatusOK {
				t.Fatalf("stale seq %s: %d\n%s", seq, pg.status, pg.body)
			}
			parseLoginForm(t, pg)
		}
	})
}

// TestBrowserLoginRefusals: CSRF failures and requests that must not redirect.
func TestBrowserLoginRefusals(t *testing.T) {
	e := newEnv(t)
	e.app(t, "web", false, []string{connectors.BasicAuthenticator})

	csrf := []struct {
		name   string
		change func(url.Values)
		jar    bool
	}{
		{name: "missing token", change: func(v url.Values) { v.Del("csrf_token") }, jar: true},
		{name: "wrong token", change: func(v url.Values) { v.Set("csrf_token", "not-the-token") }, jar: true},
		{name: "no cookie", jar: false},
	}
	for _, tc := range csrf {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t)
			f := parseLoginForm(t, e.startBrowserLogin(t, b, "web", newPKCE()))
			f.values.Set("username", "johnd")
			f.values.Set("password", alicePW)
			if tc.change != nil {
				tc.change(f.values)
			}
			if !tc.jar {
				b = newBrowser(t)
			}
			pg := b.post(f.action, f.values)
			if pg.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403\n%s", pg.status, pg.body)
			}
			expectPageHeaders(t, tc.name, pg)
		})
	}

	t.Run("unregistered redirect_uri", func(t *testing.T) {
		b := newBrowser(t)
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		pg := b.get(e.authorizeURL("web", newPKCE(), func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }))
		if pg.status != http.StatusBadRequest || pg.header.Get("Location") != "" {
			t.Fatalf("status %d Location %q, want 400 without redirect", pg.status, pg.header.Get("Location"))
		}
		expectPageHeaders(t, "error page", pg)
	})

	t.Run("redirectable error goes to the client", func(t *testing.T) {
		b := newBrowser(t)
		pg := b.get(e.authorizeURL("web", newPKCE(), func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }))
		loc, _ := url.Parse(pg.header.Get("Location"))
		if pg.status != http.StatusFound || loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st-123" {
			t.Fatalf("status %d Location %q, want 302 with error=invalid_request", pg.status, pg.header.Get("Location"))
		}
	})

	t.Run("prompt=none without a session", func(t *testing.T) {
		b := newBrowser(t)
		pg := b.get(e.authorizeURL("web", newPKCE(), func(v url.Values) { v.Set("prompt", "none") }))
		loc, _ := url.Parse(pg.header.Get("Location"))
		if pg.status != http.StatusFound || loc == nil || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "st-123" {
			t.Fatalf("status %d Location %q, want 302 with error=login_required\n%s", pg.status, pg.header.Get("Location"), pg.body)
		}
	})
}
