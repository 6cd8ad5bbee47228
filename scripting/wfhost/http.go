package wfhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/scripting"
)

// ActivityHTTPCall is the local activity behind httpGet/httpPost.
const ActivityHTTPCall = "keyflow.script.HTTPCall"

// HTTPCaller makes the outbound calls of httpGet/httpPost with WSO2's outcome rules
// (AbstractHTTPFunction): 2xx → onSuccess with the JSON object (text/plain → {response: text});
// 3xx and 4xx → onFail; 5xx and connection errors are retried, then onFail; a timeout that
// persists → onTimeout; an invalid URL or a host outside AllowedDomains → onFail. Redirects are
// not followed. The zero value is usable.
type HTTPCaller struct {
	// Client makes the requests; nil means a client with a 10 s timeout (WSO2's long-wait
	// default) and no address policy. Its CheckRedirect is ignored: redirects are never
	// followed. cmd/keyflow passes an egress.Policy client: AllowedDomains is checked on the
	// URL first, then the policy on the address dialed; a refused address → onFail at once.
	Client *http.Client
	// AllowedDomains restricts the hosts scripts may call: a host matches a domain when it is
	// the domain or a subdomain of it. Empty allows any host (WSO2's default when
	// AdaptiveAuth.HTTPFunctionAllowedDomains is not configured).
	AllowedDomains []string
	// Retries is how many times a 5xx answer or a connection failure is retried (default 0).
	Retries int
	// MaxResponseBytes bounds the response body (default 1 MiB).
	MaxResponseBytes int64
	// Secrets resolves the secret references scripts put in headers, auth properties and
	// bodies (secrets.<name>, getSecretByName). Nil makes a request with references fail.
	Secrets SecretStore
	// Logger receives call failures (never bodies or credentials). Nil discards.
	Logger *slog.Logger
	// AnalyticsReceiver is the base URL of callAnalytics' receiver (WSO2's
	// adaptive_authentication.analytics.receiver, e.g. https://analytics.example:8280); empty
	// makes callAnalytics end in onFail.
	AnalyticsReceiver string
	// ElasticReceiver is the base URL of the Elasticsearch callElastic queries (WSO2's
	// adaptive_authentication.elastic.receiver); empty makes callElastic end in onFail.
	ElasticReceiver string
	// ChoreoTokenEndpoint is the token endpoint of callChoreo's client-credentials grant when
	// the script's connectionMetadata has no asgardeoTokenEndpoint.
	ChoreoTokenEndpoint string
}

// SecretStore holds a tenant's named secrets (WSO2's secret management for scripts).
type SecretStore interface {
	// Secret returns the value of secret name of tenantDomain.
	Secret(ctx context.Context, tenantDomain, name string) (string, error)
}

// Call performs req. It reports every outcome in the result, never as an error, so a flaky
// endpoint cannot make the activity retry behind the script's back.
func (c *HTTPCaller) Call(ctx context.Context, req scripting.HTTPRequest) (scripting.CallResult, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fail := func(reason string, args ...any) (scripting.CallResult, error) {
		log.WarnContext(ctx, "script HTTP call failed: "+reason, append(args, "method", req.Method, "function", req.Function)...)
		return scripting.CallResult{Outcome: scripting.OutcomeFail}, nil
	}
	req, err := c.complete(req)
	if err != nil {
		return fail(err.Error())
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("invalid URL")
	}
	if !c.allowed(u.Hostname()) {
		return fail("host is not in the allowed domains", "host", u.Hostname())
	}
	if req, err = c.resolveSecrets(ctx, req); err != nil {
		return fail("secret", "error", err)
	}
	body, contentType, err := encodeBody(req)
	if err != nil {
		return fail("body", "error", err)
	}
	client := c.client()
	timedOut := false
	for attempt := 0; attempt <= c.Retries; attempt++ {
		hreq, err := http.NewRequestWithContext(ctx, req.Method, u.String(), bytes.NewReader(body))
		if err != nil {
			return fail("request", "error", err)
		}
		for k, v := range req.Headers {
			hreq.Header.Set(k, v)
		}
		if hreq.Header.Get("Accept") == "" {
			hreq.Header.Set("Accept", "application/json")
		}
		if body != nil {
			hreq.Header.Set("Content-Type", contentType)
		}
		if err := c.authorize(ctx, client, hreq, req.Auth); err != nil {
			return fail("authentication", "error", err)
		}
		resp, err := client.Do(hreq)
		if err != nil {
			var ne net.Error
			if egress.IsRefused(err) {
				// The outbound address policy refuses the host's address: retrying cannot help.
				return fail("address refused", "host", u.Hostname(), "error", err)
			}
			timedOut = errors.As(err, &ne) && ne.Timeout()
			log.InfoContext(ctx, "script HTTP call: connection failed", "host", u.Hostname(), "attempt", attempt+1, "error", err)
			continue
		}
		res, retry := c.outcome(resp, req)
		resp.Body.Close()
		if !retry {
			return res, nil
		}
		timedOut = false
	}
	if timedOut {
		return scripting.CallResult{Outcome: scripting.OutcomeTimeout}, nil
	}
	return fail("no usable answer", "host", u.Hostname(), "attempts", c.Retries+1)
}

