package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"gopkg.in/yaml.v3"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/apiresources"
	"github.com/keyflow/keyflow/api/apps"
	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/branding"
	"github.com/keyflow/keyflow/api/dcr"
	"github.com/keyflow/keyflow/api/device"
	"github.com/keyflow/keyflow/api/governance"
	"github.com/keyflow/keyflow/api/manage"
	"github.com/keyflow/keyflow/api/oauth2"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/oidclogout"
	"github.com/keyflow/keyflow/api/ratelimit"
	"github.com/keyflow/keyflow/api/saml"
	"github.com/keyflow/keyflow/api/scim"
	"github.com/keyflow/keyflow/api/secrets"
	apiusers "github.com/keyflow/keyflow/api/users"
	"github.com/keyflow/keyflow/api/userstores"
	"github.com/keyflow/keyflow/api/wsfed"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/flows/backchannel"
	"github.com/keyflow/keyflow/flows/codec"
	"github.com/keyflow/keyflow/flows/maintenance"
	"github.com/keyflow/keyflow/flows/temporalx"
	"github.com/keyflow/keyflow/migrations"
	"github.com/keyflow/keyflow/scripting/wfhost"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/pgserver"
	"github.com/keyflow/keyflow/ui"
	"github.com/keyflow/keyflow/workers"
	"github.com/keyflow/keyflow/workers/devserver"
)

// process holds what one keyflow process runs and stops it in reverse order.
type process struct {
	cfg      *Config
	log      *slog.Logger
	registry *prometheus.Registry
	mu       sync.Mutex
	stops    []func(context.Context)

	store    *store.Store
	temporal client.Client
	egress   *egress.Policy
	// gate bounds the process's concurrent argon2id checks (every BasicAuthenticator shares it).
	gate *password.Gate
	// pages renders the login pages (set by frontEnds; nil in a worker).
	pages *ui.Renderer
	// native is the app-native API (set by frontEnds), whose CORS the rate limiter's refusals
	// carry.
	native *authn.Handler
}

func newProcess(cfg *Config) *process {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &process{cfg: cfg, log: cfg.logger(), registry: reg, gate: password.NewGate(0)}
}

// outbound returns the address policy of every outbound request whose URL an administrator or
// a client supplies (--outbound-allow), built once per process: its clients share one pool.
func (p *process) outbound() (*egress.Policy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.egress == nil {
		pol, err := egress.New(egress.Config{Allow: p.cfg.outboundAllow, Setting: "--outbound-allow"})
		if err != nil {
			return nil, &ConfigError{Setting: "--outbound-allow / KEYFLOW_OUTBOUND_ALLOW", Problem: err.Error()}
		}
		p.egress = pol
	}
	return p.egress, nil
}

// onStop registers f to run at shutdown; start-up steps running in parallel may call it.
func (p *process) onStop(f func(context.Context)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stops = append(p.stops, f)
}

// shutdown stops everything started, newest first, within the shutdown timeout.
func (p *process) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	for i := len(p.stops) - 1; i >= 0; i-- {
		p.stops[i](ctx)
	}
}

// openStore connects to PostgreSQL: --database-url, or a private cluster in the data dir when
// embedded is allowed. It applies the migrations when migrate is set.
func (p *process) openStore(ctx context.Context, embedded, migrate bool) error {
	url := p.cfg.DatabaseURL
	if url == "" {
		if !embedded {
			return &ConfigError{Setting: "--database-url / KEYFLOW_DATABASE_URL", Problem: "required by this command (only serve runs a private PostgreSQL)"}
		}
		started := time.Now()
		pg, err := pgserver.Start(ctx, pgserver.Config{
			DataDir: filepath.Join(p.cfg.DataDir, "postgres"),
			Port:    p.cfg.PostgresPort,
			Logger:  p.log.With("component", "postgres"),
		})
		if err != nil {
			return fmt.Errorf("start private PostgreSQL: %w", err)
		}
		p.onStop(func(ctx context.Context) {
			if err := pg.Stop(ctx); err != nil {
				p.log.Error("stop PostgreSQL", "err", err)
			}
		})
		p.log.Info("private PostgreSQL started", "took", time.Since(started).Round(time.Millisecond))
		url = pg.URL()
	}
	if migrate {
		v, err := migrations.Up(ctx, url, migrations.WithLogger(p.log))
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		p.log.Info("database schema is current", "version", v)
	}
	st, err := store.Open(ctx, url, store.WithLogger(p.log.With("component", "store")))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	p.onStop(func(context.Context) { st.Close() })
	p.store = st
	return nil
}

