// Package otpcode is the engine shared by the OTP authenticators that send a code out of band
// (connectors/emailotp, connectors/smsotp): code generation, the step state the workflow keeps
// between Begin and Process, verification, expiry, and WSO2's resend and failure limits.
//
// The code itself never leaves Begin except through the delivery function: the state holds a
// keyed hash (HMAC-SHA-256 under Config.HashKey of the authenticator name, flow id, user id, a
// random nonce, the expiry and the code), so Temporal history and logs never contain it, and a
// state cannot be replayed in another flow, for another user or another authenticator. The key
// stays on the workers, so even someone who reads history cannot brute-force the short code
// offline.
package otpcode

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyflow/keyflow/connectors"
)

// Script authenticatorParams keys (WSO2's names) that override Config per login.
const (
	RuntimeMaxFailures          = "maximumAllowedFailureAttempts"
	RuntimeMaxResends           = "maximumAllowedResendAttempts"
	RuntimeTerminateOnResendMax = "terminateOnResendLimitExceeded"
)

// Defaults for zero Config fields (WSO2's OTP connector defaults where it has them).
const (
	DefaultLength      = 6
	DefaultTTL         = 5 * time.Minute
	DefaultMaxResends  = 3
	DefaultMaxFailures = 3
)

// Config is the shared part of the OTP authenticators' configuration.
type Config struct {
	// HashKey keys the code hash kept in state; at least 32 random bytes, the same on every worker.
	HashKey []byte
	// Length of the code; default 6, at most 10.
	Length int
	// Alphanumeric codes use upper-case letters and digits without look-alikes; default digits.
	Alphanumeric bool
	// TTL is how long a code is valid; default 5 minutes.
	TTL time.Duration
	// MaxResends limits resends in one step; default 3. The runtime param overrides it.
	MaxResends int
	// MaxFailures limits wrong codes in one step; default 3. The runtime param overrides it.
	MaxFailures int
}

// Deliver sends code to the user and returns a masked destination to show ("j***@example.com").
// ok is false when the user has nowhere to receive it (not enrolled).
type Deliver func(ctx context.Context, user *connectors.User, code string, ttl time.Duration) (masked string, ok bool, err error)

// Engine runs Begin and Process for one authenticator. It is safe for concurrent use.
type Engine struct {
	name string
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
}

// New validates cfg and returns an engine for the authenticator called name.
func New(name string, cfg Config, now func() time.Time, log *slog.Logger) (*Engine, error) {
	if len(cfg.HashKey) < 32 {
		return nil, fmt.Errorf("%s: HashKey must be at least 32 bytes", name)
	}
	if cfg.Length == 0 {
		cfg.Length = DefaultLength
	}
	if cfg.Length < 4 || cfg.Length > 10 {
		return nil, fmt.Errorf("%s: code Length %d out of range 4..10", name, cfg.Length)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxResends == 0 {
		cfg.MaxResends = DefaultMaxResends
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.TTL < 0 || cfg.MaxResends < 0 || cfg.MaxFailures < 0 {
		return nil, fmt.Errorf("%s: negative TTL, MaxResends or MaxFailures", name)
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{name: name, cfg: cfg, now: now, log: log}, nil
}

// State is the step state: everything needed to check a code, nothing that reveals it.
type State struct {
	UserID    string    `json:"uid"`
	Nonce     []byte    `json:"nonce"`
	MAC       []byte    `json:"mac"`
	ExpiresAt time.Time `json:"exp"`
	Resends   int       `json:"resends,omitempty"`
	Failures  int       `json:"failures,omitempty"`
}

// Begin issues a code (or, when in.State is set, a new one as a resend) and delivers it.
func (e *Engine) Begin(ctx context.Context, in connectors.BeginInput, deliver Deliver) (connectors.BeginResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.BeginResult{}, err
	}
	if in.User == nil || in.User.ID == "" {
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonUserNotFound}}, nil
	}
	var st State
	if len(in.State) > 0 {
		prev, err := e.parse(in.State)
		if err != nil {
			return connectors.BeginResult{}, err
		}
		if prev.Resends >= e.limit(in.RuntimeParams, RuntimeMaxResends, e.cfg.MaxResends) {
			e.log.InfoContext(ctx, e.name+": resend limit reached", "user_id", in.User.ID)
			return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
				Reason: connectors.ReasonMaxResends, FailedUser: in.User,
				Retry: in.RuntimeParams[RuntimeTerminateOnResendMax] != "true", State: in.State,
				Messages: []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60014",
					Message: "Maximum resend attempts exceeded.", I18nKey: "message.ABA-60014"}}}}, nil
		}
		st.Resends, st.Failures = prev.Resends+1, prev.Failures
	}
	code, err := e.generate()
	if err != nil {
		return connectors.BeginResult{}, err
	}
	st.UserID = in.User.ID
	st.ExpiresAt = e.now().Add(e.cfg.TTL).UTC().Truncate(time.Second)
	st.Nonce = make([]byte, 16)
	if _, err := rand.Read(st.Nonce); err != nil {
		return connectors.BeginResult{}, fmt.Errorf("%s: nonce: %w", e.name, err)
	}
	st.MAC = e.mac(in.FlowID, st, code)
	masked, ok, err := deliver(ctx, in.User, code, e.cfg.TTL)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("%s: deliver: %w", e.name, err)
	}
	if !ok {
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonNotEnrolled, FailedUser: in.User}}, nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("%s: state: %w", e.name, err)
	}
	e.log.DebugContext(ctx, e.name+": code sent", "user_id", in.User.ID, "resends", st.Resends)
	return connectors.BeginResult{State: raw, Messages: []connectors.Message{{Type: connectors.MessageInfo,
		ID: "otp.sent", Message: "otp.sent", I18nKey: "message.otp.sent",
		Context: map[string]string{"destination": masked}}}}, nil
}

