package egress_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/connectors/egress"
)

func newPolicy(t *testing.T, allow ...string) *egress.Policy {
	t.Helper()
	prefixes, err := egress.ParseAllow(allow)
	if err != nil {
		t.Fatal(err)
	}
	p, err := egress.New(egress.Config{Allow: prefixes, Setting: "--outbound-allow"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckDefaultPolicy(t *testing.T) {
	p := newPolicy(t)
	for _, tc := range []struct {
		name, ip, kind, allow string
	}{
		{"this network", "0.0.0.0", egress.KindUnspecified, "0.0.0.0/32"},
		{"this network range", "0.1.2.3", egress.KindUnspecified, "0.1.2.3/32"},
		{"ipv6 unspecified", "::", egress.KindUnspecified, "::/128"},
		{"loopback", "127.0.0.1", egress.KindLoopback, "loopback"},
		{"loopback range", "127.9.9.9", egress.KindLoopback, "loopback"},
		{"ipv6 loopback", "::1", egress.KindLoopback, "loopback"},
		{"rfc1918 10", "10.0.0.5", egress.KindPrivate, "10.0.0.0/8"},
		{"rfc1918 172.16", "172.16.0.1", egress.KindPrivate, "172.16.0.0/12"},
		{"rfc1918 172.31", "172.31.255.255", egress.KindPrivate, "172.16.0.0/12"},
		{"rfc1918 192.168", "192.168.1.1", egress.KindPrivate, "192.168.0.0/16"},
		{"cgnat", "100.64.0.1", egress.KindShared, "100.64.0.0/10"},
		{"cgnat top", "100.127.255.254", egress.KindShared, "100.64.0.0/10"},
		{"link-local", "169.254.1.1", egress.KindLinkLocal, "169.254.1.1/32"},
		{"cloud metadata", "169.254.169.254", egress.KindLinkLocal, "169.254.169.254/32"},
		{"ipv6 link-local", "fe80::1", egress.KindLinkLocal, "fe80::1/128"},
		{"ipv6 link-local with zone", "fe80::1%eth0", egress.KindLinkLocal, "fe80::1/128"},
		{"unique-local fc", "fc00::1", egress.KindUniqueLocal, "fc00::/7"},
		{"unique-local fd", "fd12:3456::1", egress.KindUniqueLocal, "fc00::/7"},
		{"multicast", "224.0.0.1", egress.KindMulticast, "224.0.0.1/32"},
		{"ipv6 multicast", "ff02::1", egress.KindMulticast, "ff02::1/128"},
		{"broadcast", "255.255.255.255", egress.KindBroadcast, "255.255.255.255/32"},
		{"reserved", "240.0.0.1", egress.KindReserved, "240.0.0.1/32"},
		{"mapped loopback", "::ffff:127.0.0.1", egress.KindLoopback, "loopback"},
		{"mapped private", "::ffff:10.0.0.5", egress.KindPrivate, "10.0.0.0/8"},
		{"mapped metadata", "::ffff:169.254.169.254", egress.KindLinkLocal, "169.254.169.254/32"},
		{"ipv4-compatible private", "::10.0.0.5", egress.KindPrivate, "10.0.0.0/8"},
		{"nat64 private", "64:ff9b::10.1.2.3", egress.KindPrivate, "10.0.0.0/8"},
		{"6to4 loopback", "2002:7f00:1::1", egress.KindLoopback, "loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(netip.MustParseAddr(tc.ip))
			var e *egress.Error
			if !errors.As(err, &e) {
				t.Fatalf("Check(%s) = %v, want a refusal", tc.ip, err)
			}
			if e.Kind != tc.kind || e.Allow != tc.allow {
				t.Errorf("Check(%s): kind %q allow %q, want %q %q", tc.ip, e.Kind, e.Allow, tc.kind, tc.allow)
			}
			if !strings.Contains(err.Error(), "allow it with --outbound-allow "+tc.allow) {
				t.Errorf("message %q does not say how to allow it", err)
			}
		})
	}
	for _, ip := range []string{"93.184.215.14", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.15.255.255",
		"172.32.0.0", "169.253.255.255", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		t.Run("public "+ip, func(t *testing.T) {
			if err := p.Check(netip.MustParseAddr(ip)); err != nil {
				t.Errorf("Check(%s) = %v, want nil", ip, err)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	p := newPolicy(t)
	for _, tc := range []struct{ name, ip, want string }{
		{"private", "10.0.0.5", "egress: 10.0.0.5 is a private address; allow it with --outbound-allow 10.0.0.0/8"},
		{"metadata", "169.254.169.254", "egress: 169.254.169.254 is a link-local address (the cloud metadata service); allow it with --outbound-allow 169.254.169.254/32"},
		{"mapped", "::ffff:127.0.0.1", "egress: ::ffff:127.0.0.1 is an IPv6 form of 127.0.0.1, a loopback address; allow it with --outbound-allow loopback"},
		{"unspecified", "0.0.0.0", "egress: 0.0.0.0 is an unspecified address; allow it with --outbound-allow 0.0.0.0/32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Check(netip.MustParseAddr(tc.ip)); err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestCheckAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allow   []string
		allowed []string
		refused []string
	}{
		{"loopback shorthand", []string{"loopback"}, []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"},
			[]string{"10.0.0.1", "169.254.169.254", "0.0.0.0"}},
		{"private shorthand", []string{"private"}, []string{"10.0.0.5", "172.20.1.1", "192.168.0.10", "fd00::1", "::ffff:10.0.0.5"},
			[]string{"127.0.0.1", "100.64.0.1", "169.254.169.254", "fe80::1"}},
		{"cidr", []string{"10.1.0.0/16"}, []string{"10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::10.1.2.3"}, []string{"10.2.0.1", "127.0.0.1"}},
		{"single address", []string{"169.254.169.254"}, []string{"169.254.169.254"}, []string{"169.254.169.253"}},
		{"ipv6 cidr", []string{"fd00:1::/32"}, []string{"fd00:1::5"}, []string{"fd00:2::5", "::1"}},
		{"several, spaces and case", []string{" Loopback ", "", "192.168.0.0/16"}, []string{"127.0.0.1", "192.168.3.4"}, []string{"10.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy(t, tc.allow...)
			for _, ip := range tc.allowed {
				if err := p.Check(netip.MustParseAddr(ip)); err != nil {
					t.Errorf("Check(%s) = %v, want allowed", ip, err)
				}
			}
			for _, ip := range tc.refused {
				if err := p.Check(netip.MustParseAddr(ip)); !egress.IsRefused(err) {
					t.Errorf("Check(%s) = %v, want refused", ip, err)
				}
			}
		})
	}
}

func TestParseAllowRejects(t *testing.T) {
	for _, v := range []string{"localhost", "10.0.0.0/33", "10.0.0", "fe80::1%eth0", "all"} {
		t.Run(v, func(t *testing.T) {
			if _, err := egress.ParseAllow([]string{v}); err == nil {
				t.Errorf("ParseAllow(%q) accepted", v)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	p := newPolicy(t)
	for _, tc := range []struct {
		name, url string
		refused   bool
	}{
		{"public name", "https://rp.example.com/jwks", false},
		{"public ip", "https://93.184.215.14/jwks", false},
		{"private ip", "https://10.0.0.5/jwks", true},
		{"ipv6 loopback", "http://[::1]:8080/x", true},
		{"mapped in brackets", "http://[::ffff:169.254.169.254]/latest/meta-data", true},
		{"localhost", "http://localhost:8080/x", true},
		{"localhost subdomain", "http://app.localhost./x", true},
		{"scheme", "file:///etc/passwd", true},
		{"gopher", "gopher://rp.example.com/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.CheckURL(tc.url)
			if tc.refused != egress.IsRefused(err) {
				t.Errorf("CheckURL(%s) = %v, refused want %v", tc.url, err, tc.refused)
			}
		})
	}
}

// serve starts an HTTP server on addr ("127.0.0.1:0", "127.0.0.2:0") answering "ok".
func serve(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientRefusesAtDial(t *testing.T) {
	url := serve(t, "127.0.0.1:0", ok)
	refused := newPolicy(t).Client(egress.ClientOptions{})
	_, err := get(t, refused, url)
	var e *egress.Error
	if !errors.As(err, &e) || e.Kind != egress.KindLoopback || e.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("GET %s: %v, want a loopback refusal", url, err)
	}
	// A name is checked on the address it resolves to, when it is dialed.
	named := strings.Replace(url, "127.0.0.1", "localhost", 1)
	if _, err := get(t, refused, named); !egress.IsRefused(err) {
		t.Errorf("GET %s: %v, want a refusal", named, err)
	}
	allowed := newPolicy(t, "loopback").Client(egress.ClientOptions{})
	if body, err := get(t, allowed, url); err != nil || body != "ok" {
		t.Errorf("allowed GET %s: %q %v", url, body, err)
	}
}

func TestRedirectToRefusedAddress(t *testing.T) {
	inside := serve(t, "127.0.0.2:0", ok)
	for _, tc := range []struct{ name, target string }{
		{"loopback outside the allowed host", inside + "/secret"},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/"},
		{"private", "http://10.255.255.1/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := serve(t, "127.0.0.1:0", http.RedirectHandler(tc.target, http.StatusFound))
			// Only the first server's address is allowed: the redirect's dial is checked too.
			c := newPolicy(t, "127.0.0.1/32").Client(egress.ClientOptions{FollowRedirects: true})
			body, err := get(t, c, outside)
			if !egress.IsRefused(err) {
				t.Fatalf("redirect to %s: %q %v, want a refusal", tc.target, body, err)
			}
		})
	}
	// The redirect is followed when its target is allowed.
	outside := serve(t, "127.0.0.1:0", http.RedirectHandler(inside, http.StatusFound))
	c := newPolicy(t, "loopback").Client(egress.ClientOptions{FollowRedirects: true})
	if body, err := get(t, c, outside); err != nil || body != "ok" {
		t.Errorf("allowed redirect: %q %v", body, err)
	}
}

func TestClientSchemes(t *testing.T) {
	p := newPolicy(t, "loopback")
	c := p.Client(egress.ClientOptions{FollowRedirects: true})
	outside := serve(t, "127.0.0.1:0", http.RedirectHandler("ftp://127.0.0.1/x", http.StatusFound))
	if _, err := get(t, c, outside); !egress.IsRefused(err) {
		t.Errorf("redirect to ftp: %v, want a scheme refusal", err)
	}
	// Without FollowRedirects the redirect itself is the answer.
	nc := p.Client(egress.ClientOptions{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, outside, nil)
	resp, err := nc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("no-redirect client: status %d, want 302", resp.StatusCode)
	}
}
