package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/backupcodes"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/connectors/emailotp"
	"github.com/keyflow/keyflow/connectors/fido"
	"github.com/keyflow/keyflow/connectors/identifier"
	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/connectors/magiclink"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/smsotp"
	"github.com/keyflow/keyflow/connectors/totp"
)

// mailer is the SMTP client of --smtp-host, nil when mail is not configured.
func (p *process) mailer() (*notify.SMTP, error) {
	if p.cfg.SMTPHost == "" {
		return nil, nil
	}
	m, err := notify.NewSMTP(notify.SMTPConfig{
		Host: p.cfg.SMTPHost, Port: p.cfg.SMTPPort, From: p.cfg.SMTPFrom,
		Username: p.cfg.SMTPUsername, Password: p.cfg.SMTPPassword, TLS: notify.TLSMode(p.cfg.SMTPTLS),
	})
	if err != nil {
		return nil, &ConfigError{Setting: "--smtp-host / KEYFLOW_SMTP_HOST", Problem: err.Error()}
	}
	return m, nil
}

// purposeKey derives an independent 32-byte key for one purpose from a key-encryption key, so one
// configured secret serves every keyed hash without reusing a key across purposes.
func purposeKey(kek namedKey, purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, kek.Key, nil, "keyflow/"+purpose+"/"+kek.ID, 32)
}

// userStoreKeyring seals and opens the bind passwords of secondary user stores, with a key derived
// from each encryption key (the first seals).
func userStoreKeyring(sec serverSecrets) (*ldapstore.Keyring, error) {
	keys := make([]ldapstore.Key, len(sec.keks))
	for i, k := range sec.keks {
		key, err := purposeKey(k, "userstore-bind")
		if err != nil {
			return nil, err
		}
		keys[i] = ldapstore.Key{ID: k.ID, Key: key}
	}
	return ldapstore.NewKeyring(keys...)
}

// userStores opens the organizations' LDAP/AD user stores (settings are read from PostgreSQL at
// each login); the connection pools close at shutdown.
func (p *process) userStores(sec serverSecrets) (*ldapstore.Registry, error) {
	keyring, err := userStoreKeyring(sec)
	if err != nil {
		return nil, fmt.Errorf("user store keys: %w", err)
	}
	reg, err := ldapstore.NewRegistry(ldapstore.RegistryConfig{Store: p.store, Keys: keyring,
		Logger: p.log.With("component", "userstores")})
	if err != nil {
		return nil, err
	}
	p.onStop(func(context.Context) { reg.Close() })
	return reg, nil
}

// lockout is BasicAuthenticator's configuration: the same lock policy wherever a password is
// checked (logins, the password grant, HTTP Basic on the management APIs).
func (p *process) lockout(log *slog.Logger) basic.Config {
	return basic.Config{MaxFailures: p.cfg.LockoutMaxFailures, LockDuration: p.cfg.LockoutDuration, Logger: log,
		Gate: p.gate}
}

// totp is the TOTP authenticator (the login's totp step and My Account's enrolment API): secrets
// sealed with a key derived from each encryption key, the first sealing.
func (p *process) totp(sec serverSecrets, log *slog.Logger) (*totp.Authenticator, error) {
	active := sec.keks[0]
	key, err := purposeKey(active, "totp")
	if err != nil {
		return nil, err
	}
	old := map[string][]byte{}
	for _, k := range sec.keks[1:] {
		if old[k.ID], err = purposeKey(k, "totp"); err != nil {
			return nil, err
		}
	}
	t, err := totp.New(totp.Config{EncryptionKey: key, KeyID: active.ID, OldKeys: old, Issuer: "Keyflow", Logger: log,
		EnrollInFlow: p.cfg.TOTPEnrollInFlow}, totp.Deps{Credentials: p.store})
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	return t, nil
}