// keyring returns the payload codec keys: --codec-keys, or the development key file in the data dir.
func (p *process) keyring() (*codec.Keyring, error) {
	if p.cfg.CodecKeys != "" {
		k, err := codec.ParseKeys(p.cfg.CodecKeys)
		if err != nil {
			return nil, &ConfigError{Setting: "--codec-keys / KEYFLOW_CODEC_KEYS", Problem: err.Error()}
		}
		return k, nil
	}
	if err := os.MkdirAll(p.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	k, err := codec.LoadOrCreateKeyFile(filepath.Join(p.cfg.DataDir, "codec.keys"))
	if err != nil {
		return nil, fmt.Errorf("payload codec key file: %w", err)
	}
	return k, nil
}

// dialTemporal connects to --temporal-address, or starts the embedded dev server when allowed.
func (p *process) dialTemporal(ctx context.Context, embedded bool) error {
	addr := p.cfg.TemporalAddress
	if addr == "" {
		if !embedded {
			return &ConfigError{Setting: "--temporal-address / KEYFLOW_TEMPORAL_ADDRESS", Problem: "required by this command (only serve runs an embedded Temporal)"}
		}
		started := time.Now()
		srv, err := devserver.Start(ctx, devserver.Config{
			DataDir:      filepath.Join(p.cfg.DataDir, "temporal"),
			Namespace:    p.cfg.TemporalNamespace,
			FrontendPort: p.cfg.TemporalPort,
			Logger:       p.log.With("component", "temporal"),
		})
		if err != nil {
			return fmt.Errorf("start embedded Temporal: %w", err)
		}
		p.onStop(func(context.Context) {
			if err := srv.Stop(); err != nil {
				p.log.Error("stop embedded Temporal", "err", err)
			}
		})
		p.log.Info("embedded Temporal started", "address", srv.FrontendAddress(), "took", time.Since(started).Round(time.Millisecond))
		addr = srv.FrontendAddress()
	}
	keys, err := p.keyring()
	if err != nil {
		return err
	}
	tc := temporalx.Config{
		Address:           addr,
		Namespace:         p.cfg.TemporalNamespace,
		APIKey:            p.cfg.TemporalAPIKey,
		Keyring:           keys,
		Logger:            p.log.With("component", "temporal-sdk"),
		MetricsRegisterer: p.registry,
	}
	if p.cfg.TemporalTLSCA != "" || p.cfg.TemporalTLSCert != "" || p.cfg.TemporalTLSServer != "" {
		tc.TLS = &temporalx.TLSConfig{
			CAFile:     p.cfg.TemporalTLSCA,
			CertFile:   p.cfg.TemporalTLSCert,
			KeyFile:    p.cfg.TemporalTLSKey,
			ServerName: p.cfg.TemporalTLSServer,
		}
	}
	c, err := temporalx.Dial(ctx, tc)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", addr, err)
	}
	p.onStop(func(context.Context) { c.Close() })
	p.temporal = c
	return nil
}

