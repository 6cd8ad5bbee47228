// Command bench is Keyflow's load and latency harness (make bench). It starts the keyflow binary
// the way a user does, measures it from the outside, and prints a table plus one machine-readable
// JSON summary line. Every figure is printed with its target and whether the target is met.
//
// Measured today: cold start to ready (first start, which initialises PostgreSQL and Temporal, and
// a restart on the same data dir) and the idle memory of `keyflow serve`.
package main
