package workers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/fake"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

// The tests in this file run the script functions through the real login workflow (Temporal's
// test environment) with the real store (PostgreSQL), the real BasicAuthenticator and the
// activities New registers.

// cheap are argon2id parameters that keep the tests fast.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

const (
	emailURI  = "http://wso2.org/claims/emailaddress"
	mobileURI = "http://wso2.org/claims/mobile"
)

type scriptWorld struct {
	t    *testing.T
	st   *store.Store
	org  store.Organization
	cfg  Config
	fake *fake.Directory // federated users of the "Google" connection
	reg  connectors.Registry
}

func newScriptWorld(t *testing.T) *scriptWorld {
	t.Helper()
	st := storetest.New(t)
	org, err := st.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w := &scriptWorld{t: t, st: st, org: org}
	w.addUser("alice", "pw-alice", map[string]string{emailURI: "alice@example.com", mobileURI: "+31600000001"})
	w.addUser("bob", "pw-bob", map[string]string{emailURI: "team@example.com"})
	w.addUser("carol", "pw-carol", map[string]string{emailURI: "team@example.com"})
	b, err := basic.New(basic.Config{HashParams: cheap}, basic.Deps{Users: st, Organizations: st})
	if err != nil {
		t.Fatal(err)
	}
	w.fake = fake.NewDirectory(fake.UserRecord{Password: "pw-fed",
		User: connectors.User{ID: "google-sub-1", Username: "fed@gmail.com", TenantDomain: store.RootOrganizationHandle, IdP: "Google"}})
	google := fake.New(fake.Config{Name: "GoogleOIDCAuthenticator", DisplayName: "Google", Mode: fake.Password,
		Directory: w.fake, IdP: "Google"})
	if w.reg, err = connectors.NewRegistry(b, google); err != nil {
		t.Fatal(err)
	}
	w.cfg = Config{TaskQueue: "login", Authenticators: w.reg, Users: st, ScriptStore: st,
		HTTP: &wfhost.HTTPCaller{}, CookieKey: []byte(strings.Repeat("k", 32))}
	return w
}

func (w *scriptWorld) addUser(name, pw string, claims map[string]string) store.User {
	w.t.Helper()
	hash, err := password.Hash(pw, cheap)
	if err != nil {
		w.t.Fatal(err)
	}
	u, err := w.st.CreateUser(w.t.Context(), store.NewUser{OrgID: w.org.ID, Username: name, PasswordHash: hash, Claims: claims})
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

func (w *scriptWorld) input(script string, opts ...scripting.Option) flows.LoginInput {
	if len(opts) == 0 {
		opts = []scripting.Option{{Authenticator: connectors.BasicAuthenticator, IdP: connectors.LocalIdP}}
	}
	return flows.LoginInput{
		Application: flows.Application{ID: "app-1", Name: "pickup", TenantDomain: store.RootOrganizationHandle,
			Steps: []scripting.Step{{Options: opts}}, Script: script},
		Request: flows.LoginRequest{Protocol: "oidc", ClientID: "client-1",
			HTTP: scripting.Request{IP: "203.0.113.9", Headers: map[string]string{"user-agent": "test"}}},
	}
}

// login runs one login, answering every step view with answer, and returns the views.
func (w *scriptWorld) login(in flows.LoginInput, answers ...map[string]string) []flows.View {
	w.t.Helper()
	var suite testsuite.WorkflowTestSuite
	level := slog.LevelWarn
	if os.Getenv("KEYFLOW_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))
	env := suite.NewTestWorkflowEnvironment()
	login, err := flows.NewLogin(w.cfg.Authenticators, w.cfg.Login)
	if err != nil {
		w.t.Fatal(err)
	}
	login.Register(env)
	(&flows.LoginActivities{Authenticators: w.cfg.Authenticators}).Register(env)
	acts, err := scriptActivities(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	acts.Register(env)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "flow-1", TaskQueue: "login"})

	var views []flows.View
	var next func(v flows.View)
	next = func(v flows.View) {
		views = append(views, v)
		if v.Status.Final() || len(answers) == 0 {
			return
		}
		sub := flows.Submission{Seq: v.Seq, Params: answers[0]}
		answers = answers[1:]
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(flows.SubmitUpdate, flows.SubmitUpdateID("flow-1", sub.Seq), &updateCallbacks{t: w.t, complete: next}, sub)
		}, time.Second)
	}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(flows.GetViewUpdate, "flow-1:start", &updateCallbacks{t: w.t, complete: next}, nil)
	}, 0)
	env.ExecuteWorkflow(flows.LoginWorkflow, in)
	if !env.IsWorkflowCompleted() {
		w.t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		w.t.Fatalf("workflow error: %v", err)
	}
	if len(views) == 0 || !views[len(views)-1].Status.Final() {
		w.t.Fatalf("login did not end: %d views", len(views))
	}
	return views
}

