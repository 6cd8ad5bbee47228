package ui

import (
	"bytes"
	"strings"
	"testing"
)

// TestLogoutPages: the confirmation form carries the CSRF token and the request's parameters
// (escaped); the signed-out page frames only http(s) URLs and moves on only to safe URLs.
func TestLogoutPages(t *testing.T) {
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.LogoutConfirm(&b, LogoutConfirmPage{AppName: "<App>", Action: "/t/acme/oidc/logout", CSRFToken: "tok",
		Hidden: map[string]string{"state": `"><script>`, FieldCSRF: "forged", FieldLogoutConfirm: "0"}, Lang: "es"}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<form method="post" action="/t/acme/oidc/logout">`,
		`<input type="hidden" name="csrf_token" value="tok">`, `<input type="hidden" name="logout_confirm" value="1">`,
		`name="state" value="&#34;&gt;&lt;script&gt;"`, "&lt;App&gt; te pide que cierres la sesión"} {
		if !strings.Contains(page, want) {
			t.Errorf("confirmation page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "forged") || strings.Count(page, `name="csrf_token"`) != 1 {
		t.Errorf("caller's Hidden replaced the CSRF token:\n%s", page)
	}

	b.Reset()
	if err := r.LoggedOut(&b, LoggedOutPage{Frames: []string{"https://a.example/fc?sid=1&iss=x", "javascript:alert(1)"},
		RedirectURL: "com.example.app:/bye?state=s"}); err != nil {
		t.Fatal(err)
	}
	page = b.String()
	if strings.Count(page, "<iframe") != 1 || !strings.Contains(page, `src="https://a.example/fc?sid=1&amp;iss=x"`) {
		t.Errorf("frames:\n%s", page)
	}
	if !strings.Contains(page, `content="0;url=com.example.app:/bye?state=s"`) || !strings.Contains(page, `href="com.example.app:/bye?state=s"`) {
		t.Errorf("native redirect missing:\n%s", page)
	}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,x", "https://a b"} {
		b.Reset()
		if err := r.LoggedOut(&b, LoggedOutPage{RedirectURL: bad}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "refresh") || strings.Contains(b.String(), "button primary") {
			t.Errorf("redirect %q rendered:\n%s", bad, b.String())
		}
	}
}
