package fido

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// ParamTokenResponse is the param the client returns the WebAuthn response in (WSO2's name).
const ParamTokenResponse = "tokenResponse"

// DisplayName is WSO2's friendly name.
const DisplayName = "Passkey"

// I18nKey is WSO2's i18n key of the authenticator.
const I18nKey = "authenticator.Fido"

// RuntimeProgressiveEnrollment is the script authenticatorParams key that lets a user without a
// passkey create one in the login step.
const RuntimeProgressiveEnrollment = "enablePasskeyProgressiveEnrollment"

// Additional data keys of the prompt.
const (
	// AdditionalChallengeData holds base64(JSON) of the ceremony options.
	AdditionalChallengeData = "challengeData"
	// AdditionalMode is "registration" for a progressive enrolment prompt (absent for a login).
	AdditionalMode = "passkeyMode"
)

// Ceremony modes, as they appear in State, in challengeData ("mode") and in AdditionalMode.
const (
	ModeLogin        = "login"
	ModeRegistration = "registration"
)

// Config configures the authenticator. RPID and RPOrigins are required.
type Config struct {
	// RPID is the relying party id: the host of the public base URL ("id.example.com").
	RPID string
	// RPDisplayName is shown by authenticators when a passkey is created; default "Keyflow".
	RPDisplayName string
	// RPOrigins are the origins responses may come from (scheme://host[:port] of the base URL,
	// plus any app origins such as "android:apk-key-hash:…").
	RPOrigins []string
	// UserVerification is "required", "preferred" (default) or "discouraged". With "required" an
	// assertion without the UV flag is refused.
	UserVerification string
	// ResidentKey is the discoverable-credential requirement of registrations: "required"
	// (default: passkeys, needed for usernameless login), "preferred" or "discouraged".
	ResidentKey string
	// Timeout bounds a ceremony, Begin to Process; default 5 minutes.
	Timeout time.Duration
	// URLSafeChallengeData emits challengeData in base64url without padding, exactly as WSO2 does,
	// instead of the default standard base64 with padding (see the package documentation).
	URLSafeChallengeData bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives verification failures (never credentials); nil discards.
	Logger *slog.Logger
}

// Credentials stores passkeys; *store.Store implements it.
type Credentials interface {
	// WebAuthnCredentials returns the user's passkeys for the relying party.
	WebAuthnCredentials(ctx context.Context, rpID, userID string) ([]store.WebAuthnCredential, error)
	// AddWebAuthnCredential stores a new passkey; store.ErrConflict for a known credential id.
	AddWebAuthnCredential(ctx context.Context, c store.WebAuthnCredential, actor store.Actor) error
	// UseWebAuthnCredential records a use, reporting false when the counter does not advance.
	UseWebAuthnCredential(ctx context.Context, rpID string, id []byte, use store.WebAuthnUse) (bool, error)
}

// Users finds users; *store.Store implements it.
type Users interface {
	// UserByID returns a user of the organization, or store.ErrNotFound.
	UserByID(ctx context.Context, orgID, id string) (store.User, error)
	// UserByUsername finds a user case-insensitively, or returns store.ErrNotFound.
	UserByUsername(ctx context.Context, orgID, domain, username string) (store.User, error)
}

// Organizations resolves the tenant domain; *store.Store implements it.
type Organizations interface {
	// OrganizationByHandle returns the organization with the handle, or store.ErrNotFound.
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
}

// Deps are the authenticator's collaborators.
type Deps struct {
	Credentials   Credentials
	Users         Users
	Organizations Organizations
}

