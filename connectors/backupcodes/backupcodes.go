package backupcodes

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// ParamCode is the param the code is submitted in. WSO2's exact name is unconfirmed.
const ParamCode = "BackupCode"

// DisplayName is the friendly name.
const DisplayName = "Backup Code"

// RuntimeMaxFailures is the script authenticatorParams key limiting wrong codes in one step.
const RuntimeMaxFailures = "maximumAllowedFailureAttempts"

// Defaults for zero Config fields.
const (
	DefaultCount  = 10
	DefaultLength = 10
)

// alphabet has no look-alikes (0/O, 1/I/L); 31 symbols, so a 10-character code carries ~49 bits.
const alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Config configures the authenticator. HashKey is required.
type Config struct {
	// HashKey keys the stored code hashes; at least 32 random bytes.
	HashKey []byte
	// Count of codes per set; default 10.
	Count int
	// Length of a code; default 10 (shown as two groups of five).
	Length int
	// Logger; nil discards. Codes are never logged.
	Logger *slog.Logger
}

// Codes is what the authenticator needs from the store; *store.Store implements it.
type Codes interface {
	// ReplaceBackupCodes stores a new set of code hashes, dropping the old one.
	ReplaceBackupCodes(ctx context.Context, userID string, hashes [][]byte, actor store.Actor) error
	// UseBackupCode spends the unused code with the hash, reporting false if there is none.
	UseBackupCode(ctx context.Context, userID string, hash []byte) (bool, error)
	// UnusedBackupCodes counts the user's unused codes.
	UnusedBackupCodes(ctx context.Context, userID string) (int, error)
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Codes Codes
}

// Authenticator is backup-code-authenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Codes == nil {
		return nil, errors.New("backupcodes: Deps needs Codes")
	}
	if len(cfg.HashKey) < 32 {
		return nil, errors.New("backupcodes: HashKey must be at least 32 bytes")
	}
	if cfg.Count == 0 {
		cfg.Count = DefaultCount
	}
	if cfg.Length == 0 {
		cfg.Length = DefaultLength
	}
	if cfg.Count < 1 || cfg.Count > 100 || cfg.Length < 8 || cfg.Length > 32 {
		return nil, fmt.Errorf("backupcodes: Count %d (1..100) or Length %d (8..32) out of range", cfg.Count, cfg.Length)
	}
	a := &Authenticator{cfg: cfg, deps: deps, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.BackupCodeAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator.
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey:  "authenticator.backup.code",
		Type:     connectors.PromptUser,
		Initiate: true,
		Params: []connectors.Param{
			{Name: ParamCode, Type: connectors.ParamString, Order: 0, I18nKey: "backup.code.param", DisplayName: "Backup Code"},
		},
	}
}

// Generate makes a new set of codes for the user, replacing the old set, and returns them
// formatted for display ("ABCDE-FGHJK"). They cannot be shown again.
func (a *Authenticator) Generate(ctx context.Context, userID string, actor store.Actor) ([]string, error) {
	codes := make([]string, a.cfg.Count)
	hashes := make([][]byte, a.cfg.Count)
	seen := map[string]bool{}
	for i := range codes {
		for {
			c, err := a.random()
			if err != nil {
				return nil, err
			}
			if !seen[c] {
				seen[c] = true
				codes[i], hashes[i] = c, a.hash(userID, c)
				break
			}
		}
	}
	if err := a.deps.Codes.ReplaceBackupCodes(ctx, userID, hashes, actor); err != nil {
		return nil, fmt.Errorf("backupcodes: %w", err)
	}
	for i, c := range codes {
		codes[i] = c[:len(c)/2] + "-" + c[len(c)/2:]
	}
	return codes, nil
}

// Begin implements connectors.Authenticator: it ends the step when the user has no unused code.
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.BeginResult{}, err
	}
	if in.User == nil || in.User.ID == "" {
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonUserNotFound}}, nil
	}
	n, err := a.deps.Codes.UnusedBackupCodes(ctx, in.User.ID)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("backupcodes: %w", err)
	}
	if n == 0 {
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonNotEnrolled, FailedUser: in.User}}, nil
	}
	return connectors.BeginResult{}, nil
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	if in.User == nil || in.User.ID == "" {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound}, nil
	}
	code := normalise(in.Params[ParamCode])
	ok := false
	if len(code) == a.cfg.Length {
		var err error
		ok, err = a.deps.Codes.UseBackupCode(ctx, in.User.ID, a.hash(in.User.ID, code))
		if err != nil {
			return connectors.Outcome{}, fmt.Errorf("backupcodes: %w", err)
		}
	}
	if ok {
		a.log.InfoContext(ctx, "backupcodes: code used", "user_id", in.User.ID)
		u := *in.User
		if u.IdP == "" {
			u.IdP = connectors.LocalIdP
		}
		return connectors.Outcome{Status: connectors.StatusSuccess, User: &u}, nil
	}
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
	return out, nil
}

func (a *Authenticator) random() (string, error) {
	var b strings.Builder
	size := big.NewInt(int64(len(alphabet)))
	for range a.cfg.Length {
		n, err := rand.Int(rand.Reader, size)
		if err != nil {
			return "", fmt.Errorf("backupcodes: random: %w", err)
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String(), nil
}

// hash binds the code to the user, so equal codes of two users hash differently.
func (a *Authenticator) hash(userID, code string) []byte {
	m := hmac.New(sha256.New, a.cfg.HashKey)
	m.Write([]byte("keyflow-backup-code/v1\x00" + userID + "\x00" + code))
	return m.Sum(nil)
}

// normalise accepts the code as shown or typed loosely: any case, dashes and spaces ignored.
func normalise(code string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, code))
}
