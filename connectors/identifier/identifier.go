package identifier

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// ParamUsername is the param the identifier is submitted in.
const ParamUsername = "username"

// DisplayName is WSO2's friendly name.
const DisplayName = "Identifier First"

// Config configures the authenticator.
type Config struct {
	// ValidateUsername checks the user exists (and fails the step otherwise).
	ValidateUsername bool
}

// Users finds users; *store.Store implements it.
type Users interface {
	UserByUsername(ctx context.Context, orgID, domain, username string) (store.User, error)
}

// Organizations resolves the tenant domain; *store.Store implements it.
type Organizations interface {
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
}

// Deps are needed only with ValidateUsername.
type Deps struct {
	Users         Users
	Organizations Organizations
}

// Authenticator is IdentifierExecutor. It is safe for concurrent use.
type Authenticator struct {
	cfg  Config
	deps Deps
}

var _ connectors.Authenticator = (*Authenticator)(nil)

// New validates cfg and returns the authenticator.
func New(cfg Config, deps Deps) (*Authenticator, error) {
	if cfg.ValidateUsername && (deps.Users == nil || deps.Organizations == nil) {
		return nil, errors.New("identifier: ValidateUsername needs Deps.Users and Deps.Organizations")
	}
	return &Authenticator{cfg: cfg, deps: deps}, nil
}

// Name implements connectors.Authenticator.
func (a *Authenticator) Name() string { return connectors.IdentifierExecutor }

// DisplayName implements connectors.Authenticator.
func (a *Authenticator) DisplayName() string { return DisplayName }

// Prompt implements connectors.Authenticator.
func (a *Authenticator) Prompt() connectors.Prompt {
	return connectors.Prompt{
		I18nKey: "authenticator.identifier.first",
		Type:    connectors.PromptUser,
		Params: []connectors.Param{
			{Name: ParamUsername, Type: connectors.ParamString, Order: 0, I18nKey: "username.param", DisplayName: "Username"},
		},
	}
}

// Begin implements connectors.Authenticator; the prompt is static, so there is nothing to do.
func (a *Authenticator) Begin(ctx context.Context, _ connectors.BeginInput) (connectors.BeginResult, error) {
	return connectors.BeginResult{}, ctx.Err()
}

// Process implements connectors.Authenticator.
func (a *Authenticator) Process(ctx context.Context, in connectors.ProcessInput) (connectors.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Outcome{}, err
	}
	tenant := in.TenantDomain
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	raw := strings.TrimSpace(in.Params[ParamUsername])
	domain, username := "", raw
	if d, name, ok := strings.Cut(raw, "/"); ok && d != "" && name != "" {
		domain, username = strings.ToUpper(d), name
	}
	if username == "" || strings.ContainsFunc(raw, unicode.IsControl) || len(raw) > 4*store.MaxUsernameLength {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonInvalidInput, Retry: true}, nil
	}
	u := &connectors.User{Username: username, UserStoreDomain: domain, TenantDomain: tenant, IdP: connectors.LocalIdP}
	if u.UserStoreDomain == "" {
		u.UserStoreDomain = store.DefaultDomain
	}
	if !a.cfg.ValidateUsername {
		return connectors.Outcome{Status: connectors.StatusSuccess, User: u}, nil
	}
	org, err := a.deps.Organizations.OrganizationByHandle(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(), nil
	}
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("identifier: organization: %w", err)
	}
	su, err := a.deps.Users.UserByUsername(ctx, org.ID, domain, username)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(), nil
	}
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("identifier: user: %w", err)
	}
	u.ID, u.Username, u.UserStoreDomain = su.ID, su.Username, su.Domain
	return connectors.Outcome{Status: connectors.StatusSuccess, User: u}, nil
}

func notFound() connectors.Outcome {
	return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound, Retry: true,
		Messages: []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60003", Message: "login.fail.message",
			I18nKey: "message.ABA-60003"}}}
}