// acrAfterLogin runs a one-step password login as user and returns the final view, failing the
// test unless the login succeeded.
func (w *scriptWorld) succeed(in flows.LoginInput, answers ...map[string]string) flows.View {
	w.t.Helper()
	views := w.login(in, answers...)
	final := views[len(views)-1]
	if final.Status != flows.StatusSuccess || final.Result == nil {
		w.t.Fatalf("login status %s, error %+v", final.Status, final.Error)
	}
	return final
}

func creds(user, pw string) map[string]string {
	return map[string]string{"username": user, "password": pw}
}

type updateCallbacks struct {
	t        *testing.T
	complete func(flows.View)
}

func (u *updateCallbacks) Accept()          {}
func (u *updateCallbacks) Reject(err error) { u.t.Errorf("update rejected: %v", err) }
func (u *updateCallbacks) Complete(success any, err error) {
	if err != nil {
		u.t.Errorf("update failed: %v", err)
		return
	}
	v, ok := success.(flows.View)
	if !ok {
		u.t.Errorf("update returned %T", success)
		return
	}
	u.complete(v)
}

func TestScriptLibrariesThroughWorkflow(t *testing.T) {
	w := newScriptWorld(t)
	ctx := t.Context()
	for _, lib := range []store.ScriptLibrary{
		{OrgID: w.org.ID, Name: "risk.js", Content: `var levels = require('levels.js');
			module.exports = { level: function(name){ return levels[name] || 'low'; } };`},
		{OrgID: w.org.ID, Name: "levels", Content: `module.exports = { alice: 'high' };`},
	} {
		if _, err := w.st.CreateScriptLibrary(ctx, lib); err != nil {
			t.Fatal(err)
		}
	}
	final := w.succeed(w.input(`var risk = require('risk.js');
		function onLoginRequest(context) {
			executeStep(1, {onSuccess: function(context) {
				context.selectedAcr = risk.level(context.currentKnownSubject.username) + '/' + risk.level('bob') + '/' +
					(loadLocalLibrary('missing.js') === null) + '/' + (require('risk.js') === risk);
			}});
		}`), creds("alice", "pw-alice"))
	if want := "high/low/true/true"; final.Result.ACR != want {
		t.Errorf("acr %q, want %q", final.Result.ACR, want)
	}

	// A script requiring a library the tenant does not have fails the login.
	views := w.login(w.input(`var x = require('nope.js'); function onLoginRequest(context){ executeStep(1); }`))
	if final := views[len(views)-1]; final.Status != flows.StatusFailed {
		t.Errorf("missing library: status %s, want failure", final.Status)
	}
}

