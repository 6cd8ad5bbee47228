package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Limits on what the parser accepts; longer or deeper input is an error,
// so a hostile filter cannot exhaust memory or the stack.
const (
	MaxLength = 4096 // bytes of filter or path text
	MaxDepth  = 32   // nesting of parentheses, not, and value paths
)

// Op is a comparison operator (RFC 7644 §3.4.2.2, Table 3), lower-case.
type Op string

// Comparison operators.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Co Op = "co"
	Sw Op = "sw"
	Ew Op = "ew"
	Pr Op = "pr"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
)

var ops = map[string]Op{"eq": Eq, "ne": Ne, "co": Co, "sw": Sw, "ew": Ew, "pr": Pr, "gt": Gt, "ge": Ge, "lt": Lt, "le": Le}

// Path is an attribute path: an optional schema URI, an attribute name and
// an optional sub-attribute name, as written (names are case-insensitive;
// resolving them is the caller's job).
type Path struct {
	URI  string // "urn:ietf:params:scim:schemas:core:2.0:User", or empty
	Attr string
	Sub  string
}

func (p Path) String() string {
	s := p.Attr
	if p.URI != "" {
		s = p.URI + ":" + s
	}
	if p.Sub != "" {
		s += "." + p.Sub
	}
	return s
}

// Expr is a node of a filter: *Compare, *Logical, *Not or *ValuePath.
type Expr interface{ expr() }

// Compare is "path op value" or "path pr". Value is a string, float64,
// bool or nil (JSON null), as decoded from the filter's JSON literal.
type Compare struct {
	Path  Path
	Op    Op
	Value any
}

// Logical is "left and right" or "left or right".
type Logical struct {
	And         bool // false: or
	Left, Right Expr
}

// Not is "not (x)".
type Not struct{ X Expr }

// ValuePath is "path[filter]": elements of a multi-valued attribute
// matching Filter, whose paths are relative to the element.
type ValuePath struct {
	Path   Path
	Filter Expr
}

func (*Compare) expr()   {}
func (*Logical) expr()   {}
func (*Not) expr()       {}
func (*ValuePath) expr() {}

// Error is a syntax error. Its message quotes at most a short excerpt of
// the input, so it is safe to send back to the client.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("at offset %d: %s", e.Pos, e.Msg) }

// Parse parses a filter (the "filter" query parameter or a search body's).
func Parse(s string) (Expr, error) {
	p, err := newParser(s)
	if err != nil {
		return nil, err
	}
	e, err := p.parseOr(0, false)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.s) {
		return nil, p.errorf("unexpected %s", p.excerpt())
	}
	return e, nil
}

// PatchPath is a PATCH operation's path (RFC 7644 §3.5.2):
// attrPath, or valuePath with an optional ".subAttr" after the brackets.
type PatchPath struct {
	Path   Path
	Filter Expr   // the value filter, or nil
	Sub    string // sub-attribute after "]", when Filter is set
}

// ParsePath parses a PATCH path. A bare schema URI (an extension's whole
// object) is not a path here; callers check for it first.
func ParsePath(s string) (PatchPath, error) {
	p, err := newParser(s)
	if err != nil {
		return PatchPath{}, err
	}
	var pp PatchPath
	if pp.Path, err = p.parsePath(); err != nil {
		return PatchPath{}, err
	}
	if p.peek() == '[' {
		if pp.Path.Sub != "" {
			return PatchPath{}, p.errorf("a value filter must follow an attribute, not a sub-attribute")
		}
		p.pos++
		if pp.Filter, err = p.parseOr(1, true); err != nil {
			return PatchPath{}, err
		}
		if p.skipSpace(); p.peek() != ']' {
			return PatchPath{}, p.errorf("expected ]")
		}
		p.pos++
		if p.peek() == '.' {
			p.pos++
			start := p.pos
			name := p.name()
			if name == "" || strings.Contains(name, ":") {
				return PatchPath{}, &Error{Pos: start, Msg: "expected a sub-attribute name after ]."}
			}
			pp.Sub = name
		}
	}
	if p.pos < len(p.s) {
		return PatchPath{}, p.errorf("unexpected %s", p.excerpt())
	}
	return pp, nil
}

type parser struct {
	s   string
	pos int
}