// Process checks the submitted code (params[param]) against the state.
func (e *Engine) Process(ctx context.Context, in connectors.ProcessInput, param string) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	if in.User == nil || in.User.ID == "" {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound}, nil
	}
	if len(in.State) == 0 {
		// No code was issued in this step: nothing can match.
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidInput,
			FailedUser: in.User}, nil
	}
	st, err := e.parse(in.State)
	if err != nil {
		return connectors.Outcome{}, err
	}
	code := normalise(in.Params[param], e.cfg.Alphanumeric)
	good := code != "" && st.UserID == in.User.ID && hmac.Equal(st.MAC, e.mac(in.FlowID, st, code))
	if good && !e.now().Before(st.ExpiresAt) {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonExpired, Retry: true,
			FailedUser: in.User, State: in.State, Messages: []connectors.Message{{Type: connectors.MessageError,
				ID: "ABA-60003", Message: "otp.expired", I18nKey: "message.ABA-60003"}}}, nil
	}
	if good {
		u := *in.User
		if u.IdP == "" {
			u.IdP = connectors.LocalIdP
		}
		return connectors.Outcome{Status: connectors.StatusSuccess, User: &u}, nil
	}
	st.Failures++
	raw, err := json.Marshal(st)
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("%s: state: %w", e.name, err)
	}
	out := connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidCode, Retry: true,
		FailedUser: in.User, State: raw, Messages: []connectors.Message{{Type: connectors.MessageError,
			ID: "ABA-60003", Message: "authentication.fail.message", I18nKey: "message.ABA-60003"}}}
	limit := e.limit(in.RuntimeParams, RuntimeMaxFailures, e.cfg.MaxFailures)
	if st.Failures >= limit {
		e.log.InfoContext(ctx, e.name+": failure limit reached", "user_id", in.User.ID)
		out.Reason, out.Retry = connectors.ReasonMaxAttempts, false
		out.Messages = []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60013",
			Message: "Maximum retry attempts exceeded.", I18nKey: "message.ABA-60013"}}
	} else {
		out.RemainingAttempts = limit - st.Failures
	}
	return out, nil
}

func (e *Engine) parse(raw json.RawMessage) (State, error) {
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return State{}, fmt.Errorf("%s: state: %w", e.name, err)
	}
	if len(st.MAC) != sha256.Size || len(st.Nonce) == 0 {
		return State{}, errors.New(e.name + ": state without a code hash")
	}
	return st, nil
}

// limit reads a positive integer runtime param, else def.
func (e *Engine) limit(runtime map[string]string, key string, def int) int {
	if n, err := strconv.Atoi(runtime[key]); err == nil && n > 0 {
		return n
	}
	return def
}

func (e *Engine) mac(flowID string, st State, code string) []byte {
	m := hmac.New(sha256.New, e.cfg.HashKey)
	// Length-prefixed fields, so no two inputs serialise alike.
	for _, f := range []string{"keyflow-otp/v1", e.name, flowID, st.UserID, string(st.Nonce), code} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(st.ExpiresAt.Unix()))
	m.Write(exp[:])
	return m.Sum(nil)
}

const (
	digits   = "0123456789"
	alphanum = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I
)

func (e *Engine) generate() (string, error) {
	alphabet := digits
	if e.cfg.Alphanumeric {
		alphabet = alphanum
	}
	var b strings.Builder
	size := big.NewInt(int64(len(alphabet)))
	for range e.cfg.Length {
		n, err := rand.Int(rand.Reader, size)
		if err != nil {
			return "", fmt.Errorf("%s: code: %w", e.name, err)
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String(), nil
}

// normalise drops spaces and dashes users type or paste, and upper-cases alphanumeric codes.
func normalise(code string, alphanumeric bool) string {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if alphanumeric {
		code = strings.ToUpper(code)
	}
	return code
}

// Mask hides most of a destination: the local part of an e-mail address but its first
// character, all digits of a phone number but the last four.
func Mask(dest string) string {
	if local, domain, ok := strings.Cut(dest, "@"); ok && local != "" {
		_, n := utf8.DecodeRuneInString(local)
		return local[:n] + "***@" + domain
	}
	if len(dest) <= 4 {
		return strings.Repeat("*", len(dest))
	}
	return strings.Repeat("*", len(dest)-4) + dest[len(dest)-4:]
}
