package magiclink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/internal/otpcode"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/store"
)

// Params of the prompts.
const (
	// ParamToken carries the token from the link (WSO2's "mlt").
	ParamToken = "mlt"
	// ParamUsername identifies the user when no earlier step did.
	ParamUsername = "username"
)

// DisplayName is WSO2's friendly name.
const DisplayName = "Magic Link"

// I18nKey is WSO2's i18n key of the authenticator.
const I18nKey = "authenticator.magiclink"

// EmailClaim is the claim holding the user's address.
const EmailClaim = "http://wso2.org/claims/emailaddress"

// Script authenticatorParams keys (WSO2's names) that override Config per login.
const (
	RuntimeMaxFailures = "maximumAllowedFailureAttempts"
	RuntimeMaxResends  = "maximumAllowedResendAttempts"
)

// Defaults of Config.
const (
	DefaultLinkTemplate = "{base}/authenticationendpoint/login?sessionDataKey={flowId}&mlt={token}"
	DefaultTTL          = 5 * time.Minute
	DefaultMaxResends   = 3
	DefaultMaxFailures  = 3
	DefaultSubject      = "Your sign-in link"
	DefaultBody         = "Hello {{.Username}},\n\nUse this link to sign in. It expires in {{.Minutes}} minutes and works once:\n\n{{.Link}}\n\nIf you did not try to sign in, you can ignore this message.\n"
)

// TokenSize is the token length in random bytes (256 bits).
const TokenSize = 32

// TemplateData is what the Subject and Body templates see.
type TemplateData struct {
	Link     string
	Minutes  int
	Username string
	Tenant   string
}

// Config configures the authenticator. BaseURL and HashKey are required.
type Config struct {
	// BaseURL is the server's public base URL ("https://id.example.com"), the {base} of the link.
	BaseURL string
	// LinkTemplate is the link with the placeholders {base}, {flowId}, {token} (required) and
	// {tenant}; flow id, token and tenant are query-escaped. Default DefaultLinkTemplate.
	LinkTemplate string
	// HashKey keys the token hash kept in state; at least 32 random bytes, the same on every worker.
	HashKey []byte
	// TTL is how long a link is valid; default 5 minutes.
	TTL time.Duration
	// MaxResends and MaxFailures limit resends and wrong tokens in one step (defaults 3); the
	// runtime params override them.
	MaxResends  int
	MaxFailures int
	// Subject and Body are text/template sources over TemplateData; defaults DefaultSubject and
	// DefaultBody.
	Subject string
	Body    string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards. Tokens and links are never logged.
	Logger *slog.Logger
}

// Mailer delivers a message; *notify.SMTP implements it.
type Mailer interface {
	Send(ctx context.Context, m notify.Mail) error
}

// Users finds users; *store.Store implements it.
type Users interface {
	// UserByID returns a user of the organization, or store.ErrNotFound.
	UserByID(ctx context.Context, orgID, id string) (store.User, error)
	// UserByUsername finds a user case-insensitively, or returns store.ErrNotFound.
	UserByUsername(ctx context.Context, orgID, domain, username string) (store.User, error)
	// UserClaims returns the user's claims by URI, or store.ErrNotFound.
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
}

// Organizations resolves the tenant domain; *store.Store implements it.
type Organizations interface {
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Users         Users
	Organizations Organizations
	Mailer        Mailer
}

