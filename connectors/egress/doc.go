// Package egress guards Keyflow's outbound HTTP against server-side request forgery (SSRF).
//
// Keyflow fetches URLs that administrators and OAuth2 clients supply: SAML SP metadata URLs,
// clients' jwks_uri, back-channel logout endpoints, the SMS provider, the scripts'
// httpGet/httpPost. Without a policy any of them can make the server call its own loopback
// services, the private network, or a cloud metadata endpoint (169.254.169.254).
//
// Where it sits: cmd/keyflow builds one *Policy from --outbound-allow and hands each consumer an
// *http.Client from Policy.Client. The consumers (api/saml, api/apps, api/oauth2/op,
// flows/backchannel, api/oidclogout, connectors/notify, scripting/wfhost) only see an
// *http.Client; those that must tell a refusal from a network failure use errors.As with *Error.
//
// How a request flows:
//
//	client.Do ─▶ transport (http/https only) ─▶ DNS ─▶ net.Dialer.Control(resolved ip:port)
//	                                                       └─ Policy.Check(ip) ─▶ *Error, no connection
//
// The check runs at dial time on the address actually connected to, after DNS resolution, for
// every connection the transport opens: the first request, every redirect, every retry. A name
// that resolves to a public address when validated and to 10.0.0.5 when fetched (DNS
// rebinding) is therefore refused. The transport uses no proxy (a proxy would be the address
// checked, not the target).
//
// Refused by default: unspecified (0.0.0.0/8, ::), loopback (127.0.0.0/8, ::1), private (RFC
// 1918), shared address space / CGNAT (100.64.0.0/10), link-local (169.254.0.0/16, the cloud
// metadata address, fe80::/10), unique-local (fc00::/7), multicast, broadcast and the reserved
// 240.0.0.0/4, and IPv6 forms that embed one of those IPv4 addresses (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16). Config.Allow names ranges to
// let through (the "loopback" and "private" shorthands of ParseAllow, or CIDRs).
//
// Response-size limits are the callers' (each reads through an io.LimitReader).
package egress