func TestUserLookupsThroughWorkflow(t *testing.T) {
	w := newScriptWorld(t)
	final := w.succeed(w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			context.selectedAcr = [
				getUniqueUserWithClaimValues({'`+emailURI+`': 'alice@example.com'}, context).username,
				getUniqueUserWithClaimValues({'`+emailURI+`': 'team@example.com'}, context),
				getUsersWithClaimValues({'`+emailURI+`': 'team@example.com'}, context).map(function(u){ return u.username; }).join('+'),
				getUniqueUserWithClaimValues({'`+emailURI+`': 'team@example.com'}, 'carbon.super'),
				resolveMultiAttributeLoginIdentifier('+31600000001', 'carbon.super'),
				resolveMultiAttributeLoginIdentifier('BOB', 'carbon.super'),
				resolveMultiAttributeLoginIdentifier('team@example.com', 'carbon.super'),
				resolveMultiAttributeLoginIdentifier('alice', 'other.example')
			].join(',');
		}});
	}`), creds("alice", "pw-alice"))
	if want := "alice,,bob+carol,,alice,bob,,"; final.Result.ACR != want {
		t.Errorf("acr %q, want %q", final.Result.ACR, want)
	}
}

func (w *scriptWorld) passwordIs(name, pw string) bool {
	w.t.Helper()
	u, err := w.st.UserByUsername(w.t.Context(), w.org.ID, "", name)
	if err != nil {
		w.t.Fatal(err)
	}
	ok, err := password.Verify(pw, u.PasswordHash)
	if err != nil {
		w.t.Fatal(err)
	}
	return ok
}

func TestUpdateUserPasswordThroughWorkflow(t *testing.T) {
	t.Run("synchronous", func(t *testing.T) {
		w := newScriptWorld(t)
		w.succeed(w.input(`function onLoginRequest(context) {
			executeStep(1, {onSuccess: function(context) { updateUserPassword(context.currentKnownSubject, 'n3w-Secret!'); }});
		}`), creds("alice", "pw-alice"))
		if !w.passwordIs("alice", "n3w-Secret!") || w.passwordIs("alice", "pw-alice") {
			t.Error("the stored password was not replaced")
		}
	})
	t.Run("asynchronous with handlers", func(t *testing.T) {
		w := newScriptWorld(t)
		final := w.succeed(w.input(`var user;
		function onLoginRequest(context) {
			executeStep(1, {onSuccess: function(context) {
				user = context.currentKnownSubject;
				updateUserPassword(user, 'other-Secret2', {
					onSuccess: function(context) { context.selectedAcr = 'changed'; },
					onFail: function(context) { context.selectedAcr = 'failed'; }
				});
			}});
		}`), creds("bob", "pw-bob"))
		if final.Result.ACR != "changed" || !w.passwordIs("bob", "other-Secret2") {
			t.Errorf("acr %q, new password stored: %v", final.Result.ACR, w.passwordIs("bob", "other-Secret2"))
		}
	})
}

func TestFederatedAssociationThroughWorkflow(t *testing.T) {
	w := newScriptWorld(t)
	in := w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			var fed = context.currentKnownSubject;
			var before = getAssociatedLocalUser(fed);
			var linked = doAssociationWithLocalUser(fed, 'alice', 'carbon.super', 'PRIMARY');
			var crossTenant = doAssociationWithLocalUser(fed, 'bob', 'other.example', 'PRIMARY');
			context.selectedAcr = [before, linked, crossTenant, getAssociatedLocalUser(fed).username].join(',');
		}});
	}`, scripting.Option{Authenticator: "GoogleOIDCAuthenticator", IdP: "Google"})
	final := w.succeed(in, map[string]string{"username": "fed@gmail.com", "password": "pw-fed"})
	if want := ",true,false,alice"; final.Result.ACR != want {
		t.Errorf("acr %q, want %q", final.Result.ACR, want)
	}
	u, err := w.st.AssociatedUser(t.Context(), w.org.ID, "Google", "google-sub-1")
	if err != nil || u.Username != "alice" {
		t.Errorf("stored association: %+v, %v", u, err)
	}

	in.Application.Script = `function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			var fed = context.currentKnownSubject;
			context.selectedAcr = [removeAssociatedLocalUser(fed), getAssociatedLocalUser(fed), removeAssociatedLocalUser(fed)].join(',');
		}});
	}`
	final = w.succeed(in, map[string]string{"username": "fed@gmail.com", "password": "pw-fed"})
	if want := "true,,false"; final.Result.ACR != want {
		t.Errorf("after removal: acr %q, want %q", final.Result.ACR, want)
	}
}

// mailbox is a wfhost.MailTransport that keeps messages.
type mailbox struct {
	mu   sync.Mutex
	sent []notify.Mail
}

func (m *mailbox) Send(_ context.Context, mail notify.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, mail)
	return nil
}

