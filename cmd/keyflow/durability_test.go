package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/flows/codec"
)

// TestDurability proves, against the real processes, what a crash-safe login engine must do:
// a SIGKILLed worker loses no login and its replacement replays each script to the values it
// saw before; runaway and throwing scripts end their login cleanly instead of retrying
// forever; and neither Temporal's history nor the logs hold a password or a one-time code.
// The subtests share one cluster; the last one also inspects the histories of the first.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startCluster(t)
	// Every secret a user typed in any subtest; no history or log may contain one.
	var secrets []string
	var flowIDs []string

	t.Run("SIGKILL", func(t *testing.T) {
		s, ids := testWorkerKill(t, c)
		secrets, flowIDs = append(secrets, s...), append(flowIDs, ids...)
	})
	t.Run("RunawayScripts", func(t *testing.T) {
		flowIDs = append(flowIDs, testRunawayScripts(t, c)...)
	})
	t.Run("SecretsNotInClear", func(t *testing.T) {
		testSecretsNotInClear(t, c, secrets, flowIDs)
	})
}

// probeScript records Date.now() and Math.random() in onLoginRequest and in step 1's onSuccess,
// logs them when they are first computed, and puts them into the nickname claim (so the ID
// token) in step 2's onSuccess, which runs only after the worker restart.
const probeScript = `
var t0, r0, t1, r1;
function onLoginRequest(context) {
	t0 = Date.now(); r0 = Math.random();
	executeStep(1, {
		onSuccess: function (context) {
			t1 = Date.now(); r1 = Math.random();
			Log.info('kfprobe user=' + context.currentKnownSubject.username + ' values=' + [t0, r0, t1, r1].join(','));
			executeStep(2, {
				onSuccess: function (context) {
					context.currentKnownSubject.claims['http://wso2.org/claims/nickname'] =
						[t0, r0, t1, r1, Date.now()].join(',');
				}
			});
		}
	});
}
`

const logins = 20

// probePattern matches probeScript's log line: user and values.
const probePattern = `kfprobe user=(\S+) values=([0-9.,e-]+)`

// testWorkerKill takes 20 logins past step 1 (password) so that they wait at step 2 (backup
// code), SIGKILLs the worker, starts a new one and finishes every login. It returns the secrets
// typed and the flow ids.
func testWorkerKill(t *testing.T, c *cluster) (secrets, flowIDs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	clientID, redirectURI := c.testApp("durability", probeScript,
		[]string{"BasicAuthenticator"}, []string{"backup-code-authenticator"})
	pw := "kill-pw-" + rand.Text()
	hash, err := password.Hash(pw, password.OWASP)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, pw)
	type login struct {
		user   string
		code   string
		native *nativeLogin
		codeID string
	}
	all := make([]*login, logins)
	for i := range all {
		l := &login{user: fmt.Sprintf("kill-user-%02d", i)}
		codes := c.backupCodes(c.testUser(l.user, hash))
		l.code = codes[0]
		secrets = append(secrets, codes[0], strings.ReplaceAll(codes[0], "-", ""))
		all[i] = l
	}

	// Phase 1: every login passes step 1 and stops at step 2.
	forEachConcurrently(t, all, func(l *login) error {
		n, a, err := c.startLogin(ctx, clientID, redirectURI)
		if err != nil {
			return err
		}
		basicID, err := a.authenticator("Username & Password")
		if err != nil {
			return fmt.Errorf("authorize: %w", err)
		}
		a, err = n.submit(ctx, basicID, map[string]string{"username": l.user, "password": pw})
		if err != nil {
			return err
		}
		if l.codeID, err = a.authenticator("Backup Code"); err != nil {
			return fmt.Errorf("after the password: %w", err)
		}
		l.native = n
		return nil
	})
	if t.Failed() {
		return secrets, nil
	}
	for _, l := range all {
		flowIDs = append(flowIDs, l.native.flowID)
	}
	// What each login's script saw, as the first worker logged it (the lines precede the answers,
	// but reach the captured output through a pipe, so wait for them).
	var before map[string]string
	if !waitUntil(ctx, func() bool {
		before = probeValues(t, c.worker.output(true), probePattern)
		return len(before) == len(all)
	}) {
		t.Fatalf("the worker logged probe values for %d of %d logins:\n%s", len(before), len(all), c.worker.output(true))
	}

	// The crash: no shutdown, no drained task, no flushed cache.
	old := c.worker
	old.kill(syscall.SIGKILL)
	if ws, ok := old.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("worker ended with %v, want killed by SIGKILL", old.cmd.ProcessState)
	}
	c.startWorker()

	// Phase 2: every login finishes on the new worker, which first replays its history.
	var mu sync.Mutex
	after := map[string]string{}
	forEachConcurrently(t, all, func(l *login) error {
		a, err := l.native.submit(ctx, l.codeID, map[string]string{"BackupCode": l.code})
		if err != nil {
			return err
		}
		tokens, err := l.native.tokens(ctx, a)
		if err != nil {
			return fmt.Errorf("after the backup code: %w", err)
		}
		claims, err := idTokenClaims(tokens)
		if err != nil {
			return err
		}
		nick, _ := claims["nickname"].(string)
		if claims["sub"] == nil || nick == "" {
			return fmt.Errorf("ID token without sub or the script's nickname claim: %v", claims)
		}
		mu.Lock()
		after[l.user] = nick
		mu.Unlock()
		return nil
	})
	if t.Failed() {
		return secrets, flowIDs
	}
	for _, l := range all {
		got := strings.Split(after[l.user], ",")
		if len(got) != 5 || strings.Join(got[:4], ",") != before[l.user] {
			t.Errorf("%s: the script saw Date.now()/Math.random() = %s before the crash, %s after the replay",
				l.user, before[l.user], after[l.user])
			continue
		}
		t1, err1 := strconv.ParseInt(got[2], 10, 64)
		t2, err2 := strconv.ParseInt(got[4], 10, 64)
		if err1 != nil || err2 != nil || t2 < t1 {
			t.Errorf("%s: Date.now() in step 2 (%s) is before step 1's (%s)", l.user, got[4], got[2])
		}
	}
	// The values differ between logins: the probe is not trivially constant.
	if before[all[0].user] == before[all[1].user] {
		t.Errorf("two logins saw the same values %s", before[all[0].user])
	}
	for _, l := range all {
		if st, err := c.closedStatus(ctx, l.native.flowID); err != nil || st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Errorf("%s: login workflow %s closed as %v (%v), want COMPLETED", l.user, l.native.flowID, st, err)
		}
	}
	// Replay logs nothing: the new worker did not log step 1's line again.
	if again := probeValues(t, c.worker.output(true), probePattern); len(again) != 0 {
		t.Errorf("the replaying worker logged the probe again for %d logins", len(again))
	}
	return secrets, flowIDs
}

