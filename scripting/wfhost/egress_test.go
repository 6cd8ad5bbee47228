package wfhost_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

// TestHTTPCallerEgress: beneath the domain allow-list, the address policy refuses a host whose
// address is not allowed: onFail at once, no retries; an allowed address is called.
func TestHTTPCallerEgress(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		allow []string
		want  string
		hits  int32
	}{
		{"loopback refused", nil, scripting.OutcomeFail, 0},
		{"loopback allowed", []string{"loopback"}, scripting.OutcomeSuccess, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allow, err := egress.ParseAllow(tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			pol, err := egress.New(egress.Config{Allow: allow, Setting: "--outbound-allow"})
			if err != nil {
				t.Fatal(err)
			}
			hits.Store(0)
			var logs bytes.Buffer
			c := wfhost.HTTPCaller{Client: pol.Client(egress.ClientOptions{}), Retries: 3,
				AllowedDomains: []string{u.Hostname()}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			res, err := c.Call(t.Context(), scripting.HTTPRequest{Method: http.MethodGet, URL: srv.URL + "/x"})
			if err != nil || res.Outcome != tc.want || hits.Load() != tc.hits {
				t.Fatalf("outcome %v err %v hits %d; want %v with %d hits", res.Outcome, err, hits.Load(), tc.want, tc.hits)
			}
			if tc.want == scripting.OutcomeFail && (!strings.Contains(logs.String(), "address refused") ||
				strings.Contains(logs.String(), "attempt=2")) {
				t.Errorf("log:\n%s\nwant one refused attempt", logs.String())
			}
		})
	}
}