// Authenticator is MagicLinkAuthenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg     Config
	deps    Deps
	subject *template.Template
	body    *template.Template
	log     *slog.Logger
	now     func() time.Time
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Users == nil || deps.Organizations == nil || deps.Mailer == nil {
		return nil, errors.New("magiclink: Deps needs Users, Organizations and Mailer")
	}
	if len(cfg.HashKey) < 32 {
		return nil, errors.New("magiclink: HashKey must be at least 32 bytes")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("magiclink: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.LinkTemplate == "" {
		cfg.LinkTemplate = DefaultLinkTemplate
	}
	if !strings.Contains(cfg.LinkTemplate, "{token}") {
		return nil, errors.New("magiclink: LinkTemplate must contain {token}")
	}
	if u, err := url.Parse(link(cfg.LinkTemplate, cfg.BaseURL, "f", "t", "d")); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("magiclink: LinkTemplate %q does not make an absolute URL", cfg.LinkTemplate)
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
	if cfg.TTL < time.Minute || cfg.TTL > 24*time.Hour || cfg.MaxResends < 0 || cfg.MaxFailures < 0 {
		return nil, errors.New("magiclink: TTL out of range 1m..24h, or negative MaxResends or MaxFailures")
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject
	}
	if cfg.Body == "" {
		cfg.Body = DefaultBody
	}
	subject, err := template.New("subject").Option("missingkey=error").Parse(cfg.Subject)
	if err != nil {
		return nil, fmt.Errorf("magiclink: Subject template: %w", err)
	}
	body, err := template.New("body").Option("missingkey=error").Parse(cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("magiclink: Body template: %w", err)
	}
	a := &Authenticator{cfg: cfg, deps: deps, subject: subject, body: body, log: cfg.Logger, now: cfg.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

func link(tmpl, base, flowID, token, tenant string) string {
	return strings.NewReplacer("{base}", base, "{flowId}", url.QueryEscape(flowID),
		"{token}", url.QueryEscape(token), "{tenant}", url.QueryEscape(tenant)).Replace(tmpl)
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.MagicLinkAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator: the prompt once the link is sent. Sending is the
// initiation, so in a multi-option step the option is listed with its i18n key only until picked.
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey:  I18nKey,
		Type:     connectors.PromptUser,
		Initiate: true,
		Params: []connectors.Param{
			{Name: ParamToken, Type: connectors.ParamString, Order: 0, I18nKey: "magic.link.token",
				DisplayName: "Magic Link Token", Confidential: true},
		},
	}
}

// identifyPrompt asks for the username when no earlier step identified the user.
func (a *Authenticator) identifyPrompt() *connectors.Prompt {
	return &connectors.Prompt{I18nKey: I18nKey, Type: connectors.PromptUser, Params: []connectors.Param{
		{Name: ParamUsername, Type: connectors.ParamString, Order: 0, I18nKey: "username.param", DisplayName: "Username"},
	}}
}

// Phases of the step state.
const (
	phaseIdentify = "identify"
	phaseLink     = "link"
)

// state is the step state: everything needed to check a token, nothing that reveals it.
type state struct {
	Phase     string           `json:"phase"`
	User      *connectors.User `json:"user,omitempty"`
	Nonce     []byte           `json:"nonce,omitempty"`
	MAC       []byte           `json:"mac,omitempty"`
	ExpiresAt time.Time        `json:"exp,omitzero"`
	Resends   int              `json:"resends,omitempty"`
	Failures  int              `json:"failures,omitempty"`
}

func parseState(raw json.RawMessage) (state, error) {
	var st state
	if len(raw) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("magiclink: state: %w", err)
	}
	return st, nil
}

// Begin implements connectors.Authenticator: it mails a link to the known user (a new one on
// resend), or asks for the username first.
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.BeginResult{}, err
	}
	prev, err := parseState(in.State)
	if err != nil {
		return connectors.BeginResult{}, err
	}
	if prev.Phase == phaseLink {
		if prev.Resends >= a.limit(in.RuntimeParams, RuntimeMaxResends, a.cfg.MaxResends) {
			return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
				Reason: connectors.ReasonMaxResends, FailedUser: in.User, Retry: true, State: in.State,
				Messages: []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60014",
					Message: "Maximum resend attempts exceeded.", I18nKey: "message.ABA-60014"}}}}, nil
		}
		prev.Resends++
	}
	target := in.User
	if target == nil && prev.Phase == phaseLink {
		target = prev.User // a resend after identifier first (nil for an unknown user)
	}
	if in.User == nil && prev.Phase != phaseLink {
		raw, err := json.Marshal(state{Phase: phaseIdentify})
		if err != nil {
			return connectors.BeginResult{}, fmt.Errorf("magiclink: state: %w", err)
		}
		return connectors.BeginResult{State: raw, Prompt: a.identifyPrompt()}, nil
	}
	st, msgs, ok, err := a.send(ctx, in.StepContext, target, prev)
	if err != nil {
		return connectors.BeginResult{}, err
	}
	if !ok && in.User != nil {
		// The user is known from an earlier step, so saying so reveals nothing.
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonNotEnrolled, FailedUser: in.User}}, nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("magiclink: state: %w", err)
	}
	p := a.Prompt()
	return connectors.BeginResult{State: raw, Prompt: &p, Messages: msgs}, nil
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	st, err := parseState(in.State)
	if err != nil {
		return connectors.Outcome{}, err
	}
	switch {
	case st.Phase == phaseIdentify || (st.Phase == "" && in.User == nil):
		return a.identify(ctx, in, st)
	case st.Phase != phaseLink:
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidInput,
			FailedUser: in.User}, nil
	}
	token := strings.TrimSpace(in.Params[ParamToken])
	good := st.User != nil && token != "" && len(st.MAC) == sha256.Size &&
		(in.User == nil || in.User.ID == "" || in.User.ID == st.User.ID) &&
		hmac.Equal(st.MAC, a.mac(in.FlowID, st, token))
	failed := st.User
	if failed == nil {
		failed = in.User
	}
	if good && !a.now().Before(st.ExpiresAt) {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonExpired, Retry: true,
			FailedUser: failed, State: in.State, Messages: []connectors.Message{{Type: connectors.MessageError,
				ID: "ABA-60003", Message: "magic.link.expired", I18nKey: "message.ABA-60003"}}}, nil
	}
	if good {
		return a.succeed(ctx, in, st)
	}
	st.Failures++
	raw, err := json.Marshal(st)
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("magiclink: state: %w", err)
	}
	out := connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidCode, Retry: true,
		FailedUser: failed, State: raw, Messages: []connectors.Message{{Type: connectors.MessageError,
			ID: "ABA-60003", Message: "authentication.fail.message", I18nKey: "message.ABA-60003"}}}
	if limit := a.limit(in.RuntimeParams, RuntimeMaxFailures, a.cfg.MaxFailures); st.Failures >= limit {
		out.Reason, out.Retry = connectors.ReasonMaxAttempts, false
		out.Messages = []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60013",
			Message: "Maximum retry attempts exceeded.", I18nKey: "message.ABA-60013"}}
	} else {
		out.RemainingAttempts = limit - st.Failures
	}
	return out, nil
}

