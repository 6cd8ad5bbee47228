package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode is how the SMTP connection is secured.
type TLSMode string

// TLS modes.
const (
	// StartTLS upgrades a plain connection with STARTTLS, which the server must offer (port 587).
	StartTLS TLSMode = "starttls"
	// ImplicitTLS opens a TLS connection directly (port 465, RFC 8314).
	ImplicitTLS TLSMode = "tls"
	// NoTLS sends in clear; for relays on loopback or a trusted network only.
	NoTLS TLSMode = "none"
)

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	// Host and Port of the submission server. Port defaults to 587, or 465 with ImplicitTLS.
	Host string
	Port int
	// From is the sender address, optionally with a display name ("Keyflow <no-reply@example.com>").
	From string
	// Username and Password authenticate with SASL PLAIN when Username is set.
	Username string
	Password string
	// TLS defaults to StartTLS.
	TLS TLSMode
	// TLSConfig overrides the TLS client configuration (custom roots); ServerName defaults to Host.
	TLSConfig *tls.Config
	// AllowInsecureAuth permits sending credentials without TLS (tests against a loopback server).
	AllowInsecureAuth bool
	// Timeout bounds one delivery, connect to QUIT; default 30s.
	Timeout time.Duration
	// LocalName is sent in EHLO; default "localhost".
	LocalName string
	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time
}

// Mail is one plain-text message.
type Mail struct {
	To      []string
	Subject string
	Text    string
}

// SMTP sends mail through one submission server. It is safe for concurrent use.
type SMTP struct {
	cfg  SMTPConfig
	from *mail.Address
	addr string
}

// NewSMTP validates cfg and returns a sender. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: SMTP Host is required")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP From %q: %w", cfg.From, err)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = StartTLS
	case StartTLS, ImplicitTLS, NoTLS:
	default:
		return nil, fmt.Errorf("notify: unknown SMTP TLS mode %q", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == ImplicitTLS {
			cfg.Port = 465
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("notify: SMTP Port %d out of range", cfg.Port)
	}
	if cfg.Username != "" && cfg.TLS == NoTLS && !cfg.AllowInsecureAuth {
		return nil, errors.New("notify: SMTP credentials without TLS need AllowInsecureAuth")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("notify: negative SMTP Timeout")
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SMTP{cfg: cfg, from: from, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}, nil
}

// Send delivers m. It returns when the server accepted the message (or failed), within
// Config.Timeout and ctx.
func (s *SMTP) Send(ctx context.Context, m Mail) (err error) {
	msg, rcpts, err := s.compose(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("notify: smtp connect: %w", err)
	}
	// The deadline covers the whole exchange; closing on cancellation unblocks any read.
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return fmt.Errorf("notify: smtp deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	tlsCfg := s.tlsConfig()
	var c *smtp.Client
	switch s.cfg.TLS {
	case ImplicitTLS:
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("notify: smtp tls: %w", err)
		}
		c = smtp.NewClient(tc)
	case StartTLS:
		c, err = smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			conn.Close()
			return fmt.Errorf("notify: smtp starttls: %w", ctxErr(ctx, err))
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fmt.Errorf("notify: smtp hello: %w", ctxErr(ctx, err))
	}
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return fmt.Errorf("notify: smtp auth: %w", ctxErr(ctx, err))
		}
	}
	if err := c.SendMail(s.from.Address, rcpts, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("notify: smtp send: %w", ctxErr(ctx, err))
	}
	// The message was accepted at the end of DATA; a failed QUIT loses nothing.
	_ = c.Quit()
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

func (s *SMTP) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.cfg.Host
	}
	return cfg
}

// compose builds an RFC 5322 message: UTF-8 text, quoted-printable, headers encoded per RFC 2047.
// Addresses are parsed, so nothing a user controls can inject a header.
func (s *SMTP) compose(m Mail) ([]byte, []string, error) {
	if len(m.To) == 0 {
		return nil, nil, errors.New("notify: mail without recipients")
	}
	rcpts := make([]string, len(m.To))
	to := make([]string, len(m.To))
	for i, raw := range m.To {
		a, err := mail.ParseAddress(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("notify: recipient %d: %w", i, err)
		}
		rcpts[i], to[i] = a.Address, a.String()
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, nil, fmt.Errorf("notify: message id: %w", err)
	}
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", s.from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", strings.NewReplacer("\r", " ", "\n", " ").Replace(m.Subject)))
	hdr("Date", s.cfg.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, nil, fmt.Errorf("notify: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, nil, fmt.Errorf("notify: encode body: %w", err)
	}
	return b.Bytes(), rcpts, nil
}
