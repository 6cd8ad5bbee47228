// Package devserver runs a single-node Temporal server inside the keyflow
// process, for `keyflow serve` when no external Temporal address is given.
//
// Where it sits: only cmd/keyflow's serve wiring imports this package. It pulls
// in all of go.temporal.io/server (≈130 MB of binary, minutes of cold build),
// so the api and worker code paths must never depend on it; they only need the
// address returned by FrontendAddress.
//
// How it works: Start creates DataDir/temporal.db (SQLite in WAL mode with
// synchronous=normal) and its schema on first use, registers the namespace if
// missing (Retention applies only then), picks free loopback ports for the
// history, matching and worker services (and the frontend unless FrontendPort
// is set), and starts the four services with static membership: no gossip,
// no membership ports, nothing bound beyond loopback unless Config.IP asks for
// it. The visibility table (what `temporal workflow list` reads; Keyflow itself
// never lists workflows) keeps only the index of the default listing order, so
// that it costs a login little CPU (see trimVisibility).
// Dynamic config is tuned for one host (DESIGN §1): fast transfer-queue
// polling, one task-queue partition, Updates and eager start pinned on.
// Temporal's logs go to Config.Logger at WARN and above. Stop shuts everything
// down; a later Start on the same DataDir resumes the same workflows.
//
// A database file belongs to one running server at a time: two servers on the
// same DataDir, in one process or two, are not supported.
package devserver
