package ui

import (
	"bytes"
	"strings"
	"testing"
)

// TestDevicePages: the code form carries the CSRF token and the prefilled code (escaped), the
// confirmation lists the translated scopes with approve and deny, and the end pages say what
// happened, in English and Spanish.
func TestDevicePages(t *testing.T) {
	r := newRenderer(t)
	pages := []struct {
		name string
		d    DevicePage
		want []string
	}{
		{"device_enter", DevicePage{Stage: DeviceEnterCode, UserCode: `BCDF-"<x>`, Action: "/oauth2/device", CSRFToken: "tok",
			SwitchURL: "/oauth2/device"},
			[]string{`<input type="hidden" name="csrf_token" value="tok">`, `name="user_code" type="text" value="BCDF-&#34;&lt;x&gt;"`}},
		{"device_enter_invalid_es", DevicePage{Stage: DeviceEnterCode, Invalid: true, Action: "/oauth2/device", CSRFToken: "tok", Lang: "es"},
			[]string{"El código no es válido", `role="alert"`}},
		{"device_enter_throttled", DevicePage{Stage: DeviceEnterCode, Invalid: true, Throttled: true, Action: "/oauth2/device", CSRFToken: "tok"},
			[]string{"Too many wrong codes"}},
		{"device_confirm", DevicePage{Stage: DeviceConfirm, UserCode: "BCDF-GHJK", AppName: "<TV>", Scopes: []string{"openid", "email", "read"},
			Action: "/oauth2/device", CSRFToken: "tok"},
			[]string{"&lt;TV&gt; wants to access your account", "BCDF-GHJK", "<li>read</li>",
				`<input type="hidden" name="user_code" value="BCDF-GHJK">`, `<input type="hidden" name="csrf_token" value="tok">`,
				`name="decision" value="approve"`, `name="decision" value="deny"`}},
		{"device_approved", DevicePage{Stage: DeviceApproved}, []string{"You may return to your device."}},
		{"device_denied_es", DevicePage{Stage: DeviceDenied, Lang: "es"}, []string{"Solicitud denegada"}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.Device(&b, p.d); err != nil {
				t.Fatal(err)
			}
			for _, w := range p.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("page lacks %q:\n%s", w, b.String())
				}
			}
			if p.name == "device_enter_throttled" && strings.Contains(b.String(), "not valid") {
				t.Errorf("throttled page also shows the invalid message")
			}
			if p.name == "device_confirm" && strings.Contains(b.String(), "<li>openid</li>") {
				t.Errorf("openid listed")
			}
			golden(t, p.name, b.Bytes())
		})
	}
}
