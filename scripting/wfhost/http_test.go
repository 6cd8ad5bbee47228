package wfhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

func TestHTTPCaller(t *testing.T) {
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"SUCCESS","accept":"`+r.Header.Get("Accept")+`"}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "plain words")
	})
	mux.HandleFunc("/array", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[1,2]`)
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/json", http.StatusFound) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		out, _ := json.Marshal(map[string]string{"method": r.Method, "ct": r.Header.Get("Content-Type"),
			"body": string(body), "auth": r.Header.Get("Authorization"), "key": r.Header.Get("X-API-KEY"),
			"user": user, "pass": pass, "custom": r.Header.Get("X-Custom")})
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		r.ParseForm()
		if user != "ck" || pass != "cs" || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "risk" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"access_token":"tok-1","token_type":"Bearer"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host := mustHost(t, srv.URL)

	tests := []struct {
		name   string
		caller wfhost.HTTPCaller
		req    scripting.HTTPRequest
		want   string            // outcome
		data   map[string]string // expected members of the data object
	}{
		{name: "json object", req: get(srv.URL + "/json"), want: scripting.OutcomeSuccess,
			data: map[string]string{"status": "SUCCESS", "accept": "application/json"}},
		{name: "text/plain becomes {response}", req: get(srv.URL + "/text"), want: scripting.OutcomeSuccess,
			data: map[string]string{"response": "plain words"}},
		{name: "non-object JSON fails", req: get(srv.URL + "/array"), want: scripting.OutcomeFail},
		{name: "4xx fails", req: get(srv.URL + "/missing"), want: scripting.OutcomeFail},
		{name: "redirects are not followed", req: get(srv.URL + "/redirect"), want: scripting.OutcomeFail},
		{name: "5xx fails after retries", caller: wfhost.HTTPCaller{Retries: 2}, req: get(srv.URL + "/broken"), want: scripting.OutcomeFail},
		{name: "timeout", caller: wfhost.HTTPCaller{Client: &http.Client{Timeout: 50 * time.Millisecond}},
			req: get(srv.URL + "/slow"), want: scripting.OutcomeTimeout},
		{name: "host outside the allow-list", caller: wfhost.HTTPCaller{AllowedDomains: []string{"example.com"}},
			req: get(srv.URL + "/json"), want: scripting.OutcomeFail},
		{name: "host in the allow-list", caller: wfhost.HTTPCaller{AllowedDomains: []string{host}},
			req: get(srv.URL + "/json"), want: scripting.OutcomeSuccess, data: map[string]string{"status": "SUCCESS"}},
		{name: "invalid URL", req: get("ftp://x/y"), want: scripting.OutcomeFail},
		{name: "post json", req: scripting.HTTPRequest{Method: "POST", URL: srv.URL + "/echo", Body: json.RawMessage(`{"email":"a@b"}`),
			Headers: map[string]string{"X-Custom": "1"}},
			want: scripting.OutcomeSuccess, data: map[string]string{"method": "POST", "ct": "application/json", "body": `{"email":"a@b"}`, "custom": "1"}},
		{name: "post form", req: scripting.HTTPRequest{Method: "POST", URL: srv.URL + "/echo", Body: json.RawMessage(`{"a":"1","n":2}`),
			Headers: map[string]string{"content-type": "application/x-www-form-urlencoded"}},
			want: scripting.OutcomeSuccess, data: map[string]string{"ct": "application/x-www-form-urlencoded", "body": "a=1&n=2"}},
		{name: "basic auth", req: withAuth(srv.URL+"/echo", "basic", map[string]string{"username": "u", "password": "p"}),
			want: scripting.OutcomeSuccess, data: map[string]string{"user": "u", "pass": "p"}},
		{name: "api key", req: withAuth(srv.URL+"/echo", "apikey", map[string]string{"headerName": "X-API-KEY", "apiKey": "a-p-i-k-e-y"}),
			want: scripting.OutcomeSuccess, data: map[string]string{"key": "a-p-i-k-e-y"}},
		{name: "bearer", req: withAuth(srv.URL+"/echo", "bearer", map[string]string{"token": "t"}),
			want: scripting.OutcomeSuccess, data: map[string]string{"auth": "Bearer t"}},
		{name: "client credentials", req: withAuth(srv.URL+"/echo", "clientcredential", map[string]string{
			"consumerKey": "ck", "consumerSecret": "cs", "tokenEndpoint": srv.URL + "/token", "scope": "risk"}),
			want: scripting.OutcomeSuccess, data: map[string]string{"auth": "Bearer tok-1"}},
		{name: "client credentials rejected", req: withAuth(srv.URL+"/echo", "clientcredential", map[string]string{
			"consumerKey": "ck", "consumerSecret": "bad", "tokenEndpoint": srv.URL + "/token"}),
			want: scripting.OutcomeFail},
		{name: "unknown auth type", req: withAuth(srv.URL+"/echo", "kerberos", nil), want: scripting.OutcomeFail},
		{name: "secrets resolved in headers, auth and body", caller: wfhost.HTTPCaller{Secrets: secrets},
			req: scripting.HTTPRequest{Method: "POST", URL: srv.URL + "/echo", TenantDomain: "t1",
				Headers: map[string]string{"X-Custom": "k=" + scripting.SecretRef("key")},
				Body:    json.RawMessage(`{"p":"\u0000secret:key\u0000"}`),
				Auth:    &scripting.HTTPAuth{Type: "bearer", Properties: map[string]string{"token": scripting.SecretRef("token")}}},
			want: scripting.OutcomeSuccess, data: map[string]string{"custom": "k=v-key", "auth": "Bearer v-token", "body": `{"p":"v-key"}`}},
		{name: "unknown secret", caller: wfhost.HTTPCaller{Secrets: secrets},
			req: withAuth(srv.URL+"/echo", "bearer", map[string]string{"token": scripting.SecretRef("nope")}), want: scripting.OutcomeFail},
		{name: "secret without a store", req: withAuth(srv.URL+"/echo", "bearer", map[string]string{"token": scripting.SecretRef("token")}),
			want: scripting.OutcomeFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			res, err := tc.caller.Call(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Call returned an error: %v", err)
			}
			if res.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s", res.Outcome, tc.want)
			}
			if tc.data != nil {
				var got map[string]any
				if err := json.Unmarshal(res.Data, &got); err != nil {
					t.Fatalf("data %s: %v", res.Data, err)
				}
				for k, v := range tc.data {
					if got[k] != v {
						t.Errorf("data[%s] = %v, want %q", k, got[k], v)
					}
				}
			}
			if strings.Contains(tc.name, "retries") && hits.Load() != int32(tc.caller.Retries+1) {
				t.Errorf("server hit %d times, want %d", hits.Load(), tc.caller.Retries+1)
			}
		})
	}
}

// secretStore is a map of tenant "t1"'s secrets.
type secretStore map[string]string

func (s secretStore) Secret(_ context.Context, tenant, name string) (string, error) {
	if v, ok := s[name]; ok && tenant == "t1" {
		return v, nil
	}
	return "", errors.New("no such secret")
}

var secrets = secretStore{"key": "v-key", "token": "v-token"}

func get(u string) scripting.HTTPRequest { return scripting.HTTPRequest{Method: "GET", URL: u} }

func withAuth(u, typ string, props map[string]string) scripting.HTTPRequest {
	r := get(u)
	r.Auth = &scripting.HTTPAuth{Type: typ, Properties: props}
	return r
}

func mustHost(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}