// startWorker registers Keyflow's workflows on the task queue and starts polling.
func (p *process) startWorker(ctx context.Context, sec serverSecrets) error {
	// Process-wide: bounds the memory of cached open logins (≈50–70 KB each).
	worker.SetStickyWorkflowCacheSize(temporalx.StickyWorkflowCacheSize)
	reg, err := p.authenticators(sec)
	if err != nil {
		return err
	}
	// Scripts' setCookie/getCookieValue sign and encrypt with a key of their own.
	cookieKey, err := purposeKey(sec.keks[0], "script-cookies")
	if err != nil {
		return err
	}
	vault, err := secretVault(p.store, sec)
	if err != nil {
		return err
	}
	keys, err := jwtkeys.New(ctx, jwtkeys.Config{Store: p.store, KEKs: jwtKEKs(sec), Logger: p.log.With("component", "jwtkeys")})
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	// A script's terminateUserSession logs the session's relying parties out as a logout does,
	// with logout tokens this provider signs. It never checks a client secret, so a worker, which
	// is not given the pepper, uses a throw-away one.
	pepper := sec.pepper
	if len(pepper) < op.MinPepperLength {
		pepper = make([]byte, op.MinPepperLength)
		if _, err := rand.Read(pepper); err != nil {
			return fmt.Errorf("worker pepper: %w", err)
		}
	}
	out, err := p.outbound()
	if err != nil {
		return err
	}
	prov, err := op.New(op.Config{Store: p.store, Keys: keys, Issuer: p.cfg.Issuer, SecretPepper: pepper,
		HTTPClient: out.Client(egress.ClientOptions{Timeout: op.JWKSFetchTimeout}),
		Logger:     p.log.With("component", "oauth2")})
	if err != nil {
		return fmt.Errorf("oauth2 provider: %w", err)
	}
	p.listenClients(ctx, prov)
	notifier := &backchannel.Starter{Client: p.temporal, TaskQueue: p.cfg.TemporalTaskQueue, Logger: p.log.With("component", "backchannel")}
	ender := oidclogout.Ender{Provider: prov, Logger: p.log.With("component", "logout"), Notifier: notifier}
	// terminateUserSession also sends the session's back-channel SAML SPs signed SOAP
	// LogoutRequests; this IdP only signs them (its tenants' keys, sealed by the shared KEKs)
	// and never serves a login, so its Logins is never called.
	samlKey, err := purposeKey(sec.keks[0], "saml-persistent-id")
	if err != nil {
		return err
	}
	samlEnder, err := saml.New(saml.Config{Store: p.store, Logins: &saml.DeferredLogins{}, BaseURL: p.cfg.BaseURL,
		KEKs: jwtKEKs(sec), PersistentIDKey: samlKey, BackChannel: notifier, Logger: p.log.With("component", "saml")})
	if err != nil {
		return fmt.Errorf("SAML back-channel logout: %w", err)
	}
	cfg := workers.Config{
		PasswordGate:   p.gate,
		TaskQueue:      p.cfg.TemporalTaskQueue,
		Options:        temporalx.WorkerOptions(),
		Authenticators: reg,
		Users:          p.store,
		ScriptStore:    p.store,
		CookieKey:      cookieKey,
		Sessions:       &workers.Sessions{Store: p.store, Ended: saml.Enders{ender, samlEnder}},
		// Back-channel logout URLs are clients' registered ones: refused addresses fail at once.
		BackChannelClient: out.Client(egress.ClientOptions{Timeout: backchannel.DefaultAttemptTimeout}),
		HTTP: &wfhost.HTTPCaller{Logger: p.log.With("component", "script-http"), Secrets: vault,
			Client:         out.Client(egress.ClientOptions{Timeout: 10 * time.Second}),
			AllowedDomains: p.cfg.ScriptHTTPAllowedDomains, AnalyticsReceiver: p.cfg.ScriptAnalyticsURL,
			ElasticReceiver: p.cfg.ScriptElasticURL, ChoreoTokenEndpoint: p.cfg.ScriptChoreoTokenURL},
	}
	mailer, err := p.mailer()
	if err != nil {
		return err
	}
	if mailer != nil {
		cfg.Mail = mailer
	}
	if cfg.EmailTemplates, err = loadEmailTemplates(p.cfg.EmailTemplates); err != nil {
		return err
	}
	cfg.Maintenance = &maintenance.Activities{Store: p.store, Keys: keys}
	w, err := workers.New(p.temporal, cfg)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if err := maintenance.Ensure(ctx, p.temporal, p.cfg.TemporalTaskQueue, maintenance.Params{
		Interval: p.cfg.MaintenanceInterval, Grace: maintenance.DefaultGrace, KeyRotation: p.cfg.SigningKeyRotation,
	}, p.log); err != nil {
		w.Stop()
		return err
	}
	p.onStop(func(context.Context) { w.Stop() })
	return nil
}