// identify resolves the submitted username and mails the link. Unknown users get the same answer
// as known ones, with a state no token matches.
func (a *Authenticator) identify(ctx context.Context, in connectors.ProcessInput, st state) (connectors.Outcome, error) {
	raw := strings.TrimSpace(in.Params[ParamUsername])
	if raw == "" || len(raw) > 4*store.MaxUsernameLength || strings.ContainsFunc(raw, unicode.IsControl) {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidInput, Retry: true}, nil
	}
	domain, username := "", raw
	if d, name, ok := strings.Cut(raw, "/"); ok && d != "" && name != "" {
		domain, username = d, name
	}
	org, tenant, ok, err := a.organization(ctx, in.TenantDomain)
	if err != nil {
		return connectors.Outcome{}, err
	}
	var target *connectors.User
	if ok {
		u, err := a.deps.Users.UserByUsername(ctx, org.ID, domain, username)
		switch {
		case err == nil:
			target = &connectors.User{ID: u.ID, Username: u.Username, UserStoreDomain: u.Domain, TenantDomain: tenant,
				IdP: connectors.LocalIdP}
		case !errors.Is(err, store.ErrNotFound):
			return connectors.Outcome{}, fmt.Errorf("magiclink: user: %w", err)
		}
	}
	next, msgs, _, err := a.send(ctx, in.StepContext, target, state{Resends: st.Resends})
	if err != nil {
		return connectors.Outcome{}, err
	}
	rawState, err := json.Marshal(next)
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("magiclink: state: %w", err)
	}
	p := a.Prompt()
	return connectors.Outcome{Status: connectors.StatusIncomplete, State: rawState, Prompt: &p, Messages: msgs}, nil
}

