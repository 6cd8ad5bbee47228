// Package codec encrypts every Temporal payload Keyflow writes.
//
// Where it sits: login, registration and recovery flows receive passwords,
// one-time codes and similar secrets as workflow inputs and Update arguments,
// and Temporal persists those in workflow history. This package is the
// payload codec that every Temporal client and worker of Keyflow installs
// (flows/temporalx.Dial makes it mandatory), so that the Temporal server, its
// database and anyone reading history without the key only ever see
// ciphertext.
//
// How data flows:
//
//	value ──default DataConverter──▶ payload{metadata, data}
//	      ──Codec.Encode──▶ payload{encoding=binary/encrypted,
//	                                encryption-key-id=<active id>,
//	                                encryption-cipher=AES-256-GCM,
//	                                data=nonce‖AES-256-GCM(proto(payload))‖tag}
//
// Decode reverses it with the key the payload names. The whole inner payload
// (data and metadata) is sealed, and the format version and key id are
// authenticated as associated data, so tampering with any byte or relabelling
// a payload with another key id fails with ErrAuthentication.
//
// Keys: a Keyring holds one active key (encrypts) and older keys (decrypt
// only), built from configuration by ParseKeys ("k2:BASE64,k1:BASE64", first
// active) or, for development, by LoadOrCreateKeyFile, which generates a key
// on first start and reuses it afterwards. Rotation: put a new key first,
// keep the old ones until no retained history uses them; a payload naming a
// key that is no longer configured fails with ErrUnknownKeyID.
//
// FailureConverter complements DataConverter: it moves error messages and
// stack traces into an encrypted payload, because Temporal otherwise stores
// them in clear.
package codec
