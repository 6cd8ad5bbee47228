package saml

import (
	"context"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	crewjam "github.com/crewjam/saml"
	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/api/wsfed"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/flows/backchannel"
	"github.com/keyflow/keyflow/store"
)

// workflowNotifier is the BackChannel of the tests: each Notify runs the back-channel
// workflow to its end in Temporal's test environment — the real activity posting to the real
// SP endpoints with the default client (loopback allowed), retries on the test clock — and
// keeps its Result.
type workflowNotifier struct {
	t       *testing.T
	mu      sync.Mutex
	results []backchannel.Result
}

func (n *workflowNotifier) Notify(_ context.Context, msgs []backchannel.Message) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	flow := backchannel.NewFlow(backchannel.Config{Attempts: 3})
	env.RegisterWorkflowWithOptions(flow.Run, workflow.RegisterOptions{Name: backchannel.WorkflowName})
	acts := &backchannel.Activities{}
	env.RegisterActivityWithOptions(acts.Deliver, activity.RegisterOptions{Name: backchannel.ActivityDeliver})
	env.ExecuteWorkflow(backchannel.WorkflowName, backchannel.Input{Messages: msgs})
	var res backchannel.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		n.t.Errorf("back-channel workflow: %v", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.results = append(n.results, res)
}

func (n *workflowNotifier) all() []backchannel.Result {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.results)
}

// soapSLO is an SP's SOAP single logout endpoint: crewjam's ServiceProvider validates the
// IdP's LogoutRequest (signature, Destination, Issuer, age) and answers a LogoutResponse with
// status, signed with the SP key; an invalid request gets a SOAP Fault.
type soapSLO struct {
	srv    *httptest.Server
	sp     atomic.Pointer[crewjam.ServiceProvider]
	status atomic.Value // string
	mu     sync.Mutex
	got    []*crewjam.LogoutRequest
	errs   []error
}

func newSOAPSLO(t *testing.T) *soapSLO {
	t.Helper()
	s := &soapSLO{}
	s.status.Store(crewjam.StatusSuccess)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sp := s.sp.Load()
		lr, err := sp.ValidateSOAPLogoutRequest(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.errs = append(s.errs, samlspDetail(err))
			_ = crewjam.WriteSOAPFault(w, "refused")
			return
		}
		s.got = append(s.got, lr)
		resp, err := sp.MakeSOAPLogoutResponse(lr.ID, crewjam.Status{StatusCode: crewjam.StatusCode{Value: s.status.Load().(string)}})
		if err != nil {
			t.Error(err)
			return
		}
		_ = crewjam.WriteSOAPLogoutResponse(w, resp)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *soapSLO) url() string { return s.srv.URL + "/slo" }

func (s *soapSLO) received() ([]*crewjam.LogoutRequest, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got), slices.Clone(s.errs)
}

// backChannelFixture is the SLO fixture with crm's single logout service on the back channel
// (SOAP, served by soap) and n as the IdP's BackChannel.
func backChannelFixture(t *testing.T) (*sloFixture, *soapSLO, *workflowNotifier) {
	t.Helper()
	soap := newSOAPSLO(t)
	f := newSLOFixtureWith(t, nil, []spOption{withSP(func(r *store.SAMLServiceProvider) {
		r.SLOURL, r.SLOResponseURL, r.SLOBinding = soap.url(), "", store.SAMLBindingSOAP
	})})
	u, _ := url.Parse(soap.url())
	f.crm.m.ServiceProvider.SloURL = *u
	soap.sp.Store(&f.crm.m.ServiceProvider)
	n := &workflowNotifier{t: t}
	f.e.h.cfg.BackChannel = n
	return f, soap, n
}