// serverSecrets are the keys for data at rest and the client-secret pepper: from configuration, or
// generated in the data dir when dev is set (serve). api and worker replicas must share them, so
// they never generate their own.
type serverSecrets struct {
	keks   []namedKey
	pepper []byte
}

func (p *process) secrets(dev, pepper bool) (serverSecrets, error) {
	var s serverSecrets
	switch {
	case p.cfg.EncryptionKeys != "":
		keys, err := parseKeySpec(p.cfg.EncryptionKeys)
		if err != nil {
			return s, &ConfigError{Setting: "--encryption-keys / KEYFLOW_ENCRYPTION_KEYS", Problem: err.Error()}
		}
		s.keks = keys
	case dev:
		key, err := devSecret(filepath.Join(p.cfg.DataDir, "encryption.key"), 32)
		if err != nil {
			return s, fmt.Errorf("development encryption key: %w", err)
		}
		s.keks = []namedKey{{ID: "dev", Key: key}}
	default:
		return s, &ConfigError{Setting: "--encryption-keys / KEYFLOW_ENCRYPTION_KEYS", Problem: "required by this command: every replica must share it"}
	}
	switch {
	case !pepper:
	case p.cfg.ClientSecretPepper != "":
		s.pepper, _ = base64.StdEncoding.DecodeString(p.cfg.ClientSecretPepper) // validated
	case dev:
		pepper, err := devSecret(filepath.Join(p.cfg.DataDir, "client-secret.pepper"), 32)
		if err != nil {
			return s, fmt.Errorf("development client-secret pepper: %w", err)
		}
		s.pepper = pepper
	default:
		return s, &ConfigError{Setting: "--client-secret-pepper / KEYFLOW_CLIENT_SECRET_PEPPER", Problem: "required by this command: every replica must share it"}
	}
	return s, nil
}

// oauth2Routes builds the OAuth2 provider's fast paths: discovery, JWKS, token, introspection and
// revocation.
func (p *process) oauth2Routes(ctx context.Context, sec serverSecrets) (*oauth2.Handler, *op.Provider, *jwtkeys.Manager, error) {
	keys, err := jwtkeys.New(ctx, jwtkeys.Config{Store: p.store, KEKs: jwtKEKs(sec), Logger: p.log.With("component", "jwtkeys")})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	// The password grant and HTTP Basic on the management APIs check passwords exactly as the
	// login's BasicAuthenticator does (argon2id, lockout, user stores, no user enumeration).
	stores, err := p.userStores(sec)
	if err != nil {
		return nil, nil, nil, err
	}
	passwords, err := basic.New(p.lockout(p.log.With("component", "password-check")),
		basic.Deps{Users: p.store, Organizations: p.store, Secondary: stores})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("password grant: %w", err)
	}
	out, err := p.outbound()
	if err != nil {
		return nil, nil, nil, err
	}
	prov, err := op.New(op.Config{Store: p.store, Keys: keys, Issuer: p.cfg.Issuer, SecretPepper: sec.pepper,
		TokenEndpoint: p.cfg.BaseURL + oauth2.PathToken, Passwords: passwords, ClaimDialects: p.store,
		HTTPClient: out.Client(egress.ClientOptions{Timeout: op.JWKSFetchTimeout}),
		Logger:     p.log.With("component", "oauth2")})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("oauth2 provider: %w", err)
	}
	p.listenClients(ctx, prov)
	h, err := oauth2.New(oauth2.Config{
		Provider:              prov,
		Keys:                  keys,
		BaseURL:               p.cfg.BaseURL,
		AuthorizationEndpoint: p.cfg.BaseURL + authn.PathAuthorize,
		DeviceVerificationURI: p.cfg.BaseURL + device.PathDevice,
		EndSessionEndpoint:    p.cfg.BaseURL + oidclogout.Path,
		RegistrationEndpoint:  p.cfg.BaseURL + dcr.Path,
		Logger:                p.log.With("component", "oauth2"),
	})
	return h, prov, keys, err
}

// listenClients keeps prov's cache of OAuth2 clients current with the changes every replica
// makes (PostgreSQL LISTEN/NOTIFY on a connection of its own) until the process stops.
func (p *process) listenClients(ctx context.Context, prov *op.Provider) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.store.ListenOAuth2Clients(ctx, prov); err != nil {
			p.log.Error("oauth2 client notifications", "err", err)
		}
	}()
	p.onStop(func(context.Context) { cancel(); <-done })
}

