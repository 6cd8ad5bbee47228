package backchannel_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/flows/backchannel"
)

// soapSP is a service provider's SOAP single logout endpoint: crewjam's ServiceProvider
// answers each LogoutRequest with a LogoutResponse (signed with the SP key) whose status and
// shape its answer function picks.
type soapSP struct {
	srv   *httptest.Server
	sp    *crewjam.ServiceProvider
	cert  string // PEM
	mu    sync.Mutex
	calls int
	ids   []string
}

// answer writes the SP's answer to the request id; n is the attempt (1, 2, …).
type answer func(t *testing.T, s *soapSP, w http.ResponseWriter, id string, n int)

func newSOAPSP(t *testing.T, a answer) *soapSP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s := &soapSP{cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.calls++
		n := s.calls
		s.mu.Unlock()
		if !crewjam.IsSOAPRequest(r) || r.Header.Get("SOAPAction") != backchannel.SOAPAction {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		lr := doc.FindElement("//LogoutRequest")
		if lr == nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := lr.SelectAttrValue("ID", "")
		s.mu.Lock()
		s.ids = append(s.ids, id)
		s.mu.Unlock()
		a(t, s, w, id, n)
	}))
	t.Cleanup(s.srv.Close)
	u, _ := url.Parse(s.srv.URL + "/slo")
	s.sp = &crewjam.ServiceProvider{EntityID: "https://sp.example.com/" + t.Name(), Key: key, Certificate: cert, SloURL: *u}
	return s
}

func (s *soapSP) state() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, slices.Clone(s.ids)
}

// respond answers with a LogoutResponse of status, signed by the SP.
func respond(status string) answer {
	return func(t *testing.T, s *soapSP, w http.ResponseWriter, id string, _ int) {
		resp, err := s.sp.MakeSOAPLogoutResponse(id, crewjam.Status{StatusCode: crewjam.StatusCode{Value: status}})
		if err != nil {
			t.Error(err)
			return
		}
		_ = crewjam.WriteSOAPLogoutResponse(w, resp)
	}
}

// soapMsg is a LogoutRequest with ID id for sp in a SOAP envelope (its signature is the SAML
// front-end's business, tested there).
func soapMsg(t *testing.T, name string, s *soapSP, id string, certs bool) backchannel.Message {
	t.Helper()
	lr := &crewjam.LogoutRequest{ID: id, Version: "2.0", IssueInstant: time.Now(),
		Issuer: &crewjam.Issuer{Value: "https://idp.example.com"}, NameID: &crewjam.NameID{Value: "alice"}}
	doc := etree.NewDocument()
	doc.SetRoot(lr.Element())
	raw, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	body, err := backchannel.SOAPEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	exp := &backchannel.SAMLExpect{RequestID: id, Issuer: s.sp.EntityID}
	if certs {
		exp.Certificates = []string{s.cert}
	}
	return backchannel.Message{RelyingParty: name, URL: s.srv.URL + "/slo", ContentType: backchannel.SOAPContentType,
		Body: body, Kind: backchannel.KindSAMLSOAP, SAML: exp}
}

// TestSAMLSOAPWorkflow: SAML LogoutRequests over SOAP go through the same workflow. An SP that
// answers a signed Success LogoutResponse has got the message (also after a temporary 503);
// one that answers another status, a SOAP Fault, an unsigned response where a signature is
// due, or a response to another request, is recorded as failed after one attempt — the SP
// answered, asking again cannot help.
func TestSAMLSOAPWorkflow(t *testing.T) {
	cases := []struct {
		name      string
		answer    answer
		certs     bool
		calls     int
		delivered bool
	}{
		{name: "signed success", answer: respond(crewjam.StatusSuccess), certs: true, calls: 1, delivered: true},
		{name: "success, no certificate to check", answer: respond(crewjam.StatusSuccess), calls: 1, delivered: true},
		{name: "temporary failure", certs: true, calls: 2, delivered: true,
			answer: func(t *testing.T, s *soapSP, w http.ResponseWriter, id string, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				respond(crewjam.StatusSuccess)(t, s, w, id, n)
			}},
		{name: "responder status", answer: respond(crewjam.StatusResponder), certs: true, calls: 1},
		{name: "SOAP fault", certs: true, calls: 1,
			answer: func(_ *testing.T, _ *soapSP, w http.ResponseWriter, _ string, _ int) {
				_ = crewjam.WriteSOAPFault(w, "refused")
			}},
		{name: "unsigned", certs: true, calls: 1,
			answer: func(t *testing.T, s *soapSP, w http.ResponseWriter, id string, n int) {
				key := s.sp.Key
				s.sp.Key = nil
				defer func() { s.sp.Key = key }()
				respond(crewjam.StatusSuccess)(t, s, w, id, n)
			}},
		{name: "answer to another request", certs: true, calls: 1,
			answer: func(t *testing.T, s *soapSP, w http.ResponseWriter, _ string, n int) {
				respond(crewjam.StatusSuccess)(t, s, w, "_other", n)
			}},
		{name: "not SOAP", certs: true, calls: 1,
			answer: func(_ *testing.T, _ *soapSP, w http.ResponseWriter, _ string, _ int) {
				_, _ = io.WriteString(w, "ok")
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := newSOAPSP(t, c.answer)
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			flow := backchannel.NewFlow(backchannel.Config{Attempts: 4})
			env.RegisterWorkflowWithOptions(flow.Run, workflow.RegisterOptions{Name: backchannel.WorkflowName})
			acts := &backchannel.Activities{}
			env.RegisterActivityWithOptions(acts.Deliver, activity.RegisterOptions{Name: backchannel.ActivityDeliver})
			env.ExecuteWorkflow(backchannel.WorkflowName, backchannel.Input{Messages: []backchannel.Message{
				soapMsg(t, "sp", sp, "_req1", c.certs)}})
			if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
				t.Fatalf("workflow: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
			}
			var res backchannel.Result
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if got := slices.Equal(res.Delivered, []string{"sp"}); got != c.delivered || len(res.Delivered)+len(res.Failed) != 1 {
				t.Errorf("result %+v, want delivered %v", res, c.delivered)
			}
			if calls, ids := sp.state(); calls != c.calls || len(ids) != c.calls || ids[0] != "_req1" {
				t.Errorf("%d calls (ids %v), want %d", calls, ids, c.calls)
			}
		})
	}
}
