package wfhost

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

// Local activity names of the script host functions. They are stable: renaming one breaks the
// replay of running logins.
const (
	ActivityUserRoles        = "keyflow.script.UserRoles"
	ActivityUserGroups       = "keyflow.script.UserGroups"
	ActivityApplicationRoles = "keyflow.script.ApplicationRoles"
	ActivityReadClaims       = "keyflow.script.ReadClaims"
	ActivityWriteClaims      = "keyflow.script.WriteClaims"
)

// Options tune the binding; the zero value is usable.
type Options struct {
	// LocalActivity are the options of directory look-ups. Zero means a 5 s start-to-close
	// timeout and three attempts.
	LocalActivity workflow.LocalActivityOptions
	// Budget, ReplayBudget, MaxCallStackSize and MaxScriptSize are passed to scripting.Config.
	Budget           time.Duration
	ReplayBudget     time.Duration
	MaxCallStackSize int
	MaxScriptSize    int
	// MaxLibrarySize bounds one script library (require, loadLocalLibrary); passed to
	// scripting.Config.
	MaxLibrarySize int
}

// Config returns a scripting.Config bound to the workflow context ctx.
func Config(ctx workflow.Context, opts Options) scripting.Config {
	lao := opts.LocalActivity
	if lao.StartToCloseTimeout == 0 && lao.ScheduleToCloseTimeout == 0 {
		lao.StartToCloseTimeout = 5 * time.Second
	}
	if lao.RetryPolicy == nil {
		lao.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 3}
	}
	svc := newServices(workflow.WithLocalActivityOptions(ctx, lao))
	return scripting.Config{
		Logger:           Logger(ctx),
		Now:              func() time.Time { return workflow.Now(ctx) },
		Seed:             func() uint64 { return seed(ctx) },
		Replaying:        func() bool { return workflow.IsReplaying(ctx) },
		Budget:           opts.Budget,
		ReplayBudget:     opts.ReplayBudget,
		MaxCallStackSize: opts.MaxCallStackSize,
		MaxScriptSize:    opts.MaxScriptSize,
		Directory:        &directory{ctx: workflow.WithLocalActivityOptions(ctx, lao)},
		Accounts:         svc,
		Mailer:           svc,
		Libraries:        svc,
		Sessions:         svc,
		Cookies:          svc,
		MaxLibrarySize:   opts.MaxLibrarySize,
	}
}

// seed draws Math.random's seed once, recorded as a side effect so replays reuse it.
func seed(ctx workflow.Context) uint64 {
	var v uint64
	enc := workflow.SideEffect(ctx, func(workflow.Context) any {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			// crypto/rand does not fail on supported platforms; a constant keeps the
			// workflow deterministic if it ever does.
			return uint64(0x5eed)
		}
		return binary.LittleEndian.Uint64(b[:])
	})
	if err := enc.Get(&v); err != nil {
		workflow.GetLogger(ctx).Error("decoding the random seed failed", "error", err)
	}
	return v
}

// directory implements scripting.Directory with local activities. The context.Context argument
// of its methods is ignored: inside a workflow only the workflow context counts.
type directory struct {
	ctx workflow.Context
}

var _ scripting.Directory = (*directory)(nil)

func (d *directory) UserRoles(_ context.Context, u *connectors.User) ([]string, error) {
	var out []string
	err := workflow.ExecuteLocalActivity(d.ctx, ActivityUserRoles, *u).Get(d.ctx, &out)
	return out, err
}

func (d *directory) UserGroups(_ context.Context, u *connectors.User) ([]string, error) {
	var out []string
	err := workflow.ExecuteLocalActivity(d.ctx, ActivityUserGroups, *u).Get(d.ctx, &out)
	return out, err
}

func (d *directory) ApplicationRoles(_ context.Context, appID string, u *connectors.User) ([]string, error) {
	var out []string
	err := workflow.ExecuteLocalActivity(d.ctx, ActivityApplicationRoles, ApplicationRolesInput{ApplicationID: appID, User: *u}).Get(d.ctx, &out)
	return out, err
}

func (d *directory) ReadClaims(_ context.Context, u *connectors.User, uris []string) (map[string]string, error) {
	var out map[string]string
	err := workflow.ExecuteLocalActivity(d.ctx, ActivityReadClaims, ReadClaimsInput{User: *u, URIs: uris}).Get(d.ctx, &out)
	return out, err
}

func (d *directory) WriteClaims(_ context.Context, u *connectors.User, claims map[string]string) error {
	return workflow.ExecuteLocalActivity(d.ctx, ActivityWriteClaims, WriteClaimsInput{User: *u, Claims: claims}).Get(d.ctx, nil)
}

// ApplicationRolesInput is ActivityApplicationRoles' argument.
type ApplicationRolesInput struct {
	ApplicationID string
	User          connectors.User
}

// ReadClaimsInput is ActivityReadClaims' argument.
type ReadClaimsInput struct {
	User connectors.User
	URIs []string
}

