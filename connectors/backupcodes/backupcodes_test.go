package backupcodes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/backupcodes"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	url  string
	a    *backupcodes.Authenticator
	user *connectors.User
	log  bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{url: storetest.URL(t)}
	s, err := store.Open(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	org, err := s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.user = &connectors.User{ID: u.ID, Username: "alice", IdP: connectors.LocalIdP}
	e.a, err = backupcodes.New(backupcodes.Config{HashKey: bytes.Repeat([]byte{5}, 32),
		Logger: slog.New(slog.NewTextHandler(&e.log, nil))}, backupcodes.Deps{Codes: s})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) process(t *testing.T, code string) connectors.Outcome {
	t.Helper()
	out, err := e.a.Process(context.Background(), connectors.ProcessInput{
		StepContext: connectors.StepContext{FlowID: "f", Step: 2, User: e.user},
		Params:      map[string]string{backupcodes.ParamCode: code}, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t)
		codes, err := e.a.Generate(t.Context(), e.user.ID, store.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		return connectortest.Fixture{
			Authenticator: e.a,
			User:          e.user,
			Valid: func() func(*testing.T, json.RawMessage) map[string]string {
				next := 0 // each valid submission spends a code
				var mu sync.Mutex
				return func(*testing.T, json.RawMessage) map[string]string {
					mu.Lock()
					defer mu.Unlock()
					next++
					return map[string]string{"BackupCode": codes[next-1]}
				}
			}(),
			Invalid: func(*testing.T, json.RawMessage) map[string]string {
				return map[string]string{"BackupCode": "AAAAA-AAAAA"}
			},
		}
	})
}

func TestSingleUse(t *testing.T) {
	e := newEnv(t)
	codes, err := e.a.Generate(t.Context(), e.user.ID, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != backupcodes.DefaultCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if seen[c] || len(c) != backupcodes.DefaultLength+1 {
			t.Errorf("code %q repeated or malformed", c)
		}
		seen[c] = true
	}
	steps := []struct {
		name string
		code string
		want connectors.Status
	}{
		{name: "first code", code: codes[0], want: connectors.StatusSuccess},
		{name: "first code again", code: codes[0], want: connectors.StatusFailed},
		{name: "second code typed loosely", code: strings.ToLower(strings.ReplaceAll(codes[1], "-", " ")), want: connectors.StatusSuccess},
		{name: "garbage", code: "nope", want: connectors.StatusFailed},
	}
	for _, st := range steps {
		if out := e.process(t, st.code); out.Status != st.want {
			t.Errorf("%s: status %q reason %q, want %q", st.name, out.Status, out.Reason, st.want)
		}
	}
	// A new set invalidates the old one.
	fresh, err := e.a.Generate(t.Context(), e.user.ID, store.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	if out := e.process(t, codes[2]); out.Status != connectors.StatusFailed {
		t.Error("a code of the replaced set still works")
	}
	if out := e.process(t, fresh[0]); out.Status != connectors.StatusSuccess {
		t.Error("a fresh code fails")
	}
	// Stored hashed: no stored value contains a code, and the log has none.
	conn, err := pgx.Connect(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT code_hash FROM backup_codes`)
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != backupcodes.DefaultCount {
		t.Errorf("%d stored rows", len(hashes))
	}
	for _, h := range hashes {
		for _, c := range fresh {
			if bytes.Contains(h, []byte(strings.ReplaceAll(c, "-", ""))) {
				t.Error("a code is stored in clear")
			}
		}
	}
	for _, c := range append(codes, fresh...) {
		if strings.Contains(e.log.String(), strings.ReplaceAll(c, "-", "")) {
			t.Error("a code was logged")
		}
	}
}

func TestBeginNeedsCodes(t *testing.T) {
	e := newEnv(t)
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: connectors.StepContext{User: e.user}})
	if err != nil || res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
		t.Fatalf("Begin without codes: %+v %v", res, err)
	}
	if _, err := e.a.Generate(t.Context(), e.user.ID, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	res, err = e.a.Begin(t.Context(), connectors.BeginInput{StepContext: connectors.StepContext{User: e.user}})
	if err != nil || res.Outcome != nil {
		t.Fatalf("Begin with codes: %+v %v", res, err)
	}
}
