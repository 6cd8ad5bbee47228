package wsfed

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/store"
)

// FuzzPassiveSTS: arbitrary queries and form bodies never panic, and never send the browser
// anywhere but to a reply URL the relying party registers.
func FuzzPassiveSTS(f *testing.F) {
	for _, seed := range []struct{ query, body string }{
		{"wa=wsignin1.0&wtrealm=urn:portal", ""},
		{"wa=wsignin1.0&wtrealm=urn:portal&wreply=https%3A%2F%2Fportal.example.com%2Fsignin&wctx=a&wfresh=0", ""},
		{"", "wa=wsignin1.0&wtrealm=urn:portal&wreply=https%3A%2F%2Fevil.example.com%2F"},
		{"wa=wsignout1.0&wreply=https%3A%2F%2Fportal.example.com%2Fbye", ""},
		{"wa=wsignout1.0&wreply=%2F%2Fevil.example.com", ""},
		{"wa=wsignoutcleanup1.0", "wa=wsignin1.0"},
		{"wa=wsignin1.0&wtrealm=urn:portal&wfresh=99999999999999999999", ""},
		{"wa=%00&wtrealm=%ff%fe", "wa=wsignin1.0&wa=wsignout1.0"},
		{"wa=wsignin1.0&wtrealm=" + strings.Repeat("r", 5000), ""},
		{";;&&==", "%zz"},
		{"wresult=<x/>&wa=wsignin1.0&wtrealm=urn:portal&wctx=" + strings.Repeat("%3C", 2000), ""},
	} {
		f.Add(seed.query, seed.body)
	}
	e := newEnv(f)
	rp := e.newRP(nil)
	g := newEngine(e.h)
	f.Fuzz(func(t *testing.T, query, body string) {
		method := http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
		req := httptest.NewRequestWithContext(t.Context(), method, "/passivests", strings.NewReader(body))
		req.URL.RawQuery = query
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if loc := rec.Header().Get("Location"); loc != "" && !registeredAnywhere(rp, loc) {
			t.Fatalf("redirected to %q (query %q, body %q)", loc, query, body)
		}
		if rec.Code >= 500 {
			t.Fatalf("= %d for query %q body %q: %s", rec.Code, query, body, rec.Body)
		}
	})
}

func registeredAnywhere(rp store.WSFedRelyingParty, u string) bool {
	return registered(rp, u) || u == rp.LogoutReplyURL
}
