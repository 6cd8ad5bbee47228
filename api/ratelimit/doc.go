// Package ratelimit throttles, per client address, the HTTP endpoints that spend credentials or
// send messages, so that one client cannot stuff credentials across many users, guess OTPs
// across flows, bomb users with OTP mails and SMS, or exhaust the CPU and memory argon2id
// needs (≈ 20 ms and 19 MiB per password check). It complements the per-user lockout of
// connectors/basic, which one client spreading its guesses over many users never trips.
//
// Where it sits: cmd/keyflow builds a Guard from the --rate-limit* settings and hands it to
// api.Config; api.New installs Guard.Handler on the gin engine before any route, so the
// front-ends need no change. Per request:
//
//	method + route template (c.FullPath) ─► Rule (DefaultRules) ─► Class (Login, Token, Basic)
//	c.ClientIP() (X-Forwarded-For only from --trusted-proxies) ─► Key (IPv4, or IPv6 /64)
//	Limiter of the class: token bucket of the key ─► allowed: next handler
//	                                             └─► refused: 429 + Retry-After in the
//	                                                 rule's Format (OAuth2 JSON, app-native
//	                                                 ABA body, HTML page, REST or SCIM body)
//
// The Basic class counts only failures: a request with HTTP Basic credentials is refused when
// its client's budget is already spent, and a 401 answer spends a token.
//
// Error codes, and why:
//   - OAuth2 endpoints: temporarily_unavailable (RFC 6749 §4.1.2.1's code for "temporary
//     overloading"; clients treat it as retryable, where invalid_request or access_denied would
//     make them give up), except slow_down for a device_code poll at the token endpoint (RFC
//     8628 §3.5: the device then polls 5 s slower).
//   - App-native API: ABA-60001, WSO2's default client error, whose description varies by
//     cause. WSO2's catalog has no throttling code; ABA-60013/60014 would tell the app the flow
//     ended (retries or resends exhausted) while the flowId stays valid here, and an invented
//     code could collide with a future WSO2 one. Apps key on the 429 and Retry-After.
//   - Management APIs: code "429", message "Too Many Requests": the refusal happens before any
//     API, like WSO2's authentication valve, whose failures carry the HTTP status as the code
//     ("401", see authn.ErrUnauthorized).
//   - SCIM: status "429" in the RFC 7644 §3.12 error body (no scimType fits).
//   - Login pages: the error page with status 429 and the reason.
//
// Memory is bounded: a bucket that has refilled equals a new one and is dropped by sweeps (Run,
// and on the request path when a shard is full), and at most MaxKeys keys are tracked per
// class; beyond that new keys share one overflow bucket (see LimiterConfig.MaxKeys).
//
// State is per process and per address: users behind one NAT share a budget (raise
// --rate-limit for such populations), and with N api replicas behind a balancer that spreads a
// client over them, the client's effective budget is up to N times the configured one.
//
// Refusals carry no CORS headers (the guard runs before the app-native API's CORS handling), so
// a browser app calling /oauth2/authn cross-origin sees a failed request rather than the 429.
package ratelimit
