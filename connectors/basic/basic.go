package basic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

// Param names, as WSO2's BasicAuthenticator and the app-native SDKs use them.
const (
	ParamUsername = "username"
	ParamPassword = "password"
)

// DisplayName is WSO2's friendly name; the Android SDK matches on it.
const DisplayName = "Username & Password"

// FailedAttemptsClaim is the WSO2 claim counting failed logins before a success.
const FailedAttemptsClaim = store.FailedLoginAttemptsBeforeSuccessClaim

// DefaultLockDuration is how long a lock lasts when Config.LockDuration is zero (WSO2's default
// account unlock time).
const DefaultLockDuration = 5 * time.Minute

// Config configures the authenticator. The zero value never locks accounts.
type Config struct {
	// MaxFailures locks an account after that many consecutive wrong passwords; 0 never locks.
	MaxFailures int
	// LockDuration is how long a lock lasts; zero means DefaultLockDuration.
	LockDuration time.Duration
	// ShowRemainingAttempts adds the attempts left before a lock to the failure message
	// (WSO2's showAuthFailureReason). It reveals that the user exists, so it is off by default.
	ShowRemainingAttempts bool
	// HashParams are the argon2id parameters of the dummy hash verified for unknown users; they
	// should be those new passwords are hashed with. Zero means password.OWASP.
	HashParams password.Params
	// Gate bounds concurrent password checks; share one per process (password.NewGate). Nil
	// means a gate of this authenticator's own, admitting GOMAXPROCS checks at once.
	Gate *password.Gate
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives failures and locks (never passwords); nil discards.
	Logger *slog.Logger
}

// Users is what the authenticator needs from the user store; *store.Store implements it.
type Users interface {
	// UserByUsername finds a user case-insensitively in an organization and user store domain
	// (empty: PRIMARY), or returns store.ErrNotFound.
	UserByUsername(ctx context.Context, orgID, domain, username string) (store.User, error)
	// RecordLoginFailure counts a wrong password and locks per the policy.
	RecordLoginFailure(ctx context.Context, userID string, p store.LockPolicy, now time.Time) (store.LoginFailure, error)
	// RecordLoginSuccess resets the failure counter and clears an expired lock.
	RecordLoginSuccess(ctx context.Context, userID string, now time.Time) error
}

// Organizations resolves the tenant domain of a login; *store.Store implements it.
type Organizations interface {
	// OrganizationByHandle returns the organization with the handle, or store.ErrNotFound.
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Users         Users
	Organizations Organizations
	// Secondary, when set, resolves DOMAIN/username logins to secondary (LDAP/AD) user stores
	// (secondary.go); nil means only the built-in store.
	Secondary SecondaryStores
}

// Authenticator is BasicAuthenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg    Config
	deps   Deps
	policy store.LockPolicy
	log    *slog.Logger
	now    func() time.Time
	// dummyHash is verified when there is no real hash, so unknown users cost the same work.
	dummyHash string
	// verify is the gate's Verify; a field so a test can count calls.
	verify func(ctx context.Context, pw, encoded string) (bool, error)
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator. It hashes a random password once, to have a
// dummy hash with the configured cost.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Users == nil || deps.Organizations == nil {
		return nil, errors.New("basic: Deps needs Users and Organizations")
	}
	if cfg.MaxFailures < 0 || cfg.LockDuration < 0 {
		return nil, fmt.Errorf("basic: negative MaxFailures (%d) or LockDuration (%s)", cfg.MaxFailures, cfg.LockDuration)
	}
	if cfg.LockDuration == 0 {
		cfg.LockDuration = DefaultLockDuration
	}
	if cfg.HashParams == (password.Params{}) {
		cfg.HashParams = password.OWASP
	}
	if cfg.Gate == nil {
		cfg.Gate = password.NewGate(0)
	}
	a := &Authenticator{cfg: cfg, deps: deps, log: cfg.Logger, now: cfg.Now, verify: cfg.Gate.Verify,
		policy: store.LockPolicy{MaxFailures: cfg.MaxFailures, Duration: cfg.LockDuration}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("basic: dummy password: %w", err)
	}
	h, err := password.Hash(hex.EncodeToString(secret), cfg.HashParams)
	if err != nil {
		return nil, fmt.Errorf("basic: dummy hash: %w", err)
	}
	a.dummyHash = h
	return a, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.BasicAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator: WSO2's params, username then password (Android fills
// requiredParams by position).
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey: "authenticator.basic",
		Type:    connectors.PromptUser,
		Params: []connectors.Param{
			{Name: ParamUsername, Type: connectors.ParamString, Order: 0, I18nKey: "username.param", DisplayName: "Username"},
			{Name: ParamPassword, Type: connectors.ParamString, Order: 1, I18nKey: "password.param", DisplayName: "Password", Confidential: true},
		},
	}
}

