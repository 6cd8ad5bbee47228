package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults of Config and ClientOptions.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultClientTimeout         = 30 * time.Second
	// MaxRedirects is how many redirects a client that follows them follows.
	MaxRedirects = 10
)

// Config configures New. The zero value refuses every range listed in the package comment.
type Config struct {
	// Allow lists ranges let through although a refused range holds them (ParseAllow builds it
	// from "loopback", "private" and CIDRs). An IPv4 range also allows the IPv6 forms embedding
	// its addresses.
	Allow []netip.Prefix
	// Setting names the setting that fills Allow, for refusal messages ("--outbound-allow").
	Setting string
	// DialTimeout, TLSHandshakeTimeout and ResponseHeaderTimeout bound each phase of a request;
	// zero means the Default… constants.
	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
}

// Policy decides which addresses outbound requests may reach and makes clients that enforce it.
// It is safe for concurrent use; its clients share one connection pool.
type Policy struct {
	allow     []netip.Prefix
	setting   string
	refused   []refusedRange
	transport *http.Transport
}

// refusedRange is one range refused by default; suggest is what to allow instead of the
// single address ("" = the range itself).
type refusedRange struct {
	prefix  netip.Prefix
	kind    string
	suggest string
}

// Kinds of refusal, Error.Kind.
const (
	KindUnspecified = "unspecified"
	KindLoopback    = "loopback"
	KindPrivate     = "private"
	KindShared      = "shared (CGNAT)"
	KindLinkLocal   = "link-local"
	KindUniqueLocal = "unique-local"
	KindMulticast   = "multicast"
	KindBroadcast   = "broadcast"
	KindReserved    = "reserved"
	// KindScheme is a URL scheme other than http and https.
	KindScheme = "scheme"
)

// Shorthands ParseAllow accepts besides CIDRs and addresses.
const (
	AllowLoopback = "loopback"
	AllowPrivate  = "private"
)

func defaultRefused() []refusedRange {
	r := func(cidr, kind, suggest string) refusedRange {
		return refusedRange{prefix: netip.MustParsePrefix(cidr), kind: kind, suggest: suggest}
	}
	// Order matters only where ranges nest: 255.255.255.255 before 240.0.0.0/4.
	return []refusedRange{
		r("0.0.0.0/8", KindUnspecified, "host"),
		r("::/128", KindUnspecified, "host"),
		r("127.0.0.0/8", KindLoopback, AllowLoopback),
		r("::1/128", KindLoopback, AllowLoopback),
		r("10.0.0.0/8", KindPrivate, ""),
		r("172.16.0.0/12", KindPrivate, ""),
		r("192.168.0.0/16", KindPrivate, ""),
		r("100.64.0.0/10", KindShared, ""),
		r("169.254.0.0/16", KindLinkLocal, "host"),
		r("fe80::/10", KindLinkLocal, "host"),
		r("fc00::/7", KindUniqueLocal, ""),
		r("224.0.0.0/4", KindMulticast, "host"),
		r("ff00::/8", KindMulticast, "host"),
		r("255.255.255.255/32", KindBroadcast, "host"),
		r("240.0.0.0/4", KindReserved, "host"),
	}
}