// frontEnds builds every protocol front-end an api (or serve) process mounts.
func (p *process) frontEnds(ctx context.Context, sec serverSecrets) ([]api.Routes, *op.Provider, error) {
	oidc, prov, keys, err := p.oauth2Routes(ctx, sec)
	if err != nil {
		return nil, nil, err
	}
	pages, err := ui.New(ui.Config{})
	if err != nil {
		return nil, nil, fmt.Errorf("login pages: %w", err)
	}
	p.pages = pages
	// The SAML IdP starts logins through authn, which answers SAML logins through it.
	late := &saml.DeferredLogins{}
	samlKey, err := purposeKey(sec.keks[0], "saml-persistent-id")
	if err != nil {
		return nil, nil, err
	}
	// Every way a session ends (OIDC, SAML or WS-Fed logout, the session API) logs the session's
	// OIDC relying parties out through the same back-channel workflow.
	notifier := &backchannel.Starter{Client: p.temporal, TaskQueue: p.cfg.TemporalTaskQueue, Logger: p.log.With("component", "backchannel")}
	ender := oidclogout.Ender{Provider: prov, Notifier: notifier, Logger: p.log.With("component", "logout")}
	// SAML logout also cleans up the session's WS-Fed relying parties and sends SOAP
	// LogoutRequests through the same workflow; WS-Fed sign-out also reaches the SAML SPs
	// (back-channel ones by SOAP, then the browser through the front-channel ones).
	idp, err := saml.New(saml.Config{Store: p.store, Logins: late, BaseURL: p.cfg.BaseURL, KEKs: jwtKEKs(sec),
		PersistentIDKey: samlKey, Ended: saml.Enders{ender, wsfed.Cleanup{Store: p.store, Logger: p.log.With("component", "wsfed")}},
		BackChannel: notifier, Logger: p.log.With("component", "saml")})
	if err != nil {
		return nil, nil, fmt.Errorf("SAML: %w", err)
	}
	sts, err := wsfed.New(wsfed.Config{Store: p.store, Keys: idp, Logins: late, BaseURL: p.cfg.BaseURL,
		Ended: saml.Enders{ender, idp}, SAML: idp, Logger: p.log.With("component", "wsfed")})
	if err != nil {
		return nil, nil, fmt.Errorf("WS-Federation: %w", err)
	}
	brand, err := branding.New(branding.Config{Store: p.store, Tokens: prov, Logger: p.log.With("component", "branding")})
	if err != nil {
		return nil, nil, fmt.Errorf("branding: %w", err)
	}
	devices, err := device.New(device.Config{Provider: prov, Applications: p.store, Logins: late, UI: pages, Branding: brand,
		BaseURL: p.cfg.BaseURL, Claims: p.store, Logger: p.log.With("component", "device")})
	if err != nil {
		return nil, nil, fmt.Errorf("device verification: %w", err)
	}
	native, err := authn.New(authn.Config{
		Completers: map[string]authn.Completer{saml.ProtocolSAML: idp, wsfed.ProtocolWSFed: sts,
			device.ProtocolDevice: devices},
		UI:                 pages,
		Applications:       p.store,
		Provider:           prov,
		Logins:             &authn.Temporal{Client: p.temporal, TaskQueue: p.cfg.TemporalTaskQueue},
		BaseURL:            p.cfg.BaseURL,
		AllowedOrigins:     p.cfg.CORSOrigins,
		MountAuthorize:     true,
		Sessions:           p.store,
		Claims:             p.store,
		Consents:           p.store,
		Interactions:       p.store,
		Branding:           brand,
		SessionIdleTimeout: p.cfg.SessionIdleTimeout,
		SessionLifetime:    p.cfg.SessionLifetime,
		Logger:             p.log.With("component", "authn"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("app-native authentication: %w", err)
	}
	p.native = native
	late.Target = native
	users, err := scim.New(scim.Config{Store: p.store, BaseURL: p.cfg.BaseURL, Tokens: scim.OAuth2Tokens{Verifier: prov},
		Passwords: prov, PasswordGate: p.gate, Logger: p.log.With("component", "scim")})
	if err != nil {
		return nil, nil, fmt.Errorf("SCIM: %w", err)
	}
	// OIDC logout also reaches the session's SAML SPs (back-channel ones by SOAP, then the
	// browser through the front-channel ones) and its WS-Fed relying parties (cleanup frames).
	logout, err := oidclogout.New(oidclogout.Config{Provider: prov, Sessions: p.store, Pages: pages, Branding: brand,
		Notifier: notifier, BaseURL: p.cfg.BaseURL, CookieName: authn.SessionCookie, Logger: p.log.With("component", "logout"),
		Ended: saml.Enders{idp, wsfed.Cleanup{Store: p.store, Logger: p.log.With("component", "wsfed")}}, SAML: idp})
	if err != nil {
		return nil, nil, fmt.Errorf("logout: %w", err)
	}
	totpAuth, err := p.totp(sec, p.log.With("component", "totp"))
	if err != nil {
		return nil, nil, err
	}
	// Sessions ended through the API: OIDC and back-channel SAML participants (no browser).
	sessions, err := apiusers.New(apiusers.Config{Store: p.store, Tokens: prov, Ended: saml.Enders{ender, idp}, TOTP: totpAuth, TOTPStore: p.store,
		Logger: p.log.With("component", "sessions")})
	if err != nil {
		return nil, nil, fmt.Errorf("session API: %w", err)
	}
	vault, err := secretVault(p.store, sec)
	if err != nil {
		return nil, nil, err
	}
	scriptSecrets, err := secrets.New(secrets.Config{Store: p.store, Vault: vault, Tokens: prov, BaseURL: p.cfg.BaseURL,
		Logger: p.log.With("component", "secrets")})
	if err != nil {
		return nil, nil, fmt.Errorf("secret API: %w", err)
	}
	out, err := p.outbound()
	if err != nil {
		return nil, nil, err
	}
	applications, err := apps.New(apps.Config{Store: p.store, Tokens: prov, Keys: keys, Issuer: p.cfg.Issuer,
		SecretPepper: sec.pepper, BaseURL: p.cfg.BaseURL, Outbound: out, Logger: p.log.With("component", "applications"),
		MetadataClient: out.Client(egress.ClientOptions{Timeout: saml.DefaultMetadataFetchTimeout, FollowRedirects: true})})
	if err != nil {
		return nil, nil, fmt.Errorf("application API: %w", err)
	}
	registration, err := dcr.New(dcr.Config{Store: p.store, Tokens: prov, Keys: keys, Issuer: p.cfg.Issuer,
		SecretPepper: sec.pepper, BaseURL: p.cfg.BaseURL, Outbound: out, Logger: p.log.With("component", "dcr")})
	if err != nil {
		return nil, nil, fmt.Errorf("dynamic client registration: %w", err)
	}
	sealKeys := make([]manage.SealKey, len(sec.keks))
	for i, k := range sec.keks {
		key, err := purposeKey(k, "idp-secrets")
		if err != nil {
			return nil, nil, err
		}
		sealKeys[i] = manage.SealKey{ID: k.ID, Key: key}
	}
	management, err := manage.New(manage.Config{Store: p.store, Tokens: prov, Keys: keys, SealKeys: sealKeys,
		BaseURL: p.cfg.BaseURL, Logger: p.log.With("component", "manage")})
	if err != nil {
		return nil, nil, fmt.Errorf("management API: %w", err)
	}
	storeKeys, err := userStoreKeyring(sec)
	if err != nil {
		return nil, nil, err
	}
	userStoreAPI, err := userstores.New(userstores.Config{Store: p.store, Tokens: prov, Keys: storeKeys,
		BaseURL: p.cfg.BaseURL, Logger: p.log.With("component", "userstores")})
	if err != nil {
		return nil, nil, fmt.Errorf("user store API: %w", err)
	}
	apiResources, err := apiresources.New(apiresources.Config{Store: p.store, Tokens: prov, BaseURL: p.cfg.BaseURL,
		Logger: p.log.With("component", "apiresources")})
	if err != nil {
		return nil, nil, fmt.Errorf("API resource API: %w", err)
	}
	gov, err := governance.New(governance.Config{Store: governance.StoreTx{Store: p.store}, Tokens: prov,
		Logger: p.log.With("component", "governance")})
	if err != nil {
		return nil, nil, fmt.Errorf("governance API: %w", err)
	}
	return []api.Routes{oidc, native, idp, sts, devices, logout, users, sessions, scriptSecrets, applications, registration,
		management, userStoreAPI, apiResources, brand, gov}, prov, nil
}

// secretVault seals the scripts' secrets with a key derived from each encryption key (the first
// seals), so rotating --encryption-keys rotates them too.
func secretVault(st *store.Store, sec serverSecrets) (*secrets.Vault, error) {
	keys := make([]secrets.Key, len(sec.keks))
	for i, k := range sec.keks {
		key, err := purposeKey(k, "script-secrets")
		if err != nil {
			return nil, err
		}
		keys[i] = secrets.Key{ID: k.ID, Key: key}
	}
	return secrets.NewVault(st, keys)
}

func jwtKEKs(sec serverSecrets) []jwtkeys.KEK {
	keks := make([]jwtkeys.KEK, len(sec.keks))
	for i, k := range sec.keks {
		keks[i] = jwtkeys.KEK{ID: k.ID, Key: k.Key}
	}
	return keks
}

// handler builds the HTTP edge with readiness checks for what this process depends on.
func (p *process) handler(routes ...api.Routes) (api.Config, error) {
	cfg := api.Config{Logger: p.log, Registry: p.registry, Routes: routes, TrustedProxies: p.cfg.TrustedProxies,
		RootTenant: store.RootOrganizationHandle}
	if p.store != nil {
		// /o/{id}/… URLs of the root organization; without it (not bootstrapped yet) they are not
		// served, the /t/{handle}/… ones are.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if org, err := p.store.OrganizationByHandle(ctx, store.RootOrganizationHandle); err == nil {
			cfg.RootOrgID = org.ID
		}
		cancel()
		pg := api.Check{Name: "postgres", Probe: p.store.Ping}
		cfg.Checks = append(cfg.Checks, pg)
		cfg.Outage = &pg
	}
	if p.temporal != nil {
		c, queue := p.temporal, p.cfg.TemporalTaskQueue
		cfg.Checks = append(cfg.Checks, api.Check{Name: "temporal", Probe: func(ctx context.Context) error {
			_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}})
		cfg.WorkerCheck = &api.Check{Name: "worker", Probe: func(ctx context.Context) error {
			return flows.PingWorker(ctx, c, queue)
		}}
	}
	return cfg, nil
}

// listen binds the HTTP address before anything slow starts, so a taken port fails fast.
func (p *process) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", p.cfg.HTTPAddr)
	if err != nil {
		return nil, &ConfigError{Setting: "--http-addr / KEYFLOW_HTTP_ADDR", Problem: err.Error()}
	}
	return ln, nil
}

