// Package filter parses the SCIM 2.0 filter language (RFC 7644 §3.4.2.2)
// and PATCH paths (RFC 7644 §3.5.2) into a small syntax tree. It knows no
// schema: attribute names are returned as written, and package scim resolves
// them against its schemas and turns the tree into a store query.
//
// It is a hand-written recursive-descent parser rather than
// github.com/scim2/filter-parser: the grammar is small, and owning it lets
// every failure be an *Error whose message is safe to return as a SCIM
// invalidFilter/invalidPath detail, bounds input size and nesting depth
// (filters come from unauthenticated-looking query strings), and keeps the
// tree shaped for translation to SQL. Keywords and operators are
// case-insensitive, precedence is not > and > or, and parentheses group.
//
// Parse and ParsePath never panic on any input (see the fuzz tests).
package filter
