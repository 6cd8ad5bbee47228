// Package op is the OAuth 2.0 / OpenID Connect provider's domain logic:
// client authentication, the authorization request (validation before the
// login workflow, the response after it), the token endpoint's
// client_credentials, authorization_code and refresh_token grants, ID
// tokens, userinfo, token introspection (RFC 7662) and revocation (RFC
// 7009), plus client creation for the management API.
//
// Extensions (assertion.go, password.go, jwtbearer.go, exchange.go,
// device.go):
//   - client authentication with JWT assertions, private_key_jwt (the
//     client's inline jwks or jwks_uri, fetched with a size and time cap and
//     cached) and client_secret_jwt (the secret kept sealed under a key
//     derived from the pepper): iss = sub = client id, aud the issuer or
//     Config.TokenEndpoint, exp at most MaxAssertionLifetime ahead, jti
//     single use (kept until exp), an algorithm allow-list without none;
//   - the password grant (Config.Passwords, a BasicAuthenticator: argon2id
//     and lockout, one answer for every failure);
//   - the JWT bearer grant (issuers trusted per client, sub mapped to a
//     local user by username or id);
//   - token exchange (RFC 8693) of our access tokens, narrowing scope and
//     audience, with act for delegation;
//   - the device authorization grant (RFC 8628): DeviceAuthorize, then the
//     verification page calls DeviceRequest and ApproveDevice or DenyDevice,
//     while the device polls the token endpoint.
//
// Grants other than those of the browser flows are enabled per client by
// its grant types.
//
// # Data flow of the code flow
//
//	AuthorizeParams ─▶ ValidateAuthorizeRequest ─▶ *AuthorizeRequest (JSON, kept by the front-end)
//	                   (client, redirect URI: *Error, no redirect; the rest: *RedirectError)
//	login workflow  ─▶ Authenticated{Subject, Claims (local URIs), ACR, AMR, AuthTime, SessionID}
//	                ─▶ CompleteAuthorization: one grant row (scope, OIDC claims mapped through
//	                   Config.ClaimMappings and filtered by scope, nonce, acr, amr, auth_time, sid)
//	                   + code (SHA-256, single use, CodeLifetime, bound to client, redirect_uri,
//	                   PKCE challenge) and/or implicit tokens ─▶ Response (query, fragment, form_post; state, iss)
//	token endpoint  ─▶ code checks, PKCE ─▶ access token (+ refresh token, + ID token) and the
//	                   code marked used in one transaction
//
// Every token issued from a grant is linked to it (opaque tokens by
// grant_id, JWT access tokens by jti), so a replayed code or refresh token
// revokes the whole grant: opaque tokens are marked revoked, JWT ids go to
// the revoked list (and this replica's copy at once).
//
// Where it sits: api/oauth2 parses HTTP requests into plain structs
// (ClientCredentials, TokenRequest, a token string) and renders what comes
// back; nothing here sees HTTP. Keys come from api/oauth2/jwtkeys, data from
// store (clients, opaque tokens, revoked JWT ids).
//
// # Data flow of a client_credentials request
//
//	ClientCredentials ─▶ client cache (TTL, else one store read)
//	                  ─▶ HMAC-SHA256(pepper, secret) compared in constant time
//	TokenRequest      ─▶ grant and scope checks
//	                  ─▶ JWT: claims (RFC 9068) signed by jwtkeys, no database write
//	                     opaque: 32 random bytes, SHA-256 stored
//
// Introspecting a JWT verifies signature, typ, issuer and expiry and checks
// an in-memory copy of the revoked-JWT list that is refreshed from the store
// every Config.RevocationSyncInterval, so it needs no query either.
// VerifyAccessToken (access.go) runs the same checks for resource servers
// inside Keyflow (SCIM), without client authentication.
//
// # Errors
//
// Every error meant for the client is an *Error carrying the RFC 6749 §5.2
// code, a public description, the HTTP status and a private cause. They are
// built by the Err… constructors; ToError maps any other error (store,
// context) to one, and is what the edge calls before rendering.
package op
