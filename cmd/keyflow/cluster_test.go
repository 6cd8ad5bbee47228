package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/keyflow/keyflow/connectors/backupcodes"
	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/pgserver"
	"github.com/keyflow/keyflow/workers/devserver"
)

// cluster is a production-shaped deployment for process-level tests: a private PostgreSQL and an
// embedded Temporal, the schema applied with `keyflow migrate`, and `keyflow api` and
// `keyflow worker` as separate processes. The test talks to PostgreSQL through the store (to set
// up applications and users, as the management API would) and to Temporal through a plain
// client without the payload codec (to inspect what Temporal holds).
type cluster struct {
	t        *testing.T
	env      []string
	pg       *pgserver.Server
	pgDir    string
	store    *store.Store
	temporal client.Client
	kek      namedKey
	orgID    string
	api      *proc
	worker   *proc
	// workers are every worker process started, killed ones included.
	workers []*proc
	base    string
	http    *http.Client
}

// startCluster starts everything and returns once the worker answers a workflow round trip.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterOn(t, "")
}

// startClusterOn is startCluster with the public base URL http://host:port (both processes get
// it as KEYFLOW_BASE_URL), for browsers: passkeys need a domain name such as localhost. An empty
// host keeps the default, http://127.0.0.1:port.
func startClusterOn(t *testing.T, host string) *cluster {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	pgDir := filepath.Join(t.TempDir(), "pg")
	pg, err := pgserver.Start(ctx, pgserver.Config{DataDir: pgDir, Logger: log, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	tsrv, err := devserver.Start(ctx, devserver.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tsrv.Stop() })

	key := make([]byte, codec.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, pg: pg, pgDir: pgDir, kek: namedKey{ID: "e1", Key: key[:32]}, http: &http.Client{Timeout: 2 * time.Minute}}
	t.Cleanup(func() { _ = c.pg.Stop(context.Background()) })
	c.env = []string{
		"KEYFLOW_DATABASE_URL=" + pg.URL(),
		"KEYFLOW_TEMPORAL_ADDRESS=" + tsrv.FrontendAddress(),
		"KEYFLOW_CODEC_KEYS=k1:" + base64.StdEncoding.EncodeToString(key),
		"KEYFLOW_ENCRYPTION_KEYS=" + c.kek.ID + ":" + base64.StdEncoding.EncodeToString(c.kek.Key),
		"KEYFLOW_CLIENT_SECRET_PEPPER=" + base64.StdEncoding.EncodeToString(append(key, key...)),
		"KEYFLOW_DATA_DIR=" + t.TempDir(),
		// Hundreds of logins from one loopback address: far above the per-client defaults.
		"KEYFLOW_RATE_LIMIT=1000000", "KEYFLOW_RATE_LIMIT_BURST=10000",
		"KEYFLOW_RATE_LIMIT_TOKEN=1000000", "KEYFLOW_RATE_LIMIT_TOKEN_BURST=10000",
	}
	mig := exec.Command(keyflowBinary(t), "migrate")
	mig.Env = append(os.Environ(), c.env...)
	if out, err := mig.CombinedOutput(); err != nil || !regexp.MustCompile(`database schema at version \d+`).Match(out) {
		t.Fatalf("keyflow migrate: %v\n%s", err, out)
	}
	c.store, err = store.Open(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.store.Close)
	org, err := c.store.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.orgID = org.ID
	c.temporal, err = client.Dial(client.Options{HostPort: tsrv.FrontendAddress(), Namespace: "default",
		Logger: tlog.NewStructuredLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.temporal.Close)

	port := freeTCPPort(t)
	if host != "" {
		c.env = append(c.env, fmt.Sprintf("KEYFLOW_BASE_URL=http://%s:%d", host, port))
	}
	c.api = startProcOn(t, c.env, port, "api")
	c.api.ready("/readyz", time.Minute)
	c.base = "http://" + c.api.addr
	if host != "" {
		c.base = fmt.Sprintf("http://%s:%d", host, port)
	}
	c.startWorker()
	return c
}

// startWorker starts a new `keyflow worker` process and waits until it processes workflows.
func (c *cluster) startWorker() *proc {
	c.t.Helper()
	c.worker = startProc(c.t, c.env, "worker")
	c.workers = append(c.workers, c.worker)
	c.worker.ready("/readyz", time.Minute)
	c.api.ready("/readyz?worker=1", time.Minute)
	return c.worker
}

// testApp registers a public PKCE client and an app-native application with the given steps
// (each a list of local authenticator names) and script.
func (c *cluster) testApp(name, script string, steps ...[]string) (clientID, redirectURI string) {
	c.t.Helper()
	ctx := context.Background()
	clientID, redirectURI = "kf-"+name, "http://127.0.0.1:9/"+name+"/callback"
	if _, err := c.store.CreateOAuth2Client(ctx, store.NewOAuth2Client{OAuth2Client: store.OAuth2Client{
		ClientID: clientID, OrgID: c.orgID, Name: name, Public: true,
		GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{redirectURI},
		Scopes: []string{"openid", "profile"}, TokenFormat: store.TokenFormatJWT, AccessTokenLifetime: time.Hour,
		SigningAlg: "ES256",
	}}); err != nil {
		c.t.Fatal(err)
	}
	seq := store.AuthenticationSequence{Type: store.SequenceUserDefined, Script: script}
	for i, names := range steps {
		st := store.AuthenticationStep{ID: i + 1}
		for _, n := range names {
			st.Options = append(st.Options, store.AuthenticationOption{IdP: store.LocalIdP, Authenticator: n})
		}
		seq.Steps = append(seq.Steps, st)
	}
	if _, err := c.store.CreateApplication(ctx, store.NewApplication{Application: store.Application{
		OrgID: c.orgID, Name: name, ClientID: clientID, Sequence: seq, APIBasedAuthentication: true,
	}}); err != nil {
		c.t.Fatal(err)
	}
	return clientID, redirectURI
}

// testUser creates a local user with the password hash and returns its id.
func (c *cluster) testUser(username, passwordHash string) string {
	c.t.Helper()
	u, err := c.store.CreateUser(context.Background(), store.NewUser{
		OrgID: c.orgID, Domain: store.DefaultDomain, Username: username, PasswordHash: passwordHash,
		Claims: map[string]string{"http://wso2.org/claims/username": username},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return u.ID
}

// backupCodes enrols a fresh set of backup codes for the user, hashed with the key the worker
// derives from the same encryption key, and returns them as shown to the user.
func (c *cluster) backupCodes(userID string) []string {
	c.t.Helper()
	hk, err := purposeKey(c.kek, "backup-codes")
	if err != nil {
		c.t.Fatal(err)
	}
	a, err := backupcodes.New(backupcodes.Config{HashKey: hk}, backupcodes.Deps{Codes: c.store})
	if err != nil {
		c.t.Fatal(err)
	}
	codes, err := a.Generate(context.Background(), userID, store.Actor{})
	if err != nil {
		c.t.Fatal(err)
	}
	return codes
}

// closedStatus waits until the workflow execution is closed and returns its status, as
// Temporal reports it; it gives up when ctx ends.
func (c *cluster) closedStatus(ctx context.Context, id string) (enumspb.WorkflowExecutionStatus, error) {
	for {
		d, err := c.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return 0, err
		}
		if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("workflow %s still running: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// history returns every event of a workflow's latest run, undecoded.
func (c *cluster) history(ctx context.Context, id string) ([]*historypb.HistoryEvent, error) {
	it := c.temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// workflowIDs lists the ids of every execution the namespace's visibility store knows, or only
// those of the workflow type when it is not empty.
func (c *cluster) workflowIDs(ctx context.Context, workflowType string) ([]string, error) {
	var ids []string
	var token []byte
	for {
		resp, err := c.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "default", PageSize: 1000, NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			if workflowType == "" || e.GetType().GetName() == workflowType {
				ids = append(ids, e.GetExecution().GetWorkflowId())
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids, nil
		}
	}
}

// eachPayload calls f with every Payload inside m, at any depth, except search attributes: Temporal
// must read those, so they are never encrypted (the raw scan for secrets still covers them).
func eachPayload(m protoreflect.Message, f func(*commonpb.Payload)) {
	switch p := m.Interface().(type) {
	case *commonpb.Payload:
		f(p)
		return
	case *commonpb.SearchAttributes:
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				eachPayload(v.List().Get(i).Message(), f)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				eachPayload(mv.Message(), f)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			eachPayload(v.Message(), f)
		}
		return true
	})
}

// marshalEvent is the event's wire encoding: what Temporal stores and returns.
func marshalEvent(e *historypb.HistoryEvent) []byte {
	b, err := proto.Marshal(e)
	if err != nil {
		panic(err)
	}
	return b
}

// findSecret reports the first of secrets that occurs in b.
func findSecret(b []byte, secrets []string) (string, bool) {
	for _, s := range secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			return s, true
		}
	}
	return "", false
}

// nativeAnswer is any answer of /oauth2/authorize (direct) and /oauth2/authn: a step, the
// authorization data, or an error body.
type nativeAnswer struct {
	Status     int    `json:"-"`
	FlowID     string `json:"flowId"`
	FlowStatus string `json:"flowStatus"`
	NextStep   struct {
		StepType       string `json:"stepType"`
		Authenticators []struct {
			AuthenticatorID string   `json:"authenticatorId"`
			Authenticator   string   `json:"authenticator"`
			RequiredParams  []string `json:"requiredParams"`
		} `json:"authenticators"`
	} `json:"nextStep"`
	Links []struct {
		Href string `json:"href"`
	} `json:"links"`
	AuthData    map[string]string `json:"authData"`
	Code        string            `json:"code"`
	Message     string            `json:"message"`
	Description string            `json:"description"`
	raw         string
}

func (a nativeAnswer) String() string { return fmt.Sprintf("%d %s", a.Status, a.raw) }

// authenticator returns the id of the step's single authenticator with the display name.
func (a nativeAnswer) authenticator(display string) (string, error) {
	if a.Status != http.StatusOK || a.FlowStatus != "INCOMPLETE" || len(a.NextStep.Authenticators) != 1 ||
		a.NextStep.Authenticators[0].Authenticator != display {
		return "", fmt.Errorf("want an INCOMPLETE %q step, got %s", display, a)
	}
	return a.NextStep.Authenticators[0].AuthenticatorID, nil
}

// nativeLogin is one app-native login (WSO2 SDK style) with PKCE, usable from goroutines: it
// returns errors instead of failing the test.
type nativeLogin struct {
	c           *cluster
	clientID    string
	redirectURI string
	verifier    string
	state       string
	flowID      string
	authnURL    string
}

// startLogin posts /oauth2/authorize with response_mode=direct.
func (c *cluster) startLogin(ctx context.Context, clientID, redirectURI string) (*nativeLogin, nativeAnswer, error) {
	return c.startLoginAt(ctx, c.base, clientID, redirectURI)
}

// startLoginAt is startLogin through the api process at base.
func (c *cluster) startLoginAt(ctx context.Context, base, clientID, redirectURI string) (*nativeLogin, nativeAnswer, error) {
	l := &nativeLogin{c: c, clientID: clientID, redirectURI: redirectURI, verifier: rand.Text() + rand.Text(), state: rand.Text()}
	sum := sha256.Sum256([]byte(l.verifier))
	a, err := c.post(ctx, base+"/oauth2/authorize", "application/x-www-form-urlencoded", url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "response_mode": {"direct"},
		"redirect_uri": {redirectURI}, "scope": {"openid profile"}, "state": {l.state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode())
	if err == nil && a.Status == http.StatusOK {
		l.flowID = a.FlowID
		if len(a.Links) > 0 {
			l.authnURL = a.Links[0].Href
		}
	}
	return l, a, err
}

// submit posts the authenticator's params to /oauth2/authn.
func (l *nativeLogin) submit(ctx context.Context, authenticatorID string, params map[string]string) (nativeAnswer, error) {
	if l.authnURL == "" {
		return nativeAnswer{}, errors.New("no authn link")
	}
	body, _ := json.Marshal(map[string]any{"flowId": l.flowID,
		"selectedAuthenticator": map[string]any{"authenticatorId": authenticatorID, "params": params}})
	return l.c.post(ctx, l.authnURL, "application/json", string(body))
}

// tokens exchanges the code of a SUCCESS_COMPLETED answer at /oauth2/token.
func (l *nativeLogin) tokens(ctx context.Context, done nativeAnswer) (map[string]any, error) {
	return l.tokensAt(ctx, l.c.base, done)
}

// tokensAt is tokens through the api process at base.
func (l *nativeLogin) tokensAt(ctx context.Context, base string, done nativeAnswer) (map[string]any, error) {
	if done.Status != http.StatusOK || done.FlowStatus != "SUCCESS_COMPLETED" || done.AuthData["code"] == "" ||
		done.AuthData["state"] != l.state {
		return nil, fmt.Errorf("want SUCCESS_COMPLETED with code and state, got %s", done)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth2/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {done.AuthData["code"]}, "client_id": {l.clientID},
		"redirect_uri": {l.redirectURI}, "code_verifier": {l.verifier},
	}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tokens map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tokens) != nil {
		return nil, fmt.Errorf("token endpoint: %d %s", resp.StatusCode, b)
	}
	if tokens["access_token"] == nil || tokens["id_token"] == nil {
		return nil, fmt.Errorf("token response without tokens: %s", b)
	}
	return tokens, nil
}

func (c *cluster) post(ctx context.Context, u, contentType, body string) (nativeAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nativeAnswer{}, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		return nativeAnswer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := nativeAnswer{Status: resp.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("%s: %d %s: %w", u, resp.StatusCode, b, err)
	}
	return a, nil
}

// idTokenClaims decodes the payload of the ID token of a token response (the signature is the
// token endpoint's business; these tests look at what the login put in).
func idTokenClaims(tokens map[string]any) (map[string]any, error) {
	tok, _ := tokens["id_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("id_token %q is not a JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, json.Unmarshal(b, &claims)
}
