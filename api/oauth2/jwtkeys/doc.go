// Package jwtkeys manages the keys Keyflow signs JWTs with (access tokens
// now, ID tokens and logout tokens later) and publishes as the JWKS.
//
// Where it sits: api/oauth2 and its siblings call Manager.Sign when minting
// a token, Manager.Verify when a token comes back (introspection, revocation,
// id_token_hint) and Manager.JWKS for /oauth2/jwks. Keys persist in
// PostgreSQL through store (table oauth2_signing_keys); nothing else in
// Keyflow sees private keys.
//
// # Keys and rotation
//
// Each algorithm (ES256, the default; RS256, required by OpenID Connect for
// ID tokens; EdDSA with Ed25519) has its own chain of three keys: next
// (published, not yet signing), current (signing) and previous (published,
// no longer signing). New creates current and next for every configured
// algorithm that has none, so the first start of a fresh database generates
// keys, and concurrent first starts agree on one set. Rotate moves the chain
// one step; an operator or a scheduler calls it. Because next is published a
// full rotation period before it signs, verifiers that cache the JWKS know a
// key before they see tokens signed with it; because previous stays published
// one more period, rotate less often than the longest token lifetime.
//
// Key ids are RFC 7638 JWK thumbprints. Private keys are stored as PKCS #8,
// sealed with AES-256-GCM under a key-encryption key (KEK) from
// configuration; the KEK id is stored with each key and the key id and
// algorithm are authenticated data, so a sealed key cannot be moved to
// another row. Several KEKs may be configured: the first seals, all unseal,
// which lets an operator change the KEK without losing keys.
//
// # Caching
//
// Signing must not query the database per token. The manager keeps a
// snapshot of all keys (parsed, private keys unsealed, signers built, JWKS
// JSON rendered) and reloads it when it is older than Config.CacheTTL: the
// first caller to notice reloads synchronously while concurrent callers keep
// using the old snapshot, and a failed reload keeps the old snapshot (signing
// survives a database outage). Each reload is one small query; keys already
// unsealed are reused. A rotation made by another replica therefore takes
// effect here within CacheTTL. Verify, seeing a key id it does not know,
// reloads at once (at most once per second) in case another replica has
// just rotated.
package jwtkeys
