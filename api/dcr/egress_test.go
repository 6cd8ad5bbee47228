package dcr_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/api/dcr"
	"github.com/keyflow/keyflow/connectors/egress"
)

// TestRegistrationRefusedOutboundURL: with an outbound policy, a jwks_uri or
// backchannel_logout_uri naming an address the policy refuses is invalid_client_metadata, at
// registration and at update; the answer names the address but not the server's setting.
// Host names pass (they are checked when called); allowed addresses pass.
func TestRegistrationRefusedOutboundURL(t *testing.T) {
	allow, err := egress.ParseAllow([]string{"192.168.7.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := egress.New(egress.Config{Allow: allow, Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *dcr.Config) { c.Outbound = pol })
	pkj := func(uri string) string {
		return `{"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "` + uri + `"}`
	}
	for _, c := range []struct{ name, body, want string }{
		{"private jwks_uri", pkj("https://10.0.0.5/jwks"), "jwks_uri is not allowed: 10.0.0.5 is a private address."},
		{"loopback jwks_uri", pkj("http://127.0.0.1:8080/jwks"), "jwks_uri is not allowed: 127.0.0.1 is a loopback address."},
		{"localhost jwks_uri", pkj("http://localhost:8080/jwks"), "jwks_uri is not allowed: 127.0.0.1 is a loopback address."},
		{"mapped jwks_uri", pkj("https://[::ffff:10.1.1.1]/jwks"), "10.1.1.1, a private address."},
		{"metadata back-channel logout", `{"redirect_uris": ["https://rp.example.com/cb"], "backchannel_logout_uri": "http://169.254.169.254/latest/meta-data/"}`,
			"backchannel_logout_uri is not allowed: 169.254.169.254 is a link-local address (the cloud metadata service)."},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPost, dcr.Path, "admin", c.body)
			eb := decode[errorBody](t, body)
			if status != http.StatusBadRequest || eb.Error != dcr.CodeInvalidClientMetadata || !strings.Contains(eb.Description, c.want) {
				t.Errorf("%d %s\nwant 400 invalid_client_metadata saying %q", status, body, c.want)
			}
			if strings.Contains(body, "--outbound-allow") {
				t.Errorf("the answer names the server's setting: %s", body)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM oauth2_clients`); n != 0 {
		t.Errorf("%d clients after refused registrations", n)
	}

	// A host name and an allowed address are registered; an update to a refused one is not.
	e.register(t, "admin", pkj("https://rp.example.com/jwks"))
	allowed := e.register(t, "admin", pkj("https://192.168.7.10/jwks"))
	status, _, body := e.call(t, http.MethodPut, dcr.Path+"/"+allowed.ClientID, allowed.RegistrationAccessToken, pkj("https://192.168.8.10/jwks"))
	if eb := decode[errorBody](t, body); status != http.StatusBadRequest || eb.Error != dcr.CodeInvalidClientMetadata ||
		!strings.Contains(eb.Description, "192.168.8.10 is a private address") {
		t.Errorf("update to a refused jwks_uri: %d %s", status, body)
	}
	if c, err := e.s.OAuth2Client(t.Context(), allowed.ClientID); err != nil || c.JWKSURI != "https://192.168.7.10/jwks" {
		t.Errorf("stored after a refused update: %q %v", c.JWKSURI, err)
	}
}
