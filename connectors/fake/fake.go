// Package fake provides a scriptable authenticator and an in-memory user directory for tests of
// the login workflow and the script engine. Nothing here is meant for production: passwords are
// kept in clear and every call is recorded.
//
// A Directory holds users (password, roles, groups, claims, lock state). An Authenticator checks
// either a password against the Directory (Mode Password, like BasicAuthenticator) or a code for
// the already-known user (Mode Code, like totp or an OTP authenticator), counts failures, locks
// users after MaxFailures and honours WSO2's OTP runtime parameters
// (maximumAllowedFailureAttempts). Both record what they were called with, so tests can assert on
// the parameters a script passed.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/keyflow/keyflow/connectors"
)

// FailedAttemptsClaim is the WSO2 claim the identity-governance handler increments on every
// failed login; the login-attempts script template reads it. The fake directory maintains it the
// same way, so that script can be tested unchanged.
const FailedAttemptsClaim = "http://wso2.org/claims/identity/failedLoginAttemptsBeforeSuccess"

// UserRecord is one user of a Directory.
type UserRecord struct {
	connectors.User
	Password string
	// AppRoles are roles associated with an application, by application id (the IS7 role
	// model behind hasAnyOfTheRolesV2).
	AppRoles map[string][]string
	Locked   bool

	codeFailures int // consecutive wrong codes (Mode Code)
}

// Directory is an in-memory user store, safe for concurrent use.
type Directory struct {
	mu     sync.Mutex
	users  map[string]*UserRecord // by username
	writes []ClaimWrite
}

// ClaimWrite records one WriteClaims call.
type ClaimWrite struct {
	Username string
	Claims   map[string]string
}

// ErrNoUser is returned for look-ups of unknown users.
var ErrNoUser = errors.New("fake: no such user")

// NewDirectory returns a Directory holding copies of users. Users without an ID get
// "id-<username>"; without a domain, "PRIMARY"; without an IdP, LOCAL.
func NewDirectory(users ...UserRecord) *Directory {
	d := &Directory{users: make(map[string]*UserRecord, len(users))}
	for _, u := range users {
		u := u
		if u.ID == "" {
			u.ID = "id-" + u.Username
		}
		if u.UserStoreDomain == "" {
			u.UserStoreDomain = "PRIMARY"
		}
		if u.IdP == "" {
			u.IdP = connectors.LocalIdP
		}
		u.Claims = maps.Clone(u.Claims)
		if u.Claims == nil {
			u.Claims = map[string]string{}
		}
		d.users[u.Username] = &u
	}
	return d
}

func (d *Directory) lookup(u *connectors.User) (*UserRecord, error) {
	if u == nil {
		return nil, ErrNoUser
	}
	rec, ok := d.users[u.Username]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoUser, u.Username)
	}
	return rec, nil
}

// public returns the connectors.User view of a record. Roles and groups are left nil on purpose:
// scripts then exercise the directory look-ups.
func (rec *UserRecord) public() *connectors.User {
	u := rec.User
	u.Claims = nil
	u.Roles, u.Groups = nil, nil
	return &u
}

// UserRoles returns the user's role names.
func (d *Directory) UserRoles(_ context.Context, u *connectors.User) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, err := d.lookup(u)
	if err != nil {
		return nil, err
	}
	return slices.Clone(rec.Roles), nil
}

// UserGroups returns the user's group names.
func (d *Directory) UserGroups(_ context.Context, u *connectors.User) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, err := d.lookup(u)
	if err != nil {
		return nil, err
	}
	return slices.Clone(rec.Groups), nil
}

// ApplicationRoles returns the roles of application appID the user holds.
func (d *Directory) ApplicationRoles(_ context.Context, appID string, u *connectors.User) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, err := d.lookup(u)
	if err != nil {
		return nil, err
	}
	return slices.Clone(rec.AppRoles[appID]), nil
}

// ReadClaims returns the values of the requested claim URIs the user has.
func (d *Directory) ReadClaims(_ context.Context, u *connectors.User, uris []string) (map[string]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, err := d.lookup(u)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(uris))
	for _, uri := range uris {
		if v, ok := rec.Claims[uri]; ok {
			out[uri] = v
		}
	}
	return out, nil
}

// WriteClaims stores claim values for the user.
func (d *Directory) WriteClaims(_ context.Context, u *connectors.User, claims map[string]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, err := d.lookup(u)
	if err != nil {
		return err
	}
	maps.Copy(rec.Claims, claims)
	d.writes = append(d.writes, ClaimWrite{Username: u.Username, Claims: maps.Clone(claims)})
	return nil
}