// WriteClaimsInput is ActivityWriteClaims' argument.
type WriteClaimsInput struct {
	User   connectors.User
	Claims map[string]string
}

// Activities are the script host's local activities, backed by the user store and, for
// httpGet/httpPost, an HTTPCaller. The optional services (Accounts, Mailer, Libraries, Sessions,
// Cookies) may be nil: their activities then fail, and the script functions return false/null.
type Activities struct {
	Directory scripting.Directory
	// HTTP makes httpGet/httpPost calls; nil leaves ActivityHTTPCall unregistered, so scripts'
	// calls end in onFail.
	HTTP *HTTPCaller
	// Accounts serves user search, login-identifier resolution, federated associations and
	// password updates.
	Accounts scripting.Accounts
	// Mailer sends sendEmail's mail (EmailSender renders templates over a mail transport).
	Mailer scripting.Mailer
	// Libraries holds the tenants' script libraries (require, loadLocalLibrary).
	Libraries scripting.Libraries
	// Sessions is the SSO session store (getUserSessions, terminateUserSession).
	Sessions scripting.Sessions
	// Cookies signs and encrypts setCookie/getCookieValue values; NewCookieCodec over the
	// server's cookie key.
	Cookies scripting.Cookies
}

// Register registers the activities under their exported names.
func (a *Activities) Register(r worker.ActivityRegistry) {
	for name, fn := range map[string]any{
		ActivityUserRoles:        a.UserRoles,
		ActivityUserGroups:       a.UserGroups,
		ActivityApplicationRoles: a.ApplicationRoles,
		ActivityReadClaims:       a.ReadClaims,
		ActivityWriteClaims:      a.WriteClaims,

		ActivityFindUsers:              a.FindUsers,
		ActivityResolveLoginIdentifier: a.ResolveLoginIdentifier,
		ActivityAssociatedUser:         a.AssociatedUser,
		ActivityAssociate:              a.Associate,
		ActivityRemoveAssociation:      a.RemoveAssociation,
		ActivityUpdatePassword:         a.UpdatePassword,
		ActivitySendEmail:              a.SendEmail,
		ActivityLibrary:                a.Library,
		ActivityUserSessions:           a.UserSessions,
		ActivityTerminateUserSession:   a.TerminateUserSession,
		ActivitySealCookie:             a.SealCookie,
		ActivityOpenCookie:             a.OpenCookie,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	if a.HTTP != nil {
		r.RegisterActivityWithOptions(a.HTTP.Call, activity.RegisterOptions{Name: ActivityHTTPCall})
	}
}

// UserRoles is ActivityUserRoles.
func (a *Activities) UserRoles(ctx context.Context, u connectors.User) ([]string, error) {
	roles, err := a.Directory.UserRoles(ctx, &u)
	if err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	return roles, nil
}

// UserGroups is ActivityUserGroups.
func (a *Activities) UserGroups(ctx context.Context, u connectors.User) ([]string, error) {
	groups, err := a.Directory.UserGroups(ctx, &u)
	if err != nil {
		return nil, fmt.Errorf("user groups: %w", err)
	}
	return groups, nil
}

// ApplicationRoles is ActivityApplicationRoles.
func (a *Activities) ApplicationRoles(ctx context.Context, in ApplicationRolesInput) ([]string, error) {
	roles, err := a.Directory.ApplicationRoles(ctx, in.ApplicationID, &in.User)
	if err != nil {
		return nil, fmt.Errorf("application roles: %w", err)
	}
	return roles, nil
}

// ReadClaims is ActivityReadClaims.
func (a *Activities) ReadClaims(ctx context.Context, in ReadClaimsInput) (map[string]string, error) {
	claims, err := a.Directory.ReadClaims(ctx, &in.User, in.URIs)
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	return claims, nil
}

// WriteClaims is ActivityWriteClaims.
func (a *Activities) WriteClaims(ctx context.Context, in WriteClaimsInput) error {
	if err := a.Directory.WriteClaims(ctx, &in.User, in.Claims); err != nil {
		return fmt.Errorf("write claims: %w", err)
	}
	return nil
}

// Logger returns an slog.Logger writing to the workflow's logger, which drops records while the
// workflow replays, so script Log.* lines appear once.
func Logger(ctx workflow.Context) *slog.Logger {
	return slog.New(&handler{l: workflow.GetLogger(ctx)})
}

type handler struct {
	l      log.Logger
	attrs  []any
	prefix string
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	kv := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		kv = append(kv, h.prefix+a.Key, a.Value.Any())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.l.Error(r.Message, kv...)
	case r.Level >= slog.LevelWarn:
		h.l.Warn(r.Message, kv...)
	case r.Level >= slog.LevelInfo:
		h.l.Info(r.Message, kv...)
	default:
		h.l.Debug(r.Message, kv...)
	}
	return nil
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		c.attrs = append(c.attrs, h.prefix+a.Key, a.Value.Any())
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}
