package notify_test

import (
	"strings"
	"testing"

	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/connectors/notify"
)

// TestHTTPSMSRefusedAddress: an SMS provider URL at an address the outbound policy refuses
// fails with the policy's reason, without the message (the URL carries it).
func TestHTTPSMSRefusedAddress(t *testing.T) {
	pol, err := egress.New(egress.Config{Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := notify.NewHTTPSMS(notify.HTTPSMSConfig{URL: "http://169.254.169.254/send?to={{mobile}}&text={{body}}",
		Client: pol.Client(egress.ClientOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), "+15550100", "code 123456")
	if !egress.IsRefused(err) || !strings.Contains(err.Error(), "169.254.169.254 is a link-local address (the cloud metadata service)") {
		t.Fatalf("Send: %v, want the cloud metadata refusal", err)
	}
	if strings.Contains(err.Error(), "123456") {
		t.Errorf("the error carries the message: %v", err)
	}
}
