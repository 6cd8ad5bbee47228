package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store/pgserver"
)

// TestClusterFaults is issue 7's multi-process cluster test: one Temporal and one PostgreSQL,
// two `keyflow api` and two `keyflow worker` processes. Logins are spread across both api
// processes (each step may go to either: the flow lives in Temporal). Then, under load, a worker is
// killed with SIGKILL (its logins finish on the other worker) and an api process is killed
// (clients retry the same step on the other one). Every login must finish: the test counts
// started, finished and lost. Last, PostgreSQL stops: requests get a clean 503; it restarts on
// the same port and logins succeed again without any process being restarted.
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	c := startCluster(t)
	apis := []string{c.base, "http://" + startProc(t, c.env, "api").addr}
	first := c.worker
	c.startWorker()
	clientID, redirectURI := c.testApp("faults", "", []string{connectors.BasicAuthenticator})
	const pw = "correct horse battery staple"
	// Cheap hashing parameters: the test is about the cluster, not argon2id's cost.
	hash, err := password.Hash(pw, password.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	const users = 20
	for i := range users {
		c.testUser(fmt.Sprintf("fault-user-%d", i), hash)
	}
	// run drives n logins with the given concurrency; step i of login j goes to
	// apis[(i+j)%2], and a request that fails at the transport level is retried on the other
	// api. after is called once `trigger` logins have finished.
	run := func(name string, n, concurrency, trigger int, after func()) {
		t.Helper()
		var started, finished, lost, restarts atomic.Int32
		var once sync.Once
		var wg sync.WaitGroup
		sem := make(chan struct{}, concurrency)
		errs := make(chan error, n)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for j := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				started.Add(1)
				err := clusterLogin(ctx, c, apis, j, clientID, redirectURI, fmt.Sprintf("fault-user-%d", j%users), pw, &restarts)
				if err != nil {
					lost.Add(1)
					errs <- fmt.Errorf("login %d: %w", j, err)
					return
				}
				if finished.Add(1) == int32(trigger) && after != nil {
					once.Do(after)
				}
			}()
		}
		wg.Wait()
		close(errs)
		t.Logf("%s: %d logins started, %d finished, %d lost (%d restarted after their final answer was lost)",
			name, started.Load(), finished.Load(), lost.Load(), restarts.Load())
		for err := range errs {
			t.Error(err)
		}
		if lost.Load() != 0 || finished.Load() != int32(n) {
			t.Fatalf("%s: %d of %d logins lost", name, lost.Load(), n)
		}
	}

	run("both api processes, both workers", 200, 16, 0, nil)
	run("a worker killed with SIGKILL", 100, 16, 20, func() { first.kill(syscall.SIGKILL) })
	apiProc := c.api
	run("an api process killed", 100, 16, 20, func() { apiProc.kill(syscall.SIGKILL) })

	// PostgreSQL restarts: requests during the outage get a clean 503 (no 500, nothing about
	// the failure in the body), then the service recovers by itself.
	live := apis[1]
	pgURL, err := url.Parse(c.pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pg.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 6 {
		var a nativeAnswer
		var err error
		if i%2 == 0 {
			_, a, err = c.startLoginAt(ctx, live, clientID, redirectURI)
		} else {
			a, err = c.post(ctx, live+"/oauth2/token", "application/x-www-form-urlencoded",
				url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "client_id": {clientID},
					"redirect_uri": {redirectURI}, "code_verifier": {strings.Repeat("v", 43)}}.Encode())
		}
		if a.Status != http.StatusServiceUnavailable || strings.Contains(a.raw, "goroutine") ||
			strings.Contains(a.raw, "connect") || strings.Contains(a.raw, "postgres") {
			t.Errorf("request %d during the outage: %s (%v), want a clean 503", i, a, err)
		}
	}
	port, _ := strconv.Atoi(pgURL.Port())
	c.pg, err = pgserver.Start(context.Background(), pgserver.Config{DataDir: c.pgDir, Port: port, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.pg.URL() != pgURL.String() {
		t.Fatalf("PostgreSQL came back at another URL")
	}
	run("after PostgreSQL restarted", 20, 4, 0, nil)
}

// clusterLogin performs one app-native login: authorize, password, token exchange. Request k
// goes to apis[(j+k)%len(apis)] and, when that api cannot be reached, to the next one (the flow
// state is in Temporal, so any api can take any step).
//
// One case cannot be resumed: the api dies after the workflow accepted the final submission but
// before the client read the answer. The login has completed, its code was never delivered, and
// a replay of the submission cannot mint a new code (the flowId alone would then yield one), so
// the other api answers ABA-60009 and the client starts over, as WSO2's SDKs do. restarts counts
// those.
func clusterLogin(ctx context.Context, c *cluster, apis []string, j int, clientID, redirectURI, username, pw string, restarts *atomic.Int32) error {
	for attempt := 0; ; attempt++ {
		err := clusterLoginOnce(ctx, c, apis, j+attempt, clientID, redirectURI, username, pw)
		if !errors.Is(err, errAnswerLost) || attempt == 2 {
			return err
		}
		restarts.Add(1)
	}
}

// errAnswerLost: the final answer of a login was lost with the api process that computed it.
var errAnswerLost = errors.New("final answer lost with the api process")

func clusterLoginOnce(ctx context.Context, c *cluster, apis []string, j int, clientID, redirectURI, username, pw string) error {
	pick := func(k int) []string {
		out := make([]string, len(apis))
		for i := range apis {
			out[i] = apis[(j+k+i)%len(apis)]
		}
		return out
	}
	var l *nativeLogin
	var a nativeAnswer
	err := retryOn(pick(0), func(base string) error {
		var err error
		l, a, err = c.startLoginAt(ctx, base, clientID, redirectURI)
		return err
	})
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if a.FlowStatus != "INCOMPLETE" || len(a.NextStep.Authenticators) != 1 {
		return fmt.Errorf("authorize answered %s", a)
	}
	id := a.NextStep.Authenticators[0].AuthenticatorID
	var done nativeAnswer
	tries := 0
	err = retryOn(pick(1), func(base string) error {
		tries++
		u, err := url.Parse(l.authnURL)
		if err != nil {
			return err
		}
		b, _ := url.Parse(base)
		u.Host = b.Host
		l.authnURL = u.String()
		done, err = l.submit(ctx, id, map[string]string{"username": username, "password": pw})
		return err
	})
	if err == nil && tries > 1 && done.Code == "ABA-60009" {
		return errAnswerLost
	}
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	tries = 0
	err = retryOn(pick(2), func(base string) error {
		tries++
		_, err := l.tokensAt(ctx, base, done)
		return err
	})
	if err != nil && tries > 1 && strings.Contains(err.Error(), "invalid_grant") {
		// The first exchange went through on the killed api; the replayed code is refused
		// (and revokes what the first exchange issued).
		return errAnswerLost
	}
	return err
}

// retryOn calls f with each base URL in turn until one is reachable; an answer (even an error
// answer) ends the retries.
func retryOn(bases []string, f func(base string) error) error {
	var last error
	for _, b := range bases {
		err := f(b)
		if err == nil {
			return nil
		}
		var ue *url.Error
		if !errors.As(err, &ue) {
			return err
		}
		last = err
	}
	return last
}
