// Command keyflow is the Keyflow identity server: one binary whose subcommands run the whole server
// (serve), the stateless HTTP front-ends (api), the Temporal workers (worker), or the database
// migrations (migrate). This package only turns flags, environment and the config file into
// wiring; the work happens in api/, flows/, workers/ and store/.
package main
