package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/keyflow/keyflow/connectors/egress"
)

// Config is every setting of the keyflow binary. Each field is one setting with a flag, a
// KEYFLOW_* environment variable and a key in the optional YAML file; precedence is
// flag > environment > file > default.
type Config struct {
	HTTPAddr string
	BaseURL  string
	DataDir  string

	DatabaseURL string
	// PostgresPort is the port of the private PostgreSQL cluster (0 = any free port).
	PostgresPort int

	TemporalAddress   string
	TemporalNamespace string
	TemporalTaskQueue string
	TemporalTLSCA     string
	TemporalTLSCert   string
	TemporalTLSKey    string
	TemporalTLSServer string
	TemporalAPIKey    string
	// TemporalPort is the frontend port of the embedded Temporal server (0 = any free port).
	TemporalPort int

	// CodecKeys is "id:base64key[,id:base64key…]", the first one encrypting. Empty: a key file
	// in the data dir is created on first use (development).
	CodecKeys string

	// EncryptionKeys encrypt data at rest (signing keys, TOTP secrets): "id:base64key[,…]", the
	// first one encrypting. Empty: a generated key in the data dir (serve only).
	EncryptionKeys string
	// ClientSecretPepper keys the HMAC of OAuth2 client secrets (base64, ≥ 32 bytes). Empty: a
	// generated one in the data dir (serve only).
	ClientSecretPepper string
	// TrustedProxies are reverse proxies whose X-Forwarded-For gives the client IP.
	TrustedProxies []string
	// PprofAddr serves /debug/pprof when set (loopback only, for profiling).
	PprofAddr string
	// CORSOrigins may call the app-native API from browsers.
	CORSOrigins []string
	// Issuer is the iss of tokens; default {base-url}/oauth2/token as WSO2 does.
	Issuer string

	SMTPHost       string
	SMTPPort       int
	SMTPFrom       string
	SMTPUsername   string
	SMTPPassword   string
	SMTPTLS        string
	SMSURL         string
	SMSBody        string
	SMSContentType string

	AdminPassword string

	// TOTPEnrollInFlow lets users without a TOTP credential enrol in the totp step of a login.
	TOTPEnrollInFlow bool

	// EmailTemplates is a YAML file of the scripts' sendEmail templates.
	EmailTemplates string

	// OutboundAllow lets outbound requests (SAML metadata URLs, jwks_uri, back-channel logout,
	// the SMS provider, scripts' HTTP) reach addresses the egress policy refuses by default:
	// "loopback", "private", CIDRs or IP addresses. Empty: only public addresses.
	OutboundAllow []string
	// outboundAllow is OutboundAllow parsed by validate.
	outboundAllow []netip.Prefix

	// ScriptHTTPAllowedDomains limits the hosts scripts' httpGet/httpPost may call (empty: any).
	ScriptHTTPAllowedDomains []string
	// ScriptAnalyticsURL, ScriptElasticURL and ScriptChoreoTokenURL serve callAnalytics,
	// callElastic and callChoreo.
	ScriptAnalyticsURL   string
	ScriptElasticURL     string
	ScriptChoreoTokenURL string

	// MaintenanceInterval is how often expired tokens and sessions are deleted;
	// SigningKeyRotation how long a signing key signs before it is rotated (0: never).
	MaintenanceInterval time.Duration
	SigningKeyRotation  time.Duration

	// LockoutMaxFailures locks an account after that many consecutive wrong passwords (0: never);
	// LockoutDuration is how long the lock lasts.
	LockoutMaxFailures int
	LockoutDuration    time.Duration

	// RateLimit is requests per minute per client IP on the login endpoints and for failed HTTP
	// Basic on the management APIs and SCIM, with RateLimitBurst at once (0: no rate limits at
	// all); RateLimitToken and RateLimitTokenBurst the same for the token, PAR and device
	// authorization endpoints (0: those not limited).
	RateLimit           int
	RateLimitBurst      int
	RateLimitToken      int
	RateLimitTokenBurst int

	// SessionIdleTimeout and SessionLifetime bound SSO sessions.
	SessionIdleTimeout time.Duration
	SessionLifetime    time.Duration

	LogFormat string
	LogLevel  string

	ShutdownTimeout time.Duration
}

// setting describes one configuration value: its flag, environment variable, YAML key, and
// whether it is a secret (secrets are never printed).
type setting struct {
	flag   string
	usage  string
	secret bool
	bind   func(fs *pflag.FlagSet, name, usage string)
}

func (s setting) env() string {
	return "KEYFLOW_" + strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_"))
}

