package oauth2_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/api/apps"
	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

// notifyWait bounds how long a test waits for PostgreSQL to deliver a notification to another
// replica: a deadline on a condition, which the tests stop waiting for as soon as it holds.
const notifyWait = 15 * time.Second

// watchedCache is a replica's provider as its client-change listener sees it, telling the
// test what the listener passed on (after the provider has acted on it).
type watchedCache struct {
	*op.Provider
	mu      sync.Mutex
	ids     []string
	flushes int
	wake    chan struct{}
}

func (w *watchedCache) InvalidateClient(id string) {
	w.Provider.InvalidateClient(id)
	w.mu.Lock()
	w.ids = append(w.ids, id)
	w.mu.Unlock()
	w.signal()
}

func (w *watchedCache) InvalidateClients() {
	w.Provider.InvalidateClients()
	w.mu.Lock()
	w.flushes++
	w.mu.Unlock()
	w.signal()
}

func (w *watchedCache) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds, re-checking whenever the listener passes something on.
func (w *watchedCache) waitFor(t *testing.T, what string, cond func(ids []string, flushes int) bool) {
	t.Helper()
	deadline := time.NewTimer(notifyWait)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		ids, flushes := slices.Clone(w.ids), w.flushes
		w.mu.Unlock()
		if cond(ids, flushes) {
			return
		}
		select {
		case <-w.wake:
		case <-deadline.C:
			t.Fatalf("%s: not within %v (invalidated %q, %d flushes)", what, notifyWait, ids, flushes)
		}
	}
}

// listenClients runs the store's client-change listener for e's provider, as cmd/keyflow does,
// until the test ends, and returns once it listens (its first flush follows LISTEN).
func listenClients(t *testing.T, e *env) *watchedCache {
	t.Helper()
	w := &watchedCache{Provider: e.op, wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.store.ListenOAuth2Clients(ctx, w) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenOAuth2Clients: %v", err)
		}
	})
	w.waitFor(t, "listening", func(_ []string, flushes int) bool { return flushes >= 1 })
	return w
}

// openStore opens another Store on the database at url: another replica's pool.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// appsAPI serves the application management API on e's store (the Console's API of e's
// replica) and returns a function calling it with an administrator's token.
func appsAPI(t *testing.T, e *env) func(method, path, body string) (int, string) {
	t.Helper()
	all := []string{apps.ScopeView, apps.ScopeCreate, apps.ScopeUpdate, apps.ScopeDelete, apps.ScopeSecretCreate}
	h, err := apps.New(apps.Config{Store: e.store, Keys: e.keys, Issuer: e.issuer, SecretPepper: testPepper,
		BaseURL: "https://id.example.com",
		Tokens:  bearertest.Tokens{"m2m": {Subject: "console", ClientID: "console", ClientOnly: true, Scopes: all}}})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	h.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/api/server/v1/applications"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer m2m")
		resp := do(t, req)
		return resp.status, string(resp.body)
	}
}

