package totp

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// ParamToken is the param the code is submitted in (WSO2's and app-native's name).
const ParamToken = "token"

// DisplayName is WSO2's friendly name.
const DisplayName = "TOTP"

// RuntimeMaxFailures is the script authenticatorParams key limiting wrong codes in one step.
const RuntimeMaxFailures = "maximumAllowedFailureAttempts"

// Algorithm is the HMAC hash of RFC 6238.
type Algorithm string

// Algorithms (RFC 6238 §1.2). SHA1 is what every authenticator app supports.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

func (a Algorithm) hash() (func() hash.Hash, error) {
	switch a {
	case SHA1:
		return sha1.New, nil
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("totp: unknown algorithm %q", a)
}

// Config configures the authenticator. Only EncryptionKey is required.
type Config struct {
	// EncryptionKey is the 32-byte AES-256 key secrets are encrypted with at rest.
	EncryptionKey []byte
	// KeyID names EncryptionKey in stored credentials, for rotation.
	KeyID string
	// OldKeys are earlier keys by KeyID, still accepted for decryption.
	OldKeys map[string][]byte
	// Issuer is shown by authenticator apps; default "Keyflow".
	Issuer string
	// Digits is the code length, 6 (default) or 8.
	Digits int
	// Period is the time step; default 30s.
	Period time.Duration
	// Skew is how many steps before and after the current one are accepted; default 1. Negative
	// means 0.
	Skew int
	// Algorithm defaults to SHA1.
	Algorithm Algorithm
	// QRSize is the QR code image size in pixels; default 256.
	QRSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failures (never codes or secrets); nil discards.
	Logger *slog.Logger
	// EnrollInFlow lets a user without a confirmed credential enrol during login, as WSO2's
	// "enrolUserInAuthenticationFlow": Begin issues a new secret and shows it (key URI and QR
	// code), and the first valid code confirms it and completes the step. When false (the
	// default) such a user fails the step with not_enrolled. The script's authenticatorParams
	// key RuntimeEnrollInFlow overrides it for one login.
	EnrollInFlow bool
}

// Credentials is what the authenticator needs from the store; *store.Store implements it.
type Credentials interface {
	// TOTPCredential returns the user's credential or store.ErrNotFound.
	TOTPCredential(ctx context.Context, userID string) (store.TOTPCredential, error)
	// PutTOTPSecret stores a pending (unconfirmed) encrypted secret, replacing any credential.
	PutTOTPSecret(ctx context.Context, userID string, ciphertext []byte, keyID string, actor store.Actor) error
	// ConfirmTOTP confirms the pending credential, marking step used.
	ConfirmTOTP(ctx context.Context, userID string, ciphertext []byte, step int64, actor store.Actor) error
	// UseTOTPStep marks step used, reporting false if it or a later step already was.
	UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Credentials Credentials
}

// Authenticator is the totp authenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg  Config
	deps Deps
	hash func() hash.Hash
	box  *box
	log  *slog.Logger
	now  func() time.Time
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Credentials == nil {
		return nil, errors.New("totp: Deps needs Credentials")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Keyflow"
	}
	if strings.Contains(cfg.Issuer, ":") {
		return nil, fmt.Errorf("totp: issuer %q contains ':' (it separates issuer and account in otpauth URIs)", cfg.Issuer)
	}
	switch cfg.Digits {
	case 0:
		cfg.Digits = 6
	case 6, 8:
	default:
		return nil, fmt.Errorf("totp: Digits %d, want 6 or 8", cfg.Digits)
	}
	if cfg.Period == 0 {
		cfg.Period = 30 * time.Second
	}
	if cfg.Period < time.Second || cfg.Period%time.Second != 0 {
		return nil, fmt.Errorf("totp: Period %s must be a whole number of seconds", cfg.Period)
	}
	if cfg.Skew == 0 {
		cfg.Skew = 1
	}
	cfg.Skew = max(cfg.Skew, 0)
	if cfg.Skew > 10 {
		return nil, fmt.Errorf("totp: Skew %d is too wide", cfg.Skew)
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = SHA1
	}
	h, err := cfg.Algorithm.hash()
	if err != nil {
		return nil, err
	}
	if cfg.QRSize == 0 {
		cfg.QRSize = 256
	}
	if cfg.QRSize < 64 || cfg.QRSize > 2048 {
		return nil, fmt.Errorf("totp: QRSize %d out of range 64..2048", cfg.QRSize)
	}
	b, err := newBox(cfg.KeyID, cfg.EncryptionKey, cfg.OldKeys)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{cfg: cfg, deps: deps, hash: h, box: b, log: cfg.Logger, now: cfg.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.TOTPAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator, with WSO2's metadata (wso2-wire §1.11 A).
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey:  "authenticator.totp",
		Type:     connectors.PromptUser,
		Initiate: true,
		Params: []connectors.Param{
			{Name: ParamToken, Type: connectors.ParamString, Order: 0, I18nKey: "totp.authenticator", DisplayName: "Token"},
		},
	}
}