// ParseAllow turns the values of an allow setting into prefixes: "loopback" (127.0.0.0/8,
// ::1), "private" (the RFC 1918 ranges and fc00::/7), a CIDR, or a single address. Empty values
// are skipped.
func ParseAllow(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		switch strings.ToLower(v) {
		case "":
			continue
		case AllowLoopback:
			out = append(out, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
			continue
		case AllowPrivate:
			out = append(out, netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
				netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"))
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		return nil, fmt.Errorf("egress: %q is neither loopback, private, a CIDR nor an IP address", v)
	}
	return out, nil
}

// New validates cfg and returns its policy.
func New(cfg Config) (*Policy, error) {
	for _, p := range cfg.Allow {
		if !p.IsValid() {
			return nil, errors.New("egress: Config.Allow holds an invalid prefix")
		}
	}
	if cfg.DialTimeout < 0 || cfg.TLSHandshakeTimeout < 0 || cfg.ResponseHeaderTimeout < 0 {
		return nil, errors.New("egress: negative timeout")
	}
	p := &Policy{setting: cfg.Setting, refused: defaultRefused()}
	for _, a := range cfg.Allow {
		p.allow = append(p.allow, a.Masked())
	}
	dialer := &net.Dialer{
		Timeout:   orDefault(cfg.DialTimeout, DefaultDialTimeout),
		KeepAlive: 30 * time.Second,
		Control:   p.control,
	}
	p.transport = &http.Transport{
		// No proxy: the check would apply to the proxy's address, not the target's.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    orDefault(cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  orDefault(cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Error is a request the policy refused: an address (Addr valid) or a URL scheme (Kind
// KindScheme). Its message says what to allow, if anything.
type Error struct {
	// Addr is the refused address as dialed; Embedded the IPv4 address it embeds, when that is
	// what a range holds.
	Addr     netip.Addr
	Embedded netip.Addr
	// Kind is one of the Kind… constants.
	Kind string
	// Allow is the value of the allow setting that would let Addr through ("" for a scheme).
	Allow string
	// Scheme is the refused URL scheme (Kind KindScheme).
	Scheme  string
	setting string
}

func (e *Error) Error() string {
	if e.Kind == KindScheme {
		return "egress: " + e.Reason() + "; use http or https"
	}
	setting := e.setting
	if setting == "" {
		setting = "the outbound allow-list"
	}
	return fmt.Sprintf("egress: %s; allow it with %s %s", e.Reason(), setting, e.Allow)
}

// Reason says what was refused without saying how to allow it, for answers to parties that
// do not configure the server (an OAuth2 client registering a jwks_uri).
func (e *Error) Reason() string {
	if e.Kind == KindScheme {
		return fmt.Sprintf("scheme %q is not allowed", e.Scheme)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is ", e.Addr)
	if e.Embedded.IsValid() {
		fmt.Fprintf(&b, "an IPv6 form of %s, ", e.Embedded)
	}
	what := e.Addr
	if e.Embedded.IsValid() {
		what = e.Embedded
	}
	article := "a"
	if e.Kind == KindUnspecified {
		article = "an"
	}
	fmt.Fprintf(&b, "%s %s address", article, e.Kind)
	if what == netip.MustParseAddr("169.254.169.254") || what == netip.MustParseAddr("fd00:ec2::254") {
		b.WriteString(" (the cloud metadata service)")
	}
	return b.String()
}

// IsRefused reports whether err is, or wraps, a refusal by a Policy.
func IsRefused(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Check returns an *Error when ip may not be dialed, nil when it may.
func (p *Policy) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return errors.New("egress: no address to check")
	}
	ip = ip.WithZone("")
	if p.allowed(ip) {
		return nil
	}
	if r, ok := p.match(ip.Unmap()); ok {
		e := &Error{Addr: ip, Kind: r.kind, Allow: r.allowValue(ip.Unmap()), setting: p.setting}
		if ip.Is4In6() {
			e.Embedded = ip.Unmap()
		}
		return e
	}
	if v4, ok := embeddedIPv4(ip); ok && !p.allowed(v4) {
		if r, ok := p.match(v4); ok {
			return &Error{Addr: ip, Embedded: v4, Kind: r.kind, Allow: r.allowValue(v4), setting: p.setting}
		}
	}
	return nil
}

func (p *Policy) allowed(ip netip.Addr) bool {
	for _, a := range p.allow {
		if a.Contains(ip) || a.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

func (p *Policy) match(ip netip.Addr) (refusedRange, bool) {
	for _, r := range p.refused {
		if r.prefix.Contains(ip) {
			return r, true
		}
	}
	return refusedRange{}, false
}

func (r refusedRange) allowValue(ip netip.Addr) string {
	switch r.suggest {
	case "":
		return r.prefix.String()
	case "host":
		return netip.PrefixFrom(ip, ip.BitLen()).String()
	}
	return r.suggest
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries in the forms a router or the
// kernel may translate: IPv4-compatible ::a.b.c.d (deprecated), NAT64 64:ff9b::/96 (RFC 6052)
// and 6to4 2002:aabb:ccdd::/48 (RFC 3056). IPv4-mapped addresses are handled by Unmap.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() || ip.Is4In6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case netip.MustParsePrefix("::/96").Contains(ip), netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case netip.MustParsePrefix("2002::/16").Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// control is the net.Dialer's Control: it runs after DNS resolution on the address about to
// be connected to.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return fmt.Errorf("egress: network %s is not allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: dial address %q: %w", address, err)
	}
	return p.Check(ap.Addr())
}

// CheckURL checks what can be checked of raw before any request: the scheme (http or https)
// and, when the host is an IP address or a localhost name, that address. A host name is
// checked when it is dialed. For registration-time validation of URLs fetched later.
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("egress: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &Error{Kind: KindScheme, Scheme: u.Scheme, setting: p.setting}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		// RFC 6761 §6.3: localhost names resolve to loopback.
		return p.Check(netip.MustParseAddr("127.0.0.1"))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.Check(ip)
	}
	return nil
}

// ClientOptions tunes one client of Policy.Client.
type ClientOptions struct {
	// Timeout bounds a whole request, redirects and body included; default DefaultClientTimeout.
	Timeout time.Duration
	// FollowRedirects follows up to MaxRedirects http(s) redirects (each dial checked);
	// otherwise a redirect is returned as the response.
	FollowRedirects bool
}

// Client returns an HTTP client whose every connection obeys the policy and that sends only
// http and https requests.
func (p *Policy) Client(o ClientOptions) *http.Client {
	c := &http.Client{Transport: p.RoundTripper(), Timeout: orDefault(o.Timeout, DefaultClientTimeout)}
	if o.FollowRedirects {
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("egress: stopped after %d redirects", MaxRedirects)
			}
			if s := req.URL.Scheme; s != "http" && s != "https" {
				return &Error{Kind: KindScheme, Scheme: s, setting: p.setting}
			}
			return nil
		}
	} else {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// RoundTripper returns the policy's transport: only http and https, every dial checked.
func (p *Policy) RoundTripper() http.RoundTripper { return guarded{p: p} }

type guarded struct{ p *Policy }

func (g guarded) RoundTrip(r *http.Request) (*http.Response, error) {
	if s := r.URL.Scheme; s != "http" && s != "https" {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, &Error{Kind: KindScheme, Scheme: s, setting: g.p.setting}
	}
	return g.p.transport.RoundTrip(r)
}
