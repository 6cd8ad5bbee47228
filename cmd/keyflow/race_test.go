//go:build race

package main

// raceEnabled: the subprocess binary is built with -race too, so it reuses this test build's
// compiled packages instead of compiling the Temporal server a second time.
const raceEnabled = true
