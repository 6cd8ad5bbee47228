package smsotp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/template"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/internal/otpcode"
	"github.com/keyflow/keyflow/store"
)

// ParamOTP is the param the code is submitted in (app-native's OTPCode).
const ParamOTP = "OTPCode"

// DisplayName is WSO2's friendly name.
const DisplayName = "SMS OTP"

// MobileClaim is the claim holding the user's number.
const MobileClaim = "http://wso2.org/claims/mobile"

// DefaultMessage is the default text template; see TemplateData.
const DefaultMessage = "Your sign-in code is {{.Code}}. It expires in {{.Minutes}} minutes."

// TemplateData is what the Message template sees.
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
	// Length, Alphanumeric, TTL, MaxResends, MaxFailures: see otpcode's defaults.
	Length       int
	Alphanumeric bool
	TTL          time.Duration
	MaxResends   int
	MaxFailures  int
	// Message is a text/template source over TemplateData; default DefaultMessage.
	Message string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards. Codes are never logged.
	Logger *slog.Logger
}

// Claims reads user claims; *store.Store implements it.
type Claims interface {
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
}

// Sender sends a text message; *notify.HTTPSMS implements it.
type Sender interface {
	Send(ctx context.Context, to, body string) error
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Claims Claims
	Sender Sender
}

// Authenticator is sms-otp-authenticator. It is safe for concurrent use.
type Authenticator struct {
	engine *otpcode.Engine
	deps   Deps
	msg    *template.Template
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Claims == nil || deps.Sender == nil {
		return nil, errors.New("smsotp: Deps needs Claims and Sender")
	}
	e, err := otpcode.New(connectors.SMSOTPAuthenticator, otpcode.Config{HashKey: cfg.HashKey, Length: cfg.Length,
		Alphanumeric: cfg.Alphanumeric, TTL: cfg.TTL, MaxResends: cfg.MaxResends, MaxFailures: cfg.MaxFailures},
		cfg.Now, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if cfg.Message == "" {
		cfg.Message = DefaultMessage
	}
	msg, err := template.New("sms").Option("missingkey=error").Parse(cfg.Message)
	if err != nil {
		return nil, fmt.Errorf("smsotp: Message template: %w", err)
	}
	return &Authenticator{engine: e, deps: deps, msg: msg}, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.SMSOTPAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator.
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey:  "authenticator.sms.otp",
		Type:     connectors.PromptUser,
		Initiate: true,
		Params: []connectors.Param{
			{Name: ParamOTP, Type: connectors.ParamString, Order: 0, I18nKey: "otp.param", DisplayName: "OTP Code"},
		},
	}
}

// Begin implements connectors.Authenticator: it texts a code (a new one on resend).
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	return a.engine.Begin(ctx, in, func(ctx context.Context, u *connectors.User, code string, ttl time.Duration) (string, bool, error) {
		number, err := a.number(ctx, u)
		if err != nil || number == "" {
			return "", false, err
		}
		var b bytes.Buffer
		if err := a.msg.Execute(&b, TemplateData{Code: code, Minutes: int(ttl.Round(time.Minute) / time.Minute),
			Username: u.Username, Tenant: in.TenantDomain}); err != nil {
			return "", false, fmt.Errorf("message template: %w", err)
		}
		if err := a.deps.Sender.Send(ctx, number, b.String()); err != nil {
			return "", false, err
		}
		return otpcode.Mask(number), true, nil
	})
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	return a.engine.Process(ctx, in, ParamOTP)
}

// number returns the user's mobile number, "" when there is none (or it holds no digits).
func (a *Authenticator) number(ctx context.Context, u *connectors.User) (string, error) {
	n := u.Claims[MobileClaim]
	if n == "" && u.ID != "" {
		claims, err := a.deps.Claims.UserClaims(ctx, u.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("claims: %w", err)
		}
		n = claims[MobileClaim]
	}
	n = strings.TrimSpace(n)
	if strings.IndexFunc(n, func(r rune) bool { return r >= '0' && r <= '9' }) < 0 {
		return "", nil
	}
	return n, nil
}
