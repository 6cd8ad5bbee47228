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
// Authorization request extensions (jar.go, par.go, jarm.go), all inside
// ValidateAuthorizeRequest so that every front-end gets them:
//   - request objects (RFC 9101): a JWS signed with a key of the client's
//     jwks/jwks_uri (as private_key_jwt) or, for client_secret_jwt clients,
//     HMAC with the sealed secret; never none, never encrypted (refused:
//     invalid_request_object). iss = client_id, aud = issuer, exp required
//     and at most MaxAssertionLifetime ahead, nbf/iat checked; its
//     parameters win over those sent beside it;
//   - pushed authorization requests (RFC 9126): PushAuthorization
//     authenticates the client as the token endpoint does, validates the
//     parameters (or request object) as at the authorization endpoint and
//     stores them (SHA-256 of the random request_uri part, single use,
//     Config.PushedRequestLifetime); request_uri values that are not ours
//     get request_uri_not_supported. Config.RequirePushedAuthorizationRequests
//     refuses the others;
//   - JARM: response_mode jwt, query.jwt, fragment.jwt, form_post.jwt wrap
//     success and error responses in a JWT (iss, aud = client id, exp
//     JARMLifetime) signed with the client's ID token algorithm;
//   - id_token_hint: verified against our keys and issuer (expiry ignored);
//     its sub becomes AuthorizeRequest.HintSubject, and
//     CompleteAuthorization answers login_required for another user.
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
//	                   PKCE challenge) and/or implicit tokens ─▶ Response (query, fragment, form_post,
//	                   or their .jwt JARM forms; state, iss)
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
//	ClientCredentials ─▶ client cache (else one store read; entries dropped when the
//	                     store announces a change, see InvalidateClient, or after the TTL)
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
