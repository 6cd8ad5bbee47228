package main

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/backupcodes"
	"github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/emailotp"
	"github.com/keyflow/keyflow/connectors/identifier"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/smsotp"
	"github.com/keyflow/keyflow/connectors/totp"
)

// purposeKey derives an independent 32-byte key for one purpose from a key-encryption key, so one
// configured secret serves every keyed hash without reusing a key across purposes.
func purposeKey(kek namedKey, purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, kek.Key, nil, "keyflow/"+purpose+"/"+kek.ID, 32)
}

// authenticators builds the registry of local authenticators the login workflow can run. Email
// and SMS OTP are registered only when a mail server or SMS provider is configured.
func (p *process) authenticators(sec serverSecrets) (connectors.Registry, error) {
	active := sec.keks[0]
	log := p.log.With("component", "authenticator")
	var auths []connectors.Authenticator

	b, err := basic.New(basic.Config{Logger: log}, basic.Deps{Users: p.store, Organizations: p.store})
	if err != nil {
		return nil, fmt.Errorf("BasicAuthenticator: %w", err)
	}
	id, err := identifier.New(identifier.Config{}, identifier.Deps{Users: p.store, Organizations: p.store})
	if err != nil {
		return nil, fmt.Errorf("IdentifierExecutor: %w", err)
	}
	auths = append(auths, b, id)

	totpKey, err := purposeKey(active, "totp")
	if err != nil {
		return nil, err
	}
	old := map[string][]byte{}
	for _, k := range sec.keks[1:] {
		if old[k.ID], err = purposeKey(k, "totp"); err != nil {
			return nil, err
		}
	}
	t, err := totp.New(totp.Config{EncryptionKey: totpKey, KeyID: active.ID, OldKeys: old, Issuer: "Keyflow", Logger: log},
		totp.Deps{Credentials: p.store})
	if err != nil {
		return nil, fmt.Errorf("totp: %w", err)
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

	if p.cfg.SMTPHost != "" {
		mailer, err := notify.NewSMTP(notify.SMTPConfig{
			Host: p.cfg.SMTPHost, Port: p.cfg.SMTPPort, From: p.cfg.SMTPFrom,
			Username: p.cfg.SMTPUsername, Password: p.cfg.SMTPPassword, TLS: notify.TLSMode(p.cfg.SMTPTLS),
		})
		if err != nil {
			return nil, &ConfigError{Setting: "--smtp-host / KEYFLOW_SMTP_HOST", Problem: err.Error()}
		}
		key, err := purposeKey(active, "email-otp")
		if err != nil {
			return nil, err
		}
		e, err := emailotp.New(emailotp.Config{HashKey: key, Logger: log}, emailotp.Deps{Claims: p.store, Mailer: mailer})
		if err != nil {
			return nil, fmt.Errorf("email OTP: %w", err)
		}
		auths = append(auths, e)
	}
	if p.cfg.SMSURL != "" {
		sender, err := notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: p.cfg.SMSURL, Body: p.cfg.SMSBody, ContentType: p.cfg.SMSContentType})
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
