package apps_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyflow/keyflow/api/apps"
	"github.com/keyflow/keyflow/connectors/egress"
)

// TestSAMLMetadataURLEgress: a metadataURL at an address the outbound policy refuses, directly
// or through a redirect, is answered 400 saying which address and how to allow it; nothing is
// stored. One at an allowed address is fetched.
func TestSAMLMetadataURLEgress(t *testing.T) {
	allow, err := egress.ParseAllow([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := egress.New(egress.Config{Allow: allow, Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *apps.Config) {
		c.MetadataClient = pol.Client(egress.ClientOptions{FollowRedirects: true})
	})
	id := e.create(t, `{"name": "wiki"}`)
	path := base + "/" + id + "/inbound-protocols/saml"

	redirect := httptest.NewServer(http.RedirectHandler("http://192.168.0.1/md", http.StatusFound))
	t.Cleanup(redirect.Close)
	for _, c := range []struct{ name, url, want string }{
		{"private", "http://10.0.0.5/md", "egress: 10.0.0.5 is a private address; allow it with --outbound-allow 10.0.0.0/8"},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", "egress: 169.254.169.254 is a link-local address (the cloud metadata service)"},
		// Go dials an IPv4-mapped address as IPv4; the check sees the address dialed.
		{"mapped loopback", "http://[::ffff:127.0.0.2]/md", "127.0.0.2 is a loopback address; allow it with --outbound-allow loopback"},
		{"redirect to private", redirect.URL, "egress: 192.168.0.1 is a private address; allow it with --outbound-allow 192.168.0.0/16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPut, path, "admin", `{"metadataURL": "`+c.url+`"}`)
			if status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") || !strings.Contains(body, c.want) {
				t.Errorf("%d %s\nwant 400 APP-60001 saying %q", status, body, c.want)
			}
		})
	}
	if _, err := e.s.SAMLServiceProviderByApplication(t.Context(), id); err == nil {
		t.Errorf("a refused metadata URL stored a provider")
	}

	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, metadata(t, "https://fetched.example.org/sp"))
	}))
	t.Cleanup(md.Close)
	if status, _, body := e.call(t, http.MethodPut, path, "admin", `{"metadataURL": "`+md.URL+`"}`); status != http.StatusCreated {
		t.Fatalf("allowed address: %d %s", status, body)
	}
}

// switchable is the outbound policy, or no check while off: it lets a test store a URL the
// policy refuses, as a server whose policy was later made stricter would have.
type switchable struct {
	pol *egress.Policy
	off atomic.Bool
}

func (s *switchable) CheckURL(raw string) error {
	if s.off.Load() {
		return nil
	}
	return s.pol.CheckURL(raw)
}

