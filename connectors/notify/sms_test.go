package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/connectors/notify"
)

type captured struct {
	method, path, contentType, auth string
	query                           url.Values
	body                            []byte
}

func provider(t *testing.T, status int) (*httptest.Server, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			auth: r.Header.Get("Authorization"), query: r.URL.Query(), body: b}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestHTTPSMS(t *testing.T) {
	const to, text = "+94 77 123 4567", `Your code is 123456 & "quoted" ünïcode`
	tests := []struct {
		name  string
		cfg   notify.HTTPSMSConfig
		check func(t *testing.T, c captured)
	}{
		{name: "json body", cfg: notify.HTTPSMSConfig{Body: `{"to":"{{mobile}}","text":"{{body}}","from":"Keyflow"}`,
			Headers: map[string]string{"Authorization": "Bearer k"}},
			check: func(t *testing.T, c captured) {
				var got map[string]string
				if err := json.Unmarshal(c.body, &got); err != nil {
					t.Fatalf("body is not JSON: %v: %s", err, c.body)
				}
				if got["to"] != to || got["text"] != text || got["from"] != "Keyflow" {
					t.Errorf("body %v", got)
				}
				if c.method != http.MethodPost || c.contentType != notify.ContentJSON || c.auth != "Bearer k" {
					t.Errorf("request %+v", c)
				}
			}},
		{name: "form body", cfg: notify.HTTPSMSConfig{ContentType: notify.ContentForm, Body: "To={{mobile}}&Body={{body}}"},
			check: func(t *testing.T, c captured) {
				v, err := url.ParseQuery(string(c.body))
				if err != nil || v.Get("To") != to || v.Get("Body") != text || len(v) != 2 {
					t.Errorf("form %v %v", v, err)
				}
			}},
		{name: "query only", cfg: notify.HTTPSMSConfig{Method: http.MethodGet, URL: "/send?to={{mobile}}&msg={{body}}"},
			check: func(t *testing.T, c captured) {
				if c.method != http.MethodGet || c.path != "/send" || c.query.Get("to") != to || c.query.Get("msg") != text || len(c.body) != 0 {
					t.Errorf("request %+v", c)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := provider(t, http.StatusAccepted)
			tc.cfg.URL = srv.URL + tc.cfg.URL
			s, err := notify.NewHTTPSMS(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(t.Context(), to, text); err != nil {
				t.Fatal(err)
			}
			tc.check(t, <-got)
		})
	}
}

func TestHTTPSMSErrors(t *testing.T) {
	srv, _ := provider(t, http.StatusUnauthorized)
	s, err := notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: srv.URL + "/x?m={{body}}", Body: `{"t":"{{body}}"}`})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), "+1", "code 999111")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v, want the provider's status", err)
	}
	if strings.Contains(err.Error(), "999111") {
		t.Errorf("error repeats the message: %v", err)
	}
	// An unreachable provider: the error must not repeat the URL, which holds the message.
	dead, _ := provider(t, 200)
	deadURL := dead.URL
	dead.Close()
	s, _ = notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: deadURL + "/x?m={{body}}"})
	if err := s.Send(t.Context(), "+1", "code 999111"); err == nil || strings.Contains(err.Error(), "999111") {
		t.Errorf("unreachable provider: %v", err)
	}
	for _, bad := range []string{"", "ftp://x", "/relative"} {
		if _, err := notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: bad}); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
}
