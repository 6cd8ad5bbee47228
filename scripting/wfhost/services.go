package wfhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

// Local activity names of the account, library, session, mail and cookie functions. Stable, like
// the directory's.
const (
	ActivityFindUsers              = "keyflow.script.FindUsers"
	ActivityResolveLoginIdentifier = "keyflow.script.ResolveLoginIdentifier"
	ActivityAssociatedUser         = "keyflow.script.AssociatedUser"
	ActivityAssociate              = "keyflow.script.Associate"
	ActivityRemoveAssociation      = "keyflow.script.RemoveAssociation"
	ActivityUpdatePassword         = "keyflow.script.UpdatePassword"
	ActivitySendEmail              = "keyflow.script.SendEmail"
	ActivityLibrary                = "keyflow.script.Library"
	ActivityUserSessions           = "keyflow.script.UserSessions"
	ActivityTerminateUserSession   = "keyflow.script.TerminateUserSession"
	ActivitySealCookie             = "keyflow.script.SealCookie"
	ActivityOpenCookie             = "keyflow.script.OpenCookie"
)

// services implements the scripting service interfaces with local activities. Like directory, it
// ignores the context.Context argument: inside a workflow only the workflow context counts.
type services struct {
	ctx workflow.Context // idempotent calls: the directory's local-activity options
	// once runs calls that must not repeat behind the script's back (sending mail).
	once workflow.Context
}

var (
	_ scripting.Accounts  = (*services)(nil)
	_ scripting.Mailer    = (*services)(nil)
	_ scripting.Libraries = (*services)(nil)
	_ scripting.Sessions  = (*services)(nil)
	_ scripting.Cookies   = (*services)(nil)
)

func newServices(ctx workflow.Context) *services {
	return &services{ctx: ctx, once: workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})}
}

// FindUsersInput is ActivityFindUsers' argument.
type FindUsersInput struct {
	TenantDomain string
	Claims       map[string]string
	Profile      string
}

// ResolveLoginIdentifierInput is ActivityResolveLoginIdentifier's argument.
type ResolveLoginIdentifierInput struct {
	TenantDomain string
	LoginID      string
}

// AssociateInput is ActivityAssociate's argument.
type AssociateInput struct {
	Federated       connectors.User
	TenantDomain    string
	UserStoreDomain string
	Username        string
}

// SendEmailInput is ActivitySendEmail's argument.
type SendEmailInput struct {
	User         connectors.User
	TemplateID   string
	Placeholders map[string]string
}

// LibraryInput is ActivityLibrary's argument.
type LibraryInput struct {
	TenantDomain string
	Name         string
}

// TerminateUserSessionInput is ActivityTerminateUserSession's argument.
type TerminateUserSessionInput struct {
	User      connectors.User
	SessionID string
}

// SealCookieInput is ActivitySealCookie's argument.
type SealCookieInput struct {
	Value         string
	Sign, Encrypt bool
}

// OpenCookieInput is ActivityOpenCookie's argument.
type OpenCookieInput struct {
	Stored                     string
	Decrypt, ValidateSignature bool
}

// OpenCookieResult is ActivityOpenCookie's result.
type OpenCookieResult struct {
	Value string
	OK    bool
}

func (s *services) FindUsers(_ context.Context, tenant string, claims map[string]string, profile string) ([]connectors.User, error) {
	var out []connectors.User
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityFindUsers, FindUsersInput{TenantDomain: tenant, Claims: claims, Profile: profile}).Get(s.ctx, &out)
	return out, err
}

func (s *services) ResolveLoginIdentifier(_ context.Context, tenant, loginID string) (string, error) {
	var out string
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityResolveLoginIdentifier, ResolveLoginIdentifierInput{TenantDomain: tenant, LoginID: loginID}).Get(s.ctx, &out)
	return out, err
}

func (s *services) AssociatedUser(_ context.Context, fed *connectors.User) (*connectors.User, error) {
	var out *connectors.User
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityAssociatedUser, *fed).Get(s.ctx, &out)
	return out, err
}

func (s *services) Associate(_ context.Context, fed *connectors.User, tenant, domain, username string) error {
	return workflow.ExecuteLocalActivity(s.ctx, ActivityAssociate, AssociateInput{Federated: *fed, TenantDomain: tenant,
		UserStoreDomain: domain, Username: username}).Get(s.ctx, nil)
}

func (s *services) RemoveAssociation(_ context.Context, fed *connectors.User) (bool, error) {
	var out bool
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityRemoveAssociation, *fed).Get(s.ctx, &out)
	return out, err
}

