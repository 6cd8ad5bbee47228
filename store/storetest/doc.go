// Package storetest gives tests that need PostgreSQL a real, fresh database
// each: New returns an open *store.Store on one, URL its URL, EmptyURL an
// unmigrated one (for testing migrations). Each database is dropped when its
// test ends, so tests can run in parallel without sharing data.
//
// Every package using it must stop the shared server after its tests:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
//
// (or storetest.Run, for a TestMain that does more). The helpers fail the
// test if neither is running.
//
// # Where the databases live
//
// With KEYFLOW_TEST_DATABASE_URL set (a postgres:// URL whose user may create
// databases), on that server. Otherwise on a private cluster (store/pgserver,
// with fsync off) that the first helper call starts in a temporary directory
// and Main stops and deletes after the tests.
//
// That cluster is a package-level singleton, initialised lazily under a
// sync.Once: a test binary is one process, so one cluster per binary is both
// the cheapest arrangement and a safe one. It is internal state, not a
// variable tests can swap; the only knob is the environment variable.
//
// # Speed
//
// Migrations run once into a template database named after
// migrations.Fingerprint; every test database is a CREATE DATABASE ...
// TEMPLATE copy of it (tens of milliseconds). On a shared server the template
// is kept and reused by later runs with the same migrations.
//
// # Crashed test binaries
//
// A test binary that dies before Main returns (a panic, -timeout, a kill)
// leaves its private cluster running. The next test binary using this
// package sweeps such clusters (older than a minute, not locked by a live
// process) before starting its own: see pgserver.RemoveAbandoned.
package storetest