func TestSendEmailThroughWorkflow(t *testing.T) {
	w := newScriptWorld(t)
	box := &mailbox{}
	w.cfg.Mail = box
	w.cfg.EmailTemplates = map[string]wfhost.EmailTemplate{
		"NewDeviceLogin": {Subject: "New sign-in for {{user-name}}", Body: "From {{ip}} at {{tenant-domain}} ({{TEMPLATE_TYPE}}){{unknown}}."},
	}
	final := w.succeed(w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			context.selectedAcr = sendEmail(context.currentKnownSubject, 'NewDeviceLogin', {ip: context.request.ip}) + ',' +
				sendEmail(context.currentKnownSubject, 'NoSuchTemplate', {});
		}});
	}`), creds("alice", "pw-alice"))
	if final.Result.ACR != "true,false" {
		t.Errorf("acr %q", final.Result.ACR)
	}
	want := notify.Mail{To: []string{"alice@example.com"}, Subject: "New sign-in for alice",
		Text: "From 203.0.113.9 at carbon.super (NewDeviceLogin)."}
	if len(box.sent) != 1 || !sameMail(box.sent[0], want) {
		t.Errorf("sent %+v, want %+v", box.sent, want)
	}
}

func sameMail(a, b notify.Mail) bool {
	return slices.Equal(a.To, b.To) && a.Subject == b.Subject && a.Text == b.Text
}

func TestCookiesThroughWorkflow(t *testing.T) {
	w := newScriptWorld(t)
	final := w.succeed(w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			setCookie(context.response, 'deviceId', context.currentKnownSubject.identifier,
				{sign: true, encrypt: true, 'max-age': 3600, path: '/', httpOnly: true, secure: true, sameSite: 'STRICT'});
			setCookie(context.response, 'hint', 'plain');
			context.response.headers['X-Login'] = 'done';
		}});
	}`), creds("alice", "pw-alice"))
	resp := final.Response
	if resp == nil || len(resp.Cookies) != 2 || resp.Headers["X-Login"] != "done" {
		t.Fatalf("final view response %+v", resp)
	}
	c := resp.Cookies[0]
	if c.Name != "deviceId" || c.MaxAge == nil || *c.MaxAge != 3600 || c.Path != "/" || !c.HTTPOnly || !c.Secure || c.SameSite != "STRICT" {
		t.Errorf("cookie %+v", c)
	}
	if v, sig, ok := scripting.DecodeCookie(c.Value); !ok || sig == "" || strings.Contains(v, "alice") {
		t.Errorf("the stored value is not signed and encrypted: %q %q %v", v, sig, ok)
	}

	// The next login presents the cookie: the script reads it back, and rejects a tampered one.
	v, _, _ := scripting.DecodeCookie(c.Value)
	tampered := scripting.EncodeCookie(v, "AAAA"+strings.Repeat("A", 40))
	in := w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			var r = context.request;
			context.selectedAcr = [getCookieValue(r, 'deviceId', {decrypt: true, validateSignature: true}),
				getCookieValue(r, 'tampered', {decrypt: true, validateSignature: true}),
				getCookieValue(r, 'hint'), getCookieValue(r, 'hint', {validateSignature: true})].join(',');
		}});
	}`)
	in.Request.HTTP.Cookies = map[string]scripting.Cookie{
		"deviceId": {Name: "deviceId", Value: c.Value},
		"tampered": {Name: "tampered", Value: tampered},
		"hint":     {Name: "hint", Value: resp.Cookies[1].Value},
	}
	final = w.succeed(in, creds("alice", "pw-alice"))
	if want := "alice,,plain,"; final.Result.ACR != want {
		t.Errorf("acr %q, want %q", final.Result.ACR, want)
	}
}

// memSessions is a test-only scripting.Sessions (the SSO session store is wired by the
// integrator).
type memSessions struct {
	mu         sync.Mutex
	byUser     map[string][]scripting.UserSession
	terminated []string
}

func (m *memSessions) UserSessions(_ context.Context, u *connectors.User) ([]scripting.UserSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.byUser[u.ID]), nil
}

func (m *memSessions) TerminateUserSession(_ context.Context, u *connectors.User, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ss := m.byUser[u.ID]
	i := slices.IndexFunc(ss, func(s scripting.UserSession) bool { return s.ID == id })
	if i < 0 {
		return false, nil
	}
	m.byUser[u.ID] = slices.Delete(ss, i, i+1)
	m.terminated = append(m.terminated, id)
	return true, nil
}

func TestUserSessionsThroughWorkflow(t *testing.T) {
	w := newScriptWorld(t)
	alice, err := w.st.UserByUsername(t.Context(), w.org.ID, "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	sessions := &memSessions{byUser: map[string][]scripting.UserSession{alice.ID: {
		{ID: "old", LoginTime: 1000, LastAccessTime: 1500, UserAgent: scripting.UserAgent{Browser: "Firefox"}},
		{ID: "new", LoginTime: 2000, LastAccessTime: 2500},
	}}}
	w.cfg.Sessions = sessions
	// The Concurrent-Session pattern: terminate the oldest session when over the limit.
	final := w.succeed(w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			var user = context.currentKnownSubject;
			var sessions = getUserSessions(user);
			var oldest = sessions[0];
			context.selectedAcr = sessions.length + ',' + oldest.userAgent.browser + ',' +
				terminateUserSession(user, oldest.id) + ',' + terminateUserSession(user, 'unknown') + ',' + getUserSessions(user).length;
		}});
	}`), creds("alice", "pw-alice"))
	if want := "2,Firefox,true,false,1"; final.Result.ACR != want {
		t.Errorf("acr %q, want %q", final.Result.ACR, want)
	}
	if !slices.Equal(sessions.terminated, []string{"old"}) {
		t.Errorf("terminated %v", sessions.terminated)
	}
}