// Begin implements connectors.Authenticator. The workflow never calls it (the prompt does not
// initiate); it returns the static prompt so a stray call is harmless.
func (a *Authenticator) Begin(ctx context.Context, _ connectors.BeginInput) (connectors.BeginResult, error) {
	return connectors.BeginResult{}, ctx.Err()
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	username, pw := in.Params[ParamUsername], in.Params[ParamPassword]
	if username == "" || pw == "" {
		return a.invalid(connectors.ReasonInvalidInput, 0), nil
	}
	if out, handled, err := a.secondary(ctx, in.TenantDomain, username, pw); handled || err != nil {
		return out, err
	}
	user, found, err := a.lookup(ctx, in.TenantDomain, username)
	if err != nil {
		return connectors.Outcome{}, err
	}
	hash := a.dummyHash
	if found && user.PasswordHash != "" {
		hash = user.PasswordHash
	}
	ok, err := a.verify(ctx, pw, hash)
	if err != nil && ctx.Err() != nil {
		return connectors.Outcome{}, err // gave up waiting for a slot: no verdict
	}
	if err != nil {
		// A corrupt stored hash: the user cannot log in with a password, which is a failure
		// like any other for the caller, but worth an operator's attention.
		a.log.WarnContext(ctx, "basic: unreadable password hash", "user_id", user.ID, "error", err)
		ok = false
	}
	if !found || user.PasswordHash == "" {
		return a.invalid(connectors.ReasonInvalidCredentials, 0), nil
	}
	now := a.now()
	public := a.public(user, in.TenantDomain)
	if user.LockedAt(now) {
		return a.locked(public), nil
	}
	if !ok {
		return a.failure(ctx, user, public, now)
	}
	if out, refused, err := a.accountStatus(ctx, user, public, now); err != nil || refused {
		return out, err
	}
	if err := a.deps.Users.RecordLoginSuccess(ctx, user.ID, now); err != nil {
		return connectors.Outcome{}, fmt.Errorf("basic: record login success: %w", err)
	}
	return connectors.Outcome{Status: connectors.StatusSuccess, User: public}, nil
}

// lookup resolves the tenant and the [DOMAIN/]username. found is false when either is unknown.
func (a *Authenticator) lookup(ctx context.Context, tenant, username string) (store.User, bool, error) {
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	org, err := a.deps.Organizations.OrganizationByHandle(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) || (err == nil && org.Status != store.OrganizationActive) {
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, fmt.Errorf("basic: organization: %w", err)
	}
	// WSO2 qualifies secondary-store users as DOMAIN/username.
	domain := ""
	if d, name, ok := strings.Cut(username, "/"); ok && d != "" && name != "" {
		domain, username = d, name
	}
	u, err := a.deps.Users.UserByUsername(ctx, org.ID, domain, username)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, fmt.Errorf("basic: user: %w", err)
	}
	return u, true, nil
}

// failure records a wrong password and builds the outcome.
func (a *Authenticator) failure(ctx context.Context, user store.User, public *connectors.User, now time.Time) (connectors.Outcome, error) {
	res, err := a.deps.Users.RecordLoginFailure(ctx, user.ID, a.policy, now)
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("basic: record login failure: %w", err)
	}
	public.Claims = map[string]string{FailedAttemptsClaim: strconv.Itoa(res.BeforeSuccess)}
	if res.Locked || res.User.LockedAt(now) {
		a.log.InfoContext(ctx, "basic: account locked", "user_id", user.ID, "until", res.User.LockedUntil)
		return a.locked(public), nil
	}
	a.log.DebugContext(ctx, "basic: wrong password", "user_id", user.ID, "failures", res.User.FailedLoginAttempts)
	remaining := 0
	if a.cfg.MaxFailures > 0 {
		remaining = max(a.cfg.MaxFailures-res.User.FailedLoginAttempts, 0)
	}
	out := a.invalid(connectors.ReasonInvalidCredentials, remaining)
	out.FailedUser = public
	return out, nil
}

// invalid is the one failure shape for unknown users and wrong passwords alike.
func (a *Authenticator) invalid(reason connectors.Reason, remaining int) connectors.Outcome {
	m := message("login.fail.message")
	out := connectors.Outcome{Status: connectors.StatusFailed, Reason: reason, Retry: true,
		Messages: []connectors.Message{m}}
	if a.cfg.ShowRemainingAttempts && remaining > 0 {
		out.RemainingAttempts = remaining
		out.Messages[0].Context = map[string]string{"remainingAttempts": strconv.Itoa(remaining)}
	}
	return out
}

func (a *Authenticator) locked(public *connectors.User) connectors.Outcome {
	return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountLocked,
		FailedUser: public, Messages: []connectors.Message{message("user.account.locked")}}
}

// message is app-native's retryable-failure message: code ABA-60003, text the i18n-able key.
func message(text string) connectors.Message {
	return connectors.Message{Type: connectors.MessageError, ID: "ABA-60003", Message: text, I18nKey: "message.ABA-60003"}
}

func (a *Authenticator) public(u store.User, tenant string) *connectors.User {
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	return &connectors.User{ID: u.ID, Username: u.Username, UserStoreDomain: u.Domain, TenantDomain: tenant,
		IdP: connectors.LocalIdP}
}