// Authenticator is FIDOAuthenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg  Config
	deps Deps
	wa   *webauthn.WebAuthn
	uv   protocol.UserVerificationRequirement
	log  *slog.Logger
	now  func() time.Time
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if deps.Credentials == nil || deps.Users == nil || deps.Organizations == nil {
		return nil, errors.New("fido: Deps needs Credentials, Users and Organizations")
	}
	if cfg.RPID == "" || len(cfg.RPOrigins) == 0 {
		return nil, errors.New("fido: RPID and RPOrigins are required")
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = "Keyflow"
	}
	uv := protocol.UserVerificationRequirement(cfg.UserVerification)
	switch uv {
	case "":
		uv = protocol.VerificationPreferred
	case protocol.VerificationRequired, protocol.VerificationPreferred, protocol.VerificationDiscouraged:
	default:
		return nil, fmt.Errorf("fido: UserVerification %q, want required, preferred or discouraged", cfg.UserVerification)
	}
	rk := protocol.ResidentKeyRequirement(cfg.ResidentKey)
	switch rk {
	case "":
		rk = protocol.ResidentKeyRequirementRequired
	case protocol.ResidentKeyRequirementRequired, protocol.ResidentKeyRequirementPreferred,
		protocol.ResidentKeyRequirementDiscouraged:
	default:
		return nil, fmt.Errorf("fido: ResidentKey %q, want required, preferred or discouraged", cfg.ResidentKey)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Timeout < 10*time.Second || cfg.Timeout > time.Hour {
		return nil, fmt.Errorf("fido: Timeout %s out of range 10s..1h", cfg.Timeout)
	}
	var web, opaque []string
	for _, o := range cfg.RPOrigins {
		u, err := url.Parse(o)
		switch {
		case err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "":
			web = append(web, o)
		case protocol.IsOpaqueOrigin(o):
			opaque = append(opaque, o)
		default:
			return nil, fmt.Errorf("fido: RPOrigins: %q is not an origin", o)
		}
	}
	requireRK := rk == protocol.ResidentKeyRequirementRequired
	timeouts := webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:            cfg.RPID,
		RPDisplayName:   cfg.RPDisplayName,
		RPOrigins:       web,
		RPOpaqueOrigins: opaque,
		// Passkeys: attestation adds nothing Keyflow verifies (no metadata service), so none is
		// asked for; a "packed" or other statement an authenticator sends anyway is verified.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{ResidentKey: rk, RequireResidentKey: &requireRK,
			UserVerification: uv},
		// Expiry is enforced here, against Config.Now (the library would use the wall clock).
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fmt.Errorf("fido: %w", err)
	}
	a := &Authenticator{cfg: cfg, deps: deps, wa: wa, uv: uv, log: cfg.Logger, now: cfg.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.FIDOAuthenticator }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator. Making the challenge is the initiation, so in a
// multi-option step the option is listed with its i18n key only until picked (wso2-wire §1.7).
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey:  I18nKey,
		Type:     connectors.PromptInternal,
		Initiate: true,
		Params: []connectors.Param{
			{Name: ParamTokenResponse, Type: connectors.ParamString, Order: 0, I18nKey: "param.tokenResponse",
				DisplayName: "Token Response"},
		},
	}
}

// Begin implements connectors.Authenticator: it makes a login challenge (for the known user, or a
// discoverable one), or a registration challenge under progressive enrolment.
func (a *Authenticator) Begin(ctx context.Context, in connectors.BeginInput) (connectors.BeginResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.BeginResult{}, err
	}
	if in.User == nil {
		return a.beginLogin(in.StepContext, nil)
	}
	acc, out, err := a.knownUser(ctx, in.StepContext)
	if err != nil || out != nil {
		return connectors.BeginResult{Outcome: out}, err
	}
	if len(acc.creds) == 0 {
		if in.RuntimeParams[RuntimeProgressiveEnrollment] == "true" {
			return a.beginEnrollment(in.StepContext, acc)
		}
		return connectors.BeginResult{Outcome: &connectors.Outcome{Status: connectors.StatusFailed,
			Reason: connectors.ReasonNotEnrolled, FailedUser: acc.public}}, nil
	}
	return a.beginLogin(in.StepContext, acc)
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	st, err := decodeState(in.State)
	if err != nil || st.FlowID != in.FlowID {
		// The workflow hands back what Begin returned; anything else is a bug or tampering.
		a.log.WarnContext(ctx, "fido: unusable step state", "error", err)
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidInput,
			FailedUser: in.User}, nil
	}
	if !a.now().Before(st.Expires) {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonExpired, FailedUser: in.User,
			Messages: []connectors.Message{failMessage()}}, nil
	}
	cred, reqID, err := parseTokenResponse(in.Params[ParamTokenResponse])
	if err != nil || (reqID != "" && reqID != st.RequestID) {
		a.log.InfoContext(ctx, "fido: unusable token response", "error", err, "request_id_matches", reqID == st.RequestID)
		return a.failed(in.User), nil
	}
	switch st.Mode {
	case ModeLogin:
		return a.processLogin(ctx, in, st, cred)
	case ModeRegistration:
		return a.processEnrollment(ctx, in, st, cred)
	}
	return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidInput, FailedUser: in.User}, nil
}

// failed is the one failure shape of a response that does not verify. Retry stays possible: the
// client may try another passkey against the same challenge.
func (a *Authenticator) failed(u *connectors.User) connectors.Outcome {
	return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidCredentials, Retry: true,
		FailedUser: u, Messages: []connectors.Message{failMessage()}}
}

func failMessage() connectors.Message {
	return connectors.Message{Type: connectors.MessageError, ID: "ABA-60003", Message: "authentication.fail.message",
		I18nKey: "message.ABA-60003"}
}

// logFailure logs why go-webauthn refused a response, with its developer details.
func (a *Authenticator) logFailure(ctx context.Context, msg string, err error, attrs ...any) {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		attrs = append(attrs, "type", perr.Type, "details", perr.Details, "debug", perr.DevInfo)
	} else {
		attrs = append(attrs, "error", err)
	}
	a.log.InfoContext(ctx, msg, attrs...)
}
