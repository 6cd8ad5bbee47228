// Command bench is Keyflow's load and latency harness (make bench). It starts the keyflow binary
// the way a user does, measures it from the outside, and prints a table plus one machine-readable
// JSON summary line. Every figure with a target is printed with it and whether it is met.
//
// Measured in one run against one `keyflow serve` (embedded Temporal, private PostgreSQL):
//   - cold start to ready (first start, which initialises PostgreSQL and Temporal, and a restart
//     on the same data dir, on the same address) and the idle memory of `keyflow serve`;
//   - the limits of this machine, measured in the same run: one argon2id hash with the OWASP
//     parameters of package connectors/password and one ES256 JWS (go-jose, as jwtkeys signs);
//   - full app-native logins (authorization code + PKCE, the WSO2 wire): POST /oauth2/authorize
//     with response_mode=direct, POST /oauth2/authn with username and password, POST
//     /oauth2/token, first by one client one after another, then by -clients concurrent clients,
//     each for a fixed duration; logins/s and p50/p99 of the whole login and of each step; the
//     CPU per login of keyflow serve and of its PostgreSQL (/proc), the Temporal requests,
//     workflow tasks and activities per login (the SDK's metrics on /metrics) and, with -perf, a
//     Linux perf profile of keyflow serve summarised by component (argon2id, GC, signatures,
//     SQLite, pgx, protobuf, Temporal server and SDK, HTTP);
//   - script decision overhead: one client logs in through two applications that differ only by
//     an adaptive script, alternately; CPU per login and p50 are compared;
//   - the fast paths at -clients concurrent clients: discovery, JWKS, client-credentials JWT
//     issuance and introspection of a JWT access token (req/s, p50/p99, issue 4's targets);
//   - the peer: panva's oidc-provider (bench/peer, Node) configured like Keyflow (ES256, argon2id
//     with the same parameters, a login without consent) on a loopback port, driven by the same
//     client-credentials and login loads (its login is the browser redirect flow); Keyflow/peer
//     ratios for client credentials and full logins;
//   - SCIM at -scim-users users: seeded with SCIM Bulk (100 POSTs per request, as the admin over
//     HTTP Basic) for at most -scim-budget, the rest through package store; Bulk creation rate
//     and CPU per user; GET /scim2/Users?filter=userName eq "…" p50/p99 over HTTP and the same
//     statements through package store (the HTTP figure includes the Basic check, one argon2id);
//   - memory per open login: the Go heap growth over -open-logins logins left at their first step.
//
// Set-up uses only HTTP: the logins go to the demo application serve registers on first start
// (public client keyflow-demo, one BasicAuthenticator step, app-native on); one user per
// concurrent client is created over SCIM (HTTP Basic as the bootstrap admin, whose password the
// bench sets through KEYFLOW_ADMIN_PASSWORD); the confidential client and the two script
// applications are created with the application management API (/api/server/v1/applications)
// over HTTP Basic as the admin. A Keyflow that refuses Basic there gets no client-credentials,
// introspection or script figures, and says so in a note.
//
// Every login figure is also printed as a fraction of its limit (1 = at the limit): a login
// costs at least one argon2id check and two signatures (JWT access token and ID token), so the
// rate limit is min(clients, CPUs)/(argon2id + 2 × ES256) and a latency limit is that floor (or
// the step's part of it) times max(1, clients/CPUs).
//
// Logins with a password + TOTP script run through an application the bench creates (the
// application API, HTTP Basic as the admin): -totp-users users are created over SCIM and enrol
// an authenticator the way a user does (a token with internal_login from the password grant of a
// client registered through DCR, then My Account's POST /api/users/v1/me/totp INIT and VALIDATE);
// the bench computes their RFC 6238 codes. A code is accepted once per 30 s step, so each user
// logs in at most once per step.
package main
