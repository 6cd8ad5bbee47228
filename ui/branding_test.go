package ui

import "testing"

func TestPageCSP(t *testing.T) {
	tests := []struct {
		name string
		b    Branding
		want string
	}{
		{"default", Branding{}, "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"},
		{"absolute logo and stylesheet", Branding{LogoURL: "https://cdn.example/a/logo.png?v=2", CSSURL: "https://css.example:8443/x.css"},
			"default-src 'self'; img-src 'self' data: https://cdn.example; style-src 'self' 'unsafe-inline' https://css.example:8443; frame-ancestors 'none'"},
		{"relative logo", Branding{LogoURL: "/logo.png"}, "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"},
		{"unsafe values are not allowed", Branding{LogoURL: "javascript:alert(1)", CSSURL: "//evil.example/x.css"},
			"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"},
		{"quote injection", Branding{LogoURL: "https://a.example/'; script-src *"},
			"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PageCSP(tc.b); got != tc.want {
				t.Errorf("PageCSP = %q\nwant     %q", got, tc.want)
			}
		})
	}
}
