// Package manage serves the WSO2-shaped management APIs under /api/server/v1 that are not
// applications (package apps): identity providers, claim dialects and claims, script libraries,
// the server's signing keys and the audit trail.
//
//	GET    /identity-providers                          list: limit, offset, filter (name eq|sw|ew|co, isEnabled eq; "and")
//	POST   /identity-providers                          IdentityProviderPOSTRequest; 201 + Location + IdentityProviderResponse
//	GET    /identity-providers/{id}                     IdentityProviderResponse
//	PATCH  /identity-providers/{id}                     [{operation ADD|REPLACE|REMOVE, path /name…, value}]
//	DELETE /identity-providers/{id}
//	GET|PUT /identity-providers/{id}/federated-authenticators  FederatedAuthenticatorRequest
//	GET|PUT /identity-providers/{id}/claims | /roles | /provisioning/jit
//
//	GET|POST        /claim-dialects                     dialects; id = base64url(URI), "local" for http://wso2.org/claims
//	GET|PUT|DELETE  /claim-dialects/{id}                PUT renames (its claims move along)
//	GET|POST        /claim-dialects/local/claims        local claims; id = base64url(claim URI)
//	GET|PUT|DELETE  /claim-dialects/local/claims/{id}
//	GET|POST        /claim-dialects/{id}/claims         external claims of a dialect
//	GET|PUT|DELETE  /claim-dialects/{id}/claims/{claim-id}
//
//	GET|POST        /script-libraries                   multipart/form-data (name, description, content file) or JSON {name, description, content}
//	GET|PUT|DELETE  /script-libraries/{name}
//	GET             /script-libraries/{name}/content    the JavaScript
//
//	GET  /keys                     the JWT signing keys (public JWK, state next|current|previous) — Keyflow's own
//	POST /keys/rotate              {alg}: advance one algorithm's key chain — Keyflow's own
//	GET  /keystores/certs/public   the SAML signing certificate (WSO2's: a JSON string, base64 of the PEM
//	                               unless encode-cert=false)
//
//	GET  /audit-events             limit, offset, action (exact, or a prefix ending in "."), since
//	                               (RFC 3339), targetType, targetId — Keyflow's own
//
// Callers are administrators (or clients acting for themselves) holding WSO2's scopes
// (internal_idp_*, internal_claim_meta_*, internal_functional_lib_*, internal_keystore_view /
// _update; internal_audit_view for the audit trail), or administrators using HTTP Basic
// (package bearer). Errors use WSO2's {code, message, description, traceId} with each API's
// codes: IDP-, CMT-, SCL-, KSS-, AUD-.
//
// Data flow: each change is one store operation that writes its row(s) and one audit event
// (who, what, before and after, never secrets) in the same transaction; read-modify-write
// changes (PATCH, the identity provider's sub-resources) run in one serializable store.Tx.
// Secret properties of identity provider connectors (keys naming a secret, password, private
// key, API key or token) are sealed with AES-256-GCM under Config.SealKeys, bound to the
// provider's id and the property, before they reach the store; responses show them masked
// ("******"), and a masked value sent back keeps the stored secret. The login engine opens
// them with Sealer.Open.
package manage
