// Package pgserver runs a private PostgreSQL cluster from the system's
// PostgreSQL binaries, for `keyflow serve` without --database-url and for
// tests (store/storetest). Production points Keyflow at a real PostgreSQL
// instead; nothing else in Keyflow knows which one it got: both end as a
// URL handed to migrations.Up and store.Open.
//
// # Lifecycle
//
// Start finds initdb, pg_ctl and postgres (all from one directory: PATH
// first, then /usr/lib/postgresql/<version>/bin, highest version first, or
// Config.BinDirs), initialises Config.DataDir on first use, starts the
// cluster with pg_ctl and waits until it accepts connections, then creates
// the database "keyflow". URL returns a pgx URL for it; Stop runs
// pg_ctl stop -m fast. The postmaster is a daemon: whoever calls Start must
// call Stop before exiting (serve does on shutdown, storetest.Main after the
// tests), or it keeps running.
//
// Missing binaries produce ErrNoBinaries, wrapped with the directories
// searched and the remedy: apt-get install -y postgresql.
//
// # Data directory
//
// Config.DataDir is the cluster's PGDATA. Besides PostgreSQL's own files it
// holds keyflow.password (the superuser's password, 0600), keyflow.conf
// (rewritten at every start: listen_addresses='127.0.0.1', the port, the unix
// socket directory, which is the data directory itself, and log settings;
// postgresql.conf includes it) and server.log (the postmaster's output,
// rotated once past 10 MB).
//
// # Authentication
//
// initdb sets scram-sha-256 for every connection, with a generated 192-bit
// password for the superuser "keyflow", kept in keyflow.password. Trust
// authentication on loopback would have been simpler but lets any local user
// or process, including another container sharing the network namespace,
// connect as superuser; the password costs nothing since only URL ever
// needs it. It is never logged; URL contains it, so do not log URL either.
//
// # Running as root
//
// PostgreSQL refuses to run as root. When this process is root, initdb and
// pg_ctl run as Config.OSUser (default "postgres") through
// syscall.SysProcAttr.Credential; the data directory is given to that user,
// and each ancestor directory that user could not traverse (t.TempDir()
// makes 0700 directories, /root is 0700) gets the single execute bit it
// needs, never read or write, and a log line.
//
// # Crashes and leftovers
//
// While a Server runs it holds an exclusive flock on the data directory.
// The kernel releases it when the process dies, however it dies, so at the
// next Start an unlocked directory with PostgreSQL processes still running
// in it (found through /proc: executable postgres, working directory the
// data directory) was orphaned by a dead owner: Start asks them to shut down
// (SIGINT, a fast shutdown), kills what remains after a grace period, and
// removes postmaster.pid and socket lock files, whose pid may by now belong
// to an unrelated process and would make PostgreSQL refuse to start. A
// directory locked by a live process is refused instead. RemoveAbandoned
// applies the same logic to delete throwaway clusters left by killed test
// binaries.
//
// The package relies on Linux (/proc, flock, credentials).
package pgserver