// probeValues extracts user → values from the probe lines of a log.
func probeValues(t *testing.T, log, pattern string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(log, -1) {
		if prev, ok := out[m[1]]; ok && prev != m[2] {
			t.Errorf("%s logged twice with different values: %s, %s", m[1], prev, m[2])
		}
		out[m[1]] = m[2]
	}
	return out
}

// waitUntil polls cond until it holds, ctx ends or a generous minute has passed, and reports
// whether it held. It waits for asynchronous effects (a log line crossing a pipe); it asserts
// nothing about time.
func waitUntil(ctx context.Context, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// forEachConcurrently runs f for every item concurrently and reports each error.
func forEachConcurrently[T any](t *testing.T, items []T, f func(T) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(items))
	for i, it := range items {
		wg.Go(func() { errs[i] = f(it) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("login %d: %v", i, err)
		}
	}
}

// testRunawayScripts starts logins of applications whose onLoginRequest never returns or throws:
// each login ends with the protocol's server error, the reason reaches the worker's log, and the
// workflow is closed as completed, not retrying its task. It returns the flow ids.
func testRunawayScripts(t *testing.T, c *cluster) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var flowIDs []string
	for _, tc := range []struct {
		name, script string
		// logged matches the reason in the worker's log.
		logged *regexp.Regexp
	}{
		{"loop", `function onLoginRequest(context) { while (true) {} }`, regexp.MustCompile(`authentication script failed in [^:]+: script exceeded its CPU budget`)},
		{"throw", `function onLoginRequest(context) { throw new Error('kfprobe-boom-4711'); }`, regexp.MustCompile(`authentication script failed in [^:]+: [^"]*kfprobe-boom-4711`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clientID, redirectURI := c.testApp("runaway-"+tc.name, tc.script, []string{"BasicAuthenticator"})
			logBefore := len(c.worker.output(true))
			known, err := c.workflowIDs(ctx, flows.LoginWorkflow)
			if err != nil {
				t.Fatal(err)
			}
			_, a, err := c.startLogin(ctx, clientID, redirectURI)
			if err != nil {
				t.Fatal(err)
			}
			// WSO2 answers a login that failed on the server with ABA-65001 (HTTP 500), no flow.
			if a.Status != http.StatusInternalServerError || a.Code != "ABA-65001" || a.FlowID != "" {
				t.Fatalf("authorize answered %s, want 500 ABA-65001", a)
			}
			id := c.newLogin(ctx, t, known)
			flowIDs = append(flowIDs, id)
			// The workflow may still be closing when authorize has answered: wait for it.
			st, err := c.closedStatus(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				t.Fatalf("login workflow %s is %v, want COMPLETED", id, st)
			}
			events, err := c.history(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			failedTasks := 0
			for _, e := range events {
				if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
					failedTasks++
				}
			}
			t.Logf("%s: %d events, %d failed workflow tasks", id, len(events), failedTasks)
			if !waitUntil(ctx, func() bool { return tc.logged.MatchString(c.worker.output(true)[logBefore:]) }) {
				t.Errorf("the worker's log does not give the reason (%v):\n%s", tc.logged, c.worker.output(true)[logBefore:])
			}
		})
	}
	return flowIDs
}

