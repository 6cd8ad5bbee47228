package scripting_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

// fakeServices implements Accounts, Mailer, Libraries, Sessions and Cookies in memory.
type fakeServices struct {
	users     []connectors.User
	claims    map[string]map[string]string // by username
	links     map[string]string            // idp|subject → username
	passwords map[string]string
	mails     []string
	libs      map[string]string
	fetched   []string
	sessions  map[string][]scripting.UserSession
}

func newFakeServices() *fakeServices {
	mk := func(name string) connectors.User {
		return connectors.User{ID: "id-" + name, Username: name, UserStoreDomain: "PRIMARY", TenantDomain: "carbon.super", IdP: "LOCAL"}
	}
	return &fakeServices{
		users: []connectors.User{mk("alice"), mk("bob"), mk("carol")},
		claims: map[string]map[string]string{
			"alice": {"http://wso2.org/claims/emailaddress": "alice@example.com", "http://wso2.org/claims/country": "NL"},
			"bob":   {"http://wso2.org/claims/emailaddress": "team@example.com", "http://wso2.org/claims/country": "NL"},
			"carol": {"http://wso2.org/claims/emailaddress": "team@example.com", "http://wso2.org/claims/country": "FR"},
		},
		links:     map[string]string{},
		passwords: map[string]string{},
		libs:      map[string]string{},
		sessions:  map[string][]scripting.UserSession{},
	}
}