// Claim returns one stored claim value (test helper).
func (d *Directory) Claim(username, uri string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rec, ok := d.users[username]; ok {
		return rec.Claims[uri]
	}
	return ""
}

// ClaimWrites returns every WriteClaims call so far.
func (d *Directory) ClaimWrites() []ClaimWrite {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.writes)
}

// Locked reports whether the user is locked (test helper).
func (d *Directory) Locked(username string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, ok := d.users[username]
	return ok && rec.Locked
}

// Mode selects what an Authenticator verifies.
type Mode int

const (
	// Password checks "username" and "password" params against the Directory.
	Password Mode = iota
	// Code checks a single code param for the known user (second factor).
	Code
)

// Config configures an Authenticator.
type Config struct {
	Name        string
	DisplayName string
	// Prompt is the static prompt; when zero, a prompt matching Mode is used.
	Prompt    connectors.Prompt
	Mode      Mode
	Directory *Directory
	// Code is the accepted code in Mode Code.
	Code string
	// CodeParam names the code parameter in Mode Code ("token", "OTPCode"); default "OTPCode".
	CodeParam string
	// MaxFailures locks a user after that many consecutive failures (0: never).
	MaxFailures int
	// IdP, when set, makes the authenticator federated-like: the returned user carries this IdP.
	IdP string
}

// Authenticator is a scriptable connectors.Authenticator.
type Authenticator struct {
	cfg Config

	mu    sync.Mutex
	calls []Call
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// Call records one Begin or Process invocation.
type Call struct {
	Method string // "Begin" or "Process"
	Step   int
	// RuntimeParams are the script's authenticatorParams the call received.
	RuntimeParams map[string]string
	Params        map[string]string
	Attempt       int
	Outcome       *connectors.Outcome
}

// New returns an Authenticator; it panics on a Config a test should never write (no name, no
// directory) because that is a bug in the test.
func New(cfg Config) *Authenticator {
	if cfg.Name == "" || cfg.Directory == nil {
		panic("fake: Config needs Name and Directory")
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = cfg.Name
	}
	if cfg.CodeParam == "" {
		cfg.CodeParam = "OTPCode"
	}
	if cfg.Prompt.I18nKey == "" {
		cfg.Prompt = defaultPrompt(cfg)
	}
	return &Authenticator{cfg: cfg}
}

func defaultPrompt(cfg Config) connectors.Prompt {
	if cfg.Mode == Password {
		return connectors.Prompt{
			I18nKey: "authenticator.basic",
			Type:    connectors.PromptUser,
			Params: []connectors.Param{
				{Name: "username", Type: connectors.ParamString, Order: 0, I18nKey: "username.param", DisplayName: "Username"},
				{Name: "password", Type: connectors.ParamString, Order: 1, I18nKey: "password.param", DisplayName: "Password", Confidential: true},
			},
		}
	}
	return connectors.Prompt{
		I18nKey:  "authenticator." + cfg.Name,
		Type:     connectors.PromptUser,
		Initiate: true,
		Params: []connectors.Param{
			{Name: cfg.CodeParam, Type: connectors.ParamString, Order: 0, DisplayName: "Code", Confidential: true},
		},
	}
}

// NewPassword returns a BasicAuthenticator-like fake over dir.
func NewPassword(dir *Directory, maxFailures int) *Authenticator {
	return New(Config{Name: connectors.BasicAuthenticator, DisplayName: "Username & Password",
		Mode: Password, Directory: dir, MaxFailures: maxFailures})
}

// NewCode returns a second-factor fake named name accepting code in param.
func NewCode(dir *Directory, name, displayName, param, code string) *Authenticator {
	return New(Config{Name: name, DisplayName: displayName, Mode: Code, Directory: dir, Code: code, CodeParam: param})
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return a.cfg.Name }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return a.cfg.DisplayName }

// Prompt implements connectors.Authenticator.
func (a *Authenticator) Prompt() connectors.Prompt { return a.cfg.Prompt }

// Calls returns the recorded calls.
func (a *Authenticator) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

func (a *Authenticator) record(c Call) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, c)
}

// codeState is the fake's step state: how many codes were issued. It exists to exercise the
// State round trip through the workflow.
type codeState struct {
	Issued int `json:"issued"`
}

