// Package store is the only code in Keyflow that talks to PostgreSQL (pgx/v5).
// Everything above it (api/, flows/ activities, connectors/) calls its typed
// methods with plain structs and gets plain structs back: no pgx type appears
// in its API, and ids are UUID strings.
//
// # Data flow
//
// Open builds a connection pool from a database URL (sized
// max(8, 4×GOMAXPROCS) unless configured; every session gets a
// statement_timeout, an idle-in-transaction timeout and application_name
// keyflow) and checks the database answers. The schema is owned by package
// migrations and must be applied before.
//
// Operations are methods of both *Store and *Tx. On *Store each runs on its
// own: single statements directly, multi-row changes (CreateUser: the user,
// its claims and an audit event) in one READ COMMITTED transaction whose
// correctness rests on constraints. Store.Tx composes several operations
// into one SERIALIZABLE transaction, retried on serialization failure or
// deadlock a bounded number of times; inside it, each multi-row operation
// runs in a savepoint so a failed one (ErrConflict, say) leaves the
// transaction usable.
//
// # Errors
//
// ErrNotFound (no such row, or a write refers to a missing one, malformed ids
// included) and ErrConflict (a unique constraint, named in the message) are
// the only sentinels; test with errors.Is. Invalid input yields a plain
// error. Errors never carry the values of conflicting keys, since they get
// logged.
//
// # Names
//
// Usernames (and, later, group and role names) are unique per organization
// and user store domain ignoring case: the store keeps, next to the name as
// given, a key that is its Unicode case folding in NFC, and compares keys.
// This is done in Go, not with lower() in SQL, because lower() depends on
// the database's locale. User store domains are upper-cased, WSO2 style;
// empty means DefaultDomain (PRIMARY).
//
// # Audit
//
// Every change the store makes records an audit event in the same
// transaction, with the Actor given by the caller (system by default), and
// a before/after snapshot that never includes secrets (password hashes) or
// claim values (audit rows outlive the users they describe).
//
// Tests use store/storetest, which gives each test a fresh migrated database.
package store
