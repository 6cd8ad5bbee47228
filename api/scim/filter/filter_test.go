package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// show renders a tree fully parenthesised, so tests can state structure.
func show(e Expr) string {
	switch e := e.(type) {
	case *Compare:
		if e.Op == Pr {
			return fmt.Sprintf("(%s pr)", e.Path)
		}
		return fmt.Sprintf("(%s %s %#v)", e.Path, e.Op, e.Value)
	case *Logical:
		op := "or"
		if e.And {
			op = "and"
		}
		return fmt.Sprintf("(%s %s %s)", show(e.Left), op, show(e.Right))
	case *Not:
		return fmt.Sprintf("not%s", show(e.X))
	case *ValuePath:
		return fmt.Sprintf("%s[%s]", e.Path, show(e.Filter))
	}
	return "?"
}

func TestParse(t *testing.T) {
	// The examples of RFC 7644 §3.4.2.2, plus precedence and case cases.
	tests := []struct{ name, in, want string }{
		{"eq string", `userName eq "bjensen"`, `(userName eq "bjensen")`},
		{"sub-attribute", `name.familyName co "O'Malley"`, `(name.familyName co "O'Malley")`},
		{"sw", `userName sw "J"`, `(userName sw "J")`},
		{"urn path", `urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `(urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J")`},
		{"urn sub-attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`, `(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x")`},
		{"pr", `title pr`, `(title pr)`},
		{"gt date", `meta.lastModified gt "2011-05-13T04:42:34Z"`, `(meta.lastModified gt "2011-05-13T04:42:34Z")`},
		{"ge le lt", `a ge 1 and b le 2.5 or c lt -3e2`, `(((a ge 1) and (b le 2.5)) or (c lt -300))`},
		{"and binds tighter than or", `title pr or userType eq "E" and userType eq "I"`, `((title pr) or ((userType eq "E") and (userType eq "I")))`},
		{"parentheses", `userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, `((userType eq "Employee") and ((emails co "example.com") or (emails.value co "example.org")))`},
		{"not", `userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, `((userType ne "Employee") and not((emails co "example.com") or (emails.value co "example.org")))`},
		{"value path", `emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`, `(emails[((type eq "work") and (value co "@example.com"))] or ims[((type eq "xmpp") and (value co "@foo.com"))])`},
		{"booleans and null", `active eq true and x eq false and y eq null`, `(((active eq true) and (x eq false)) and (y eq <nil>))`},
		{"case-insensitive keywords", `userName EQ "a" AND NOT (title PR) Or x Sw "b"`, `(((userName eq "a") and not(title pr)) or (x sw "b"))`},
		{"escapes", `displayName eq "a\"b\\c\u00e9"`, `(displayName eq "a\"b\\cé")`},
		{"$ref", `members.$ref pr`, `(members.$ref pr)`},
		{"extra spaces", `  userName   eq   "a"  `, `(userName eq "a")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := show(e); got != tc.want {
				t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"blank", "   "},
		{"no operator", `userName`},
		{"unknown operator", `userName like "a"`},
		{"missing value", `userName eq`},
		{"unquoted value", `userName eq bjensen`},
		{"unterminated string", `userName eq "abc`},
		{"bad escape", `userName eq "\q"`},
		{"dangling and", `userName eq "a" and`},
		{"unbalanced paren", `(userName eq "a"`},
		{"stray paren", `userName eq "a")`},
		{"not without paren", `not userName eq "a"`},
		{"nested value path", `emails[type[value eq "a"] pr]`},
		{"unclosed bracket", `emails[type eq "work"`},
		{"value path after sub-attribute", `name.givenName[value eq "a"]`},
		{"bad name", `1abc eq "a"`},
		{"three-part path", `a.b.c eq "a"`},
		{"empty urn", `:userName eq "a"`},
		{"too deep", strings.Repeat("(", MaxDepth+1) + `a pr` + strings.Repeat(")", MaxDepth+1)},
		{"too long", `userName eq "` + strings.Repeat("a", MaxLength) + `"`},
		{"no space before operator", `userName"a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) = %v, %v; want *Error", tc.in, e, err)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		name, in        string
		path, filt, sub string
		wantErr         bool
	}{
		{name: "attribute", in: "displayName", path: "displayName"},
		{name: "sub-attribute", in: "name.familyName", path: "name.familyName"},
		{name: "urn", in: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
		{name: "value filter", in: `members[value eq "2819c223"]`, path: "members", filt: `(value eq "2819c223")`},
		{name: "value filter sub-attribute", in: `emails[type eq "work"].value`, path: "emails", filt: `(type eq "work")`, sub: "value"},
		{name: "empty", in: "", wantErr: true},
		{name: "trailing junk", in: "name x", wantErr: true},
		{name: "dot without name", in: `emails[type eq "work"].`, wantErr: true},
		{name: "unclosed", in: `emails[type eq "work"`, wantErr: true},
		{name: "nested", in: `emails[x[y pr]]`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pp, err := ParsePath(tc.in)
			if tc.wantErr {
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("ParsePath(%q) = %+v, %v; want *Error", tc.in, pp, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tc.in, err)
			}
			filt := ""
			if pp.Filter != nil {
				filt = show(pp.Filter)
			}
			if pp.Path.String() != tc.path || filt != tc.filt || pp.Sub != tc.sub {
				t.Errorf("ParsePath(%q) = %s %s %s; want %s %s %s", tc.in, pp.Path, filt, pp.Sub, tc.path, tc.filt, tc.sub)
			}
		})
	}
}

// FuzzParse checks that any input either parses or fails with *Error,
// never a panic, and that a parsed filter's rendering parses again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`, `emails[type eq "work" and value co "@x"] or not (title pr)`,
		`a gt 1.5e3 and (b le -2 or c eq null)`, `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "\u00e9"`,
		`((((a pr))))`, `x[`, `"`, `not(`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q): error %T %v is not *Error", s, err, err)
			}
			return
		}
		if e == nil {
			t.Fatalf("Parse(%q) returned nil without error", s)
		}
	})
}

// FuzzParsePath is FuzzParse for PATCH paths.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{`emails[type eq "work"].value`, `name.givenName`, `members[value eq "x"]`, `a[`, `urn:x:y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParsePath(s)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("ParsePath(%q): error %T %v is not *Error", s, err, err)
			}
		}
	})
}
