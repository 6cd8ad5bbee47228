// Package backchannel delivers single-logout messages to relying parties over the back channel
// durably: a small Temporal workflow runs one activity per message, and Temporal retries failed
// deliveries with backoff, across process restarts. A Message is of one of two kinds: KindHTTP,
// OpenID Connect Back-Channel Logout 1.0 Logout Tokens (api/oidclogout); or KindSAMLSOAP, SAML
// LogoutRequests over the SOAP binding (api/saml, saml-bindings §3.2), signed by the IdP, whose
// answer's LogoutResponse is checked (samlsoap.go).
//
//	api/oidclogout, api/saml ─Notify─▶ Starter ─ExecuteWorkflow─▶ Workflow ─activity per message─▶ Deliver
//	                                                               (retries: Config.Attempts, backoff)
//
// A 2xx answer is success; a 4xx answer (other than 408 and 429) is final, since the relying
// party refused the message (Back-Channel Logout 1.0 §2.8); anything else is retried. For SAML,
// a 2xx answer must hold a Success LogoutResponse to the request (signed by the SP when it has
// certificates), and a SOAP Fault or any other LogoutResponse is final. The workflow never
// fails because a relying party did: its Result lists who got the message.
// Messages are in workflow history; they hold signed logout statements, no secret, and the
// payload codec encrypts history anyway.
package backchannel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors/egress"
)

// Registered names. Stable: renaming breaks running workflows.
const (
	WorkflowName    = "keyflow.BackChannelLogout"
	ActivityDeliver = "keyflow.BackChannelLogout.Deliver"
	// ErrorRefused is the application error type of a final (4xx) refusal.
	ErrorRefused = "BackChannelRefused"
)

// Defaults of Config.
const (
	DefaultAttempts        = 8
	DefaultInitialInterval = time.Second
	DefaultMaximumInterval = 5 * time.Minute
	DefaultAttemptTimeout  = 10 * time.Second
)

// Message is one back-channel logout message: a POST of Body with ContentType to URL.
type Message struct {
	// RelyingParty names the recipient in logs and results (client id, SP entity id).
	RelyingParty string
	URL          string
	ContentType  string
	Body         []byte
	// Kind says how the answer is judged: KindHTTP (empty) or KindSAMLSOAP.
	Kind string `json:",omitempty"`
	// SAML is what the answer to a KindSAMLSOAP message must be.
	SAML *SAMLExpect `json:",omitempty"`
}

// Input is the workflow's argument.
type Input struct {
	Messages []Message
}

// Result says which relying parties got their message.
type Result struct {
	Delivered []string
	Failed    []string
}

// Config tunes the workflow's retries. The zero value means the defaults.
type Config struct {
	// Attempts per message, default DefaultAttempts.
	Attempts int32
	// InitialInterval and MaximumInterval bound the exponential backoff (coefficient 2).
	InitialInterval time.Duration
	MaximumInterval time.Duration
	// AttemptTimeout bounds one HTTP attempt, default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.InitialInterval <= 0 {
		c.InitialInterval = DefaultInitialInterval
	}
	if c.MaximumInterval <= 0 {
		c.MaximumInterval = DefaultMaximumInterval
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	return c
}

// Flow is the back-channel logout workflow.
type Flow struct {
	cfg Config
}

// NewFlow returns the workflow with cfg's retry policy.
func NewFlow(cfg Config) *Flow { return &Flow{cfg: cfg.withDefaults()} }

// Register registers the workflow under WorkflowName.
func (f *Flow) Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(f.Run, workflow.RegisterOptions{Name: WorkflowName})
}

// Run delivers every message in parallel, each with its own retries, and reports the outcome.
func (f *Flow) Run(ctx workflow.Context, in Input) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: f.cfg.AttemptTimeout + 5*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        f.cfg.InitialInterval,
			BackoffCoefficient:     2,
			MaximumInterval:        f.cfg.MaximumInterval,
			MaximumAttempts:        f.cfg.Attempts,
			NonRetryableErrorTypes: []string{ErrorRefused},
		},
	})
	futures := make([]workflow.Future, len(in.Messages))
	for i, m := range in.Messages {
		futures[i] = workflow.ExecuteActivity(ctx, ActivityDeliver, m)
	}
	var out Result
	log := workflow.GetLogger(ctx)
	for i, fu := range futures {
		rp := in.Messages[i].RelyingParty
		if err := fu.Get(ctx, nil); err != nil {
			log.Warn("back-channel logout failed", "relying_party", rp, "error", err)
			out.Failed = append(out.Failed, rp)
			continue
		}
		out.Delivered = append(out.Delivered, rp)
	}
	return out, nil
}

// Activities deliver messages.
type Activities struct {
	// Client sends the requests; nil means one that follows no redirects (a relying party must
	// answer the logout itself) and has no address policy. cmd/keyflow passes an egress.Policy
	// client; an address it refuses is a final failure, not retried.
	Client *http.Client
	// AttemptTimeout bounds one attempt, default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// Register registers the activity under ActivityDeliver.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: ActivityDeliver})
}

