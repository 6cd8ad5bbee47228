package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// benchClientID is the public, app-native client `keyflow serve` registers on first start (the
// demo application, one username/password step); benchRedirectPath is its redirect path.
const (
	benchClientID     = "keyflow-demo"
	benchRedirectPath = "/demo/callback"
	adminUser         = "admin"
	adminPassword     = "bench-admin-password"
)

// loginClient is a small app-native (WSO2 wire) client: authorize with response_mode=direct,
// one username/password step at /oauth2/authn, and the code + PKCE exchange at /oauth2/token.
type loginClient struct {
	base     string
	clientID string
	http     *http.Client
}

func newLoginClient(base string, conns int) *loginClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns*2, conns*2
	// No cookie jar: every login is a fresh one, never an SSO session.
	return &loginClient{base: base, clientID: benchClientID, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// loginTimes are one login's step durations.
type loginTimes struct {
	authorize, authn, token, total time.Duration
}

// answer is what /oauth2/authorize (direct) and /oauth2/authn return.
type answer struct {
	FlowID     string `json:"flowId"`
	FlowStatus string `json:"flowStatus"`
	NextStep   struct {
		Authenticators []struct {
			AuthenticatorID string `json:"authenticatorId"`
			Authenticator   string `json:"authenticator"`
		} `json:"authenticators"`
	} `json:"nextStep"`
	Links []struct {
		Href string `json:"href"`
	} `json:"links"`
	AuthData map[string]string `json:"authData"`
}

// login runs one full login of username and checks that it ends with tokens.
func (c *loginClient) login(ctx context.Context, username, pw string) (loginTimes, error) {
	var t loginTimes
	verifier := rand.Text() + rand.Text()
	redirectURI := c.base + benchRedirectPath

	start := time.Now()
	a, state, err := c.authorize(ctx, verifier)
	if err != nil {
		return t, err
	}
	t.authorize = time.Since(start)

	step := time.Now()
	body, err := json.Marshal(map[string]any{"flowId": a.FlowID, "selectedAuthenticator": map[string]any{
		"authenticatorId": a.NextStep.Authenticators[0].AuthenticatorID,
		"params":          map[string]string{"username": username, "password": pw},
	}})
	if err != nil {
		return t, err
	}
	var done answer
	if err := c.post(ctx, a.Links[0].Href, "application/json", string(body), &done); err != nil {
		return t, fmt.Errorf("authn: %w", err)
	}
	t.authn = time.Since(step)
	if done.FlowStatus != "SUCCESS_COMPLETED" || done.AuthData["code"] == "" || done.AuthData["state"] != state {
		return t, fmt.Errorf("authn: want SUCCESS_COMPLETED with code and state, got %+v", done)
	}

	step = time.Now()
	var tokens struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := c.post(ctx, c.base+"/oauth2/token", "application/x-www-form-urlencoded", url.Values{
		"grant_type": {"authorization_code"}, "code": {done.AuthData["code"]}, "client_id": {c.clientID},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}.Encode(), &tokens); err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	t.token = time.Since(step)
	t.total = time.Since(start)
	if tokens.AccessToken == "" || tokens.IDToken == "" {
		return t, errors.New("token: response without access_token or id_token")
	}
	return t, nil
}

// authorize starts a login (POST /oauth2/authorize, response_mode=direct) with the PKCE challenge
// of verifier and returns its one-step answer and state.
func (c *loginClient) authorize(ctx context.Context, verifier string) (answer, string, error) {
	state := rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	var a answer
	if err := c.post(ctx, c.base+"/oauth2/authorize", "application/x-www-form-urlencoded", url.Values{
		"client_id": {c.clientID}, "response_type": {"code"}, "response_mode": {"direct"},
		"redirect_uri": {c.base + benchRedirectPath}, "scope": {"openid profile"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode(), &a); err != nil {
		return a, state, fmt.Errorf("authorize: %w", err)
	}
	if a.FlowStatus != "INCOMPLETE" || len(a.NextStep.Authenticators) != 1 || len(a.Links) == 0 {
		return a, state, fmt.Errorf("authorize: want one INCOMPLETE step with a link, got %+v", a)
	}
	return a, state, nil
}

// post sends body and decodes a 200 (or 201) JSON answer into v.
func (c *loginClient) post(ctx context.Context, u, contentType, body string, v any) error {
	return c.do(ctx, u, contentType, body, v, nil)
}

func (c *loginClient) do(ctx context.Context, u, contentType, body string, v any, setup func(*http.Request)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if setup != nil {
		setup(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %d %s: %w", u, resp.StatusCode, b, err)
	}
	return nil
}

// createUsers creates n users with password pw over SCIM as the bootstrap admin (HTTP Basic), so
// the concurrent clients log in as different users (lockout and session state are per user).
func (c *loginClient) createUsers(ctx context.Context, n int, pw string) ([]string, error) {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("bench-user-%02d", i)
		body, err := json.Marshal(map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": users[i],
			"password": pw,
			"name":     map[string]string{"givenName": "Bench", "familyName": fmt.Sprintf("User %d", i)},
			"emails":   []map[string]any{{"value": users[i] + "@bench.example", "primary": true}},
		})
		if err != nil {
			return nil, err
		}
		var created map[string]any
		if err := c.do(ctx, c.base+"/scim2/Users", "application/scim+json", string(body), &created, func(r *http.Request) {
			r.SetBasicAuth(adminUser, adminPassword)
		}); err != nil {
			return nil, fmt.Errorf("create %s: %w", users[i], err)
		}
	}
	return users, nil
}

// loadResult is what one load phase measured.
type loadResult struct {
	clients  int
	elapsed  time.Duration
	times    []loginTimes
	failures int
	firstErr error
}

func (r loadResult) rate() float64 { return float64(len(r.times)) / r.elapsed.Seconds() }

// percentile returns the nearest-rank percentile p (0..100) of the durations pick selects, in ms.
func (r loadResult) percentile(p float64, pick func(loginTimes) time.Duration) float64 {
	ds := make([]time.Duration, len(r.times))
	for i, t := range r.times {
		ds[i] = pick(t)
	}
	return percentileMS(ds, p)
}

// loginFunc runs one full login of username with password pw.
type loginFunc func(ctx context.Context, username, pw string) (loginTimes, error)

// runLogins runs clients concurrent login loops for d, client i logging in as users[i%len(users)].
// A failed login is counted and the loop goes on; a phase where most logins fail is an error.
func runLogins(ctx context.Context, login loginFunc, clients int, d time.Duration, users []string, pw string) (loadResult, error) {
	res := loadResult{clients: clients}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		user := users[i%len(users)]
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t, err := login(ctx, user, pw)
				mu.Lock()
				if err != nil {
					res.failures++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.times = append(res.times, t)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if len(res.times) == 0 || res.failures > len(res.times) {
		return res, fmt.Errorf("%d of %d logins failed, first: %w", res.failures, res.failures+len(res.times), res.firstErr)
	}
	return res, nil
}
