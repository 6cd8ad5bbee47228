package flows_test

import (
	"testing"

	"github.com/keyflow/keyflow/flows"
)

// The ids the WSO2 SDKs hard-code (app-native §1.4) must come out byte for byte.
func TestAuthenticatorID(t *testing.T) {
	tests := []struct{ name, idp, id string }{
		{"BasicAuthenticator", "LOCAL", "QmFzaWNBdXRoZW50aWNhdG9yOkxPQ0FM"},
		{"IdentifierExecutor", "LOCAL", "SWRlbnRpZmllckV4ZWN1dG9yOkxPQ0FM"},
		{"email-otp-authenticator", "LOCAL", "ZW1haWwtb3RwLWF1dGhlbnRpY2F0b3I6TE9DQUw"},
		{"sms-otp-authenticator", "LOCAL", "c21zLW90cC1hdXRoZW50aWNhdG9yOkxPQ0FM"},
		{"totp", "LOCAL", "dG90cDpMT0NBTA"},
		{"FIDOAuthenticator", "LOCAL", "RklET0F1dGhlbnRpY2F0b3I6TE9DQUw"},
		{"GoogleOIDCAuthenticator", "Google", "R29vZ2xlT0lEQ0F1dGhlbnRpY2F0b3I6R29vZ2xl"},
		{"GithubAuthenticator", "GitHub", "R2l0aHViQXV0aGVudGljYXRvcjpHaXRIdWI"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := flows.AuthenticatorID(tc.name, tc.idp); got != tc.id {
				t.Errorf("AuthenticatorID = %s, want %s", got, tc.id)
			}
			name, idp, ok := flows.DecodeAuthenticatorID(tc.id)
			if !ok || name != tc.name || idp != tc.idp {
				t.Errorf("decode = %q %q %v", name, idp, ok)
			}
		})
	}
	for _, bad := range []string{"", "!!!", "bm90OmFuOmlk" /* not:an:id */, "Om5vbmFtZQ" /* :noname */} {
		if _, _, ok := flows.DecodeAuthenticatorID(bad); ok {
			t.Errorf("DecodeAuthenticatorID(%q) accepted", bad)
		}
	}
}
