package oidclogout_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/api/oidclogout"
	"github.com/keyflow/keyflow/connectors/egress"
)

// TestHTTPNotifierRefusedAddress: a back-channel logout URL at an address the outbound policy
// refuses fails after one attempt (not retried) and the failure is logged with the reason.
func TestHTTPNotifierRefusedAddress(t *testing.T) {
	pol, err := egress.New(egress.Config{Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	n := oidclogout.NewHTTPNotifier(oidclogout.HTTPNotifierConfig{
		Client:   pol.Client(egress.ClientOptions{}),
		Attempts: 5,
		Backoff:  func(int) time.Duration { return time.Millisecond },
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	n.Notify(t.Context(), []oidclogout.Message{{RelyingParty: "rp1", URL: "http://10.0.0.5/logout",
		ContentType: "application/x-www-form-urlencoded", Body: []byte("logout_token=x")}})
	if err := n.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "back-channel logout failed") || !strings.Contains(out, "attempts=1") ||
		!strings.Contains(out, "egress: 10.0.0.5 is a private address") {
		t.Errorf("log:\n%s\nwant one failed attempt naming the refused address", out)
	}
	if strings.Contains(out, "logout_token=x") {
		t.Errorf("the message body was logged")
	}
}