// settings lists every setting once; flags, environment variables and YAML keys all derive from it.
func (c *Config) settings() []setting {
	str := func(p *string, def string) func(*pflag.FlagSet, string, string) {
		return func(fs *pflag.FlagSet, n, u string) { fs.StringVar(p, n, def, u) }
	}
	num := func(p *int, def int) func(*pflag.FlagSet, string, string) {
		return func(fs *pflag.FlagSet, n, u string) { fs.IntVar(p, n, def, u) }
	}
	dur := func(p *time.Duration, def time.Duration) func(*pflag.FlagSet, string, string) {
		return func(fs *pflag.FlagSet, n, u string) { fs.DurationVar(p, n, def, u) }
	}
	return []setting{
		{flag: "http-addr", usage: "address the HTTP server listens on", bind: str(&c.HTTPAddr, "localhost:8080")},
		{flag: "base-url", usage: "public URL of this server (default http://<http-addr>)", bind: str(&c.BaseURL, "")},
		{flag: "data-dir", usage: "directory for the embedded PostgreSQL and Temporal data, keys and the admin credential", bind: str(&c.DataDir, "keyflow-data")},
		{flag: "database-url", usage: "PostgreSQL URL; empty: run a private PostgreSQL cluster in the data dir (serve only)", secret: true, bind: str(&c.DatabaseURL, "")},
		{flag: "postgres-port", usage: "port of the private PostgreSQL cluster (0: any free port)", bind: num(&c.PostgresPort, 0)},
		{flag: "temporal-address", usage: "Temporal frontend host:port; empty: run an embedded Temporal server (serve only)", bind: str(&c.TemporalAddress, "")},
		{flag: "temporal-namespace", usage: "Temporal namespace", bind: str(&c.TemporalNamespace, "default")},
		{flag: "temporal-task-queue", usage: "Temporal task queue of Keyflow's workflows", bind: str(&c.TemporalTaskQueue, "keyflow")},
		{flag: "temporal-tls-ca", usage: "CA certificate file for the Temporal connection (enables TLS)", bind: str(&c.TemporalTLSCA, "")},
		{flag: "temporal-tls-cert", usage: "client certificate file for Temporal mTLS", bind: str(&c.TemporalTLSCert, "")},
		{flag: "temporal-tls-key", usage: "client key file for Temporal mTLS", bind: str(&c.TemporalTLSKey, "")},
		{flag: "temporal-tls-server-name", usage: "server name to verify on the Temporal connection", bind: str(&c.TemporalTLSServer, "")},
		{flag: "temporal-api-key", usage: "API key for Temporal Cloud (enables TLS)", secret: true, bind: str(&c.TemporalAPIKey, "")},
		{flag: "temporal-port", usage: "frontend port of the embedded Temporal server (0: any free port)", bind: num(&c.TemporalPort, 0)},
		{flag: "codec-keys", usage: "payload encryption keys id:base64(32 bytes),… first encrypts; empty: a generated key file in the data dir", secret: true, bind: str(&c.CodecKeys, "")},
		{flag: "encryption-keys", usage: "keys encrypting data at rest id:base64(32 bytes),… first encrypts; empty: a generated key in the data dir (serve only)", secret: true, bind: str(&c.EncryptionKeys, "")},
		{flag: "client-secret-pepper", usage: "base64 key (≥ 32 bytes) of the HMAC over OAuth2 client secrets; empty: generated in the data dir (serve only)", secret: true, bind: str(&c.ClientSecretPepper, "")},
		{flag: "cors-origins", usage: "comma-separated origins allowed to call the app-native API from a browser", bind: func(fs *pflag.FlagSet, n, u string) { fs.StringSliceVar(&c.CORSOrigins, n, nil, u) }},
		{flag: "trusted-proxies", usage: "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For names the client; empty: none", bind: func(fs *pflag.FlagSet, n, u string) { fs.StringSliceVar(&c.TrustedProxies, n, nil, u) }},
		{flag: "pprof-addr", usage: "loopback host:port serving Go's /debug/pprof profiles; empty: off", bind: str(&c.PprofAddr, "")},
		{flag: "issuer", usage: "issuer of tokens (default <base-url>/oauth2/token, as WSO2)", bind: str(&c.Issuer, "")},
		{flag: "smtp-host", usage: "mail server for email OTP and notifications; empty: email OTP is not available", bind: str(&c.SMTPHost, "")},
		{flag: "smtp-port", usage: "mail server port (0: 587, or 465 with --smtp-tls=tls)", bind: num(&c.SMTPPort, 0)},
		{flag: "smtp-from", usage: "sender address of mails", bind: str(&c.SMTPFrom, "Keyflow <no-reply@localhost>")},
		{flag: "smtp-username", usage: "mail server user", bind: str(&c.SMTPUsername, "")},
		{flag: "smtp-password", usage: "mail server password", secret: true, bind: str(&c.SMTPPassword, "")},
		{flag: "smtp-tls", usage: "mail server TLS: starttls, tls or none", bind: str(&c.SMTPTLS, "starttls")},
		{flag: "sms-url", usage: "HTTP endpoint of the SMS provider; empty: SMS OTP is not available", secret: true, bind: str(&c.SMSURL, "")},
		{flag: "sms-body", usage: "request body template of the SMS provider, with {{mobile}} and {{body}}", bind: str(&c.SMSBody, `{"to":"{{mobile}}","text":"{{body}}"}`)},
		{flag: "sms-content-type", usage: "content type of the SMS provider request", bind: str(&c.SMSContentType, "application/json")},
		{flag: "admin-password", usage: "password of the bootstrap admin user; empty: generated on first start and written to the data dir", secret: true, bind: str(&c.AdminPassword, "")},
		{flag: "totp-enroll-in-flow", usage: "users without TOTP enrol (QR code) in a login's totp step; scripts may override with enrolUserInAuthenticationFlow", bind: func(fs *pflag.FlagSet, n, u string) { fs.BoolVar(&c.TOTPEnrollInFlow, n, false, u) }},
		{flag: "email-templates", usage: "YAML file of sendEmail templates: <templateId>: {subject: …, body: …} with {{placeholders}}", bind: str(&c.EmailTemplates, "")},
		{flag: "outbound-allow", usage: "comma-separated address ranges outbound requests (SAML metadata URLs, jwks_uri, back-channel logout, SMS provider, scripts' HTTP) may reach besides public addresses: loopback, private, CIDRs or IPs; empty: public addresses only", bind: func(fs *pflag.FlagSet, n, u string) { fs.StringSliceVar(&c.OutboundAllow, n, nil, u) }},
		{flag: "script-http-allowed-domains", usage: "comma-separated domains scripts' httpGet/httpPost may call (and their subdomains); empty: any", bind: func(fs *pflag.FlagSet, n, u string) { fs.StringSliceVar(&c.ScriptHTTPAllowedDomains, n, nil, u) }},
		{flag: "script-analytics-url", usage: "base URL of the receiver of scripts' callAnalytics; empty: callAnalytics fails", bind: str(&c.ScriptAnalyticsURL, "")},
		{flag: "script-elastic-url", usage: "base URL of the Elasticsearch of scripts' callElastic; empty: callElastic fails", bind: str(&c.ScriptElasticURL, "")},
		{flag: "script-choreo-token-url", usage: "token endpoint of scripts' callChoreo when the script names none", bind: str(&c.ScriptChoreoTokenURL, "")},
		{flag: "maintenance-interval", usage: "how often expired tokens, codes and SSO sessions are deleted", bind: dur(&c.MaintenanceInterval, 15*time.Minute)},
		{flag: "signing-key-rotation", usage: "a token signing key is rotated after signing this long (0: never)", bind: dur(&c.SigningKeyRotation, 90*24*time.Hour)},
		{flag: "lockout-max-failures", usage: "consecutive wrong passwords (login, password grant, HTTP Basic) that lock an account; 0: never lock", bind: num(&c.LockoutMaxFailures, 5)},
		{flag: "lockout-duration", usage: "how long an account locked for wrong passwords stays locked", bind: dur(&c.LockoutDuration, 5*time.Minute)},
		{flag: "rate-limit", usage: "requests per minute per client IP on the login endpoints (app-native API, authorization POSTs, login and device forms), and failed HTTP Basic authentications per minute on the management APIs and SCIM; 0: no rate limits at all", bind: num(&c.RateLimit, 60)},
		{flag: "rate-limit-burst", usage: "requests a client IP may send at once before --rate-limit applies", bind: num(&c.RateLimitBurst, 20)},
		{flag: "rate-limit-token", usage: "requests per minute per client IP on /oauth2/token, /oauth2/par and /oauth2/device_authorize (relying parties' back ends call them for all their users); 0: not limited", bind: num(&c.RateLimitToken, 600)},
		{flag: "rate-limit-token-burst", usage: "requests a client IP may send at once before --rate-limit-token applies", bind: num(&c.RateLimitTokenBurst, 100)},
		{flag: "session-idle-timeout", usage: "an SSO session unused this long ends", bind: dur(&c.SessionIdleTimeout, 30*time.Minute)},
		{flag: "session-lifetime", usage: "an SSO session ends this long after the login that started it", bind: dur(&c.SessionLifetime, 10*time.Hour)},
		{flag: "log-format", usage: "log format: text or json", bind: str(&c.LogFormat, "text")},
		{flag: "log-level", usage: "log level: debug, info, warn or error", bind: str(&c.LogLevel, "info")},
		{flag: "shutdown-timeout", usage: "how long a graceful shutdown may take", bind: dur(&c.ShutdownTimeout, 20*time.Second)},
	}
}

