package workers

import (
	"errors"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/flows/backchannel"
	"github.com/keyflow/keyflow/flows/maintenance"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/scripting/wfhost"
)

// Config says where the worker polls, how, and with what.
type Config struct {
	TaskQueue string
	Options   worker.Options
	// Authenticators are the local authenticators logins can run.
	Authenticators connectors.Registry
	// Users backs the scripts' role, group and claim functions.
	Users Users
	// Login tunes the login workflow.
	Login flows.LoginConfig
	// HTTP makes the scripts' httpGet/httpPost calls; nil disables them (they end in onFail).
	HTTP *wfhost.HTTPCaller
	// ScriptStore backs the scripts' user search, login-identifier resolution, federated
	// associations, password updates and script libraries (require, loadLocalLibrary);
	// *store.Store implements it. Nil makes those functions return false/null.
	ScriptStore ScriptStore
	// LoginIdentifierClaims are the claims resolveMultiAttributeLoginIdentifier matches besides
	// the username; nil means DefaultLoginIdentifierClaims.
	LoginIdentifierClaims []string
	// CookieKey (at least 32 random bytes) signs and encrypts setCookie/getCookieValue values;
	// empty disables signed and encrypted cookies (plain ones still work).
	CookieKey []byte
	// Mail sends the scripts' sendEmail messages rendered from EmailTemplates (see
	// wfhost.EmailTemplate); *notify.SMTP implements it. Nil makes sendEmail return false.
	Mail           wfhost.MailTransport
	EmailTemplates map[string]wfhost.EmailTemplate
	// Sessions is the SSO session store behind getUserSessions and terminateUserSession; nil
	// makes them return null/false.
	Sessions scripting.Sessions
	// Maintenance, when set, registers the housekeeping workflow (start it with
	// maintenance.Ensure once the worker runs).
	Maintenance *maintenance.Activities
	// PasswordGate bounds the argon2id work of scripts' updateUserPassword (hashing and the
	// password-history check); share the process's one. Nil: a gate of the worker's own.
	PasswordGate *password.Gate
	// BackChannelClient posts back-channel logout messages; nil means backchannel's default
	// (no redirects, no address policy). cmd/keyflow passes an egress.Policy client.
	BackChannelClient *http.Client
}

// New returns a worker for cfg.TaskQueue with every Keyflow workflow and activity registered.
// The caller starts and stops it.
func New(c client.Client, cfg Config) (worker.Worker, error) {
	if c == nil {
		return nil, errors.New("workers: nil Temporal client")
	}
	if cfg.TaskQueue == "" {
		return nil, errors.New("workers: Config.TaskQueue is required")
	}
	if cfg.Users == nil {
		return nil, errors.New("workers: Config.Users is required")
	}
	login, err := flows.NewLogin(cfg.Authenticators, cfg.Login)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	w := worker.New(c, cfg.TaskQueue, cfg.Options)
	flows.RegisterPing(w)
	login.Register(w)
	(&flows.LoginActivities{Authenticators: cfg.Authenticators}).Register(w)
	acts, err := scriptActivities(cfg)
	if err != nil {
		return nil, err
	}
	acts.Register(w)
	if cfg.Maintenance != nil {
		cfg.Maintenance.Register(w)
	}
	// Back-channel logout notifications (api/oidclogout starts them).
	backchannel.NewFlow(backchannel.Config{}).Register(w)
	(&backchannel.Activities{Client: cfg.BackChannelClient}).Register(w)
	return w, nil
}

// scriptActivities builds the script host's activities from cfg.
func scriptActivities(cfg Config) (*wfhost.Activities, error) {
	dir := directory{users: cfg.Users}
	acts := &wfhost.Activities{Directory: dir, HTTP: cfg.HTTP, Sessions: cfg.Sessions}
	if cfg.ScriptStore != nil {
		gate := cfg.PasswordGate
		if gate == nil {
			gate = password.NewGate(0)
		}
		acc := &accounts{st: cfg.ScriptStore, identifierClaims: cfg.LoginIdentifierClaims, hashing: password.OWASP, gate: gate}
		acts.Accounts, acts.Libraries = acc, acc
	}
	if len(cfg.CookieKey) > 0 {
		codec, err := wfhost.NewCookieCodec(cfg.CookieKey)
		if err != nil {
			return nil, fmt.Errorf("workers: %w", err)
		}
		acts.Cookies = codec
	}
	if cfg.Mail != nil {
		acts.Mailer = &wfhost.EmailSender{Transport: cfg.Mail, Templates: cfg.EmailTemplates, Directory: dir}
	}
	return acts, nil
}
