package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" // RFC 6238's default HMAC, which Keyflow's TOTP uses
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// scriptPasswordTOTP is the password + TOTP application's adaptive script: the TOTP step runs
// once the password step succeeded.
const scriptPasswordTOTP = `var onLoginRequest = function(context) {
    executeStep(1, {
        onSuccess: function(context) {
            executeStep(2);
        }
    });
};`

// totpPeriod is RFC 6238's time step, Keyflow's.
const totpPeriod = 30 * time.Second

// totpUser is a bench user with an enrolled TOTP secret. A code is accepted once per time step
// (replay protection), so a user logs in at most once per step.
type totpUser struct {
	name     string
	secret   []byte
	lastStep int64
}

// totpCode is the RFC 6238 code (HMAC-SHA-1, 6 digits) of secret at time step step.
func totpCode(secret []byte, step int64) string {
	m := hmac.New(sha1.New, secret)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(step))
	m.Write(b[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

func totpStep(t time.Time) int64 { return t.Unix() / int64(totpPeriod/time.Second) }

// totpPool hands out users whose TOTP code of the current step is still unused.
type totpPool struct {
	mu    sync.Mutex
	users []*totpUser
	next  int
}

// take returns a user free in the current step and the step, waiting for the next step when
// every user has logged in during this one.
func (p *totpPool) take(ctx context.Context) (*totpUser, int64, error) {
	for {
		now := time.Now()
		step := totpStep(now)
		p.mu.Lock()
		for range p.users {
			u := p.users[p.next]
			p.next = (p.next + 1) % len(p.users)
			if u.lastStep < step {
				u.lastStep = step
				p.mu.Unlock()
				return u, step, nil
			}
		}
		p.mu.Unlock()
		wait := time.Unix((step+1)*int64(totpPeriod/time.Second), 0).Sub(now)
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// awaitFreshStep waits until a time step in which no user has logged in or enrolled has begun.
func (p *totpPool) awaitFreshStep(ctx context.Context) error {
	p.mu.Lock()
	var last int64
	for _, u := range p.users {
		last = max(last, u.lastStep)
	}
	p.mu.Unlock()
	now := time.Now()
	if totpStep(now) > last {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Unix((last+1)*int64(totpPeriod/time.Second), 0).Sub(now)):
		return nil
	}
}

// enrolTOTP gives every user a TOTP secret the way a user does in My Account: a token with
// internal_login (the password grant of a client registered through DCR), then POST
// /api/users/v1/me/totp INIT and VALIDATE with the first code.
func enrolTOTP(ctx context.Context, base string, users []string, pw string, conc int) ([]*totpUser, error) {
	hc := newHTTP(conc)
	id, secret, err := registerClient(ctx, hc, base, `{"client_name":"bench-myaccount","grant_types":["password"],"scope":"internal_login"}`)
	if err != nil {
		return nil, fmt.Errorf("register the My Account client: %w", err)
	}
	out := make([]*totpUser, len(users))
	err = parallel(len(users), conc, func(i int) error {
		u, err := enrolOne(ctx, hc, base, id, secret, users[i], pw)
		out[i] = u
		return err
	})
	return out, err
}

// parallel runs do(0) … do(n-1), conc at a time, and returns the first error.
func parallel(n, conc int, do func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	for range conc {
		wg.Go(func() {
			for i := range work {
				if err := do(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return firstErr
}

func enrolOne(ctx context.Context, hc *http.Client, base, clientID, clientSecret, user, pw string) (*totpUser, error) {
	b, err := request(ctx, hc, http.MethodPost, base+"/oauth2/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}, "scope": {"internal_login"}}.Encode(),
		http.StatusOK, func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret)) })
	if err != nil {
		return nil, fmt.Errorf("token of %s: %w", user, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("token of %s: %.200s", user, b)
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	b, err = request(ctx, hc, http.MethodPost, base+"/api/users/v1/me/totp", "application/json", `{"action":"INIT"}`, http.StatusOK, bearer)
	if err != nil {
		return nil, fmt.Errorf("TOTP INIT of %s: %w", user, err)
	}
	var en struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &en); err != nil || en.Secret == "" {
		return nil, fmt.Errorf("TOTP INIT of %s: %.200s", user, b)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(en.Secret))
	if err != nil {
		return nil, fmt.Errorf("TOTP secret of %s: %w", user, err)
	}
	step := totpStep(time.Now())
	b, err = request(ctx, hc, http.MethodPost, base+"/api/users/v1/me/totp", "application/json",
		`{"action":"VALIDATE","verificationCode":"`+totpCode(secret, step)+`"}`, http.StatusOK, bearer)
	if err != nil {
		return nil, fmt.Errorf("TOTP VALIDATE of %s: %w", user, err)
	}
	if !strings.Contains(string(b), `"isValid":true`) {
		return nil, fmt.Errorf("TOTP VALIDATE of %s: %.200s", user, b)
	}
	// The enrolment used this step's code.
	return &totpUser{name: user, secret: secret, lastStep: step}, nil
}

// createUsersConcurrently is createUsers with conc requests at a time and names under prefix.
func (c *loginClient) createUsersConcurrently(ctx context.Context, prefix string, n, conc int, pw string) ([]string, error) {
	users := make([]string, n)
	err := parallel(n, conc, func(i int) error {
		users[i] = fmt.Sprintf("%s-%04d", prefix, i)
		body, err := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": users[i], "password": pw})
		if err != nil {
			return err
		}
		var created map[string]any
		if err := c.do(ctx, c.base+"/scim2/Users", "application/scim+json", string(body), &created,
			func(r *http.Request) { r.SetBasicAuth(adminUser, adminPassword) }); err != nil {
			return fmt.Errorf("create %s: %w", users[i], err)
		}
		return nil
	})
	return users, err
}

// loginTOTP runs one full login through the password + TOTP application: authorize, the
// password step, the TOTP step with the user's current code, and the token exchange. Its authn
// time covers both steps.
func (c *loginClient) loginTOTP(ctx context.Context, pool *totpPool, pw string) (loginTimes, error) {
	var t loginTimes
	u, step, err := pool.take(ctx)
	if err != nil {
		return t, err
	}
	verifier := rand.Text() + rand.Text()
	start := time.Now()
	a, state, err := c.authorize(ctx, verifier)
	if err != nil {
		return t, err
	}
	t.authorize = time.Since(start)
	at := time.Now()
	var next answer
	body, _ := json.Marshal(map[string]any{"flowId": a.FlowID, "selectedAuthenticator": map[string]any{
		"authenticatorId": a.NextStep.Authenticators[0].AuthenticatorID,
		"params":          map[string]string{"username": u.name, "password": pw}}})
	if err := c.post(ctx, a.Links[0].Href, "application/json", string(body), &next); err != nil {
		return t, fmt.Errorf("authn password: %w", err)
	}
	if next.FlowStatus != "INCOMPLETE" || len(next.NextStep.Authenticators) != 1 || len(next.Links) == 0 {
		return t, fmt.Errorf("authn password: want the TOTP step, got %+v", next)
	}
	var done answer
	body, _ = json.Marshal(map[string]any{"flowId": a.FlowID, "selectedAuthenticator": map[string]any{
		"authenticatorId": next.NextStep.Authenticators[0].AuthenticatorID,
		"params":          map[string]string{"token": totpCode(u.secret, step)}}})
	if err := c.post(ctx, next.Links[0].Href, "application/json", string(body), &done); err != nil {
		return t, fmt.Errorf("authn TOTP: %w", err)
	}
	t.authn = time.Since(at)
	if done.FlowStatus != "SUCCESS_COMPLETED" || done.AuthData["code"] == "" || done.AuthData["state"] != state {
		return t, fmt.Errorf("authn TOTP: want SUCCESS_COMPLETED with code and state, got %+v", done)
	}
	tt := time.Now()
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.post(ctx, c.base+"/oauth2/token", "application/x-www-form-urlencoded", url.Values{
		"grant_type": {"authorization_code"}, "code": {done.AuthData["code"]}, "client_id": {c.clientID},
		"redirect_uri": {c.base + benchRedirectPath}, "code_verifier": {verifier},
	}.Encode(), &tokens); err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	t.token, t.total = time.Since(tt), time.Since(start)
	if tokens.AccessToken == "" {
		return t, errors.New("token: response without access_token")
	}
	return t, nil
}

// totpLogins measures full logins through a password + TOTP application at 1 and o.clients
// clients. Users are created and enrolled first (their TOTP codes are accepted once per 30 s
// step, so the pool holds enough users for the rate measured).
func (s *session) totpLogins(ctx context.Context) error {
	clientID, err := s.admin.totpApp(ctx, s.base+benchRedirectPath)
	if err != nil {
		return fmt.Errorf("password + TOTP application: %w", err)
	}
	n := s.o.totpUsers
	creator := newLoginClient(s.base, 4)
	users, err := creator.createUsersConcurrently(ctx, "bench-totp", n, 4, s.pw)
	if err != nil {
		return err
	}
	enrolStart := time.Now()
	enrolled, err := enrolTOTP(ctx, s.base, users, s.pw, 4)
	if err != nil {
		return err
	}
	s.note(fmt.Sprintf("password + TOTP logins: %d users enrolled in %.0f s through My Account's TOTP API; each logs in at most once "+
		"per 30 s time step (a code is accepted once), which caps the rate measured at %d logins per 30 s",
		n, time.Since(enrolStart).Seconds(), n))
	pool := &totpPool{users: enrolled}
	client := newLoginClient(s.base, s.o.clients)
	client.clientID = clientID
	login := func(ctx context.Context, _, pw string) (loginTimes, error) { return client.loginTOTP(ctx, pool, pw) }
	fa, ft := s.floors()
	for _, phase := range []struct {
		clients int
		d       time.Duration
	}{{1, s.o.single}, {s.o.clients, s.o.concurrent}} {
		// Enrolment, and the phase before, spent users' codes of their time step: start timing at
		// a fresh step, or the phase would wait for one with the clock running.
		if err := pool.awaitFreshStep(ctx); err != nil {
			return err
		}
		res, err := runLogins(ctx, login, phase.clients, phase.d, []string{"-"}, s.pw)
		if err != nil {
			return fmt.Errorf("%d clients: %w", phase.clients, err)
		}
		suffix := fmt.Sprintf(" with a password + TOTP script (%d clients)", phase.clients)
		if phase.clients == 1 {
			suffix = " with a password + TOTP script (1 client)"
		}
		// The same floor as the password logins: the TOTP check is an HMAC, next to nothing.
		floor := (fa + ft) * max(1, float64(phase.clients)/float64(s.cpus))
		rateLimit := float64(min(phase.clients, s.cpus)) * 1000 / (fa + ft)
		p50 := res.percentile(50, func(t loginTimes) time.Duration { return t.total })
		p99 := res.percentile(99, func(t loginTimes) time.Duration { return t.total })
		s.add(
			result{Name: "full logins/s" + suffix, Value: res.rate(), Unit: "logins/s", Higher: true,
				Limit: rateLimit, Fraction: res.rate() / rateLimit},
			result{Name: "login p50" + suffix, Value: p50, Unit: "ms", Limit: floor, Fraction: floor / p50},
			result{Name: "login p99" + suffix, Value: p99, Unit: "ms", Limit: floor, Fraction: floor / p99},
			result{Name: "logins completed" + suffix, Value: float64(len(res.times)), Unit: "logins"},
		)
	}
	return nil
}

// totpApp creates a public, app-native application whose script runs a password step and then
// a TOTP step.
func (a admin) totpApp(ctx context.Context, redirectURI string) (string, error) {
	clientID, _, err := a.createApplication(ctx, map[string]any{
		"name": "bench password + TOTP",
		"authenticationSequence": map[string]any{
			"type": "USER_DEFINED",
			"steps": []map[string]any{
				{"id": 1, "options": []map[string]string{{"idp": "LOCAL", "authenticator": "BasicAuthenticator"}}},
				{"id": 2, "options": []map[string]string{{"idp": "LOCAL", "authenticator": "totp"}}},
			},
			"subjectStepId": 1, "attributeStepId": 1, "script": scriptPasswordTOTP,
		},
		"advancedConfigurations": map[string]any{"enableAPIBasedAuthentication": true},
		"inboundProtocolConfiguration": map[string]any{"oidc": map[string]any{
			"grantTypes": []string{"authorization_code"}, "publicClient": true,
			"callbackURLs": []string{redirectURI}, "pkce": map[string]any{"mandatory": true},
		}},
	})
	return clientID, err
}
