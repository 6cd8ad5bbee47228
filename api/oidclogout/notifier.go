package oidclogout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyflow/keyflow/flows/backchannel"
)

// Message is one back-channel logout message to a relying party: a POST of Body to URL. OIDC
// Back-Channel Logout sends a form with logout_token; SAML SLO over SOAP can send its envelope
// through the same Notifier.
type Message = backchannel.Message

// Notifier delivers back-channel logout messages. Notify must not wait for delivery: the
// browser is waiting. ctx carries request values only; implementations must not stop when it
// is cancelled. *backchannel.Starter (durable: a Temporal workflow with retries) and
// *HTTPNotifier (in-process) implement it.
type Notifier interface {
	Notify(ctx context.Context, msgs []Message)
}

// Defaults of HTTPNotifierConfig.
const (
	DefaultAttempts       = 5
	DefaultAttemptTimeout = 5 * time.Second
)

// HTTPNotifierConfig configures NewHTTPNotifier.
type HTTPNotifierConfig struct {
	// Client sends the requests; default one that follows no redirects.
	Client *http.Client
	// Attempts per message, default DefaultAttempts.
	Attempts int
	// AttemptTimeout bounds each attempt, default DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Backoff is the wait before retry n (1, 2, …); default 1s·2^(n-1), at most 30s.
	Backoff func(n int) time.Duration
	// Logger; default discards. Message bodies (tokens) are never logged.
	Logger *slog.Logger
}

// HTTPNotifier delivers messages in this process, with bounded retries, each in its own
// goroutine detached from the request. It is not durable: a message still failing after the
// last attempt, or pending when the process stops, is logged and lost. Deployments with a
// Temporal worker use backchannel.Starter instead. Success and finality are those of
// backchannel.Post.
type HTTPNotifier struct {
	cfg     HTTPNotifierConfig
	wg      sync.WaitGroup
	stop    chan struct{}
	stopped sync.Once
}

// NewHTTPNotifier returns an HTTPNotifier; call Close on shutdown.
func NewHTTPNotifier(cfg HTTPNotifierConfig) *HTTPNotifier {
	if cfg.Client == nil {
		cfg.Client = backchannel.NoRedirectClient()
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(n int) time.Duration { return min(time.Second<<min(n-1, 5), 30*time.Second) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &HTTPNotifier{cfg: cfg, stop: make(chan struct{})}
}

// Notify starts delivering msgs and returns at once.
func (n *HTTPNotifier) Notify(ctx context.Context, msgs []Message) {
	ctx = context.WithoutCancel(ctx)
	for _, m := range msgs {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.deliver(ctx, m)
		}()
	}
}

// Close stops retrying and waits for attempts in flight, or for ctx.
func (n *HTTPNotifier) Close(ctx context.Context) error {
	n.stopped.Do(func() { close(n.stop) })
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("oidclogout: close: %w", ctx.Err())
	}
}

func (n *HTTPNotifier) deliver(ctx context.Context, m Message) {
	log := n.cfg.Logger.With("relying_party", m.RelyingParty, "url", m.URL)
	for attempt := 1; ; attempt++ {
		err := backchannel.Post(ctx, n.cfg.Client, n.cfg.AttemptTimeout, m)
		if err == nil {
			log.DebugContext(ctx, "oidclogout: back-channel logout delivered", "attempt", attempt)
			return
		}
		if errors.Is(err, backchannel.ErrRefused) || attempt >= n.cfg.Attempts {
			log.WarnContext(ctx, "oidclogout: back-channel logout failed", "attempts", attempt, "error", err)
			return
		}
		t := time.NewTimer(n.cfg.Backoff(attempt))
		select {
		case <-t.C:
		case <-n.stop:
			t.Stop()
			log.WarnContext(ctx, "oidclogout: back-channel logout abandoned at shutdown", "attempts", attempt, "error", err)
			return
		}
	}
}
