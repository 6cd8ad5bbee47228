package smsotp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/smsotp"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type request struct {
	auth string
	body map[string]string
}

type env struct {
	a        *smsotp.Authenticator
	user     *connectors.User
	requests chan request
	status   atomic.Int32
	log      bytes.Buffer
}

// newEnv starts an HTTP SMS provider (httptest) that records the templated requests, and a
// database holding alice with the given mobile number.
func newEnv(t *testing.T, mobile string) *env {
	t.Helper()
	e := &env{requests: make(chan request, 16)}
	e.status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("provider got a non-JSON body: %s", b)
		}
		e.requests <- request{auth: r.Header.Get("Authorization"), body: body}
		w.WriteHeader(int(e.status.Load()))
	}))
	t.Cleanup(srv.Close)
	sender, err := notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: srv.URL + "/messages",
		Body:    `{"from":"Keyflow","to":"{{mobile}}","text":"{{body}}"}`,
		Headers: map[string]string{"Authorization": "Basic c2lkOnRva2Vu"}})
	if err != nil {
		t.Fatal(err)
	}
	s := storetest.New(t)
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]string{}
	if mobile != "" {
		claims[smsotp.MobileClaim] = mobile
	}
	u, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "alice", Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	e.user = &connectors.User{ID: u.ID, Username: "alice", IdP: connectors.LocalIdP}
	e.a, err = smsotp.New(smsotp.Config{HashKey: bytes.Repeat([]byte{3}, 32),
		Logger: slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		smsotp.Deps{Claims: s, Sender: sender})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var codeRE = regexp.MustCompile(`code is ([0-9]+)\.`)

func (e *env) received(t *testing.T) string {
	t.Helper()
	select {
	case r := <-e.requests:
		if r.auth != "Basic c2lkOnRva2Vu" || r.body["to"] != "+94771234567" || r.body["from"] != "Keyflow" {
			t.Errorf("provider request %+v", r)
		}
		m := codeRE.FindStringSubmatch(r.body["text"])
		if m == nil {
			t.Fatalf("no code in %q", r.body["text"])
		}
		return m[1]
	case <-time.After(30 * time.Second):
		t.Fatal("no SMS request arrived")
		return ""
	}
}

func (e *env) sc() connectors.StepContext {
	return connectors.StepContext{FlowID: "flow", Step: 2, IdP: connectors.LocalIdP, User: e.user}
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t, "+94771234567")
		return connectortest.Fixture{
			Authenticator: e.a,
			User:          e.user,
			Valid: func(t *testing.T, _ json.RawMessage) map[string]string {
				return map[string]string{"OTPCode": e.received(t)}
			},
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"OTPCode": "wrong"}
			},
		}
	})
}

func TestTemplatedRequest(t *testing.T) {
	e := newEnv(t, "+94771234567")
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: e.sc()})
	if err != nil || res.Outcome != nil {
		t.Fatalf("Begin: %+v %v", res, err)
	}
	if res.Messages[0].Context["destination"] != "********4567" {
		t.Errorf("masked destination %q", res.Messages[0].Context["destination"])
	}
	code := e.received(t)
	if strings.Contains(string(res.State), code) || strings.Contains(e.log.String(), code) {
		t.Error("code in state or log")
	}
	out, err := e.a.Process(context.Background(), connectors.ProcessInput{StepContext: e.sc(),
		Params: map[string]string{smsotp.ParamOTP: code}, State: res.State, Attempt: 1})
	if err != nil || out.Status != connectors.StatusSuccess {
		t.Fatalf("Process: %+v %v", out, err)
	}
}

func TestProviderFailureIsAnError(t *testing.T) {
	e := newEnv(t, "+94771234567")
	e.status.Store(http.StatusServiceUnavailable)
	if _, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: e.sc()}); err == nil {
		t.Error("Begin succeeded although the provider failed")
	}
}

func TestNoNumber(t *testing.T) {
	e := newEnv(t, "")
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: e.sc()})
	if err != nil || res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
		t.Fatalf("Begin: %+v %v", res, err)
	}
	if len(e.requests) != 0 {
		t.Error("an SMS was sent")
	}
}