// wikiLogout is wiki's signed SP-initiated LogoutRequest over HTTP-POST; it returns the page
// and the request's ID.
func (f *sloFixture) wikiLogout(t *testing.T) (*http.Response, string, string) {
	t.Helper()
	lr, err := f.wiki.m.ServiceProvider.MakeLogoutRequest(f.e.srv.URL+PathSSO, "alice@example.com", crewjam.WithSessionIndex(f.sess.ID))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.send(t, http.MethodPost, f.e.srv.URL+PathSSO, url.Values{"RelayState": {"relay-slo"},
		"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlBytes(t, lr.Element()))}})
	return resp, body, lr.ID
}

// TestBackChannelLogout: wiki's LogoutRequest ends the session; crm, whose single logout
// service takes SOAP, is not visited by the browser but receives a LogoutRequest over the
// back channel, which crewjam's SP validates (the IdP's signature, Destination, NameID,
// SessionIndex); its signed LogoutResponse is checked by the back-channel workflow. wiki gets
// its LogoutResponse at once.
//
// The initiator's status does not wait for back-channel deliveries (backchannel.go): an SP
// that refuses the logout is recorded as failed in the workflow's result, after one attempt,
// while wiki still gets Success; only what is known at once — no back channel configured —
// makes it PartialLogout.
func TestBackChannelLogout(t *testing.T) {
	cases := []struct {
		name       string
		status     string
		noChannel  bool
		delivered  bool
		wantSecond string
	}{
		{name: "delivered", status: crewjam.StatusSuccess, delivered: true},
		{name: "SP refuses", status: crewjam.StatusResponder},
		{name: "no back channel", noChannel: true, wantSecond: statusPartialLogout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, soap, n := backChannelFixture(t)
			soap.status.Store(c.status)
			if c.noChannel {
				f.e.h.cfg.BackChannel = nil
			}
			resp, body, reqID := f.wikiLogout(t)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("SLO = %d %s", resp.StatusCode, body)
			}
			if !f.sessionEnded(t) {
				t.Error("session still live")
			}
			// The page answers wiki: no LogoutRequest to crm goes through the browser.
			top, second := f.wiki.checkLogoutResponse(t, body, "relay-slo", reqID)
			if top != crewjam.StatusSuccess || second != c.wantSecond {
				t.Errorf("wiki's LogoutResponse status %q/%q, want Success/%q", top, second, c.wantSecond)
			}
			if f.sloState != nil {
				t.Error("a logout is left in progress")
			}
			got, errs := soap.received()
			if len(errs) > 0 {
				t.Fatalf("crm refused the back-channel LogoutRequest: %v", errs)
			}
			results := n.all()
			if c.noChannel {
				if len(got) != 0 || len(results) != 0 {
					t.Errorf("sent without a back channel: %d requests, %v", len(got), results)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("crm received %d LogoutRequests, want 1 (no retry of a refusal)", len(got))
			}
			lr := got[0]
			if lr.NameID == nil || lr.NameID.Value != "alice@example.com" || lr.SessionIndex == nil || lr.SessionIndex.Value != f.sess.ID ||
				lr.Destination != soap.url() {
				t.Errorf("LogoutRequest %+v", lr)
			}
			crm := f.crm.reg.EntityID
			want := backchannel.Result{Failed: []string{crm}}
			if c.delivered {
				want = backchannel.Result{Delivered: []string{crm}}
			}
			if len(results) != 1 || !slices.Equal(results[0].Delivered, want.Delivered) || !slices.Equal(results[0].Failed, want.Failed) {
				t.Errorf("workflow results %+v, want %+v", results, want)
			}
		})
	}
}

// TestIdPInitiatedBackChannelLogout: IdP-initiated logout tells both SPs — wiki through the
// browser, crm over SOAP before the browser leaves.
func TestIdPInitiatedBackChannelLogout(t *testing.T) {
	f, soap, n := backChannelFixture(t)
	resp, body := f.send(t, http.MethodGet, f.e.srv.URL+PathLogout, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d %s", resp.StatusCode, body)
	}
	if got, errs := soap.received(); len(got) != 1 || len(errs) != 0 {
		t.Fatalf("crm: %d requests, errors %v", len(got), errs)
	}
	if r := n.all(); len(r) != 1 || len(r[0].Delivered) != 1 {
		t.Errorf("results %+v", r)
	}
	// wiki next, through the browser.
	lr := f.wiki.receiveLogoutRequest(t, body)
	if lr.NameID.Value != "alice@example.com" {
		t.Errorf("wiki's LogoutRequest names %q", lr.NameID.Value)
	}
}

// wsfedRP registers a WS-Federation relying party and makes it a participant of the session.
func (f *sloFixture) wsfedRP(t *testing.T, realm, logoutReply string) {
	t.Helper()
	app, err := f.e.st.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: f.e.org.ID, Name: "portal"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.st.CreateWSFedRelyingParty(t.Context(), store.NewWSFedRelyingParty{WSFedRelyingParty: store.WSFedRelyingParty{
		OrgID: f.e.org.ID, ApplicationID: app.ID, Realm: realm, ReplyURLs: []string{"https://portal.example.net/signin"},
		LogoutReplyURL: logoutReply}}); err != nil {
		t.Fatal(err)
	}
	if err := f.e.st.AddSSOParticipant(t.Context(), f.sess.ID, store.SSOParticipant{Protocol: wsfed.ProtocolWSFed, RelyingParty: realm}, fixedNow); err != nil {
		t.Fatal(err)
	}
}

// TestSAMLLogoutCleansUpWSFed: a SAML single logout also signs the session's WS-Federation
// relying parties out: the page loads their wsignoutcleanup1.0 URL (Config.Ended =
// Enders{oidc, wsfed.Cleanup}) in a frame its CSP allows, as WS-Fed sign-out does among
// relying parties.
func TestSAMLLogoutCleansUpWSFed(t *testing.T) {
	f, _, _ := backChannelFixture(t)
	f.wsfedRP(t, "urn:portal", "https://portal.example.net/signout")
	f.e.h.cfg.Ended = Enders{f.ender, wsfed.Cleanup{Store: f.e.st}}
	resp, body, reqID := f.wikiLogout(t)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SLO = %d %s", resp.StatusCode, body)
	}
	if top, _ := f.wiki.checkLogoutResponse(t, body, "relay-slo", reqID); top != crewjam.StatusSuccess {
		t.Errorf("status %q", top)
	}
	cleanup := `<iframe src="https://portal.example.net/signout?wa=wsignoutcleanup1.0" hidden>`
	if !strings.Contains(body, cleanup) {
		t.Errorf("no WS-Fed cleanup frame:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src https://rp.example.com https://portal.example.net;") {
		t.Errorf("CSP %q", csp)
	}
	if len(f.ender.sessions()) != 1 {
		t.Error("the OIDC ender was not told")
	}
}

// nopLogins is a BrowserLogins for the WS-Fed handler of the cross-protocol test, which only
// signs out.
type nopLogins struct{}

func (nopLogins) BeginBrowserLogin(c *gin.Context, _ flows.LoginInput, _ any) {
	c.Status(http.StatusNotImplemented)
}

var reNextLink = regexp.MustCompile(`<a id="next" href="([^"]*)">`)

// wantDeliveredToCRM checks that crm received exactly one LogoutRequest (validated by crewjam's
// SP) for alice's session sessionID, and that the back-channel workflow recorded it delivered.
func (f *sloFixture) wantDeliveredToCRM(t *testing.T, soap *soapSLO, n *workflowNotifier, sessionID string) {
	t.Helper()
	got, errs := soap.received()
	if len(got) != 1 || len(errs) != 0 {
		t.Fatalf("crm: %d LogoutRequests, errors %v", len(got), errs)
	}
	if lr := got[0]; lr.NameID == nil || lr.NameID.Value != "alice@example.com" || lr.SessionIndex == nil || lr.SessionIndex.Value != sessionID {
		t.Errorf("LogoutRequest %+v", lr)
	}
	if r := n.all(); len(r) != 1 || !slices.Equal(r[0].Delivered, []string{f.crm.reg.EntityID}) {
		t.Errorf("back-channel results %+v", r)
	}
}

// frontChannelChain follows a signed-out page (body, whose link to go on matches link) to the
// SAML front-channel logout: wiki receives a LogoutRequest for alice's session and answers
// Success, and the browser is sent on to end.
func (f *sloFixture) frontChannelChain(t *testing.T, link *regexp.Regexp, body, end string) {
	t.Helper()
	m := link.FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(html.UnescapeString(m[1]), f.e.srv.URL+PathLogout+"?logout=") {
		t.Fatalf("signed-out page does not go on to SAML logout:\n%s", body)
	}
	f.cookie = nil // the SSO cookie is gone
	resp, body := f.send(t, http.MethodGet, html.UnescapeString(m[1]), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SAML logout = %d %s", resp.StatusCode, body)
	}
	lr := f.wiki.receiveLogoutRequest(t, body)
	if lr.NameID.Value != "alice@example.com" || lr.SessionIndex == nil || lr.SessionIndex.Value != f.sess.ID {
		t.Errorf("wiki's LogoutRequest %+v", lr)
	}
	resp, body = f.send(t, http.MethodPost, f.e.srv.URL+PathSSO, f.wiki.logoutResponseForm(t, f.e, lr.ID, crewjam.StatusSuccess))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wiki's LogoutResponse = %d %s", resp.StatusCode, body)
	}
	if m := reNextLink.FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != end {
		t.Errorf("the logout does not end at %s:\n%s", end, body)
	}
}

