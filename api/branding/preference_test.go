package branding_test

import (
	"encoding/json"
	"testing"

	"github.com/keyflow/keyflow/api/branding"
	"github.com/keyflow/keyflow/ui"
)

func TestFromPreference(t *testing.T) {
	tests := []struct {
		name    string
		pref    string
		want    ui.Branding
		enabled bool
		invalid bool
	}{
		{name: "flat", pref: `{"name":"Acme","logoUrl":"/logo.png","primaryColor":"#112233","backgroundColor":"#ffffff","cssUrl":"https://cdn.example/x.css"}`,
			want: ui.Branding{Name: "Acme", LogoURL: "/logo.png", PrimaryColor: "#112233", BackgroundColor: "#ffffff", CSSURL: "https://cdn.example/x.css"}, enabled: true},
		{name: "WSO2 console", pref: `{"configs":{"isBrandingEnabled":true},"organizationDetails":{"displayName":"Acme"},
			"theme":{"activeTheme":"DARK","LIGHT":{"colors":{"primary":{"main":"#000000"}}},
			"DARK":{"colors":{"primary":{"main":"#abcdef"},"background":{"body":{"main":"#101010"}}},"images":{"logo":{"imgURL":"https://cdn.example/l.png"}}}}}`,
			want: ui.Branding{Name: "Acme", LogoURL: "https://cdn.example/l.png", PrimaryColor: "#abcdef", BackgroundColor: "#101010"}, enabled: true},
		{name: "WSO2 6.0 theme, flat wins", pref: `{"primaryColor":"#111111","theme":{"LIGHT":{"colors":{"primary":"#222222"},"page":{"background":{"backgroundColor":"#333333"}}}}}`,
			want: ui.Branding{PrimaryColor: "#111111", BackgroundColor: "#333333"}, enabled: true},
		{name: "disabled", pref: `{"configs":{"isBrandingEnabled":false},"name":"Acme"}`, want: ui.Branding{Name: "Acme"}},
		{name: "empty object", pref: `{}`, enabled: true},
		{name: "array", pref: `[]`, invalid: true},
		{name: "wrong type", pref: `{"name":1}`, invalid: true},
		{name: "bad activeTheme", pref: `{"theme":{"activeTheme":1}}`, invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, enabled, err := branding.FromPreference(json.RawMessage(tc.pref))
			if tc.invalid {
				if err == nil {
					t.Fatalf("FromPreference(%s) = %+v, want an error", tc.pref, got)
				}
				return
			}
			if err != nil || got != tc.want || enabled != tc.enabled {
				t.Fatalf("FromPreference = %+v, %v, %v; want %+v, %v", got, enabled, err, tc.want, tc.enabled)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		pref string
		ok   bool
	}{
		{name: "good", pref: `{"name":"Acme","primaryColor":"#112233","logoUrl":"/l.png"}`, ok: true},
		{name: "colour", pref: `{"primaryColor":"red"}`},
		{name: "theme colour", pref: `{"theme":{"LIGHT":{"colors":{"primary":{"main":"#12"}}}}}`},
		{name: "script URL", pref: `{"cssUrl":"javascript:alert(1)"}`},
		{name: "scheme-relative logo", pref: `{"logoUrl":"//evil.example/x.png"}`},
		{name: "markup in URL", pref: `{"logoUrl":"/x\"><script>"}`},
		{name: "not JSON object", pref: `"x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := branding.Validate(json.RawMessage(tc.pref)); (err == nil) != tc.ok {
				t.Fatalf("Validate(%s) = %v, want ok=%v", tc.pref, err, tc.ok)
			}
		})
	}
}