// serveHTTP serves until ctx ends, then runs the shutdown sequence.
func (p *process) serveHTTP(ctx context.Context, ln net.Listener, routes ...api.Routes) error {
	cfg, err := p.handler(routes...)
	if err != nil {
		return err
	}
	var pages ratelimit.Pages
	if p.pages != nil {
		pages = p.pages
	}
	if cfg.RateLimit, err = p.rateLimits(ctx, pages, p.native); err != nil {
		return err
	}
	h, err := api.New(cfg)
	if err != nil {
		return err
	}
	if p.cfg.PprofAddr != "" {
		dl, err := net.Listen("tcp", p.cfg.PprofAddr)
		if err != nil {
			return &ConfigError{Setting: "--pprof-addr / KEYFLOW_PPROF_ADDR", Problem: err.Error()}
		}
		p.log.Info("profiling endpoints", "url", "http://"+dl.Addr().String()+"/debug/pprof/")
		go func() {
			if err := api.ServeDebug(ctx, dl, p.log); err != nil {
				p.log.Warn("profiling endpoints stopped", "err", err)
			}
		}()
	}
	err = api.Serve(ctx, ln, h, p.cfg.ShutdownTimeout, p.log)
	p.log.Info("shutting down")
	return err
}

func serve(ctx context.Context, cfg *Config, out io.Writer) (err error) {
	started := time.Now()
	p := newProcess(cfg)
	defer p.shutdown()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	ln, err := p.listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	// PostgreSQL and Temporal start in parallel: each takes a second or more on a cold start.
	var admin adminCredential
	temporalDone := make(chan error, 1)
	go func() { temporalDone <- p.dialTemporal(ctx, true) }()
	err = p.openStore(ctx, true, true)
	if err == nil {
		admin, err = bootstrap(ctx, p.store, cfg)
	}
	if terr := <-temporalDone; err == nil {
		err = terr
	}
	if err != nil {
		return err
	}
	sec, err := p.secrets(true, true)
	if err != nil {
		return err
	}
	if err := p.startWorker(ctx, sec); err != nil {
		return err
	}
	routes, prov, err := p.frontEnds(ctx, sec)
	if err != nil {
		return err
	}
	demo, err := demoApp(ctx, p.store, prov, cfg)
	if err != nil {
		return err
	}
	printBanner(out, cfg, admin, demo, time.Since(started))
	return p.serveHTTP(ctx, ln, routes...)
}