// TestWSFedSignOutReachesSAML: a WS-Federation wsignout1.0 ends the session; the SAML service
// provider with a back-channel single logout service (crm) receives a valid LogoutRequest over
// SOAP (wsfed.Config.Ended = Enders{oidc, samlHandler}), and the signed-out page goes on to the
// SAML IdP (wsfed.Config.SAML), which sends the browser to the front-channel SP (wiki) with a
// signed LogoutRequest, takes its LogoutResponse and ends at wreply.
func TestWSFedSignOutReachesSAML(t *testing.T) {
	f, soap, n := backChannelFixture(t)
	f.wsfedRP(t, "urn:portal", "https://portal.example.net/signout")
	var engine atomic.Pointer[gin.Engine]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { engine.Load().ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	sts, err := wsfed.New(wsfed.Config{Store: f.e.st, Keys: f.e.h, Logins: nopLogins{}, BaseURL: srv.URL,
		Ended: Enders{f.ender, f.e.h}, SAML: f.e.h, Now: f.e.h.cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	g := gin.New()
	sts.Register(g)
	engine.Store(g)

	reply := "https://portal.example.net/signin"
	resp, body := f.send(t, http.MethodGet, srv.URL+wsfed.PathPassiveSTS+"?wa=wsignout1.0&wtrealm=urn:portal&wreply="+url.QueryEscape(reply), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("wsignout1.0 = %d %s", resp.StatusCode, body)
	}
	if !f.sessionEnded(t) {
		t.Error("session still live")
	}
	f.wantDeliveredToCRM(t, soap, n, f.sess.ID)
	if len(f.ender.sessions()) != 1 {
		t.Error("the OIDC ender was not told")
	}

	// The signed-out page goes on to the SAML IdP, which sends the browser to wiki, then to wreply.
	f.frontChannelChain(t, reNextLink, body, reply)
	if f.sloState != nil {
		t.Error("a logout is left in progress")
	}
	// Without front-channel SAML SPs, nothing is prepared: wreply follows the page.
	if u, err := f.e.h.FrontChannelLogout(t.Context(), store.SSOSession{ID: f.sess.ID, OrgID: f.e.org.ID}, reply); err != nil || u != "" {
		t.Errorf("FrontChannelLogout without participants = %q, %v", u, err)
	}
}
