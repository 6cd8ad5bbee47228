package flows_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/flows"
)

// TestHTTPFunctionFixtures runs WSO2's own httpGet/httpPost test scripts and asserts what
// WSO2's harness asserts: the response's status (or "FAILED") lands in selectedAcr, and step 1
// runs from the handlers.
func TestHTTPFunctionFixtures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/apikey" && r.Header.Get("X-API-KEY") != "a-p-i-k-e-y" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			if body, _ := io.ReadAll(r.Body); string(body) != `{"email":"dummy@test.com"}` {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"SUCCESS"}`)
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		file    string
		path    string
		allowed []string
		want    string
	}{
		{name: "httpGet", file: "unittest-http-http-get-test-sp.js", path: "/get", want: "SUCCESS"},
		{name: "httpGet to a host outside the allowed domains", file: "unittest-http-http-get-test-sp.js", path: "/get",
			allowed: []string{"example.com"}, want: "FAILED"},
		{name: "httpPost with a JSON body", file: "unittest-http-http-post-test-sp.js", path: "/post", want: "SUCCESS"},
		{name: "httpGet with an API key", file: "unittest-http-http-get-test-auth-config-with-apikey.js", path: "/apikey", want: "SUCCESS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.http.AllowedDomains = tc.allowed
			script := strings.Replace(readFile(t, "testdata/fixtures/"+tc.file), "%s", srv.URL+tc.path, 1)
			r := w.login(loginInput(script, basicTOTP()), password("alice", "pw-alice"))
			if r.result.Status != flows.StatusSuccess {
				t.Fatalf("status %s %+v", r.result.Status, r.result.Error)
			}
			if r.result.ACR != tc.want {
				t.Errorf("selectedAcr %q, want %q", r.result.ACR, tc.want)
			}
		})
	}
}