// Begin implements connectors.Authenticator: in Mode Code it "sends" the code.
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.BeginResult{}, err
	}
	var st codeState
	if len(in.State) > 0 {
		if err := json.Unmarshal(in.State, &st); err != nil {
			return connectors.BeginResult{}, fmt.Errorf("fake: state: %w", err)
		}
	}
	st.Issued++
	raw, err := json.Marshal(st)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("fake: state: %w", err)
	}
	res := connectors.BeginResult{State: raw}
	if a.cfg.Mode == Code && in.User == nil {
		res.Outcome = &connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound}
	}
	a.record(Call{Method: "Begin", Step: in.Step, RuntimeParams: maps.Clone(in.RuntimeParams), Outcome: res.Outcome})
	return res, nil
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	if len(in.State) > 0 && !json.Valid(in.State) {
		return connectors.Outcome{}, errors.New("fake: state is not JSON")
	}
	var out connectors.Outcome
	switch a.cfg.Mode {
	case Password:
		out = a.processPassword(in)
	default:
		out = a.processCode(in)
	}
	out.State = in.State
	a.record(Call{Method: "Process", Step: in.Step, RuntimeParams: maps.Clone(in.RuntimeParams),
		Params: redact(in.Params), Attempt: in.Attempt, Outcome: &out})
	return out, nil
}

func redact(p map[string]string) map[string]string {
	out := maps.Clone(p)
	if _, ok := out["password"]; ok {
		out["password"] = "***"
	}
	return out
}

func (a *Authenticator) processPassword(in connectors.ProcessInput) connectors.Outcome {
	d := a.cfg.Directory
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, ok := d.users[in.Params["username"]]
	if !ok {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound, Retry: true,
			Messages: []connectors.Message{loginFailed(0)}}
	}
	return a.verify(rec, in.Params["password"] == rec.Password)
}

func (a *Authenticator) processCode(in connectors.ProcessInput) connectors.Outcome {
	d := a.cfg.Directory
	d.mu.Lock()
	defer d.mu.Unlock()
	rec, err := d.lookup(in.User)
	if err != nil {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound}
	}
	out := a.verify(rec, in.Params[a.cfg.CodeParam] == a.cfg.Code)
	if out.Status == connectors.StatusFailed && out.Reason == connectors.ReasonInvalidCredentials {
		out.Reason = connectors.ReasonInvalidCode
	}
	// WSO2's OTP authenticators stop retrying after maximumAllowedFailureAttempts wrong codes.
	if limit, err := strconv.Atoi(in.RuntimeParams["maximumAllowedFailureAttempts"]); err == nil && limit > 0 &&
		out.Status == connectors.StatusFailed && in.Attempt >= limit {
		out.Retry = false
		out.Reason = connectors.ReasonMaxAttempts
		out.Messages = []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60013",
			Message: "Maximum retry attempts exceeded.", I18nKey: "message.ABA-60013"}}
	}
	return out
}

// verify applies the lock rules; d.mu is held.
func (a *Authenticator) verify(rec *UserRecord, good bool) connectors.Outcome {
	if rec.Locked {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountLocked,
			FailedUser: rec.public()}
	}
	if good {
		// A success does not reset FailedAttemptsClaim: in WSO2 that is the login-attempts
		// script's job, which is exactly what its test checks.
		rec.codeFailures = 0
		u := rec.public()
		if a.cfg.IdP != "" {
			u.IdP = a.cfg.IdP
		}
		return connectors.Outcome{Status: connectors.StatusSuccess, User: u}
	}
	// Like WSO2's account-lock handler, only password failures count in the governance claim.
	var n int
	if a.cfg.Mode == Password {
		n, _ = strconv.Atoi(rec.Claims[FailedAttemptsClaim])
		n++
		rec.Claims[FailedAttemptsClaim] = strconv.Itoa(n)
	} else {
		rec.codeFailures++
		n = rec.codeFailures
	}
	out := connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidCredentials,
		FailedUser: rec.public(), Retry: true}
	if a.cfg.MaxFailures > 0 {
		remaining := a.cfg.MaxFailures - n
		if remaining <= 0 {
			rec.Locked = true
			out.Retry = false
			out.Reason = connectors.ReasonAccountLocked
		} else {
			out.RemainingAttempts = remaining
		}
	}
	out.Messages = []connectors.Message{loginFailed(out.RemainingAttempts)}
	return out
}

func loginFailed(remaining int) connectors.Message {
	m := connectors.Message{Type: connectors.MessageError, ID: "ABA-60003", Message: "login.fail.message",
		I18nKey: "message.ABA-60003"}
	if remaining > 0 {
		m.Context = map[string]string{"remainingAttempts": strconv.Itoa(remaining)}
	}
	return m
}