func newParser(s string) (*parser, error) {
	if len(s) > MaxLength {
		return nil, &Error{Pos: MaxLength, Msg: fmt.Sprintf("longer than %d bytes", MaxLength)}
	}
	if strings.TrimSpace(s) == "" {
		return nil, &Error{Msg: "empty"}
	}
	return &parser{s: s}, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// excerpt quotes up to 20 bytes of what is left, or says it ended.
func (p *parser) excerpt() string {
	if p.pos >= len(p.s) {
		return "end of input"
	}
	rest := p.s[p.pos:]
	if len(rest) > 20 {
		rest = rest[:20] + "…"
	}
	return strconv.Quote(rest)
}

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// keyword consumes word (case-insensitive) if it comes next as a whole
// word, followed by a space or "(".
func (p *parser) keyword(word string) bool {
	p.skipSpace()
	end := p.pos + len(word)
	if end > len(p.s) || !strings.EqualFold(p.s[p.pos:end], word) {
		return false
	}
	if end < len(p.s) && isNameChar(p.s[end]) {
		return false
	}
	p.pos = end
	return true
}

// parseOr parses FILTER with "or" as the loosest operator. inValue is set
// inside brackets, where value paths may not nest.
func (p *parser) parseOr(depth int, inValue bool) (Expr, error) {
	left, err := p.parseAnd(depth, inValue)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.parseAnd(depth, inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseAnd(depth int, inValue bool) (Expr, error) {
	left, err := p.parseUnary(depth, inValue)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.parseUnary(depth, inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{And: true, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseUnary(depth int, inValue bool) (Expr, error) {
	if depth >= MaxDepth {
		return nil, p.errorf("nested deeper than %d", MaxDepth)
	}
	p.skipSpace()
	if p.keyword("not") {
		p.skipSpace()
		if p.peek() != '(' {
			return nil, p.errorf("expected ( after not")
		}
		x, err := p.parseGroup(depth+1, inValue)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	if p.peek() == '(' {
		return p.parseGroup(depth+1, inValue)
	}
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	if p.peek() == '[' {
		if inValue {
			return nil, p.errorf("value filters cannot nest")
		}
		if path.Sub != "" {
			return nil, p.errorf("a value filter must follow an attribute, not a sub-attribute")
		}
		p.pos++
		f, err := p.parseOr(depth+1, true)
		if err != nil {
			return nil, err
		}
		if p.skipSpace(); p.peek() != ']' {
			return nil, p.errorf("expected ]")
		}
		p.pos++
		return &ValuePath{Path: path, Filter: f}, nil
	}
	return p.parseCompare(path)
}

func (p *parser) parseGroup(depth int, inValue bool) (Expr, error) {
	p.pos++ // (
	x, err := p.parseOr(depth, inValue)
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.peek() != ')' {
		return nil, p.errorf("expected )")
	}
	p.pos++
	return x, nil
}

func (p *parser) parseCompare(path Path) (Expr, error) {
	if p.peek() != ' ' {
		return nil, p.errorf("expected a space and an operator after %q", path.String())
	}
	p.skipSpace()
	start := p.pos
	word := strings.ToLower(p.name())
	op, ok := ops[word]
	if !ok {
		p.pos = start
		return nil, p.errorf("expected an operator, got %s", p.excerpt())
	}
	if op == Pr {
		return &Compare{Path: path, Op: Pr}, nil
	}
	if p.peek() != ' ' {
		return nil, p.errorf("expected a space and a value after %s", op)
	}
	p.skipSpace()
	v, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	return &Compare{Path: path, Op: op, Value: v}, nil
}

// parseValue reads compValue: a JSON string, number, true, false or null.
func (p *parser) parseValue() (any, error) {
	start := p.pos
	if p.peek() == '"' {
		i := p.pos + 1
		for ; i < len(p.s) && p.s[i] != '"'; i++ {
			if p.s[i] == '\\' {
				i++
			}
		}
		if i >= len(p.s) {
			return nil, &Error{Pos: start, Msg: "unterminated string"}
		}
		var v string
		if err := json.Unmarshal([]byte(p.s[start:i+1]), &v); err != nil {
			return nil, &Error{Pos: start, Msg: "invalid string literal"}
		}
		p.pos = i + 1
		return v, nil
	}
	for p.pos < len(p.s) && !strings.ContainsRune(" \t()[]", rune(p.s[p.pos])) {
		p.pos++
	}
	lit := p.s[start:p.pos]
	switch lit {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	var f float64
	if lit == "" || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) || json.Unmarshal([]byte(lit), &f) != nil {
		return nil, &Error{Pos: start, Msg: "expected a value (a quoted string, number, true, false or null)"}
	}
	return f, nil
}

// parsePath reads attrPath = [URI ":"] ATTRNAME ["." subAttr]. The URI is
// everything up to the last colon.
func (p *parser) parsePath() (Path, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && (isNameChar(p.s[p.pos]) || p.s[p.pos] == ':' || p.s[p.pos] == '.') {
		p.pos++
	}
	raw := p.s[start:p.pos]
	if raw == "" {
		return Path{}, &Error{Pos: start, Msg: "expected an attribute name, got " + p.excerpt()}
	}
	var path Path
	if i := strings.LastIndexByte(raw, ':'); i >= 0 {
		path.URI, raw = raw[:i], raw[i+1:]
		if path.URI == "" {
			return Path{}, &Error{Pos: start, Msg: "empty schema URI"}
		}
	}
	// Everything past the URI: dots only separate attribute and sub-attribute.
	name, sub, hasSub := strings.Cut(raw, ".")
	if !validName(name) || (hasSub && !validName(sub)) {
		return Path{}, &Error{Pos: start, Msg: fmt.Sprintf("invalid attribute path %q", truncate(p.s[start:p.pos]))}
	}
	path.Attr, path.Sub = name, sub
	return path, nil
}

// name reads ATTRNAME-ish characters (used for keywords and sub-attributes).
func (p *parser) name() string {
	start := p.pos
	for p.pos < len(p.s) && isNameChar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func isNameChar(c byte) bool {
	return c == '-' || c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// validName: ATTRNAME = ALPHA *(nameChar), plus "$ref" (RFC 7643 §2.1).
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) || s[i] == '$' {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
