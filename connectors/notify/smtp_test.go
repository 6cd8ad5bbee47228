package notify_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/connectors/notify/notifytest"
)

func TestSMTPSend(t *testing.T) {
	tests := []struct {
		name    string
		server  notifytest.Options
		mode    notify.TLSMode
		user    string
		pass    string
		wantTLS bool
		wantErr bool
	}{
		{name: "starttls with auth", server: notifytest.Options{TLS: true, Username: "u", Password: "p"},
			mode: notify.StartTLS, user: "u", pass: "p", wantTLS: true},
		{name: "implicit tls", server: notifytest.Options{TLS: true, Implicit: true}, mode: notify.ImplicitTLS, wantTLS: true},
		{name: "plain relay", server: notifytest.Options{}, mode: notify.NoTLS},
		{name: "starttls required but not offered", server: notifytest.Options{}, mode: notify.StartTLS, wantErr: true},
		{name: "wrong password", server: notifytest.Options{TLS: true, Username: "u", Password: "p"},
			mode: notify.StartTLS, user: "u", pass: "bad", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := notifytest.Start(t, tc.server)
			s, err := notify.NewSMTP(notify.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: tc.mode, TLSConfig: srv.ClientTLS,
				From: "Keyflow <no-reply@example.com>", Username: tc.user, Password: tc.pass, Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(t.Context(), notify.Mail{To: []string{"Jöhn <john@example.com>"}, Subject: "Ваш код",
				Text: "Your code is 123456.\nLine two with = sign and a very long line " + strings.Repeat("x", 100)})
			if tc.wantErr {
				if err == nil {
					t.Fatal("Send succeeded")
				}
				if srv.Pending() != 0 {
					t.Error("a message was delivered anyway")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := srv.Next(t)
			if m.TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", m.TLS, tc.wantTLS)
			}
			if m.From != "no-reply@example.com" || len(m.To) != 1 || m.To[0] != "john@example.com" {
				t.Errorf("envelope %s → %v", m.From, m.To)
			}
			if got := m.Header(t, "Subject"); got != "Ваш код" {
				t.Errorf("subject %q", got)
			}
			if got := m.Text(t); !strings.Contains(got, "Your code is 123456.\r\nLine two with = sign") ||
				!strings.Contains(got, strings.Repeat("x", 100)) {
				t.Errorf("body %q", got)
			}
			if m.Header(t, "Message-ID") == "" || m.Header(t, "Date") == "" {
				t.Error("Message-ID or Date missing")
			}
		})
	}
}

func TestSMTPHeaderInjection(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{})
	s, err := notify.NewSMTP(notify.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: notify.NoTLS, From: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), notify.Mail{To: []string{"x@example.com\r\nBcc: evil@example.com"}, Text: "t"}); err == nil {
		t.Error("a recipient with CRLF was accepted")
	}
	if err := s.Send(t.Context(), notify.Mail{To: []string{"x@example.com"}, Subject: "hi\r\nBcc: evil@example.com", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	m := srv.Next(t)
	if strings.Contains(string(m.Data), "\r\nBcc:") {
		t.Errorf("subject injected a header:\n%s", m.Data)
	}
}

// TestSMTPTimeout points the sender at a server that accepts the connection and never speaks.
func TestSMTPTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{name: "config timeout", timeout: 200 * time.Millisecond,
			ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{name: "context deadline", timeout: time.Minute,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: notify.NoTLS, From: "a@example.com", Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Send(ctx, notify.Mail{To: []string{"b@example.com"}, Text: "x"}) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Send to a silent server succeeded")
				}
				var ne net.Error
				if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
					t.Errorf("error %v is not a timeout", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Send did not honour its timeout")
			}
		})
	}
}

func TestNewSMTPValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  notify.SMTPConfig
	}{
		{name: "no host", cfg: notify.SMTPConfig{From: "a@example.com"}},
		{name: "bad from", cfg: notify.SMTPConfig{Host: "h", From: "not an address"}},
		{name: "bad mode", cfg: notify.SMTPConfig{Host: "h", From: "a@example.com", TLS: "ssl3"}},
		{name: "credentials in clear", cfg: notify.SMTPConfig{Host: "h", From: "a@example.com", TLS: notify.NoTLS, Username: "u"}},
		{name: "bad port", cfg: notify.SMTPConfig{Host: "h", From: "a@example.com", Port: 70000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := notify.NewSMTP(tc.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}