// bindFlags registers every setting on fs plus --config, the YAML file.
func (c *Config) bindFlags(fs *pflag.FlagSet) {
	for _, s := range c.settings() {
		s.bind(fs, s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env()))
	}
	fs.String("config", "", "YAML configuration file; keys are the flag names (env KEYFLOW_CONFIG)")
}

// ConfigError is a setting with a value that is not allowed. The binary exits with status 2.
type ConfigError struct {
	Setting string // "--log-format / KEYFLOW_LOG_FORMAT"
	Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid configuration: %s: %s", e.Setting, e.Problem)
}

// load fills the settings that were not given as flags from the environment, then from the YAML
// file, and validates the result.
func (c *Config) load(fs *pflag.FlagSet, getenv func(string) string) error {
	file := getenv("KEYFLOW_CONFIG")
	if f := fs.Lookup("config"); f != nil && f.Changed {
		file = f.Value.String()
	}
	fileValues := map[string]any{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return &ConfigError{Setting: "--config / KEYFLOW_CONFIG", Problem: err.Error()}
		}
		if err := yaml.Unmarshal(b, &fileValues); err != nil {
			return &ConfigError{Setting: "--config / KEYFLOW_CONFIG", Problem: fmt.Sprintf("%s is not valid YAML: %v", file, err)}
		}
	}
	known := map[string]bool{}
	for _, s := range c.settings() {
		known[s.flag] = true
		f := fs.Lookup(s.flag)
		if f == nil || f.Changed {
			continue
		}
		name := fmt.Sprintf("--%s / %s", s.flag, s.env())
		if v := getenv(s.env()); v != "" {
			if err := f.Value.Set(v); err != nil {
				return &ConfigError{Setting: name, Problem: fmt.Sprintf("%q is not a valid %s", display(s, v), f.Value.Type())}
			}
			continue
		}
		if v, ok := fileValues[s.flag]; ok {
			sv := fmt.Sprint(v)
			if err := f.Value.Set(sv); err != nil {
				return &ConfigError{Setting: name, Problem: fmt.Sprintf("%q in %s is not a valid %s", display(s, sv), file, f.Value.Type())}
			}
		}
	}
	var unknown []string
	for k := range fileValues {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return &ConfigError{Setting: "--config / KEYFLOW_CONFIG", Problem: fmt.Sprintf("unknown keys in %s: %s", file, strings.Join(unknown, ", "))}
	}
	return c.validate()
}