func apiOnly(ctx context.Context, cfg *Config, _ io.Writer) error {
	return runExternal(ctx, cfg, true, func(p *process, sec serverSecrets) ([]api.Routes, error) {
		routes, _, err := p.frontEnds(ctx, sec)
		return routes, err
	})
}

func workerOnly(ctx context.Context, cfg *Config, _ io.Writer) error {
	return runExternal(ctx, cfg, false, func(p *process, sec serverSecrets) ([]api.Routes, error) {
		return nil, p.startWorker(ctx, sec)
	})
}

// runExternal runs a production role (api or worker) against an external PostgreSQL and Temporal:
// it connects, lets start set up the role, and serves HTTP (the role's routes plus the operational
// endpoints) until ctx ends.
func runExternal(ctx context.Context, cfg *Config, pepper bool, start func(*process, serverSecrets) ([]api.Routes, error)) error {
	p := newProcess(cfg)
	defer p.shutdown()
	ln, err := p.listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := p.openStore(ctx, false, false); err != nil {
		return err
	}
	if err := p.dialTemporal(ctx, false); err != nil {
		return err
	}
	sec, err := p.secrets(false, pepper)
	if err != nil {
		return err
	}
	routes, err := start(p, sec)
	if err != nil {
		return err
	}
	p.log.Info("ready", "addr", ln.Addr().String(), "task_queue", cfg.TemporalTaskQueue)
	return p.serveHTTP(ctx, ln, routes...)
}