func TestAnalyticsCallsThroughWorkflow(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[r.URL.Path] = string(raw)
		mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/RiskApp/InputStream":
			_, _ = io.WriteString(rw, `{"event":{"riskScore":1}}`)
		case "/transaction/_search":
			_, _ = io.WriteString(rw, `{"aggregations":{"risk_score":{"value":25000}}}`)
		case "/token":
			if user, pass, _ := r.BasicAuth(); user != "ck" || pass != "cs" {
				rw.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(rw, `{"access_token":"tok","token_type":"Bearer"}`)
		case "/choreo/risk":
			if r.Header.Get("Authorization") != "Bearer tok" {
				rw.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(rw, `{"allow":true}`)
		default:
			rw.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	w := newScriptWorld(t)
	w.cfg.HTTP = &wfhost.HTTPCaller{AllowedDomains: []string{"127.0.0.1"}, AnalyticsReceiver: srv.URL,
		ElasticReceiver: srv.URL, ChoreoTokenEndpoint: srv.URL + "/token"}
	script := `var results = [];
	function onLoginRequest(context) {
		callAnalytics({Application: 'RiskApp', InputStream: 'InputStream'}, {username: 'alice'}, {
			onSuccess: function(context, data) {
				results.push(data.event.riskScore);
				callElastic({username: 'alice', threshold: '20000'}, {
					onSuccess: function(context, data) {
						results.push(data.risk_score);
						callChoreo({url: '` + srv.URL + `/choreo/risk', consumerKey: 'ck', consumerSecret: 'cs'}, {ip: context.request.ip}, {
							onSuccess: function(context, data) {
								results.push(data.allow);
								executeStep(1, {onSuccess: function(context) { context.selectedAcr = results.join(','); }});
							},
							onFail: function(context) { sendError(null, {status: 'choreo'}); }
						});
					},
					onFail: function(context) { sendError(null, {status: 'elastic'}); }
				});
			},
			onFail: function(context) { sendError(null, {status: 'analytics'}); }
		});
	}`
	final := w.succeed(w.input(script), creds("alice", "pw-alice"))
	if want := "1,1,true"; final.Result.ACR != want {
		t.Errorf("acr %q, want %q", final.Result.ACR, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if bodies["/RiskApp/InputStream"] != `{"event":{"username":"alice"}}` {
		t.Errorf("analytics body %s", bodies["/RiskApp/InputStream"])
	}
	var q map[string]any
	if err := json.Unmarshal([]byte(bodies["/transaction/_search"]), &q); err != nil || q["aggs"] == nil ||
		!strings.Contains(bodies["/transaction/_search"], `"now-5m"`) || !strings.Contains(bodies["/transaction/_search"], `"alice"`) {
		t.Errorf("elastic query %s (%v)", bodies["/transaction/_search"], err)
	}
	if bodies["/choreo/risk"] != `{"ip":"203.0.113.9"}` {
		t.Errorf("choreo body %s", bodies["/choreo/risk"])
	}

	// Outside the allow-list the same script ends in onFail.
	w.cfg.HTTP.AllowedDomains = []string{"example.com"}
	views := w.login(w.input(script))
	if f := views[len(views)-1]; f.Status != flows.StatusFailed || f.Error == nil {
		t.Errorf("disallowed receiver: status %s", f.Status)
	}
}
