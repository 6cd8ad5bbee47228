package emailotp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"text/template"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/internal/otpcode"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/store"
)

// ParamOTP is the param the code is submitted in (app-native's OTPCode).
const ParamOTP = "OTPCode"

// DisplayName is WSO2's friendly name.
const DisplayName = "Email OTP"

// EmailClaim is the claim holding the user's address.
const EmailClaim = "http://wso2.org/claims/emailaddress"

// Default mail templates; see TemplateData for what they can use.
const (
	DefaultSubject = "Your sign-in code"
	DefaultBody    = "Hello {{.Username}},\n\nYour sign-in code is {{.Code}}. It expires in {{.Minutes}} minutes.\n\nIf you did not try to sign in, you can ignore this message.\n"
)

// TemplateData is what the Subject and Body templates see.
type TemplateData struct {
	Code     string
	Minutes  int
	Username string
	Tenant   string
}

// Config configures the authenticator. HashKey is required.
type Config struct {
	// HashKey keys the code hash kept in Temporal history; at least 32 random bytes, the same on
	// every worker.
	HashKey []byte
	// Length, Alphanumeric, TTL, MaxResends, MaxFailures: see otpcode's defaults (6 digits,
	// 5 minutes, 3 resends, 3 failures).
	Length       int
	Alphanumeric bool
	TTL          time.Duration
	MaxResends   int
	MaxFailures  int
	// Subject and Body are text/template sources over TemplateData; defaults DefaultSubject and
	// DefaultBody.
	Subject string
	Body    string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards. Codes are never logged.
	Logger *slog.Logger
}

// Claims reads user claims; *store.Store implements it.
type Claims interface {
	// UserClaims returns the user's claims by URI, or store.ErrNotFound.
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
}

// Mailer delivers a message; *notify.SMTP implements it.
type Mailer interface {
	Send(ctx context.Context, m notify.Mail) error
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Claims Claims
	Mailer Mailer
}

// Authenticator is email-otp-authenticator. It is safe for concurrent use.
type Authenticator struct {
	engine  *otpcode.Engine
	deps    Deps
	subject *template.Template
	body    *template.Template
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Claims == nil || deps.Mailer == nil {
		return nil, errors.New("emailotp: Deps needs Claims and Mailer")
	}
	e, err := otpcode.New(connectors.EmailOTPAuthenticator, otpcode.Config{HashKey: cfg.HashKey, Length: cfg.Length,
		Alphanumeric: cfg.Alphanumeric, TTL: cfg.TTL, MaxResends: cfg.MaxResends, MaxFailures: cfg.MaxFailures},
		cfg.Now, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject
	}
	if cfg.Body == "" {
		cfg.Body = DefaultBody
	}
	subject, err := template.New("subject").Option("missingkey=error").Parse(cfg.Subject)
	if err != nil {
		return nil, fmt.Errorf("emailotp: Subject template: %w", err)
	}
	body, err := template.New("body").Option("missingkey=error").Parse(cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("emailotp: Body template: %w", err)
	}
	return &Authenticator{engine: e, deps: deps, subject: subject, body: body}, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.EmailOTPAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator. Sending the code is the initiation, so in a
// multi-option step the option is listed with its i18n key only until picked.
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey:  "authenticator.email.otp",
		Type:     connectors.PromptUser,
		Initiate: true,
		Params: []connectors.Param{
			{Name: ParamOTP, Type: connectors.ParamString, Order: 0, I18nKey: "otp.param", DisplayName: "OTP Code"},
		},
	}
}

// Begin implements connectors.Authenticator: it mails a code (a new one on resend).
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	return a.engine.Begin(ctx, in, func(ctx context.Context, u *connectors.User, code string, ttl time.Duration) (string, bool, error) {
		addr, err := a.address(ctx, u)
		if err != nil || addr == "" {
			return "", false, err
		}
		data := TemplateData{Code: code, Minutes: int(ttl.Round(time.Minute) / time.Minute), Username: u.Username,
			Tenant: in.TenantDomain}
		var subject, body bytes.Buffer
		if err := a.subject.Execute(&subject, data); err != nil {
			return "", false, fmt.Errorf("subject template: %w", err)
		}
		if err := a.body.Execute(&body, data); err != nil {
			return "", false, fmt.Errorf("body template: %w", err)
		}
		if err := a.deps.Mailer.Send(ctx, notify.Mail{To: []string{addr}, Subject: subject.String(), Text: body.String()}); err != nil {
			return "", false, err
		}
		return otpcode.Mask(addr), true, nil
	})
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	return a.engine.Process(ctx, in, ParamOTP)
}

// address returns the user's e-mail address, "" when there is none (or it is unusable).
func (a *Authenticator) address(ctx context.Context, u *connectors.User) (string, error) {
	addr := u.Claims[EmailClaim]
	if addr == "" && u.ID != "" {
		claims, err := a.deps.Claims.UserClaims(ctx, u.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("claims: %w", err)
		}
		addr = claims[EmailClaim]
	}
	if addr == "" {
		return "", nil
	}
	if _, err := mail.ParseAddress(addr); err != nil {
		return "", nil
	}
	return addr, nil
}