func (f *fakeServices) FindUsers(_ context.Context, tenant string, claims map[string]string, _ string) ([]connectors.User, error) {
	var out []connectors.User
	for _, u := range f.users {
		ok := true
		for k, v := range claims {
			ok = ok && f.claims[u.Username][k] == v
		}
		if ok {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeServices) ResolveLoginIdentifier(_ context.Context, _ string, id string) (string, error) {
	var found []string
	for _, u := range f.users {
		if u.Username == id || f.claims[u.Username]["http://wso2.org/claims/emailaddress"] == id {
			found = append(found, u.Username)
		}
	}
	if len(found) != 1 {
		return "", nil
	}
	return found[0], nil
}

func (f *fakeServices) AssociatedUser(_ context.Context, fed *connectors.User) (*connectors.User, error) {
	name, ok := f.links[fed.IdP+"|"+fed.SubjectIdentifier()]
	if !ok {
		return nil, nil
	}
	for _, u := range f.users {
		if u.Username == name {
			return &u, nil
		}
	}
	return nil, errors.New("dangling link")
}

func (f *fakeServices) Associate(_ context.Context, fed *connectors.User, _, _, username string) error {
	f.links[fed.IdP+"|"+fed.SubjectIdentifier()] = username
	return nil
}

func (f *fakeServices) RemoveAssociation(_ context.Context, fed *connectors.User) (bool, error) {
	key := fed.IdP + "|" + fed.SubjectIdentifier()
	_, ok := f.links[key]
	delete(f.links, key)
	return ok, nil
}

func (f *fakeServices) UpdatePassword(_ context.Context, u *connectors.User, pw string) error {
	f.passwords[u.Username] = pw
	return nil
}

func (f *fakeServices) SendEmail(_ context.Context, u *connectors.User, tpl string, ph map[string]string) error {
	f.mails = append(f.mails, u.Username+":"+tpl+":"+ph["code"])
	return nil
}

func (f *fakeServices) Library(_ context.Context, tenant, name string) (string, error) {
	f.fetched = append(f.fetched, tenant+"/"+name)
	src, ok := f.libs[name]
	if !ok {
		return "", errors.New("no such library")
	}
	return src, nil
}

func (f *fakeServices) UserSessions(_ context.Context, u *connectors.User) ([]scripting.UserSession, error) {
	return f.sessions[u.Username], nil
}

func (f *fakeServices) TerminateUserSession(_ context.Context, u *connectors.User, id string) (bool, error) {
	ss := f.sessions[u.Username]
	i := slices.IndexFunc(ss, func(s scripting.UserSession) bool { return s.ID == id })
	if i < 0 {
		return false, nil
	}
	f.sessions[u.Username] = slices.Delete(ss, i, i+1)
	return true, nil
}

// Seal and Open: a reversible stand-in for the real codec ("enc:" prefix, "sig:" signature).
func (f *fakeServices) Seal(_ context.Context, v string, sign, encrypt bool) (string, error) {
	sig := ""
	if sign {
		sig = "sig:" + v
	}
	if encrypt {
		v = "enc:" + v
	}
	return scripting.EncodeCookie(v, sig), nil
}

func (f *fakeServices) Open(_ context.Context, stored string, decrypt, validate bool) (string, bool, error) {
	v, sig, ok := scripting.DecodeCookie(stored)
	if !ok {
		return "", false, nil
	}
	if decrypt {
		if v, ok = strings.CutPrefix(v, "enc:"); !ok {
			return "", false, nil
		}
	}
	if validate && sig != "sig:"+v {
		return "", false, nil
	}
	return v, true, nil
}

func servicesEnv(t *testing.T) (*env, *fakeServices) {
	e := newEnv(t)
	f := newFakeServices()
	e.cfg.Accounts, e.cfg.Mailer, e.cfg.Libraries, e.cfg.Sessions, e.cfg.Cookies = f, f, f, f, f
	return e, f
}

func TestUserLookupFunctions(t *testing.T) {
	federated := func(n *scripting.StepNode, run int) scripting.StepResult {
		return scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: "GoogleOIDCAuthenticator", IdP: "Google",
			User: &connectors.User{Username: "g-123", IdP: "Google", TenantDomain: "carbon.super"}}
	}
	u := `context.currentKnownSubject`
	tests := []struct {
		name   string
		expr   string
		result func(*scripting.StepNode, int) scripting.StepResult
		want   string
	}{
		{"unique user", `getUniqueUserWithClaimValues({'http://wso2.org/claims/emailaddress': 'alice@example.com'}, context).username`, nil, "alice"},
		{"unique user: several match", `getUniqueUserWithClaimValues({'http://wso2.org/claims/emailaddress': 'team@example.com'}, context)`, nil, "null"},
		{"unique user: filtered by the rest", `getUniqueUserWithClaimValues({'http://wso2.org/claims/emailaddress': 'team@example.com', 'http://wso2.org/claims/country': 'FR'}, context, 'default').username`, nil, "carol"},
		{"unique user: none", `getUniqueUserWithClaimValues({'http://wso2.org/claims/emailaddress': 'x@example.com'}, context)`, nil, "null"},
		{"unique user: tenant string form is null", `getUniqueUserWithClaimValues({'http://wso2.org/claims/emailaddress': 'alice@example.com'}, 'carbon.super')`, nil, "null"},
		{"the first claim is removed from the map (WSO2 quirk)", `(function(){ var m = {'http://wso2.org/claims/emailaddress': 'alice@example.com', 'http://wso2.org/claims/country': 'NL'}; getUniqueUserWithClaimValues(m, context); return Object.keys(m).join(','); })()`, nil, "http://wso2.org/claims/country"},
		{"users with claim values", `getUsersWithClaimValues({'http://wso2.org/claims/emailaddress': 'team@example.com'}, context).map(function(u){ return u.username; }).join(',')`, nil, "bob,carol"},
		{"users with claim values: none is null", `getUsersWithClaimValues({'http://wso2.org/claims/emailaddress': 'no@example.com'}, context)`, nil, "null"},
		{"resolve by e-mail", `resolveMultiAttributeLoginIdentifier('alice@example.com', 'carbon.super')`, nil, "alice"},
		{"resolve by username", `resolveMultiAttributeLoginIdentifier('bob', 'carbon.super')`, nil, "bob"},
		{"resolve: ambiguous is null", `resolveMultiAttributeLoginIdentifier('team@example.com', 'carbon.super')`, nil, "null"},
		{"resolve: cross tenant is null", `resolveMultiAttributeLoginIdentifier('alice@example.com', 'other.com')`, nil, "null"},
		{"associated user of a local user is null", `getAssociatedLocalUser(` + u + `)`, nil, "null"},
		{"association round trip", `[getAssociatedLocalUser(` + u + `), doAssociationWithLocalUser(` + u + `, 'bob', 'carbon.super', 'PRIMARY'), getAssociatedLocalUser(` + u + `).username, removeAssociatedLocalUser(` + u + `), getAssociatedLocalUser(` + u + `), removeAssociatedLocalUser(` + u + `)].join(',')`, federated, ",true,bob,true,,false"},
		{"association refuses another tenant", `doAssociationWithLocalUser(` + u + `, 'bob', 'other.com', 'PRIMARY')`, federated, "false"},
		{"association needs a federated user", `doAssociationWithLocalUser(` + u + `, 'bob', 'carbon.super', 'PRIMARY')`, nil, "false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := servicesEnv(t)
			if got := evalAfterStep1(t, e, tc.expr, tc.result); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestUpdateUserPassword(t *testing.T) {
	t.Run("synchronous", func(t *testing.T) {
		e, f := servicesEnv(t)
		s := e.open(`function onLoginRequest(context){ executeStep(1, {onSuccess: function(context){
			updateUserPassword(context.currentKnownSubject, 'n3w-secret');
		}}); }`, twoSteps())
		d := &driver{t: t}
		if fail := d.run(s); fail != nil {
			t.Fatal(fail.Reason)
		}
		if f.passwords["alice"] != "n3w-secret" || len(d.calls) != 0 {
			t.Errorf("passwords %v, calls %d", f.passwords, len(d.calls))
		}
		if e.log.contains("n3w-secret") {
			t.Error("the password reached the log")
		}
	})
	t.Run("asynchronous with handlers", func(t *testing.T) {
		e, f := servicesEnv(t)
		s := e.open(`function onLoginRequest(context){ executeStep(1, {onSuccess: function(context){
			updateUserPassword(context.currentKnownSubject, 'n3w-secret', {
				onSuccess: function(context){ context.selectedAcr = 'updated'; },
				onFail: function(context){ context.selectedAcr = 'failed'; }});
		}}); }`, twoSteps())
		d := &driver{t: t, call: func(n *scripting.CallNode) scripting.CallResult {
			return scripting.CallResult{Outcome: scripting.OutcomeSuccess}
		}}
		if fail := d.run(s); fail != nil {
			t.Fatal(fail.Reason)
		}
		if len(d.calls) != 1 || d.calls[0].Function != "updateUserPassword" || d.calls[0].Password == nil ||
			d.calls[0].Password.Password != "n3w-secret" || d.calls[0].Password.User.Username != "alice" {
			t.Fatalf("calls %+v", d.calls)
		}
		if len(f.passwords) != 0 || s.SelectedACR() != "updated" {
			t.Errorf("the session changed the password itself (%v) or onSuccess did not run (%q)", f.passwords, s.SelectedACR())
		}
	})
	t.Run("empty password throws", func(t *testing.T) {
		e, _ := servicesEnv(t)
		s := e.open(`function onLoginRequest(context){ executeStep(1, {onSuccess: function(context){
			updateUserPassword(context.currentKnownSubject, '');
		}}); }`, twoSteps())
		if fail := (&driver{t: t}).run(s); fail == nil || fail.Kind != scripting.FailScript {
			t.Fatalf("got %+v, want a script failure", fail)
		}
	})
}

func TestSendEmailAndSessions(t *testing.T) {
	e, f := servicesEnv(t)
	f.sessions["alice"] = []scripting.UserSession{
		{ID: "s1", IP: "10.0.0.1", LoginTime: 1000, LastAccessTime: 2000,
			UserAgent:    scripting.UserAgent{RawString: "UA", Browser: "Firefox", Platform: "Linux", Device: "Other"},
			Applications: []scripting.SessionApplication{{Subject: "alice", AppName: "pickup", AppID: "app-1"}}},
		{ID: "s2"},
	}
	u := `context.currentKnownSubject`
	got := evalAfterStep1(t, e, `[sendEmail(`+u+`, 'otp-mail', {code: '1234'}),
		getUserSessions(`+u+`).length,
		getUserSessions(`+u+`)[0].userAgent.browser + '/' + getUserSessions(`+u+`)[0].applications[0].appName + '/' + getUserSessions(`+u+`)[0].loginTime,
		terminateUserSession(`+u+`, getUserSessions(`+u+`)[0].id),
		terminateUserSession(`+u+`, 'nope'),
		getUserSessions(`+u+`).map(function(s){ return s.id; }).join('+')].join(',')`, nil)
	if want := "true,2,Firefox/pickup/1000,true,false,s2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !reflect.DeepEqual(f.mails, []string{"alice:otp-mail:1234"}) {
		t.Errorf("mails %v", f.mails)
	}
}

func TestScriptLibraries(t *testing.T) {
	e, f := servicesEnv(t)
	f.libs["risk.js"] = `var base = require('base.js'); module.exports = { score: function(n){ return base.k * n; } };`
	f.libs["base.js"] = `exports.k = 10; exports.loads = (exports.loads || 0) + 1;`
	f.libs["broken.js"] = `throw new Error('boom');`
	s := e.open(`var risk = require('risk.js');
	function onLoginRequest(context){ executeStep(1, {onSuccess: function(context){
		var again = require('risk.js');
		var missing;
		try { require('missing.js'); } catch (e) { missing = 'caught'; }
		var broken;
		try { require('broken.js'); } catch (e) { broken = e.message; }
		context.selectedAcr = [risk.score(3), again === risk, require('base.js').loads, loadLocalLibrary('base.js').length > 0,
			loadLocalLibrary('missing.js'), missing, broken].join(',');
	}}); }`, twoSteps())
	if fail := (&driver{t: t}).run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if want := "30,true,1,true,,caught,boom"; s.SelectedACR() != want {
		t.Errorf("got %q, want %q", s.SelectedACR(), want)
	}
	want := []string{"carbon.super/risk.js", "carbon.super/base.js", "carbon.super/missing.js", "carbon.super/broken.js"}
	if !reflect.DeepEqual(f.fetched, want) {
		t.Errorf("fetched %v, want each library once: %v", f.fetched, want)
	}
}

func TestScriptLibrarySizeCap(t *testing.T) {
	e, f := servicesEnv(t)
	e.cfg.MaxLibrarySize = 10
	f.libs["big.js"] = `module.exports = {x: 1};`
	s := e.open(`function onLoginRequest(context){ executeStep(1, {onSuccess: function(context){
		context.selectedAcr = String(loadLocalLibrary('big.js'));
		require('big.js');
	}}); }`, twoSteps())
	if fail := (&driver{t: t}).run(s); fail == nil || fail.Kind != scripting.FailScript {
		t.Fatalf("got %+v, want a script failure from an oversized library", fail)
	}
	if s.SelectedACR() != "null" {
		t.Errorf("loadLocalLibrary of an oversized library = %q, want null", s.SelectedACR())
	}
}

func TestCookies(t *testing.T) {
	e, _ := servicesEnv(t)
	plain := scripting.EncodeCookie("alice", "")
	signed := scripting.EncodeCookie("alice", "sig:alice")
	forged := scripting.EncodeCookie("mallory", "sig:alice")
	encrypted := scripting.EncodeCookie("enc:alice", "sig:alice")
	s := e.open(`function onLoginRequest(context){ executeStep(1, {onSuccess: function(context){
		var r = context.request;
		context.selectedAcr = [getCookieValue(r, 'plain'), getCookieValue(r, 'lang'), getCookieValue(r, 'nope'),
			getCookieValue(r, 'signed', {validateSignature: true}), getCookieValue(r, 'forged', {validateSignature: true}),
			getCookieValue(r, 'forged'), getCookieValue(r, 'plain', {validateSignature: true}),
			getCookieValue(r, 'enc', {decrypt: true, validateSignature: true}), getCookieValue(r, 'enc')].join(',');
		setCookie(context.response, 'deviceId', context.currentKnownSubject.identifier,
			{sign: true, encrypt: true, 'max-age': 3600, path: '/', domain: 'example.com', httpOnly: true, secure: true, sameSite: 'LAX'});
		setCookie(context.response, 'plain', 'v');
		setCookie(context.response, 'ignored');
		setCookie(context.response, 'ignored', 'v', {}, {});
		setCookie(context.request, 'ignored', 'v');
		context.response.headers['X-Frame-Options'] = 'DENY';
	}}); }`, twoSteps(), func(st *scripting.Setup) {
		st.Request.Cookies = map[string]scripting.Cookie{
			"plain": {Name: "plain", Value: plain}, "lang": {Name: "lang", Value: "en"},
			"signed": {Name: "signed", Value: signed}, "forged": {Name: "forged", Value: forged},
			"enc": {Name: "enc", Value: encrypted},
		}
	})
	if fail := (&driver{t: t}).run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if want := "alice,,,alice,,mallory,,alice,enc:alice"; s.SelectedACR() != want {
		t.Errorf("getCookieValue results %q, want %q", s.SelectedACR(), want)
	}
	resp := s.TakeResponse()
	age := 3600
	want := &scripting.Response{
		Headers: map[string]string{"X-Frame-Options": "DENY"},
		Cookies: []scripting.SetCookie{
			{Name: "deviceId", Value: encrypted, MaxAge: &age, Path: "/", Domain: "example.com", HTTPOnly: true, Secure: true, SameSite: "LAX"},
			{Name: "plain", Value: scripting.EncodeCookie("v", "")},
		},
	}
	if !reflect.DeepEqual(resp, want) {
		gotJSON, _ := json.Marshal(resp)
		wantJSON, _ := json.Marshal(want)
		t.Errorf("response\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if again := s.TakeResponse(); again != nil {
		t.Errorf("TakeResponse twice: %+v", again)
	}
}

func TestSetCookieSameSiteIsAJavaEnumName(t *testing.T) {
	e, _ := servicesEnv(t)
	s := e.open(`function onLoginRequest(context){ setCookie(context.response, 'a', 'b', {sameSite: 'Lax'}); executeStep(1); }`, twoSteps())
	if fail := (&driver{t: t}).run(s); fail == nil || fail.Kind != scripting.FailScript {
		t.Fatalf("got %+v, want a script failure", fail)
	}
}

func TestPromptIdentifierForStep(t *testing.T) {
	script := `function onLoginRequest(context){
		promptIdentifierForStep(1, {
			onSkip: function(context){ context.selectedAcr = 'skipped'; executeStep(2); },
			onSuccess: function(context){ context.selectedAcr = 'prompted'; executeStep(1); }
		});
	}`
	t.Run("no SSO session: prompt shown", func(t *testing.T) {
		e, _ := servicesEnv(t)
		s := e.open(script, twoSteps())
		d := &driver{t: t}
		if fail := d.run(s); fail != nil {
			t.Fatal(fail.Reason)
		}
		if len(d.prompts) != 1 || d.prompts[0].Template != "username" || string(d.prompts[0].Data) != `{"step":1}` {
			t.Fatalf("prompts %+v", d.prompts)
		}
		if s.SelectedACR() != "prompted" || !reflect.DeepEqual(d.ran, []int{1}) {
			t.Errorf("acr %q, steps %v", s.SelectedACR(), d.ran)
		}
	})
	t.Run("SSO session satisfies the step: skipped", func(t *testing.T) {
		e, _ := servicesEnv(t)
		s := e.open(script, twoSteps(), func(st *scripting.Setup) {
			st.Session = []scripting.Option{{Authenticator: "BasicAuthenticator", IdP: "LOCAL"}}
		})
		d := &driver{t: t}
		if fail := d.run(s); fail != nil {
			t.Fatal(fail.Reason)
		}
		if len(d.prompts) != 0 || s.SelectedACR() != "skipped" || !reflect.DeepEqual(d.ran, []int{2}) {
			t.Errorf("prompts %d, acr %q, steps %v", len(d.prompts), s.SelectedACR(), d.ran)
		}
	})
	t.Run("custom pre-handler", func(t *testing.T) {
		e, _ := servicesEnv(t)
		s := e.open(`function onLoginRequest(context){
			promptIdentifierForStep(1, {preHandler: function(step, context){ return step === 1 && checkSessionExistence(2, context) === false; }},
				{onSkip: function(context){ context.selectedAcr = 'custom-skip'; }});
		}`, twoSteps())
		d := &driver{t: t}
		if fail := d.run(s); fail == nil {
			// onSkip scheduled nothing and no step ran: no subject, but the graph itself ends.
			if len(d.prompts) != 0 || s.SelectedACR() != "custom-skip" {
				t.Errorf("prompts %d, acr %q", len(d.prompts), s.SelectedACR())
			}
		} else {
			t.Fatal(fail.Reason)
		}
	})
}

func TestAnalyticsAndChoreoCalls(t *testing.T) {
	h := `{onSuccess: function(c, data){ c.selectedAcr = JSON.stringify(data); executeStep(1); }}`
	tests := []struct {
		name string
		call string
		want scripting.HTTPRequest
	}{
		{"callAnalytics by application and stream", `callAnalytics({Application: 'RiskApp', InputStream: 'In'}, {user: 'alice'}, ` + h + `)`,
			scripting.HTTPRequest{Method: "POST", URL: "/RiskApp/In", Body: json.RawMessage(`{"event":{"user":"alice"}}`), Function: "callAnalytics"}},
		{"callAnalytics by receiver URL", `callAnalytics({ReceiverUrl: '/x/y'}, {}, ` + h + `)`,
			scripting.HTTPRequest{Method: "POST", URL: "/x/y", Body: json.RawMessage(`{"event":{}}`), Function: "callAnalytics"}},
		{"callElastic", `callElastic({username: 'alice', threshold: 5}, ` + h + `)`,
			scripting.HTTPRequest{Method: "POST", Function: "callElastic", Params: map[string]string{"username": "alice", "threshold": "5"}}},
		{"callChoreo with secret aliases", `callChoreo({url: 'https://choreo.example/risk', consumerKeyAlias: 'ck', consumerSecretAlias: 'cs'}, {ip: '1.2.3.4'}, ` + h + `)`,
			scripting.HTTPRequest{Method: "POST", URL: "https://choreo.example/risk", Body: json.RawMessage(`{"ip":"1.2.3.4"}`), Function: "callChoreo",
				Auth: &scripting.HTTPAuth{Type: "clientcredential", Properties: map[string]string{
					"consumerKey": scripting.SecretRef("ck"), "consumerSecret": scripting.SecretRef("cs"), "tokenEndpoint": ""}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newEnv(t).open(`function onLoginRequest(context){ `+tc.call+`; }`, twoSteps())
			d := &driver{t: t, call: func(n *scripting.CallNode) scripting.CallResult {
				return scripting.CallResult{Outcome: scripting.OutcomeSuccess, Data: json.RawMessage(`{"risk_score":1}`)}
			}}
			if fail := d.run(s); fail != nil {
				t.Fatal(fail.Reason)
			}
			tc.want.TenantDomain = "carbon.super"
			if len(d.calls) != 1 || !reflect.DeepEqual(d.calls[0].Request, tc.want) {
				t.Fatalf("calls %+v\nwant %+v", d.calls[0].Request, tc.want)
			}
			if s.SelectedACR() != `{"risk_score":1}` {
				t.Errorf("data %q", s.SelectedACR())
			}
		})
	}
	s := newEnv(t).open(`function onLoginRequest(context){ callElastic({index: 'x'}, {}); }`, twoSteps())
	if fail := (&driver{t: t}).run(s); fail == nil || fail.Kind != scripting.FailScript {
		t.Errorf("callElastic without username: %+v, want a script failure", fail)
	}
}
