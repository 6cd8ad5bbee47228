package apps_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
