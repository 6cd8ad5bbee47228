package store

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// DefaultDomain is the user store domain of the built-in user store (WSO2's
// PRIMARY). An empty domain means this one.
const DefaultDomain = "PRIMARY"

// nameKey is the form in which user and group names are compared: Unicode
// case folding of the NFC form, so "Alice", "ALICE" and "alice" collide, and
// so do a precomposed "é" and "e"+combining acute. It is computed here rather
// than with lower() in SQL because lower() follows the database's locale (in
// a "C" locale database it folds ASCII only) and production databases are
// not ours to configure.
func nameKey(name string) string {
	// A Caser is stateful: one per call, never shared between goroutines.
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(name)))
}

// normalizeDomain applies WSO2's rule: domains are case-insensitive and kept
// upper-case; empty means DefaultDomain.
func normalizeDomain(domain string) string {
	if domain == "" {
		return DefaultDomain
	}
	return strings.ToUpper(domain)
}
