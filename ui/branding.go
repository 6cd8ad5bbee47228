package ui

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Branding customises a page per application or organization. Invalid values are dropped at
// render time (the page falls back to Keyflow's look) so that a bad setting cannot break logins
// or inject markup; admin APIs call Validate to reject them when they are saved.
type Branding struct {
	// Name replaces the product name in the header and title.
	Name string `json:"name,omitempty"`
	// LogoURL is an http(s) or root-relative image URL.
	LogoURL string `json:"logoUrl,omitempty"`
	// PrimaryColor and BackgroundColor are #rrggbb; they land in a <style> block.
	PrimaryColor    string `json:"primaryColor,omitempty"`
	BackgroundColor string `json:"backgroundColor,omitempty"`
	// CSSURL is an extra stylesheet, http(s) or root-relative, linked after Keyflow's own.
	CSSURL string `json:"cssUrl,omitempty"`
}

// maxBrandName bounds the name so a long value cannot wreck the layout.
const maxBrandName = 100

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Validate reports every invalid field.
func (b Branding) Validate() error {
	var errs []error
	if len([]rune(b.Name)) > maxBrandName {
		errs = append(errs, fmt.Errorf("branding: name longer than %d characters", maxBrandName))
	}
	for _, c := range []struct{ field, v string }{{"primaryColor", b.PrimaryColor}, {"backgroundColor", b.BackgroundColor}} {
		if c.v != "" && !hexColor.MatchString(c.v) {
			errs = append(errs, fmt.Errorf("branding: %s %q is not #rrggbb", c.field, c.v))
		}
	}
	for _, u := range []struct{ field, v string }{{"logoUrl", b.LogoURL}, {"cssUrl", b.CSSURL}} {
		if u.v != "" && !safeURL(u.v) {
			errs = append(errs, fmt.Errorf("branding: %s must be an http(s) or root-relative URL", u.field))
		}
	}
	return errors.Join(errs...)
}

// safeURL accepts absolute http(s) URLs with a host and root-relative paths ("/x", not "//x",
// which is scheme-relative and could point anywhere).
func safeURL(s string) bool {
	if strings.ContainsAny(s, " \t\r\n\\<>\"'`") {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// brand is the sanitized branding a template sees.
type brand struct {
	Name            string
	LogoURL         string
	CSSURL          string
	PrimaryColor    string
	BackgroundColor string
}

func (r *Renderer) brand(b Branding) brand {
	out := brand{Name: b.Name}
	if out.Name == "" || len([]rune(out.Name)) > maxBrandName {
		out.Name = r.cfg.ProductName
	}
	if safeURL(b.LogoURL) {
		out.LogoURL = b.LogoURL
	}
	if safeURL(b.CSSURL) {
		out.CSSURL = b.CSSURL
	}
	if hexColor.MatchString(b.PrimaryColor) {
		out.PrimaryColor = strings.ToLower(b.PrimaryColor)
	}
	if hexColor.MatchString(b.BackgroundColor) {
		out.BackgroundColor = strings.ToLower(b.BackgroundColor)
	}
	return out
}

// PageCSP is the Content-Security-Policy of a page rendered with branding b: Keyflow's own
// assets only (no inline script, no framing: clickjacking of the password form), plus the origin
// of b's logo as an image source and of its stylesheet as a style source when they are absolute
// URLs that the page would show. Inline styles are allowed for branding colours, data: images
// for the TOTP enrolment QR code.
func PageCSP(b Branding) string {
	img, style := "'self' data:", "'self' 'unsafe-inline'"
	if o := origin(b.LogoURL); o != "" {
		img += " " + o
	}
	if o := origin(b.CSSURL); o != "" {
		style += " " + o
	}
	return "default-src 'self'; img-src " + img + "; style-src " + style + "; frame-ancestors 'none'"
}

// origin is scheme://host of an absolute URL a page would use, "" for a relative or unsafe one.
func origin(s string) string {
	if !safeURL(s) || strings.HasPrefix(s, "/") {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