// createApp creates an application whose client "id" has the chosen secret and the
// client_credentials grant, and returns the application's id.
func createApp(t *testing.T, call func(method, path, body string) (int, string), clientID, secret string) string {
	t.Helper()
	status, body := call(http.MethodPost, "", `{"name": "`+clientID+`", "inboundProtocolConfiguration": {"oidc": {
		"clientId": "`+clientID+`", "clientSecret": "`+secret+`", "grantTypes": ["client_credentials"]}}}`)
	if status != http.StatusCreated {
		t.Fatalf("create application: %d %s", status, body)
	}
	status, body = call(http.MethodGet, "?filter="+url.QueryEscape("clientId eq "+clientID), "")
	var list struct {
		Applications []struct {
			ID string `json:"id"`
		} `json:"applications"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != http.StatusOK || err != nil || len(list.Applications) != 1 {
		t.Fatalf("find application: %d %s %v", status, body, err)
	}
	return list.Applications[0].ID
}

// regenerate regenerates the secret of an application's client and returns it.
func regenerate(t *testing.T, call func(method, path, body string) (int, string), appID string) string {
	t.Helper()
	status, body := call(http.MethodPost, "/"+appID+"/inbound-protocols/oidc/regenerate-secret", "")
	var v struct {
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal([]byte(body), &v); status != http.StatusOK || err != nil || v.ClientSecret == "" {
		t.Fatalf("regenerate secret: %d %s %v", status, body, err)
	}
	return v.ClientSecret
}

// clientCredentials asks e's token endpoint for a client_credentials token and returns the
// status and the OAuth2 error code ("" on success).
func (e *env) clientCredentials(t *testing.T, id, secret string) (int, string) {
	t.Helper()
	r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, []string{id, secret})
	m := r.json(t)
	if r.status == http.StatusOK {
		if tok, _ := m["access_token"].(string); tok == "" {
			t.Fatalf("token response without access_token: %s", r.body)
		}
		return r.status, ""
	}
	code, _ := m["error"].(string)
	return r.status, code
}

func wantToken(t *testing.T, e *env, what, id, secret string) {
	t.Helper()
	if status, code := e.clientCredentials(t, id, secret); status != http.StatusOK {
		t.Fatalf("%s: %d %s, want a token", what, status, code)
	}
}

func wantRefused(t *testing.T, e *env, what, id, secret string, wantStatus int, wantCode string) {
	t.Helper()
	if status, code := e.clientCredentials(t, id, secret); status != wantStatus || code != wantCode {
		t.Fatalf("%s: %d %s, want %d %s", what, status, code, wantStatus, wantCode)
	}
}

const oldSecret = "the-old-secret-of-28-chars!!"

// TestClientChangeSeenAtOnce: on the replica whose API changed a client, the token endpoint
// applies the change to the very next request, although the client is cached (the test's
// clock stands still, so the cache's TTL never runs out): a regenerated secret retires the
// old one, a removed grant and a deleted application take effect.
func TestClientChangeSeenAtOnce(t *testing.T) {
	e := newEnv(t)
	listenClients(t, e)
	call := appsAPI(t, e)
	app := createApp(t, call, "cc-app", oldSecret)
	wantToken(t, e, "old secret before the change", "cc-app", oldSecret) // now cached

	fresh := regenerate(t, call, app)
	wantRefused(t, e, "old secret right after regenerate-secret", "cc-app", oldSecret, http.StatusUnauthorized, "invalid_client")
	wantToken(t, e, "new secret", "cc-app", fresh)

	status, body := call(http.MethodPut, "/"+app+"/inbound-protocols/oidc",
		`{"grantTypes": ["authorization_code"], "callbackURLs": ["https://cc.example.com/cb"]}`)
	if status != http.StatusOK {
		t.Fatalf("replace OIDC configuration: %d %s", status, body)
	}
	wantRefused(t, e, "client_credentials right after it was removed", "cc-app", fresh, http.StatusBadRequest, "unauthorized_client")

	if status, body := call(http.MethodDelete, "/"+app, ""); status != http.StatusNoContent {
		t.Fatalf("delete application: %d %s", status, body)
	}
	wantRefused(t, e, "client of a deleted application", "cc-app", fresh, http.StatusUnauthorized, "invalid_client")
}

// TestClientChangeReachesOtherReplicas: two replicas (each its own pool, provider and cache)
// on one database; a secret regenerated and an application deleted through the first are
// applied by the second as soon as its listener hears of them.
func TestClientChangeReachesOtherReplicas(t *testing.T) {
	dbURL := storetest.URL(t)
	c := newClock()
	a := newReplica(t, openStore(t, dbURL), c, "")
	b := newReplica(t, openStore(t, dbURL), c, a.issuer)
	listenClients(t, a)
	wb := listenClients(t, b)
	call := appsAPI(t, a)
	app := createApp(t, call, "cc-app", oldSecret)
	wb.waitFor(t, "replica b hears of the creation", func(ids []string, _ int) bool { return slices.Contains(ids, "cc-app") })
	wantToken(t, b, "old secret on replica b", "cc-app", oldSecret) // cached by b

	mark := func() int {
		wb.mu.Lock()
		defer wb.mu.Unlock()
		return len(wb.ids)
	}
	heard := func(since int) func([]string, int) bool {
		return func(ids []string, _ int) bool { return slices.Contains(ids[since:], "cc-app") }
	}

	since := mark()
	fresh := regenerate(t, call, app)
	wb.waitFor(t, "replica b hears of the new secret", heard(since))
	wantRefused(t, b, "old secret on replica b", "cc-app", oldSecret, http.StatusUnauthorized, "invalid_client")
	wantToken(t, b, "new secret on replica b", "cc-app", fresh)

	since = mark()
	if status, body := call(http.MethodDelete, "/"+app, ""); status != http.StatusNoContent {
		t.Fatalf("delete application: %d %s", status, body)
	}
	wb.waitFor(t, "replica b hears of the deletion", heard(since))
	wantRefused(t, b, "deleted client on replica b", "cc-app", fresh, http.StatusUnauthorized, "invalid_client")
}

// TestClientListenerReconnectFlushes: a change the listener could not hear of (written
// without a notification, as one sent while its connection was down would be lost) is
// served from the cache until the listener's connection is lost; it reconnects, flushes the
// cache, and the change applies.
func TestClientListenerReconnectFlushes(t *testing.T) {
	dbURL := storetest.URL(t)
	e := newReplica(t, openStore(t, dbURL), newClock(), "")
	w := listenClients(t, e)
	id, secret := e.client(t, op.NewClient{})
	other, otherSecret := e.client(t, op.NewClient{})
	// Each creation was passed on twice: at once by the store that wrote it, and by the
	// listener when PostgreSQL delivered its notification. Once both have, nothing more is
	// on its way.
	w.waitFor(t, "creations heard", func(ids []string, _ int) bool {
		count := func(c string) (n int) {
			for _, i := range ids {
				if i == c {
					n++
				}
			}
			return n
		}
		return count(id) == 2 && count(other) == 2
	})
	wantToken(t, e, "before the change", id, secret) // cached

	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Give id the other client's secret behind the store's back: no notification.
	if _, err := conn.Exec(t.Context(), `UPDATE oauth2_clients SET secret_hash =
		(SELECT secret_hash FROM oauth2_clients WHERE client_id = $2) WHERE client_id = $1`, id, other); err != nil {
		t.Fatal(err)
	}
	wantToken(t, e, "unnotified change, from the cache", id, secret)

	var pid int32
	if err := conn.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, store.ListenerApplicationName).Scan(&pid); err != nil {
		t.Fatalf("listener backend: %v", err)
	}
	if _, err := conn.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "flush after reconnecting", func(_ []string, flushes int) bool { return flushes >= 2 })
	wantRefused(t, e, "old secret after the flush", id, secret, http.StatusUnauthorized, "invalid_client")
	wantToken(t, e, "new secret after the flush", id, otherSecret)
	var back int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database() AND pid <> $2`, store.ListenerApplicationName, pid).Scan(&back); err != nil || back != 1 {
		t.Errorf("listener backends after reconnecting: %d %v, want 1", back, err)
	}
}

