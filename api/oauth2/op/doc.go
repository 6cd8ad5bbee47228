// Package op is the OAuth 2.0 / OpenID Connect provider's domain logic for
// the paths that need no login workflow: client authentication, the token
// endpoint's client_credentials grant, token introspection (RFC 7662) and
// revocation (RFC 7009), plus client creation for the management API.
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
//
// # Errors
//
// Every error meant for the client is an *Error carrying the RFC 6749 §5.2
// code, a public description, the HTTP status and a private cause. They are
// built by the Err… constructors; ToError maps any other error (store,
// context) to one, and is what the edge calls before rendering.
package op