func (s *services) UpdatePassword(_ context.Context, u *connectors.User, password string) error {
	return workflow.ExecuteLocalActivity(s.ctx, ActivityUpdatePassword, scripting.PasswordChange{User: *u, Password: password}).Get(s.ctx, nil)
}

func (s *services) SendEmail(_ context.Context, u *connectors.User, templateID string, placeholders map[string]string) error {
	return workflow.ExecuteLocalActivity(s.once, ActivitySendEmail, SendEmailInput{User: *u, TemplateID: templateID,
		Placeholders: placeholders}).Get(s.once, nil)
}

func (s *services) Library(_ context.Context, tenant, name string) (string, error) {
	var out string
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityLibrary, LibraryInput{TenantDomain: tenant, Name: name}).Get(s.ctx, &out)
	return out, err
}

func (s *services) UserSessions(_ context.Context, u *connectors.User) ([]scripting.UserSession, error) {
	var out []scripting.UserSession
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityUserSessions, *u).Get(s.ctx, &out)
	return out, err
}

func (s *services) TerminateUserSession(_ context.Context, u *connectors.User, sessionID string) (bool, error) {
	var out bool
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityTerminateUserSession, TerminateUserSessionInput{User: *u, SessionID: sessionID}).Get(s.ctx, &out)
	return out, err
}

func (s *services) Seal(_ context.Context, value string, sign, encrypt bool) (string, error) {
	var out string
	err := workflow.ExecuteLocalActivity(s.ctx, ActivitySealCookie, SealCookieInput{Value: value, Sign: sign, Encrypt: encrypt}).Get(s.ctx, &out)
	return out, err
}

func (s *services) Open(_ context.Context, stored string, decrypt, validate bool) (string, bool, error) {
	var out OpenCookieResult
	err := workflow.ExecuteLocalActivity(s.ctx, ActivityOpenCookie, OpenCookieInput{Stored: stored, Decrypt: decrypt,
		ValidateSignature: validate}).Get(s.ctx, &out)
	return out.Value, out.OK, err
}

// Run runs an asynchronous script call (a CallNode) and returns its outcome: the HTTP functions
// through Call, updateUserPassword with handlers through ActivityUpdatePassword (onSuccess, or
// onFail when the update fails).
func Run(ctx workflow.Context, n *scripting.CallNode) scripting.CallResult {
	if n.Password == nil {
		return Call(ctx, n.Request)
	}
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	if err := workflow.ExecuteLocalActivity(ctx, ActivityUpdatePassword, *n.Password).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("script password update failed", "error", err)
		return scripting.CallResult{Outcome: scripting.OutcomeFail}
	}
	return scripting.CallResult{Outcome: scripting.OutcomeSuccess}
}

// errNotConfigured is returned by the activities whose backing service is not configured; it is
// not retried.
var errNotConfigured = temporal.NewNonRetryableApplicationError("not configured on this worker", "NotConfigured", nil)

// FindUsers is ActivityFindUsers.
func (a *Activities) FindUsers(ctx context.Context, in FindUsersInput) ([]connectors.User, error) {
	if a.Accounts == nil {
		return nil, fmt.Errorf("find users: accounts %w", errNotConfigured)
	}
	users, err := a.Accounts.FindUsers(ctx, in.TenantDomain, in.Claims, in.Profile)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	return users, nil
}

// ResolveLoginIdentifier is ActivityResolveLoginIdentifier.
func (a *Activities) ResolveLoginIdentifier(ctx context.Context, in ResolveLoginIdentifierInput) (string, error) {
	if a.Accounts == nil {
		return "", fmt.Errorf("resolve login identifier: accounts %w", errNotConfigured)
	}
	name, err := a.Accounts.ResolveLoginIdentifier(ctx, in.TenantDomain, in.LoginID)
	if err != nil {
		return "", fmt.Errorf("resolve login identifier: %w", err)
	}
	return name, nil
}

// AssociatedUser is ActivityAssociatedUser.
func (a *Activities) AssociatedUser(ctx context.Context, fed connectors.User) (*connectors.User, error) {
	if a.Accounts == nil {
		return nil, fmt.Errorf("associated user: accounts %w", errNotConfigured)
	}
	u, err := a.Accounts.AssociatedUser(ctx, &fed)
	if err != nil {
		return nil, fmt.Errorf("associated user: %w", err)
	}
	return u, nil
}

