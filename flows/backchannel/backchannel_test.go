package backchannel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/flows/backchannel"
)

// rp is a relying party's back-channel endpoint that answers each request with the next of its
// statuses (200 once they run out) and records the bodies it accepted.
type rp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	calls    int
	got      []string
}

func newRP(t *testing.T, statuses ...int) *rp {
	t.Helper()
	r := &rp{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if len(r.statuses) > 0 {
			s := r.statuses[0]
			r.statuses = r.statuses[1:]
			w.WriteHeader(s)
			return
		}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.got = append(r.got, string(body))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rp) state() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, slices.Clone(r.got)
}

func msg(name, url string) backchannel.Message {
	return backchannel.Message{RelyingParty: name, URL: url, ContentType: "application/x-www-form-urlencoded",
		Body: []byte("logout_token=" + name)}
}

// TestWorkflow: each message is delivered with its own retries (Temporal's retry policy, on the
// test environment's clock); a relying party that fails temporarily gets its message, one that
// refuses it (400) is not retried, one that keeps failing stops after Config.Attempts.
func TestWorkflow(t *testing.T) {
	flaky := newRP(t, http.StatusServiceUnavailable, http.StatusBadGateway)
	refusing := newRP(t, http.StatusBadRequest)
	down := newRP(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	ok := newRP(t)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	flow := backchannel.NewFlow(backchannel.Config{Attempts: 4})
	env.RegisterWorkflowWithOptions(flow.Run, workflow.RegisterOptions{Name: backchannel.WorkflowName})
	acts := &backchannel.Activities{}
	env.RegisterActivityWithOptions(acts.Deliver, activity.RegisterOptions{Name: backchannel.ActivityDeliver})
	env.ExecuteWorkflow(backchannel.WorkflowName, backchannel.Input{Messages: []backchannel.Message{
		msg("flaky", flaky.srv.URL), msg("refusing", refusing.srv.URL), msg("down", down.srv.URL), msg("ok", ok.srv.URL)}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res backchannel.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Delivered)
	slices.Sort(res.Failed)
	if !slices.Equal(res.Delivered, []string{"flaky", "ok"}) || !slices.Equal(res.Failed, []string{"down", "refusing"}) {
		t.Errorf("result %+v", res)
	}
	for _, c := range []struct {
		name      string
		r         *rp
		calls     int
		delivered bool
	}{{"flaky", flaky, 3, true}, {"refusing", refusing, 1, false}, {"down", down, 4, false}, {"ok", ok, 1, true}} {
		calls, got := c.r.state()
		if calls != c.calls || (len(got) == 1) != c.delivered || (c.delivered && got[0] != "logout_token="+c.name) {
			t.Errorf("%s: %d calls, bodies %q; want %d calls, delivered %v", c.name, calls, got, c.calls, c.delivered)
		}
	}
}

// TestWorkflowRefusedAddress: a back-channel logout URL at an address the egress policy refuses
// (a private address, the cloud metadata service) is a failed delivery after one attempt, not
// retried; the relying parties at allowed addresses still get their messages.
func TestWorkflowRefusedAddress(t *testing.T) {
	ok := newRP(t)
	allow, err := egress.ParseAllow([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := egress.New(egress.Config{Allow: allow, Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	flow := backchannel.NewFlow(backchannel.Config{Attempts: 5})
	env.RegisterWorkflowWithOptions(flow.Run, workflow.RegisterOptions{Name: backchannel.WorkflowName})
	acts := &backchannel.Activities{Client: pol.Client(egress.ClientOptions{Timeout: backchannel.DefaultAttemptTimeout})}
	var mu sync.Mutex
	attempts := map[string]int{}
	var refusal error
	env.RegisterActivityWithOptions(func(ctx context.Context, m backchannel.Message) error {
		err := acts.Deliver(ctx, m)
		mu.Lock()
		defer mu.Unlock()
		attempts[m.RelyingParty]++
		if m.RelyingParty == "private" {
			refusal = err
		}
		return err
	}, activity.RegisterOptions{Name: backchannel.ActivityDeliver})
	env.ExecuteWorkflow(backchannel.WorkflowName, backchannel.Input{Messages: []backchannel.Message{
		msg("private", "http://10.0.0.5/logout"), msg("metadata", "http://169.254.169.254/latest/meta-data/"),
		msg("ok", ok.srv.URL)}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res backchannel.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Failed)
	if !slices.Equal(res.Delivered, []string{"ok"}) || !slices.Equal(res.Failed, []string{"metadata", "private"}) {
		t.Errorf("result %+v", res)
	}
	if attempts["private"] != 1 || attempts["metadata"] != 1 {
		t.Errorf("attempts %v: a refused address must not be retried", attempts)
	}
	if refusal == nil || !strings.Contains(refusal.Error(), "egress: 10.0.0.5 is a private address") {
		t.Errorf("refusal %v does not name the address", refusal)
	}
}