// send mails a fresh link to u and returns the state that verifies it. ok is false when u is nil
// or has no usable address; the state then holds a random MAC that no token matches (the decoy
// of identifier first).
func (a *Authenticator) send(ctx context.Context, sc connectors.StepContext, u *connectors.User, prev state) (state, []connectors.Message, bool, error) {
	st := state{Phase: phaseLink, Resends: prev.Resends, Failures: prev.Failures,
		ExpiresAt: a.now().Add(a.cfg.TTL).UTC().Truncate(time.Second), Nonce: make([]byte, 16)}
	if _, err := rand.Read(st.Nonce); err != nil {
		return st, nil, false, fmt.Errorf("magiclink: nonce: %w", err)
	}
	tok := make([]byte, TokenSize)
	if _, err := rand.Read(tok); err != nil {
		return st, nil, false, fmt.Errorf("magiclink: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(tok)
	sent := []connectors.Message{{Type: connectors.MessageInfo, ID: "magic.link.sent", Message: "magic.link.sent",
		I18nKey: "message.magic.link.sent"}}
	addr := ""
	if u != nil {
		var err error
		if u, addr, err = a.recipient(ctx, sc.TenantDomain, u); err != nil {
			return st, nil, false, err
		}
	}
	if addr == "" {
		st.MAC = make([]byte, sha256.Size)
		if _, err := rand.Read(st.MAC); err != nil {
			return st, nil, false, fmt.Errorf("magiclink: decoy: %w", err)
		}
		a.log.InfoContext(ctx, "magiclink: no link sent: unknown user or no usable address")
		return st, sent, false, nil
	}
	st.User = u
	st.MAC = a.mac(sc.FlowID, st, token)
	data := TemplateData{Link: link(a.cfg.LinkTemplate, a.cfg.BaseURL, sc.FlowID, token, u.TenantDomain),
		Minutes: int(a.cfg.TTL.Round(time.Minute) / time.Minute), Username: u.Username, Tenant: u.TenantDomain}
	var subject, body bytes.Buffer
	if err := a.subject.Execute(&subject, data); err != nil {
		return st, nil, false, fmt.Errorf("magiclink: subject template: %w", err)
	}
	if err := a.body.Execute(&body, data); err != nil {
		return st, nil, false, fmt.Errorf("magiclink: body template: %w", err)
	}
	if err := a.deps.Mailer.Send(ctx, notify.Mail{To: []string{addr}, Subject: subject.String(), Text: body.String()}); err != nil {
		return st, nil, false, fmt.Errorf("magiclink: send: %w", err)
	}
	a.log.DebugContext(ctx, "magiclink: link sent", "user_id", u.ID, "resends", st.Resends)
	sent[0].Context = map[string]string{"destination": otpcode.Mask(addr)}
	return st, sent, true, nil
}

// recipient completes u from the store (id, canonical username) and returns its address, "" when
// the user is unknown or has no usable address.
func (a *Authenticator) recipient(ctx context.Context, tenant string, u *connectors.User) (*connectors.User, string, error) {
	org, tenant, ok, err := a.organization(ctx, tenant)
	if err != nil || !ok {
		return u, "", err
	}
	var su store.User
	if u.ID != "" {
		su, err = a.deps.Users.UserByID(ctx, org.ID, u.ID)
	} else {
		su, err = a.deps.Users.UserByUsername(ctx, org.ID, u.UserStoreDomain, u.Username)
	}
	if errors.Is(err, store.ErrNotFound) {
		return u, "", nil
	}
	if err != nil {
		return u, "", fmt.Errorf("magiclink: user: %w", err)
	}
	out := *u
	out.ID, out.Username, out.UserStoreDomain, out.TenantDomain, out.IdP = su.ID, su.Username, su.Domain, tenant, connectors.LocalIdP
	out.Claims, out.RemoteClaims, out.Roles, out.Groups = nil, nil, nil, nil // kept out of the state
	addr := u.Claims[EmailClaim]
	if addr == "" {
		claims, err := a.deps.Users.UserClaims(ctx, su.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return u, "", fmt.Errorf("magiclink: claims: %w", err)
		}
		addr = claims[EmailClaim]
	}
	if _, err := mail.ParseAddress(addr); err != nil {
		return &out, "", nil
	}
	return &out, addr, nil
}

// succeed ends the step for the state's user, unless the account is locked or disabled.
func (a *Authenticator) succeed(ctx context.Context, in connectors.ProcessInput, st state) (connectors.Outcome, error) {
	org, _, ok, err := a.organization(ctx, in.TenantDomain)
	if err != nil {
		return connectors.Outcome{}, err
	}
	var su store.User
	if ok {
		su, err = a.deps.Users.UserByID(ctx, org.ID, st.User.ID)
	}
	if !ok || errors.Is(err, store.ErrNotFound) {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound, FailedUser: st.User}, nil
	}
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("magiclink: user: %w", err)
	}
	u := st.User
	if in.User != nil {
		// Keep what earlier steps learnt (claims, roles).
		merged := *in.User
		merged.ID, merged.Username, merged.UserStoreDomain = st.User.ID, st.User.Username, st.User.UserStoreDomain
		merged.TenantDomain, merged.IdP = st.User.TenantDomain, connectors.LocalIdP
		u = &merged
	}
	if su.LockedAt(a.now()) {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountLocked, FailedUser: u}, nil
	}
	if su.Disabled || su.Status != store.UserActive {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountDisabled, FailedUser: u}, nil
	}
	return connectors.Outcome{Status: connectors.StatusSuccess, User: u}, nil
}

func (a *Authenticator) organization(ctx context.Context, tenant string) (store.Organization, string, bool, error) {
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	org, err := a.deps.Organizations.OrganizationByHandle(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) || (err == nil && org.Status != store.OrganizationActive) {
		return store.Organization{}, tenant, false, nil
	}
	if err != nil {
		return store.Organization{}, tenant, false, fmt.Errorf("magiclink: organization: %w", err)
	}
	return org, tenant, true, nil
}

// limit reads a positive integer runtime param, else def.
func (a *Authenticator) limit(runtime map[string]string, key string, def int) int {
	if n, err := strconv.Atoi(runtime[key]); err == nil && n > 0 {
		return n
	}
	return def
}

// mac binds the token to the flow, the user, the nonce and the expiry.
func (a *Authenticator) mac(flowID string, st state, token string) []byte {
	m := hmac.New(sha256.New, a.cfg.HashKey)
	userID := ""
	if st.User != nil {
		userID = st.User.ID
	}
	// Length-prefixed fields, so no two inputs serialise alike.
	for _, f := range []string{"keyflow-magiclink/v1", flowID, userID, string(st.Nonce), token} {
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