func display(s setting, v string) string {
	if s.secret {
		return "<redacted>"
	}
	return v
}

func (c *Config) validate() error {
	bad := func(flag, problem string) error {
		return &ConfigError{Setting: fmt.Sprintf("--%s / %s", flag, setting{flag: flag}.env()), Problem: problem}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return bad("http-addr", fmt.Sprintf("%q is not host:port", c.HTTPAddr))
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.HTTPAddr
	}
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return bad("trusted-proxies", fmt.Sprintf("%q is neither an IP nor a CIDR", p))
			}
		}
	}
	allow, err := egress.ParseAllow(c.OutboundAllow)
	if err != nil {
		return bad("outbound-allow", strings.TrimPrefix(err.Error(), "egress: "))
	}
	c.outboundAllow = allow
	if c.PprofAddr != "" {
		host, _, err := net.SplitHostPort(c.PprofAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return bad("pprof-addr", fmt.Sprintf("%q must be a loopback host:port (profiles expose memory)", c.PprofAddr))
		}
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return bad("base-url", fmt.Sprintf("%q must be an absolute http(s) URL without query or fragment", c.BaseURL))
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Issuer == "" {
		c.Issuer = c.BaseURL + "/oauth2/token"
	}
	if iu, err := url.Parse(c.Issuer); err != nil || (iu.Scheme != "http" && iu.Scheme != "https") || iu.Host == "" || iu.RawQuery != "" || iu.Fragment != "" {
		return bad("issuer", fmt.Sprintf("%q must be an absolute http(s) URL without query or fragment", c.Issuer))
	}
	if c.EncryptionKeys != "" {
		if _, err := parseKeySpec(c.EncryptionKeys); err != nil {
			return bad("encryption-keys", err.Error())
		}
	}
	if c.ClientSecretPepper != "" {
		if p, err := base64.StdEncoding.DecodeString(c.ClientSecretPepper); err != nil || len(p) < 32 {
			return bad("client-secret-pepper", "must be standard base64 of at least 32 bytes")
		}
	}
	if c.DataDir == "" {
		return bad("data-dir", "must not be empty")
	}
	if c.DatabaseURL != "" {
		du, err := url.Parse(c.DatabaseURL)
		if err != nil || (du.Scheme != "postgres" && du.Scheme != "postgresql") {
			return bad("database-url", "must be a postgres:// or postgresql:// URL")
		}
	}
	if c.LockoutMaxFailures < 0 {
		return bad("lockout-max-failures", "must not be negative")
	}
	if c.LockoutDuration <= 0 {
		return bad("lockout-duration", "must be positive")
	}
	for flag, v := range map[string]int{"rate-limit": c.RateLimit, "rate-limit-token": c.RateLimitToken} {
		if v < 0 {
			return bad(flag, "must not be negative (0 disables)")
		}
	}
	for flag, v := range map[string]int{"rate-limit-burst": c.RateLimitBurst, "rate-limit-token-burst": c.RateLimitTokenBurst} {
		if v < 1 {
			return bad(flag, "must be at least 1")
		}
	}
	for flag, port := range map[string]int{"postgres-port": c.PostgresPort, "temporal-port": c.TemporalPort} {
		if port < 0 || port > 65535 {
			return bad(flag, strconv.Itoa(port)+" is not a port (0–65535)")
		}
	}
	if c.TemporalAddress != "" {
		if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
			return bad("temporal-address", fmt.Sprintf("%q is not host:port", c.TemporalAddress))
		}
	}
	if c.TemporalNamespace == "" {
		return bad("temporal-namespace", "must not be empty")
	}
	if c.TemporalTaskQueue == "" {
		return bad("temporal-task-queue", "must not be empty")
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		return bad("temporal-tls-cert", "--temporal-tls-cert and --temporal-tls-key must be given together")
	}
	for flag, path := range map[string]string{"temporal-tls-ca": c.TemporalTLSCA, "temporal-tls-cert": c.TemporalTLSCert, "temporal-tls-key": c.TemporalTLSKey} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return bad(flag, fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err)))
		}
	}
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		return bad("smtp-tls", fmt.Sprintf("%q is not allowed; use starttls, tls or none", c.SMTPTLS))
	}
	if c.SMTPPort < 0 || c.SMTPPort > 65535 {
		return bad("smtp-port", strconv.Itoa(c.SMTPPort)+" is not a port (0–65535)")
	}
	if c.SMSURL != "" {
		if su, err := url.Parse(c.SMSURL); err != nil || (su.Scheme != "http" && su.Scheme != "https") || su.Host == "" {
			return bad("sms-url", "must be an absolute http(s) URL")
		}
	}
	if c.AdminPassword != "" && len(c.AdminPassword) < 8 {
		return bad("admin-password", "must be at least 8 characters")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return bad("log-format", fmt.Sprintf("%q is not allowed; use text or json", c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return bad("log-level", fmt.Sprintf("%q is not allowed; use debug, info, warn or error", c.LogLevel))
	}
	for _, u := range []struct{ flag, v string }{{"script-analytics-url", c.ScriptAnalyticsURL},
		{"script-elastic-url", c.ScriptElasticURL}, {"script-choreo-token-url", c.ScriptChoreoTokenURL}} {
		if u.v == "" {
			continue
		}
		if pu, err := url.Parse(u.v); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return bad(u.flag, "must be an absolute http(s) URL")
		}
	}
	if c.MaintenanceInterval < time.Minute {
		return bad("maintenance-interval", "must be at least 1m")
	}
	if c.SigningKeyRotation < 0 || (c.SigningKeyRotation > 0 && c.SigningKeyRotation < time.Hour) {
		return bad("signing-key-rotation", "must be 0 (never) or at least 1h")
	}
	if c.SessionIdleTimeout <= 0 {
		return bad("session-idle-timeout", "must be positive")
	}
	if c.SessionLifetime < c.SessionIdleTimeout {
		return bad("session-lifetime", "must be at least --session-idle-timeout")
	}
	if c.ShutdownTimeout <= 0 {
		return bad("shutdown-timeout", "must be positive")
	}
	return nil
}

// logger builds the process logger from the configuration.
func (c *Config) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel)) // validated
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