// newLogin waits until visibility lists a login workflow that is not in known and returns its
// id: a login that failed at once has no flowId in the answer.
func (c *cluster) newLogin(ctx context.Context, t *testing.T, known []string) string {
	t.Helper()
	for {
		ids, err := c.workflowIDs(ctx, flows.LoginWorkflow)
		if err != nil {
			t.Fatal(err)
		}
		var fresh []string
		for _, id := range ids {
			if !slices.Contains(known, id) {
				fresh = append(fresh, id)
			}
		}
		switch {
		case len(fresh) == 1:
			return fresh[0]
		case len(fresh) > 1:
			t.Fatalf("%d new logins, want 1: %v", len(fresh), fresh)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no new login workflow listed: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// testSecretsNotInClear runs one more login with a known password and backup code, then reads
// every workflow history with a client that has no payload codec and checks that no secret typed
// in any subtest appears in any event, that every payload is encrypted, and that the processes'
// logs do not hold the secrets either.
func testSecretsNotInClear(t *testing.T, c *cluster, secrets, flowIDs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clientID, redirectURI := c.testApp("secrets", "", []string{"BasicAuthenticator"}, []string{"backup-code-authenticator"})
	pw := "secret-pw-" + rand.Text()
	hash, err := password.Hash(pw, password.OWASP)
	if err != nil {
		t.Fatal(err)
	}
	codes := c.backupCodes(c.testUser("secret-user", hash))
	secrets = append(secrets, pw, codes[0], strings.ReplaceAll(codes[0], "-", ""))

	n, a, err := c.startLogin(ctx, clientID, redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	basicID, err := a.authenticator("Username & Password")
	if err != nil {
		t.Fatal(err)
	}
	// A wrong password first: a failed attempt must not leak what was typed either.
	wrong := "wrong-pw-" + rand.Text()
	secrets = append(secrets, wrong)
	if a, err = n.submit(ctx, basicID, map[string]string{"username": "secret-user", "password": wrong}); err != nil {
		t.Fatal(err)
	}
	if a.Status != http.StatusOK || a.FlowStatus != "FAIL_INCOMPLETE" {
		t.Fatalf("wrong password answered %s, want FAIL_INCOMPLETE", a)
	}
	if a, err = n.submit(ctx, basicID, map[string]string{"username": "secret-user", "password": pw}); err != nil {
		t.Fatal(err)
	}
	codeID, err := a.authenticator("Backup Code")
	if err != nil {
		t.Fatal(err)
	}
	if a, err = n.submit(ctx, codeID, map[string]string{"BackupCode": codes[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.tokens(ctx, a); err != nil {
		t.Fatal(err)
	}
	flowIDs = append(flowIDs, n.flowID)

	// Every execution Temporal knows (logins, worker pings), plus the ones this test started.
	listed, err := c.workflowIDs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	scanned, payloadCount := 0, 0
	for _, id := range append(flowIDs, listed...) {
		if seen[id] {
			continue
		}
		seen[id] = true
		events, err := c.history(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		for _, e := range events {
			raw := marshalEvent(e)
			// A control: the scan sees the clear fields of the raw event (the task queue).
			if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED && !bytes.Contains(raw, []byte("keyflow")) {
				t.Errorf("history of %s: the start event does not name the task queue: not a raw event?", id)
			}
			if s, ok := findSecret(raw, secrets); ok {
				t.Errorf("history of %s: event %d (%v) holds the secret %q in clear", id, e.GetEventId(), e.GetEventType(), s)
			}
			eachPayload(e.ProtoReflect(), func(p *commonpb.Payload) {
				payloadCount++
				if enc := string(p.GetMetadata()["encoding"]); enc != codec.MetadataEncodingEncrypted {
					t.Errorf("history of %s: event %d (%v) has a payload with encoding %q", id, e.GetEventId(), e.GetEventType(), enc)
				}
			})
		}
	}
	for _, id := range flowIDs {
		if !seen[id] {
			t.Errorf("login %s was not scanned", id)
		}
	}
	if payloadCount == 0 {
		t.Fatal("no payloads found: the scan looked at nothing")
	}
	t.Logf("scanned %d workflow histories, %d payloads, for %d secrets", scanned, payloadCount, len(secrets))

	// Stop the processes so that their captured output is complete, then scan all of it.
	for _, p := range append([]*proc{c.api}, c.workers...) {
		p.kill(syscall.SIGTERM)
	}
	for _, p := range append([]*proc{c.api}, c.workers...) {
		for _, stderr := range []bool{false, true} {
			if s, ok := findSecret([]byte(p.output(stderr)), secrets); ok {
				t.Errorf("the output of %v holds the secret %q", p.cmd.Args[1:2], s)
			}
		}
	}
}