// pausingStore is the store as a provider sees it, able to hold one client read after it
// has read the row and before it returns, as a slow request would be held.
type pausingStore struct {
	*store.Store
	armed  atomic.Bool
	read   chan struct{} // the held read has read the row
	resume chan struct{} // lets it return
}

func (p *pausingStore) OAuth2Client(ctx context.Context, id string) (store.OAuth2Client, error) {
	c, err := p.Store.OAuth2Client(ctx, id)
	if p.armed.CompareAndSwap(true, false) {
		p.read <- struct{}{}
		<-p.resume
	}
	return c, err
}

// TestClientChangeDuringRead: a request that read the client from the store just before a
// change committed cannot put the old client back into the cache once the change has
// invalidated it; the next request sees the change.
func TestClientChangeDuringRead(t *testing.T) {
	ps := &pausingStore{read: make(chan struct{}), resume: make(chan struct{})}
	e := newEnv(t, func(c *op.Config) {
		ps.Store = c.Store.(*store.Store)
		c.Store = ps
	})
	listenClients(t, e)
	call := appsAPI(t, e)
	app := createApp(t, call, "slow-app", oldSecret)
	cc := op.ClientCredentials{ClientID: "slow-app", Secret: oldSecret, Method: op.AuthSecretBasic}

	e.op.InvalidateClient("slow-app") // the next request reads the store
	ps.armed.Store(true)
	slow := make(chan error, 1)
	go func() {
		_, err := e.op.AuthenticateClient(context.Background(), cc)
		slow <- err
	}()
	<-ps.read // the slow request holds the client with the old secret
	regenerate(t, call, app)
	close(ps.resume)
	if err := <-slow; err != nil {
		t.Fatalf("the request that began before the change: %v", err)
	}
	if _, err := e.op.AuthenticateClient(t.Context(), cc); err == nil {
		t.Fatal("the old secret is accepted after regenerate-secret answered: a stale read refilled the cache")
	}
}