// Deliver posts m once: nil on 2xx, a non-retryable ErrorRefused application error on a final
// refusal, another error to retry.
func (a *Activities) Deliver(ctx context.Context, m Message) error {
	err := Post(ctx, a.client(), a.timeout(), m)
	if errors.Is(err, ErrRefused) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrorRefused, nil)
	}
	return err
}

func (a *Activities) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return NoRedirectClient()
}

func (a *Activities) timeout() time.Duration {
	if a.AttemptTimeout > 0 {
		return a.AttemptTimeout
	}
	return DefaultAttemptTimeout
}

// NoRedirectClient is an HTTP client that returns redirects instead of following them.
func NoRedirectClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ErrRefused marks a final refusal by the relying party (a 4xx answer other than 408 and 429).
var ErrRefused = errors.New("backchannel: relying party refused the message")

// Post sends m once, bounded by timeout: nil on a 2xx answer, an error wrapping ErrRefused when
// retrying cannot help (a 4xx answer, a bad URL, an address the egress policy refuses), another
// error otherwise. The body is never part of an error.
//
// A KindSAMLSOAP message is also judged by the SOAP answer (checkSAMLSOAPResponse): a 2xx
// answer that is not a Success LogoutResponse to it (or not signed by the SP when m.SAML has
// certificates), and a SOAP Fault (HTTP 500, SOAP 1.1 §6.2), are final refusals.
func Post(ctx context.Context, c *http.Client, timeout time.Duration, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fmt.Errorf("%w: bad URL: %w", ErrRefused, err)
	}
	req.Header.Set("Content-Type", m.ContentType)
	if m.Kind == KindSAMLSOAP {
		if m.SAML == nil {
			return fmt.Errorf("%w: SAML SOAP message to %s without its expectations", ErrRefused, m.RelyingParty)
		}
		req.Header.Set("SOAPAction", SOAPAction)
		return postSOAP(c, req, m)
	}
	resp, err := c.Do(req)
	if err != nil {
		if egress.IsRefused(err) {
			// The outbound address policy refuses the URL: retrying cannot help.
			return fmt.Errorf("%w: post to %s: %w", ErrRefused, m.RelyingParty, err)
		}
		return fmt.Errorf("backchannel: post to %s: %w", m.RelyingParty, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s answered %s", ErrRefused, m.RelyingParty, resp.Status)
	default:
		return fmt.Errorf("backchannel: %s answered %s", m.RelyingParty, resp.Status)
	}
}

// Starter starts the workflow for each batch of messages: the Notifier of api/oidclogout.
type Starter struct {
	Client    client.Client
	TaskQueue string
	// Logger; nil discards. A start that fails is logged: the logout itself has happened.
	Logger *slog.Logger
}

// Notify starts one workflow delivering msgs. It returns once Temporal has accepted it (a few
// milliseconds), so the messages survive a crash of this process right after.
func (s *Starter) Notify(ctx context.Context, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "keyflow-bclogout-" + uuid.NewString(),
		TaskQueue: s.TaskQueue,
		// Retries stop after Config.Attempts; this only bounds a workflow nobody runs.
		WorkflowExecutionTimeout: 24 * time.Hour,
	}, WorkflowName, Input{Messages: msgs})
	if err != nil && s.Logger != nil {
		s.Logger.ErrorContext(ctx, "backchannel: starting the logout workflow failed", "messages", len(msgs), "error", err)
	}
}

// postSOAP sends a KindSAMLSOAP message and judges the answer (see Post).
func postSOAP(c *http.Client, req *http.Request, m Message) error {
	resp, err := c.Do(req)
	if err != nil {
		if egress.IsRefused(err) {
			return fmt.Errorf("%w: post to %s: %w", ErrRefused, m.RelyingParty, err)
		}
		return fmt.Errorf("backchannel: post to %s: %w", m.RelyingParty, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxSOAPResponseBytes+1))
	_ = resp.Body.Close()
	s := resp.StatusCode
	switch {
	case s >= 200 && s < 300, s == http.StatusInternalServerError:
		if err != nil {
			return fmt.Errorf("backchannel: %s: reading the answer: %w", m.RelyingParty, err)
		}
		if len(body) > MaxSOAPResponseBytes {
			return fmt.Errorf("%w: %s answered more than %d bytes", ErrRefused, m.RelyingParty, MaxSOAPResponseBytes)
		}
		cerr := checkSAMLSOAPResponse(body, *m.SAML)
		switch {
		case cerr == nil && s < 300:
			return nil
		case cerr == nil || (s == http.StatusInternalServerError && !errors.Is(cerr, errSOAPFault)):
			// A 500 that is no SOAP Fault is a server failure: retried.
			return fmt.Errorf("backchannel: %s answered %s", m.RelyingParty, resp.Status)
		default:
			return fmt.Errorf("%w: %s: %w", ErrRefused, m.RelyingParty, cerr)
		}
	case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s answered %s", ErrRefused, m.RelyingParty, resp.Status)
	default:
		return fmt.Errorf("backchannel: %s answered %s", m.RelyingParty, resp.Status)
	}
}