// Associate is ActivityAssociate.
func (a *Activities) Associate(ctx context.Context, in AssociateInput) error {
	if a.Accounts == nil {
		return fmt.Errorf("associate: accounts %w", errNotConfigured)
	}
	if err := a.Accounts.Associate(ctx, &in.Federated, in.TenantDomain, in.UserStoreDomain, in.Username); err != nil {
		return fmt.Errorf("associate: %w", err)
	}
	return nil
}

// RemoveAssociation is ActivityRemoveAssociation.
func (a *Activities) RemoveAssociation(ctx context.Context, fed connectors.User) (bool, error) {
	if a.Accounts == nil {
		return false, fmt.Errorf("remove association: accounts %w", errNotConfigured)
	}
	ok, err := a.Accounts.RemoveAssociation(ctx, &fed)
	if err != nil {
		return false, fmt.Errorf("remove association: %w", err)
	}
	return ok, nil
}

// UpdatePassword is ActivityUpdatePassword. The password is never logged or put in an error.
func (a *Activities) UpdatePassword(ctx context.Context, in scripting.PasswordChange) error {
	if a.Accounts == nil {
		return fmt.Errorf("update password: accounts %w", errNotConfigured)
	}
	if in.Password == "" {
		return temporal.NewNonRetryableApplicationError("update password: empty password", "InvalidPassword", nil)
	}
	if err := a.Accounts.UpdatePassword(ctx, &in.User, in.Password); err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	return nil
}

// SendEmail is ActivitySendEmail.
func (a *Activities) SendEmail(ctx context.Context, in SendEmailInput) error {
	if a.Mailer == nil {
		return fmt.Errorf("send email: mailer %w", errNotConfigured)
	}
	if err := a.Mailer.SendEmail(ctx, &in.User, in.TemplateID, in.Placeholders); err != nil {
		return fmt.Errorf("send email: %w", err)
	}
	return nil
}

// Library is ActivityLibrary.
func (a *Activities) Library(ctx context.Context, in LibraryInput) (string, error) {
	if a.Libraries == nil {
		return "", fmt.Errorf("script library: library store %w", errNotConfigured)
	}
	src, err := a.Libraries.Library(ctx, in.TenantDomain, in.Name)
	if errors.Is(err, scripting.ErrNoLibrary) {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("script library %q: %v", in.Name, err), "NoLibrary", nil)
	}
	if err != nil {
		return "", fmt.Errorf("script library %q: %w", in.Name, err)
	}
	return src, nil
}

// UserSessions is ActivityUserSessions.
func (a *Activities) UserSessions(ctx context.Context, u connectors.User) ([]scripting.UserSession, error) {
	if a.Sessions == nil {
		return nil, fmt.Errorf("user sessions: session store %w", errNotConfigured)
	}
	ss, err := a.Sessions.UserSessions(ctx, &u)
	if err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	return ss, nil
}

// TerminateUserSession is ActivityTerminateUserSession.
func (a *Activities) TerminateUserSession(ctx context.Context, in TerminateUserSessionInput) (bool, error) {
	if a.Sessions == nil {
		return false, fmt.Errorf("terminate session: session store %w", errNotConfigured)
	}
	ok, err := a.Sessions.TerminateUserSession(ctx, &in.User, in.SessionID)
	if err != nil {
		return false, fmt.Errorf("terminate session: %w", err)
	}
	return ok, nil
}

// SealCookie is ActivitySealCookie.
func (a *Activities) SealCookie(ctx context.Context, in SealCookieInput) (string, error) {
	if a.Cookies == nil {
		return "", fmt.Errorf("seal cookie: cookie key %w", errNotConfigured)
	}
	v, err := a.Cookies.Seal(ctx, in.Value, in.Sign, in.Encrypt)
	if err != nil {
		return "", fmt.Errorf("seal cookie: %w", err)
	}
	return v, nil
}

// OpenCookie is ActivityOpenCookie.
func (a *Activities) OpenCookie(ctx context.Context, in OpenCookieInput) (OpenCookieResult, error) {
	if a.Cookies == nil {
		return OpenCookieResult{}, fmt.Errorf("open cookie: cookie key %w", errNotConfigured)
	}
	v, ok, err := a.Cookies.Open(ctx, in.Stored, in.Decrypt, in.ValidateSignature)
	if err != nil {
		return OpenCookieResult{}, fmt.Errorf("open cookie: %w", err)
	}
	return OpenCookieResult{Value: v, OK: ok}, nil
}