// Begin implements connectors.Authenticator. For a user with a confirmed credential it holds no
// state and is idempotent (the Android SDK asks for it before every submission). Otherwise it
// ends the step with not_enrolled, or, with enrolment in the flow enabled, starts one (see
// beginEnrollment).
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.BeginResult{}, err
	}
	if in.User == nil || in.User.ID == "" {
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonUserNotFound}}, nil
	}
	c, found, err := a.stored(ctx, in.User.ID)
	if err != nil {
		return connectors.BeginResult{}, err
	}
	switch {
	case found && c.Confirmed():
		return connectors.BeginResult{}, nil
	case !a.enrollInFlow(in.RuntimeParams) || in.User.Federated():
		// A federated user has no local account to hold a credential.
		return connectors.BeginResult{Outcome: notEnrolled(in.User)}, nil
	}
	st, err := parseState(in.State)
	if err != nil {
		return connectors.BeginResult{}, err
	}
	return a.beginEnrollment(ctx, in.User, st, c, found)
}

// Process implements connectors.Authenticator: it verifies the code, or, in a step that showed an
// enrolment, confirms it.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	if in.User == nil || in.User.ID == "" {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound}, nil
	}
	st, err := parseState(in.State)
	if err != nil {
		return connectors.Outcome{}, err
	}
	if st.Enrollment != "" {
		return a.confirmInFlow(ctx, in, st)
	}
	return a.verify(ctx, in)
}

// verify checks the code against the user's confirmed credential.
func (a *Authenticator) verify(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	cred, ok, err := a.credential(ctx, in.User.ID)
	if err != nil {
		return connectors.Outcome{}, err
	}
	if !ok {
		return *notEnrolled(in.User), nil
	}
	secret, err := a.box.open(cred.KeyID, cred.SecretCiphertext, in.User.ID)
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("totp: user %s: %w", in.User.ID, err)
	}
	step, ok := a.match(secret, in.Params[ParamToken], a.now())
	if ok {
		ok, err = a.deps.Credentials.UseTOTPStep(ctx, in.User.ID, step)
		if err != nil {
			return connectors.Outcome{}, fmt.Errorf("totp: %w", err)
		}
		if !ok {
			a.log.InfoContext(ctx, "totp: code reused", "user_id", in.User.ID)
		}
	}
	if !ok {
		return a.failed(in), nil
	}
	return succeeded(in.User), nil
}

func succeeded(user *connectors.User) connectors.Outcome {
	u := *user
	if u.IdP == "" {
		u.IdP = connectors.LocalIdP
	}
	return connectors.Outcome{Status: connectors.StatusSuccess, User: &u}
}

// stored returns the user's credential, confirmed or pending; found is false when there is none.
func (a *Authenticator) stored(ctx context.Context, userID string) (store.TOTPCredential, bool, error) {
	c, err := a.deps.Credentials.TOTPCredential(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return store.TOTPCredential{}, false, nil
	}
	if err != nil {
		return store.TOTPCredential{}, false, fmt.Errorf("totp: %w", err)
	}
	return c, true, nil
}

// credential returns the user's confirmed credential; ok is false when there is none.
func (a *Authenticator) credential(ctx context.Context, userID string) (store.TOTPCredential, bool, error) {
	c, found, err := a.stored(ctx, userID)
	return c, found && c.Confirmed(), err
}

func (a *Authenticator) failed(in connectors.ProcessInput) connectors.Outcome {
	out := connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidCode, Retry: true,
		FailedUser: in.User, Messages: []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60003",
			Message: "authentication.fail.message", I18nKey: "message.ABA-60003"}}}
	if limit, err := strconv.Atoi(in.RuntimeParams[RuntimeMaxFailures]); err == nil && limit > 0 {
		if in.Attempt >= limit {
			out.Reason, out.Retry = connectors.ReasonMaxAttempts, false
			out.Messages = []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60013",
				Message: "Maximum retry attempts exceeded.", I18nKey: "message.ABA-60013"}}
		} else {
			out.RemainingAttempts = limit - in.Attempt
		}
	}
	return out
}

func notEnrolled(u *connectors.User) *connectors.Outcome {
	return &connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonNotEnrolled, FailedUser: u}
}

// match returns the time step whose code equals token, within ±Skew steps of now.
func (a *Authenticator) match(secret []byte, token string, now time.Time) (int64, bool) {
	token = strings.ReplaceAll(token, " ", "")
	if len(token) != a.cfg.Digits || strings.Trim(token, "0123456789") != "" {
		return 0, false
	}
	cur := a.step(now)
	var found int64
	ok := 0
	// Every candidate is computed and compared, in constant time, so timing does not tell which
	// step (if any) matched.
	for d := -a.cfg.Skew; d <= a.cfg.Skew; d++ {
		s := cur + int64(d)
		if s < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare([]byte(code(a.hash, secret, s, a.cfg.Digits)), []byte(token))
		if eq == 1 && ok == 0 {
			found, ok = s, 1
		}
	}
	return found, ok == 1
}

// step is RFC 6238's T = floor((unix time - T0) / X), with T0 = 0.
func (a *Authenticator) step(t time.Time) int64 {
	return t.Unix() / int64(a.cfg.Period/time.Second)
}

// code is HOTP (RFC 4226 §5.3) of counter, with dynamic truncation to digits decimal digits.
func code(h func() hash.Hash, secret []byte, counter int64, digits int) string {
	mac := hmac.New(h, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}