func migrate(ctx context.Context, cfg *Config, out io.Writer) error {
	if cfg.DatabaseURL == "" {
		return &ConfigError{Setting: "--database-url / KEYFLOW_DATABASE_URL", Problem: "required by migrate"}
	}
	v, err := migrations.Up(ctx, cfg.DatabaseURL, migrations.WithLogger(cfg.logger()))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	_, err = fmt.Fprintf(out, "database schema at version %d\n", v)
	return err
}

// loadEmailTemplates reads the --email-templates file (nil when none is configured).
func loadEmailTemplates(path string) (map[string]wfhost.EmailTemplate, error) {
	if path == "" {
		return nil, nil
	}
	bad := func(problem string) error {
		return &ConfigError{Setting: "--email-templates / KEYFLOW_EMAIL_TEMPLATES", Problem: problem}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, bad(err.Error())
	}
	var raw map[string]struct {
		Subject string `yaml:"subject"`
		Body    string `yaml:"body"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, bad(fmt.Sprintf("%s is not valid YAML: %v", path, err))
	}
	out := make(map[string]wfhost.EmailTemplate, len(raw))
	for id, t := range raw {
		if id == "" || t.Subject == "" || t.Body == "" {
			return nil, bad(fmt.Sprintf("template %q in %s needs a subject and a body", id, path))
		}
		out[id] = wfhost.EmailTemplate{Subject: t.Subject, Body: t.Body}
	}
	return out, nil
}