// authenticators builds the registry of local authenticators the login workflow can run. Email
// OTP and magic link are registered only when a mail server is configured, SMS OTP only with an
// SMS provider, passkeys only when --base-url names a host (not an IP address).
func (p *process) authenticators(sec serverSecrets) (connectors.Registry, error) {
	active := sec.keks[0]
	log := p.log.With("component", "authenticator")
	var auths []connectors.Authenticator

	stores, err := p.userStores(sec)
	if err != nil {
		return nil, err
	}
	b, err := basic.New(p.lockout(log), basic.Deps{Users: p.store, Organizations: p.store, Secondary: stores})
	if err != nil {
		return nil, fmt.Errorf("BasicAuthenticator: %w", err)
	}
	id, err := identifier.New(identifier.Config{}, identifier.Deps{Users: p.store, Organizations: p.store})
	if err != nil {
		return nil, fmt.Errorf("IdentifierExecutor: %w", err)
	}
	auths = append(auths, b, id)

	t, err := p.totp(sec, log)
	if err != nil {
		return nil, err
	}
	codesKey, err := purposeKey(active, "backup-codes")
	if err != nil {
		return nil, err
	}
	bc, err := backupcodes.New(backupcodes.Config{HashKey: codesKey, Logger: log}, backupcodes.Deps{Codes: p.store})
	if err != nil {
		return nil, fmt.Errorf("backup codes: %w", err)
	}
	auths = append(auths, t, bc)

	// Passkeys: the RP ID is the host of --base-url, the origin its scheme://host[:port].
	// WebAuthn has no relying party on an IP address, so such a deployment has no passkeys.
	base, err := url.Parse(p.cfg.BaseURL)
	if err != nil {
		return nil, &ConfigError{Setting: "--base-url / KEYFLOW_BASE_URL", Problem: err.Error()}
	}
	if net.ParseIP(base.Hostname()) != nil {
		log.Warn("passkeys (FIDOAuthenticator) need a domain name in --base-url; not registered", "base_url", p.cfg.BaseURL)
	} else {
		f, err := fido.New(fido.Config{RPID: base.Hostname(), RPOrigins: []string{base.Scheme + "://" + base.Host}, Logger: log},
			fido.Deps{Credentials: p.store, Users: p.store, Organizations: p.store})
		if err != nil {
			return nil, fmt.Errorf("FIDOAuthenticator: %w", err)
		}
		auths = append(auths, f)
	}

	mailer, err := p.mailer()
	if err != nil {
		return nil, err
	}
	if mailer != nil {
		key, err := purposeKey(active, "email-otp")
		if err != nil {
			return nil, err
		}
		e, err := emailotp.New(emailotp.Config{HashKey: key, Logger: log}, emailotp.Deps{Claims: p.store, Mailer: mailer})
		if err != nil {
			return nil, fmt.Errorf("email OTP: %w", err)
		}
		mlKey, err := purposeKey(active, "magic-link")
		if err != nil {
			return nil, err
		}
		ml, err := magiclink.New(magiclink.Config{BaseURL: p.cfg.BaseURL, HashKey: mlKey, Logger: log},
			magiclink.Deps{Users: p.store, Organizations: p.store, Mailer: mailer})
		if err != nil {
			return nil, fmt.Errorf("magic link: %w", err)
		}
		auths = append(auths, e, ml)
	}
	if p.cfg.SMSURL != "" {
		out, err := p.outbound()
		if err != nil {
			return nil, err
		}
		sender, err := notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: p.cfg.SMSURL, Body: p.cfg.SMSBody, ContentType: p.cfg.SMSContentType,
			Client: out.Client(egress.ClientOptions{Timeout: 10 * time.Second, FollowRedirects: true})})
		if err != nil {
			return nil, &ConfigError{Setting: "--sms-url / KEYFLOW_SMS_URL", Problem: err.Error()}
		}
		key, err := purposeKey(active, "sms-otp")
		if err != nil {
			return nil, err
		}
		s, err := smsotp.New(smsotp.Config{HashKey: key, Logger: log}, smsotp.Deps{Claims: p.store, Sender: sender})
		if err != nil {
			return nil, fmt.Errorf("SMS OTP: %w", err)
		}
		auths = append(auths, s)
	}
	return connectors.NewRegistry(auths...)
}
