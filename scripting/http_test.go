package scripting_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/scripting"
)

func TestHTTPFunctionArguments(t *testing.T) {
	h := `{onSuccess: function(c, data){ c.selectedAcr = data.status; executeStep(1); }, onFail: function(c){ c.selectedAcr = 'FAILED'; executeStep(1); }}`
	tests := []struct {
		name     string
		call     string
		want     scripting.HTTPRequest
		wantFail bool // the call shape is invalid: a script error
	}{
		{name: "get with handlers", call: `httpGet('https://risk.example/x', ` + h + `)`,
			want: scripting.HTTPRequest{Method: "GET", URL: "https://risk.example/x"}},
		{name: "get with headers", call: `httpGet('https://risk.example/x', {Authorization: 'Bearer your-token'}, ` + h + `)`,
			want: scripting.HTTPRequest{Method: "GET", URL: "https://risk.example/x", Headers: map[string]string{"Authorization": "Bearer your-token"}}},
		{name: "get with headers and auth", call: `httpGet('https://risk.example/x', {Accept: 'application/json'}, {type: 'apikey', properties: {headerName: 'X-API-KEY', apiKey: 'k'},}, ` + h + `)`,
			want: scripting.HTTPRequest{Method: "GET", URL: "https://risk.example/x", Headers: map[string]string{"Accept": "application/json"},
				Auth: &scripting.HTTPAuth{Type: "apikey", Properties: map[string]string{"headerName": "X-API-KEY", "apiKey": "k"}}}},
		{name: "post with body", call: `httpPost('https://risk.example/p', {email: 'a@b', n: [1, {x: true}]}, ` + h + `)`,
			want: scripting.HTTPRequest{Method: "POST", URL: "https://risk.example/p", Body: json.RawMessage(`{"email":"a@b","n":[1,{"x":true}]}`)}},
		{name: "post with body, headers and auth", call: `httpPost('https://risk.example/p', {}, {h: 1}, {type: 'bearer', properties: {token: 't'}}, ` + h + `)`,
			want: scripting.HTTPRequest{Method: "POST", URL: "https://risk.example/p", Body: json.RawMessage(`{}`), Headers: map[string]string{"h": "1"},
				Auth: &scripting.HTTPAuth{Type: "bearer", Properties: map[string]string{"token": "t"}}}},
		{name: "get without handlers", call: `httpGet('https://risk.example/x')`, wantFail: true},
		{name: "get with too many maps", call: `httpGet('u', {}, {}, {}, ` + h + `)`, wantFail: true},
		{name: "post with a string body", call: `httpPost('u', 'x', ` + h + `)`, wantFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newEnv(t).open(`function onLoginRequest(context){ `+tc.call+`; }`, twoSteps())
			d := &driver{t: t, call: func(n *scripting.CallNode) scripting.CallResult {
				return scripting.CallResult{Outcome: scripting.OutcomeSuccess, Data: json.RawMessage(`{"status":"SUCCESS"}`)}
			}}
			fail := d.run(s)
			if tc.wantFail {
				if fail == nil || fail.Kind != scripting.FailScript {
					t.Fatalf("got %+v, want a script failure", fail)
				}
				return
			}
			if fail != nil {
				t.Fatal(fail.Reason)
			}
			tc.want.TenantDomain = "carbon.super"
			if len(d.calls) != 1 || !reflect.DeepEqual(d.calls[0].Request, tc.want) {
				t.Fatalf("calls %+v, want %+v", d.calls, tc.want)
			}
			if s.SelectedACR() != "SUCCESS" || !reflect.DeepEqual(d.ran, []int{1}) {
				t.Errorf("selectedAcr %q, steps %v", s.SelectedACR(), d.ran)
			}
		})
	}
}

func TestHTTPOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		handlers string
		result   scripting.CallResult
		wantAcr  string
		wantFail bool
	}{
		{name: "success with data", handlers: `{onSuccess: function(c, d){ c.selectedAcr = d.nested.v + ':' + d.list.length; executeStep(1); }}`,
			result: scripting.CallResult{Outcome: scripting.OutcomeSuccess, Data: json.RawMessage(`{"nested":{"v":"x"},"list":[1,2]}`)}, wantAcr: "x:2"},
		{name: "fail gets an empty object", handlers: `{onFail: function(c, d){ c.selectedAcr = JSON.stringify(d); executeStep(1); }}`,
			result: scripting.CallResult{Outcome: scripting.OutcomeFail}, wantAcr: "{}"},
		{name: "timeout", handlers: `{onTimeout: function(c){ c.selectedAcr = 't'; executeStep(1); }}`,
			result: scripting.CallResult{Outcome: scripting.OutcomeTimeout}, wantAcr: "t"},
		{name: "missing handler fails the login", handlers: `{onSuccess: function(c){ executeStep(1); }}`,
			result: scripting.CallResult{Outcome: scripting.OutcomeTimeout}, wantFail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newEnv(t).open(`function onLoginRequest(context){ httpGet('https://x.example/', `+tc.handlers+`); }`, twoSteps())
			fail := (&driver{t: t, call: func(*scripting.CallNode) scripting.CallResult { return tc.result }}).run(s)
			if tc.wantFail != (fail != nil) {
				t.Fatalf("failure %+v, want failure %v", fail, tc.wantFail)
			}
			if !tc.wantFail && s.SelectedACR() != tc.wantAcr {
				t.Errorf("selectedAcr %q, want %q", s.SelectedACR(), tc.wantAcr)
			}
		})
	}
}

func TestSecretsAreReferences(t *testing.T) {
	s := newEnv(t).open(`function onLoginRequest(context){
		var auth = {type: 'clientcredential', properties: {consumerKey: 'ck', consumerSecret: secrets.clientSecret}};
		httpGet('https://risk.example/x', {Authorization: 'Bearer ' + getSecretByName('apiToken')}, auth, {
			onSuccess: function(c){ executeStep(1); }});
	}`, twoSteps())
	d := &driver{t: t, call: func(*scripting.CallNode) scripting.CallResult {
		return scripting.CallResult{Outcome: scripting.OutcomeSuccess}
	}}
	if fail := d.run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	req := d.calls[0].Request
	if strings.Contains(req.Headers["Authorization"], "s3cr3t") || req.Auth.Properties["consumerSecret"] != scripting.SecretRef("clientSecret") {
		t.Fatalf("the script saw secret values: %+v %+v", req.Headers, req.Auth)
	}
	secrets := map[string]string{"apiToken": "t0k", "clientSecret": "s3cr3t"}
	lookup := func(name string) (string, error) {
		v, ok := secrets[name]
		if !ok {
			return "", errors.New("unknown secret " + name)
		}
		return v, nil
	}
	got, err := scripting.ResolveSecretRefs(req.Headers["Authorization"], lookup)
	if err != nil || got != "Bearer t0k" {
		t.Errorf("resolved header %q, %v", got, err)
	}
	if _, err := scripting.ResolveSecretRefs(scripting.SecretRef("nope"), lookup); err == nil {
		t.Error("an unknown secret resolved")
	}
}