// TestOIDCOutboundURLEgress: with an outbound policy, an OIDC configuration naming a jwksUri
// or back-channel logout URL the policy refuses is answered 400 APP-60001 naming the field and
// the reason, on creation and on replacement, and nothing is stored. Allowed URLs, the
// front-channel URL (the browser calls it) and URLs the client already had are accepted.
func TestOIDCOutboundURLEgress(t *testing.T) {
	pol, err := egress.New(egress.Config{Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}
	out := &switchable{pol: pol}
	e := newEnv(t, func(c *apps.Config) { c.Outbound = out })
	oidc := func(jwksURI, backChannel string) string {
		return `{"grantTypes": ["authorization_code"], "callbackURLs": ["https://rp.example.com/cb"],
			"clientAuthentication": {"tokenEndpointAuthMethod": "private_key_jwt", "jwksUri": "` + jwksURI + `"},
			"logout": {"backChannelLogoutUrl": "` + backChannel + `", "frontChannelLogoutUrl": "http://10.0.0.9/fc"}}`
	}
	const (
		goodJWKS = "https://rp.example.com/jwks"
		goodBC   = "https://rp.example.com/bc"
	)
	refused := []struct{ name, jwksURI, backChannel, want string }{
		{"private jwksUri", "https://10.0.0.5/jwks", goodBC, "clientAuthentication.jwksUri is not allowed: 10.0.0.5 is a private address"},
		{"cloud metadata back-channel", goodJWKS, "http://169.254.169.254/logout", "logout.backChannelLogoutUrl is not allowed: 169.254.169.254 is a link-local address (the cloud metadata service)"},
		{"localhost back-channel", goodJWKS, "http://localhost:8080/bc", "logout.backChannelLogoutUrl is not allowed: 127.0.0.1 is a loopback address"},
		{"IPv6 loopback jwksUri", "https://[::1]/jwks", goodBC, "clientAuthentication.jwksUri is not allowed: ::1 is a loopback address"},
		{"scheme", "file:///etc/keys", goodBC, `clientAuthentication.jwksUri is not allowed: scheme \"file\" is not allowed`}, // JSON-escaped
	}
	check := func(t *testing.T, status int, body, want string) {
		t.Helper()
		if status != http.StatusBadRequest || !strings.Contains(body, "APP-60001") || !strings.Contains(body, want) {
			t.Errorf("%d %s\nwant 400 APP-60001 saying %q", status, body, want)
		}
		if strings.Contains(body, "--outbound-allow") {
			t.Errorf("the answer names the server's setting: %s", body)
		}
	}

	t.Run("create", func(t *testing.T) {
		for _, c := range refused {
			t.Run(c.name, func(t *testing.T) {
				status, _, body := e.call(t, http.MethodPost, base, "admin",
					`{"name": "refused", "inboundProtocolConfiguration": {"oidc": `+oidc(c.jwksURI, c.backChannel)+`}}`)
				check(t, status, body, c.want)
			})
		}
		// Nothing was stored under the name.
		e.create(t, `{"name": "refused", "inboundProtocolConfiguration": {"oidc": `+oidc(goodJWKS, goodBC)+`}}`)
	})

	id := e.create(t, `{"name": "rp"}`)
	path := base + "/" + id + "/inbound-protocols/oidc"
	if status, _, body := e.call(t, http.MethodPut, path, "admin", oidc(goodJWKS, goodBC)); status != http.StatusOK {
		t.Fatalf("allowed URLs: %d %s", status, body)
	}
	stored := func(t *testing.T) (string, string) {
		t.Helper()
		_, _, body := e.call(t, http.MethodGet, path, "admin", "")
		v := decode[struct {
			ClientAuthentication struct {
				JWKSURI string `json:"jwksUri"`
			} `json:"clientAuthentication"`
			Logout struct {
				BackChannelLogoutURL string `json:"backChannelLogoutUrl"`
			} `json:"logout"`
		}](t, body)
		return v.ClientAuthentication.JWKSURI, v.Logout.BackChannelLogoutURL
	}
	t.Run("replace", func(t *testing.T) {
		for _, c := range refused {
			t.Run(c.name, func(t *testing.T) {
				status, _, body := e.call(t, http.MethodPut, path, "admin", oidc(c.jwksURI, c.backChannel))
				check(t, status, body, c.want)
				if j, bc := stored(t); j != goodJWKS || bc != goodBC {
					t.Errorf("stored %q, %q after a refused PUT", j, bc)
				}
			})
		}
	})

	t.Run("a URL the client already has is not checked again", func(t *testing.T) {
		out.off.Store(true)
		status, _, body := e.call(t, http.MethodPut, path, "admin", oidc(goodJWKS, "http://192.168.1.7/bc"))
		out.off.Store(false)
		if status != http.StatusOK {
			t.Fatalf("stored without a policy: %d %s", status, body)
		}
		// An unrelated edit keeps it; changing it to another refused URL is refused.
		if status, _, body := e.call(t, http.MethodPut, path, "admin", oidc("https://keys.example.net/jwks", "http://192.168.1.7/bc")); status != http.StatusOK {
			t.Errorf("unrelated edit: %d %s", status, body)
		}
		status, _, body = e.call(t, http.MethodPut, path, "admin", oidc(goodJWKS, "http://192.168.1.8/bc"))
		check(t, status, body, "logout.backChannelLogoutUrl is not allowed: 192.168.1.8 is a private address")
	})

	t.Run("no policy, no check", func(t *testing.T) {
		e := newEnv(t)
		e.create(t, `{"name": "open", "inboundProtocolConfiguration": {"oidc": `+oidc("https://10.0.0.5/jwks", "http://127.0.0.1/bc")+`}}`)
	})
}
