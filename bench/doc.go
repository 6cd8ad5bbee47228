// Command bench is Keyflow's load and latency harness (make bench). It starts the keyflow binary
// the way a user does, measures it from the outside, and prints a table plus one machine-readable
// JSON summary line. Every figure is printed with its target and whether the target is met.
//
// Measured today, in one run against one `keyflow serve` (embedded Temporal, private PostgreSQL):
//   - cold start to ready (first start, which initialises PostgreSQL and Temporal, and a restart
//     on the same data dir, on the same address) and the idle memory of `keyflow serve`;
//   - the limits of this machine, measured in the same run: one argon2id hash with the OWASP
//     parameters of package connectors/password and one ES256 JWS (go-jose, as jwtkeys signs);
//   - full app-native logins (authorization code + PKCE, the WSO2 wire): POST /oauth2/authorize
//     with response_mode=direct, POST /oauth2/authn with username and password, POST
//     /oauth2/token, first by one client one after another, then by -clients concurrent clients,
//     each for a fixed duration; logins/s and p50/p99 of the whole login and of each step.
//
// Set-up uses only HTTP: the logins go to the demo application serve registers on first start
// (public client keyflow-demo, one BasicAuthenticator step, app-native on), and one user per
// concurrent client is created over SCIM (POST /scim2/Users, HTTP Basic as the bootstrap admin,
// whose password the bench sets through KEYFLOW_ADMIN_PASSWORD), so no user is shared between
// clients.
//
// Every login figure is also printed as a fraction of its limit (1 = at the limit): a login
// costs at least one argon2id check and two signatures (JWT access token and ID token), so the
// rate limit is min(clients, CPUs)/(argon2id + 2 × ES256) and a latency limit is that floor (or
// the step's part of it) times max(1, clients/CPUs).
//
// Not measured yet: logins with a password + TOTP script. They need a second application, which
// only the application management API creates, and no client can obtain its scope
// (internal_application_mgt_create) over HTTP today.
package main
