// Package migrations holds Keyflow's database schema as versioned SQL files
// (NNNNN_name.sql, embedded in the binary) and applies them with goose
// (its Provider API, no goose globals) through pgx's database/sql driver.
//
// Migrations are forward-only: a file, once released, is never edited or
// reverted; a fix is a new file with the next number. TestFiles enforces the
// naming, contiguous versions from 1, an Up section and no Down section.
//
// Up applies what is pending and returns the schema version; it is run by
// `keyflow migrate` and by `keyflow serve` at start-up, possibly by several
// processes at once (a PostgreSQL advisory lock serialises them). Version
// reads the current version without changing anything; Latest is the version
// this binary brings a database to, so a process can refuse to run against
// an older schema. Fingerprint identifies the set of files (storetest names
// its template database after it).
//
// Along with store/, this is the only package allowed to import pgx.
package migrations