func (c *HTTPCaller) client() *http.Client {
	base := c.Client
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	cl := *base
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

func (c *HTTPCaller) allowed(host string) bool {
	if len(c.AllowedDomains) == 0 {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range c.AllowedDomains {
		d = strings.ToLower(strings.TrimPrefix(d, "."))
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// outcome maps a response; retry is true for 5xx answers. callAnalytics succeeds on 200 only;
// callElastic's answer becomes {risk_score: 0|1}.
func (c *HTTPCaller) outcome(resp *http.Response, req scripting.HTTPRequest) (scripting.CallResult, bool) {
	failed := scripting.CallResult{Outcome: scripting.OutcomeFail}
	switch {
	case resp.StatusCode >= 500:
		return failed, true
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return failed, false
	case req.Function == scripting.FnCallAnalytics && resp.StatusCode != http.StatusOK:
		return failed, false
	}
	limit := c.MaxResponseBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil || int64(len(raw)) > limit {
		return failed, false
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/plain" {
		data, err := json.Marshal(map[string]string{"response": string(raw)})
		if err != nil {
			return failed, false
		}
		return scripting.CallResult{Outcome: scripting.OutcomeSuccess, Data: data}, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return failed, false
	}
	if req.Function == scripting.FnCallElastic {
		return elasticOutcome(raw, req.Params["threshold"]), false
	}
	return scripting.CallResult{Outcome: scripting.OutcomeSuccess, Data: raw}, false
}

// resolveSecrets substitutes secret references; the resolved request exists only in this
// activity's memory.
func (c *HTTPCaller) resolveSecrets(ctx context.Context, req scripting.HTTPRequest) (scripting.HTTPRequest, error) {
	lookup := func(name string) (string, error) {
		if c.Secrets == nil {
			return "", fmt.Errorf("secret %q: no secret store configured", name)
		}
		v, err := c.Secrets.Secret(ctx, req.TenantDomain, name)
		if err != nil {
			return "", fmt.Errorf("secret %q: %w", name, err)
		}
		return v, nil
	}
	resolveMap := func(m map[string]string) (map[string]string, error) {
		out := make(map[string]string, len(m))
		for k, v := range m {
			r, err := scripting.ResolveSecretRefs(v, lookup)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	var err error
	if req.Headers, err = resolveMap(req.Headers); err != nil {
		return req, err
	}
	if req.Auth != nil {
		a := *req.Auth
		if a.Properties, err = resolveMap(a.Properties); err != nil {
			return req, err
		}
		req.Auth = &a
	}
	// In the JSON body a reference is escaped (JSON.stringify writes NUL as \u0000): decode,
	// resolve the strings, encode again — only when a reference is present.
	if bytes.Contains(req.Body, []byte(`\u0000secret:`)) {
		var v any
		if err := json.Unmarshal(req.Body, &v); err != nil {
			return req, fmt.Errorf("body: %w", err)
		}
		if v, err = resolveJSON(v, lookup); err != nil {
			return req, err
		}
		if req.Body, err = json.Marshal(v); err != nil {
			return req, fmt.Errorf("body: %w", err)
		}
	}
	return req, nil
}

func resolveJSON(v any, lookup func(string) (string, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return scripting.ResolveSecretRefs(x, lookup)
	case []any:
		for i := range x {
			r, err := resolveJSON(x[i], lookup)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case map[string]any:
		for k := range x {
			r, err := resolveJSON(x[k], lookup)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}

// encodeBody returns the body bytes and content type: JSON by default, form-encoded when the
// script's Content-Type header asks for it.
func encodeBody(req scripting.HTTPRequest) ([]byte, string, error) {
	if req.Body == nil {
		return nil, "", nil
	}
	ct := "application/json"
	for k, v := range req.Headers {
		if strings.EqualFold(k, "Content-Type") {
			ct = v
		}
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/x-www-form-urlencoded" {
		return req.Body, ct, nil
	}
	var fields map[string]any
	if err := json.Unmarshal(req.Body, &fields); err != nil {
		return nil, "", fmt.Errorf("form body must be an object: %w", err)
	}
	form := url.Values{}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			form.Set(k, s)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, "", fmt.Errorf("form field %s: %w", k, err)
		}
		form.Set(k, string(b))
	}
	return []byte(form.Encode()), ct, nil
}

// authorize applies an authConfig to the request.
func (c *HTTPCaller) authorize(ctx context.Context, client *http.Client, r *http.Request, a *scripting.HTTPAuth) error {
	if a == nil {
		return nil
	}
	p := a.Properties
	switch strings.ToLower(a.Type) {
	case "basic":
		r.SetBasicAuth(p["username"], p["password"])
	case "apikey":
		if p["headerName"] == "" {
			return errors.New("apikey auth needs headerName")
		}
		r.Header.Set(p["headerName"], p["apiKey"])
	case "bearer":
		r.Header.Set("Authorization", "Bearer "+p["token"])
	case "clientcredential":
		tok, err := clientCredentialsToken(ctx, client, p)
		if err != nil {
			return err
		}
		r.Header.Set("Authorization", "Bearer "+tok)
	default:
		return fmt.Errorf("unsupported auth type %q", a.Type)
	}
	return nil
}

// clientCredentialsToken obtains an access token with the OAuth 2.0 client credentials grant
// (RFC 6749 §4.4), authenticating with HTTP Basic (§2.3.1).
func clientCredentialsToken(ctx context.Context, client *http.Client, p map[string]string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if p["scope"] != "" {
		form.Set("scope", p["scope"])
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p["tokenEndpoint"], strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(p["consumerKey"]), url.QueryEscape(p["consumerSecret"]))
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token response without access_token: %w", err)
	}
	return tok.AccessToken, nil
}

// Call runs a script's external call as a local activity and returns its outcome; an activity
// failure (no caller registered, timeout) is onFail.
func Call(ctx workflow.Context, req scripting.HTTPRequest) scripting.CallResult {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var res scripting.CallResult
	if err := workflow.ExecuteLocalActivity(ctx, ActivityHTTPCall, req).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("script HTTP call activity failed", "error", err)
		return scripting.CallResult{Outcome: scripting.OutcomeFail}
	}
	return res
}
