package ui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func newRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// golden compares got with testdata/name.html, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".html")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (run with -update after checking):\n%s", path, got)
	}
}

// doc is a parsed page with small query helpers.
type doc struct{ root *html.Node }

func parse(t *testing.T, b []byte) doc {
	t.Helper()
	n, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc{n}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func (d doc) all(pred func(*html.Node) bool) []*html.Node {
	return findAll(d.root, pred)
}

func findAll(root *html.Node, pred func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && pred(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// control is one form control as the browser would post it.
type control struct {
	tag, typ, value, autocomplete, inputmode string
}

// controls maps control names to their controls in one form.
func controls(form *html.Node) map[string][]control {
	out := map[string][]control{}
	for _, n := range findAll(form, func(n *html.Node) bool { return n.Data == "input" || n.Data == "button" }) {
		name, ok := attr(n, "name")
		if !ok {
			continue
		}
		c := control{tag: n.Data}
		c.typ, _ = attr(n, "type")
		c.value, _ = attr(n, "value")
		c.autocomplete, _ = attr(n, "autocomplete")
		c.inputmode, _ = attr(n, "inputmode")
		out[name] = append(out[name], c)
	}
	return out
}

// forms returns the page's forms; every one must carry the flow's hidden fields.
func forms(t *testing.T, d doc, flowID, seq, csrf string) []*html.Node {
	t.Helper()
	fs := d.all(tag("form"))
	if len(fs) == 0 {
		t.Fatal("no form")
	}
	for i, f := range fs {
		if m, _ := attr(f, "method"); m != "post" {
			t.Errorf("form %d method = %q", i, m)
		}
		c := controls(f)
		for name, want := range map[string]string{FieldFlowID: flowID, FieldSeq: seq, FieldCSRF: csrf} {
			got := c[name]
			if len(got) != 1 || got[0].typ != "hidden" || got[0].value != want {
				t.Errorf("form %d: %s = %+v, want one hidden %q", i, name, got, want)
			}
		}
	}
	return fs
}

// authForm returns the form that has an input named field.
func formWith(t *testing.T, fs []*html.Node, field string) map[string][]control {
	t.Helper()
	for _, f := range fs {
		if c := controls(f); len(c[field]) > 0 {
			return c
		}
	}
	t.Fatalf("no form has %q", field)
	return nil
}

func wantInput(t *testing.T, c map[string][]control, name, typ, autocomplete string) control {
	t.Helper()
	got := c[name]
	if len(got) != 1 || got[0].tag != "input" || got[0].typ != typ || got[0].autocomplete != autocomplete {
		t.Errorf("%s = %+v, want one input type=%q autocomplete=%q", name, got, typ, autocomplete)
		return control{}
	}
	return got[0]
}

func wantCancel(t *testing.T, fs []*html.Node) {
	t.Helper()
	for _, f := range fs {
		for _, b := range controls(f)[FieldAbort] {
			if b.tag == "button" && b.typ == "submit" && b.value == "1" {
				return
			}
		}
	}
	t.Error("no abort=1 cancel button")
}

func wantText(t *testing.T, d doc, substr string) {
	t.Helper()
	if body := text(d.root); !strings.Contains(body, substr) {
		t.Errorf("page text lacks %q:\n%s", substr, body)
	}
}

var (
	basicID    = flows.AuthenticatorID(connectors.BasicAuthenticator, connectors.LocalIdP)
	fidoID     = flows.AuthenticatorID(connectors.FIDOAuthenticator, connectors.LocalIdP)
	googleID   = flows.AuthenticatorID("GoogleOIDCAuthenticator", "Google")
	basicParam = []connectors.Param{
		{Name: "username", Type: connectors.ParamString, Order: 0, I18nKey: "username.param", DisplayName: "Username"},
		{Name: "password", Type: connectors.ParamString, Order: 1, I18nKey: "password.param", DisplayName: "Password", Confidential: true},
	}
)

func single(a flows.AuthenticatorView, hint string) *flows.StepView {
	if a.Metadata.Type == "" {
		a.Metadata.Type = connectors.PromptUser
	}
	a.RequiredParams = a.Metadata.RequiredParams()
	return &flows.StepView{Step: 1, Type: flows.StepAuthenticatorPrompt, Authenticators: []flows.AuthenticatorView{a}, LoginHint: hint}
}

func otpAuth(name, display, key, param, paramKey string) flows.AuthenticatorView {
	return flows.AuthenticatorView{ID: flows.AuthenticatorID(name, connectors.LocalIdP), Name: name, DisplayName: display,
		IdP: connectors.LocalIdP, Metadata: connectors.Prompt{I18nKey: key, Params: []connectors.Param{
			{Name: param, Type: connectors.ParamString, I18nKey: paramKey, DisplayName: "Code"}}}}
}

const (
	enrollQR  = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
	enrollURI = "otpauth://totp/Keyflow:alice?algorithm=SHA1&digits=6&issuer=Keyflow&period=30&secret=JBSWY3DPEHPK3PXP"
)

// totpEnroll is a TOTP step that enrols the user (the totp connector's enrolment prompt).
func totpEnroll() flows.AuthenticatorView {
	a := otpAuth(connectors.TOTPAuthenticator, "TOTP", "authenticator.totp", "token", "totp.authenticator")
	a.Metadata.AdditionalData = map[string]string{"enrollment": "true", "qrCode": enrollQR, "keyUri": enrollURI,
		"secret": "JBSWY3DPEHPK3PXP"}
	return a
}

func TestLogin(t *testing.T) {
	challenge := base64.RawURLEncoding.EncodeToString([]byte(`{"requestId":"r1","publicKeyCredentialRequestOptions":{"challenge":"Y2hhbGxlbmdl","rpId":"id.example.com"}}`))
	cases := []struct {
		name  string
		page  LoginPage
		check func(t *testing.T, d doc, fs []*html.Node)
	}{
		{
			name: "basic",
			page: LoginPage{View: flows.View{FlowID: "flow-1", Seq: 1, Status: flows.StatusIncomplete,
				Step: single(flows.AuthenticatorView{ID: basicID, Name: connectors.BasicAuthenticator, DisplayName: "Username & Password",
					IdP: connectors.LocalIdP, Metadata: connectors.Prompt{I18nKey: "authenticator.basic", Params: basicParam}}, "alice@example.com")},
				AppName: "Pickup"},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "password")
				if u := wantInput(t, c, "username", "text", "username"); u.value != "alice@example.com" {
					t.Errorf("username not pre-filled from loginHint: %+v", u)
				}
				wantInput(t, c, "password", "password", "current-password")
				wantInput(t, c, FieldAuthenticatorID, "hidden", "")
				wantText(t, d, "Sign in to Pickup")
			},
		},
		{
			name: "identifier_first",
			page: LoginPage{View: flows.View{FlowID: "flow-2", Seq: 1, Status: flows.StatusIncomplete,
				Step: single(flows.AuthenticatorView{ID: flows.AuthenticatorID(connectors.IdentifierExecutor, connectors.LocalIdP),
					Name: connectors.IdentifierExecutor, DisplayName: "Identifier First", IdP: connectors.LocalIdP,
					Metadata: connectors.Prompt{I18nKey: "authenticator.identifier.first", Params: basicParam[:1]}}, "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "username")
				wantInput(t, c, "username", "text", "username")
				if len(c["password"]) != 0 {
					t.Error("identifier-first asks for a password")
				}
			},
		},
		{
			name: "totp_retry",
			page: LoginPage{View: flows.View{FlowID: "flow-3", Seq: 4, Status: flows.StatusFailIncomplete,
				Step: single(otpAuth(connectors.TOTPAuthenticator, "TOTP", "authenticator.totp", "token", "totp.authenticator"), ""),
				Messages: []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60003", Message: "authentication.fail.message",
					I18nKey: "message.ABA-60003", Context: map[string]string{"remainingAttempts": "2"}}}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "token")
				if tok := wantInput(t, c, "token", "text", "one-time-code"); tok.inputmode != "numeric" {
					t.Errorf("token inputmode = %q", tok.inputmode)
				}
				if len(c[FieldAction]) != 0 {
					t.Error("TOTP offers a resend")
				}
				alerts := d.all(func(n *html.Node) bool { r, _ := attr(n, "role"); return r == "alert" })
				if len(alerts) != 1 || !strings.Contains(text(alerts[0]), "The code is incorrect.") || !strings.Contains(text(alerts[0]), "2") {
					t.Errorf("alerts = %d, want the translated failure with the remaining attempts", len(alerts))
				}
			},
		},
		{
			name: "totp_enroll",
			page: LoginPage{View: flows.View{FlowID: "flow-14", Seq: 2, Status: flows.StatusIncomplete,
				Step: single(totpEnroll(), "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "token")
				wantInput(t, c, "token", "text", "one-time-code")
				imgs := d.all(tag("img"))
				if len(imgs) != 1 {
					t.Fatalf("images = %d, want the QR code", len(imgs))
				}
				if src, _ := attr(imgs[0], "src"); src != enrollQR {
					t.Errorf("QR src = %.60q", src)
				}
				if alt, _ := attr(imgs[0], "alt"); alt != "QR code to add this account to your authenticator app" {
					t.Errorf("QR alt = %q", alt)
				}
				links := d.all(func(n *html.Node) bool { h, _ := attr(n, "href"); return h == enrollURI })
				if len(links) != 1 || text(links[0]) != "Open in an authenticator app on this device" {
					t.Errorf("key URI links = %d", len(links))
				}
				wantText(t, d, "scan this QR code")
				wantText(t, d, "JBSW Y3DP EHPK 3PXP")
			},
		},
		{
			name: "totp_enroll_es",
			page: LoginPage{Lang: "es", View: flows.View{FlowID: "flow-15", Seq: 3, Status: flows.StatusFailIncomplete,
				Step: single(totpEnroll(), ""),
				Messages: []connectors.Message{{Type: connectors.MessageError, ID: "ABA-60003", Message: "authentication.fail.message",
					I18nKey: "message.ABA-60003"}}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				if len(d.all(tag("img"))) != 1 {
					t.Error("the QR code is not kept on a retry")
				}
				wantText(t, d, "escanea este código QR")
				wantText(t, d, "introduce esta clave")
			},
		},
		{
			name: "email_otp_es",
			page: LoginPage{Lang: "es", View: flows.View{FlowID: "flow-4", Seq: 2, Status: flows.StatusIncomplete,
				Step:     single(otpAuth(connectors.EmailOTPAuthenticator, "Email OTP", "authenticator.email.otp", "OTPCode", "otp.param"), ""),
				Messages: []connectors.Message{{Type: connectors.MessageInfo, ID: "otp.sent", Message: "otp.sent", I18nKey: "message.otp.sent"}}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "OTPCode")
				wantInput(t, c, "OTPCode", "text", "one-time-code")
				if a := c[FieldAction]; len(a) != 1 || a[0].tag != "button" || a[0].value != ActionResend {
					t.Errorf("resend = %+v", a)
				}
				html := d.all(tag("html"))[0]
				if l, _ := attr(html, "lang"); l != "es" {
					t.Errorf("lang = %q", l)
				}
				wantText(t, d, "Te enviamos un código de verificación.")
				wantText(t, d, "Reenviar código")
			},
		},
		{
			name: "sms_otp",
			page: LoginPage{View: flows.View{FlowID: "flow-5", Seq: 2, Status: flows.StatusIncomplete,
				Step: single(otpAuth(connectors.SMSOTPAuthenticator, "SMS OTP", "authenticator.sms.otp", "OTPCode", "otp.param"), "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "OTPCode")
				wantInput(t, c, "OTPCode", "text", "one-time-code")
				if len(c[FieldAction]) != 1 {
					t.Error("no resend button")
				}
			},
		},
		{
			name: "backup_code",
			page: LoginPage{View: flows.View{FlowID: "flow-6", Seq: 3, Status: flows.StatusIncomplete,
				Step: single(otpAuth(connectors.BackupCodeAuthenticator, "Backup Code", "authenticator.backup.code", "BackupCode", "backup.code.param"), "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				wantInput(t, formWith(t, fs, "BackupCode"), "BackupCode", "text", "one-time-code")
			},
		},
		{
			name: "generic_authenticator",
			page: LoginPage{View: flows.View{FlowID: "flow-7", Seq: 1, Status: flows.StatusIncomplete,
				Step: single(flows.AuthenticatorView{ID: flows.AuthenticatorID("PinAuthenticator", "LOCAL"), Name: "PinAuthenticator",
					DisplayName: "PIN", IdP: "LOCAL", Metadata: connectors.Prompt{I18nKey: "authenticator.pin", Params: []connectors.Param{
						{Name: "pin", Type: connectors.ParamInteger, Order: 1, DisplayName: "PIN", Confidential: true},
						{Name: "memberNo", Type: connectors.ParamInteger, Order: 0, DisplayName: "Member number"},
					}}}, "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "pin")
				wantInput(t, c, "pin", "password", "off")
				if m := wantInput(t, c, "memberNo", "text", "off"); m.inputmode != "numeric" {
					t.Errorf("memberNo inputmode = %q", m.inputmode)
				}
				wantText(t, d, "Member number")
				labels := d.all(tag("label"))
				if len(labels) != 2 || text(labels[0]) != "Member number" {
					t.Errorf("params not in Order: first label %q", text(labels[0]))
				}
			},
		},
		{
			name: "multi_options",
			page: LoginPage{View: flows.View{FlowID: "flow-8", Seq: 1, Status: flows.StatusIncomplete,
				Step: &flows.StepView{Step: 1, Type: flows.StepMultiOptionsPrompt, Authenticators: []flows.AuthenticatorView{
					{ID: basicID, Name: connectors.BasicAuthenticator, DisplayName: "Username & Password", IdP: connectors.LocalIdP,
						Metadata:       connectors.Prompt{I18nKey: "authenticator.basic", Type: connectors.PromptUser, Params: basicParam},
						RequiredParams: []string{"username", "password"}},
					{ID: fidoID, Name: connectors.FIDOAuthenticator, DisplayName: "Passkey", IdP: connectors.LocalIdP,
						Metadata: connectors.Prompt{I18nKey: "authenticator.fido"}},
					{ID: googleID, Name: "GoogleOIDCAuthenticator", DisplayName: "Google", IdP: "Google",
						Metadata: connectors.Prompt{I18nKey: "authenticator.google"}},
				}}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "password")
				if b := c[FieldAuthenticatorID]; len(b) != 1 || b[0].tag != "button" || b[0].value != basicID {
					t.Errorf("basic form authenticatorId = %+v, want its submit button", b)
				}
				var chosen []string
				for _, f := range fs {
					for _, b := range controls(f)[FieldAuthenticatorID] {
						if b.tag == "button" && b.typ == "submit" {
							chosen = append(chosen, b.value)
						}
					}
				}
				if strings.Join(chosen, ",") != strings.Join([]string{basicID, fidoID, googleID}, ",") {
					t.Errorf("option buttons = %v", chosen)
				}
				wantText(t, d, "Google")
				if len(d.all(tag("script"))) != 0 {
					t.Error("passkey script loaded before the option is chosen")
				}
			},
		},
		{
			name: "passkey",
			page: LoginPage{View: flows.View{FlowID: "flow-9", Seq: 2, Status: flows.StatusIncomplete,
				Step: single(flows.AuthenticatorView{ID: fidoID, Name: connectors.FIDOAuthenticator, DisplayName: "Passkey", IdP: connectors.LocalIdP,
					Metadata: connectors.Prompt{I18nKey: "authenticator.fido", Type: connectors.PromptInternal,
						Params:         []connectors.Param{{Name: "tokenResponse", Type: connectors.ParamString}},
						AdditionalData: map[string]string{"challengeData": challenge}}}, "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				wantInput(t, formWith(t, fs, "tokenResponse"), "tokenResponse", "hidden", "")
				scripts := d.all(tag("script"))
				if len(scripts) != 1 {
					t.Fatalf("scripts = %d, want passkey.js only", len(scripts))
				}
				if src, _ := attr(scripts[0], "src"); src != "/ui/assets/passkey.js" || scripts[0].FirstChild != nil {
					t.Errorf("script src=%q with inline body %v", src, scripts[0].FirstChild != nil)
				}
				pf := d.all(func(n *html.Node) bool { _, ok := attr(n, "data-passkey"); return ok })
				if len(pf) != 1 {
					t.Fatal("no data-passkey form")
				}
				if got, _ := attr(pf[0], "data-passkey"); got != challenge {
					t.Errorf("data-passkey = %q", got)
				}
			},
		},
		{
			name: "federated_redirect",
			page: LoginPage{View: flows.View{FlowID: "flow-10", Seq: 2, Status: flows.StatusIncomplete,
				Step: single(flows.AuthenticatorView{ID: googleID, Name: "GoogleOIDCAuthenticator", DisplayName: "Google", IdP: "Google",
					Metadata: connectors.Prompt{I18nKey: "authenticator.google", Type: connectors.PromptRedirect,
						AdditionalData: map[string]string{"redirectUrl": "https://accounts.google.com/o/oauth2/auth?client_id=x&state=s"}}}, "")}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				links := d.all(func(n *html.Node) bool {
					h, _ := attr(n, "href")
					return strings.HasPrefix(h, "https://accounts.google.com/")
				})
				if len(links) != 1 || text(links[0]) != "Continue with Google" {
					t.Errorf("redirect links = %d", len(links))
				}
			},
		},
		{
			name: "prompt_generic_form",
			page: LoginPage{View: flows.View{FlowID: "flow-11", Seq: 5, Status: flows.StatusIncomplete,
				Prompt: &flows.PromptView{Template: "genericForm",
					Data: []byte(`{"username":"alice","inputs":[{"id":"birthYear","label":"Birth year"},{"id":"city","label":"City"}]}`)}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				c := formWith(t, fs, "birthYear")
				wantInput(t, c, "birthYear", "text", "off")
				wantInput(t, c, "city", "text", "off")
				wantText(t, d, "Signed in as alice.")
				wantText(t, d, "Birth year")
				wantCancel(t, fs)
			},
		},
		{
			name: "prompt_internal_wait",
			page: LoginPage{View: flows.View{FlowID: "flow-12", Seq: 6, Status: flows.StatusIncomplete,
				Prompt: &flows.PromptView{Template: "internalWait",
					Data: []byte(`{"waitingType":"FIXED_DELAY","waitingConfigs":{"greeting":"Hello","message":"Checking your device","timeout":"45"}}`)}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				wantText(t, d, "Checking your device")
				wantText(t, d, "about 20 seconds") // clamped to WSO2's maximum
			},
		},
		{
			name: "prompt_unknown",
			page: LoginPage{View: flows.View{FlowID: "flow-13", Seq: 7, Status: flows.StatusIncomplete,
				Prompt: &flows.PromptView{Template: "associationConsentForm", Data: []byte(`{"idp":"Google","accounts":["a","b"],"n":3}`)}}},
			check: func(t *testing.T, d doc, fs []*html.Node) {
				dts := d.all(tag("dt"))
				dds := d.all(tag("dd"))
				if len(dts) != 3 || text(dts[0]) != "accounts" || text(dds[0]) != `["a","b"]` || text(dds[2]) != "3" {
					t.Errorf("generic data rendering: %d terms", len(dts))
				}
			},
		},
	}
	r := newRenderer(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.page
			p.Action, p.CSRFToken = "/authn/login", "csrf-"+tc.name
			var buf bytes.Buffer
			if err := r.Login(&buf, p); err != nil {
				t.Fatalf("Login: %v", err)
			}
			golden(t, "login_"+tc.name, buf.Bytes())
			d := parse(t, buf.Bytes())
			fs := forms(t, d, p.View.FlowID, itoa(p.View.Seq), p.CSRFToken)
			wantCancel(t, fs)
			for _, f := range fs {
				if a, _ := attr(f, "action"); a != "/authn/login" {
					t.Errorf("form action = %q", a)
				}
			}
			if body := text(d.root); strings.Contains(body, "authenticator.") || strings.Contains(body, "message.") || strings.Contains(body, "button.") {
				t.Errorf("untranslated key on page: %s", body)
			}
			tc.check(t, d, fs)
		})
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestLoginFinalView(t *testing.T) {
	r := newRenderer(t)
	err := r.Login(&bytes.Buffer{}, LoginPage{View: flows.View{FlowID: "f", Seq: 9, Status: flows.StatusFailed,
		Error: &flows.FlowError{Kind: flows.ErrorAuthentication}}})
	if !errors.Is(err, ErrNoStep) {
		t.Fatalf("err = %v, want ErrNoStep", err)
	}
}

func TestLanguageSwitch(t *testing.T) {
	r := newRenderer(t)
	var buf bytes.Buffer
	page := LoginPage{Lang: "es", SwitchURL: "/authn/login?flowId=flow-1", Action: "/authn/login", CSRFToken: "c",
		View: flows.View{FlowID: "flow-1", Seq: 1, Status: flows.StatusIncomplete,
			Step: single(otpAuth(connectors.TOTPAuthenticator, "TOTP", "authenticator.totp", "token", "totp.authenticator"), "")}}
	if err := r.Login(&buf, page); err != nil {
		t.Fatal(err)
	}
	d := parse(t, buf.Bytes())
	nav := d.all(tag("nav"))
	if len(nav) != 1 {
		t.Fatalf("nav = %d", len(nav))
	}
	links := findAll(nav[0], tag("a"))
	if len(links) != len(r.Languages())-1 {
		t.Fatalf("switch links = %d, want one per other language", len(links))
	}
	if href, _ := attr(links[0], "href"); href != "/authn/login?flowId=flow-1&ui_locales=en" {
		t.Errorf("en link = %q", href)
	}
	if cur := findAll(nav[0], func(n *html.Node) bool { _, ok := attr(n, "aria-current"); return ok }); len(cur) != 1 || text(cur[0]) != "Español" {
		t.Error("current language not marked")
	}

	buf.Reset()
	page.SwitchURL = "javascript:alert(1)"
	if err := r.Login(&buf, page); err != nil {
		t.Fatal(err)
	}
	if n := parse(t, buf.Bytes()).all(tag("nav")); len(n) != 0 {
		t.Error("unsafe SwitchURL rendered a switch")
	}
}

func TestLang(t *testing.T) {
	r := newRenderer(t)
	cases := []struct {
		name, uiLocales, accept, want string
	}{
		{"default", "", "", "en"},
		{"ui_locales wins", "es", "en-US,en;q=0.9", "es"},
		{"ui_locales order", "fr-CA es-MX en", "", "es"},
		{"ui_locales unsupported falls to header", "fr", "es-ES,es;q=0.9", "es"},
		{"quality order", "", "en;q=0.5, es;q=0.8, de", "es"},
		{"q=0 excluded", "", "es;q=0, fr", "en"},
		{"case and underscore", "ES_mx", "", "es"},
		{"wildcard only", "", "*", "en"},
		{"garbage", "%%%", ";;;,q=", "en"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Lang(tc.uiLocales, tc.accept); got != tc.want {
				t.Errorf("Lang(%q, %q) = %q, want %q", tc.uiLocales, tc.accept, got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	cases := []struct {
		name  string
		page  ErrorPage
		want  []string
		avoid []string
	}{
		{name: "send_error", page: ErrorPageFor(&flows.FlowError{Kind: flows.ErrorSendError, Code: "ABA-60002",
			Params: map[string]string{"status": "Unauthorized", "statusMsg": "You are not allowed to log in to this app."}}),
			want: []string{"Access denied", "Unauthorized", "You are not allowed to log in to this app."}},
		{name: "send_error_i18nkey_es", page: ErrorPage{Kind: ErrorSend, Lang: "es", Status: "403", StatusMsg: "Denied", I18nKey: "message.ABA-60011"},
			want: []string{"Acceso denegado", "403", "La aplicación está deshabilitada."}, avoid: []string{"Denied"}},
		{name: "invalid_request", page: ErrorPage{Kind: ErrorInvalidRequest, TraceID: "trace-42"},
			want: []string{"The application's request is invalid.", "Reference: trace-42"}},
		{name: "authentication", page: ErrorPageFor(&flows.FlowError{Kind: flows.ErrorAuthentication, Code: "ABA-60013",
			Message: "Maximum retry attempts exceeded.", Description: "internal: basic step 1 locked"}),
			want: []string{"Sign-in failed", "Too many failed attempts."}, avoid: []string{"internal"}},
		{name: "timeout", page: ErrorPageFor(&flows.FlowError{Kind: flows.ErrorTimeout, Code: "ABA-60008"}),
			want: []string{"Session expired"}},
		{name: "server", page: ErrorPageFor(&flows.FlowError{Kind: flows.ErrorServer, Code: "ABA-65001",
			Description: "script: TypeError at line 3", ErrorMessage: "pgx: connection refused"}),
			want: []string{"Something went wrong"}, avoid: []string{"TypeError", "pgx", "ABA-65001"}},
		{name: "retry_link", page: ErrorPage{Kind: ErrorTimeout, RetryURL: "/oauth2/authorize?client_id=x"},
			want: []string{"Try again"}},
	}
	r := newRenderer(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := r.Error(&buf, tc.page); err != nil {
				t.Fatal(err)
			}
			golden(t, "error_"+tc.name, buf.Bytes())
			d := parse(t, buf.Bytes())
			for _, w := range tc.want {
				wantText(t, d, w)
			}
			for _, a := range tc.avoid {
				if strings.Contains(buf.String(), a) {
					t.Errorf("page shows %q", a)
				}
			}
			if len(d.all(tag("form"))) != 0 || len(d.all(tag("script"))) != 0 {
				t.Error("error page has a form or a script")
			}
		})
	}
}

func TestConsent(t *testing.T) {
	r := newRenderer(t)
	var buf bytes.Buffer
	err := r.Consent(&buf, ConsentPage{AppName: "Pickup", Scopes: []string{"openid", "profile", "email", "orders:read"},
		Claims: []Claim{{URI: "email", Mandatory: true}, {URI: "http://wso2.org/claims/department", DisplayName: "Department"}},
		Action: "/oauth2/consent", CSRFToken: "csrf-c", Hidden: map[string]string{"consentId": "c-1", FieldCSRF: "forged"},
		Branding: Branding{Name: "Acme", PrimaryColor: "#aa0000"}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "consent", buf.Bytes())
	d := parse(t, buf.Bytes())
	fs := d.all(tag("form"))
	if len(fs) != 1 {
		t.Fatalf("forms = %d", len(fs))
	}
	c := controls(fs[0])
	if got := c[FieldCSRF]; len(got) != 1 || got[0].value != "csrf-c" {
		t.Errorf("csrf = %+v (Hidden must not override it)", got)
	}
	if got := c["consentId"]; len(got) != 1 || got[0].typ != "hidden" || got[0].value != "c-1" {
		t.Errorf("consentId = %+v", got)
	}
	var vals []string
	for _, b := range c[FieldConsent] {
		vals = append(vals, b.value)
	}
	if strings.Join(vals, ",") != ConsentApprove+","+ConsentDeny {
		t.Errorf("consent buttons = %v", vals)
	}
	for _, w := range []string{"Pickup wants to access your account", "Your email address", "orders:read", "Email address", "Department", "required"} {
		wantText(t, d, w)
	}
	if strings.Contains(text(d.root), "openid") {
		t.Error("openid listed as a permission")
	}
}

func TestBrandingValidate(t *testing.T) {
	cases := []struct {
		name string
		b    Branding
		ok   bool
	}{
		{"empty", Branding{}, true},
		{"full", Branding{Name: "Acme", LogoURL: "https://cdn.acme.test/logo.svg", PrimaryColor: "#A1b2C3", BackgroundColor: "#ffffff", CSSURL: "/branding/acme.css"}, true},
		{"named colour", Branding{PrimaryColor: "red"}, false},
		{"short hex", Branding{BackgroundColor: "#fff"}, false},
		{"css injection", Branding{PrimaryColor: "#000000;}</style><script>alert(1)</script>"}, false},
		{"javascript logo", Branding{LogoURL: "javascript:alert(1)"}, false},
		{"data css", Branding{CSSURL: "data:text/css,body{}"}, false},
		{"scheme-relative", Branding{LogoURL: "//evil.test/x.png"}, false},
		{"quote in url", Branding{CSSURL: `/a.css"><script>`}, false},
		{"long name", Branding{Name: strings.Repeat("x", maxBrandName+1)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.b.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestEscaping feeds <script> through every value a user, a script author or an admin controls
// and checks that no script element or event handler reaches the page.
func TestEscaping(t *testing.T) {
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	brand := Branding{Name: evil, LogoURL: "javascript:alert(1)", CSSURL: evil,
		PrimaryColor: "#000000;}</style><script>alert(1)</script>", BackgroundColor: "expression(alert(1))"}
	r := newRenderer(t)
	pages := []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"login", func(b *bytes.Buffer) error {
			return r.Login(b, LoginPage{Action: "/authn/login", CSRFToken: evil, Lang: evil, Branding: brand, AppName: evil, SwitchURL: evil,
				View: flows.View{FlowID: evil, Seq: 1, Status: flows.StatusFailIncomplete,
					Step: single(flows.AuthenticatorView{ID: evil, Name: connectors.BasicAuthenticator, DisplayName: evil,
						Metadata: connectors.Prompt{I18nKey: evil, Params: []connectors.Param{{Name: evil, DisplayName: evil}}}}, evil),
					Messages: []connectors.Message{
						{Type: connectors.MessageError, ID: "ABA-60003", I18nKey: "message.ABA-60003", Context: map[string]string{"remainingAttempts": evil}},
						{Type: connectors.MessageInfo, ID: evil, Message: "Hello " + evil},
					}}})
		}},
		{"login_multi", func(b *bytes.Buffer) error {
			return r.Login(b, LoginPage{Action: "/authn/login", Branding: brand,
				View: flows.View{FlowID: "f", Seq: 1, Status: flows.StatusIncomplete, Step: &flows.StepView{Type: flows.StepMultiOptionsPrompt,
					Authenticators: []flows.AuthenticatorView{{ID: evil, Name: evil, DisplayName: evil}, {ID: "x", Name: connectors.FIDOAuthenticator,
						Metadata: connectors.Prompt{Type: connectors.PromptRedirect, AdditionalData: map[string]string{"redirectUrl": "javascript:alert(1)"}}}}}}})
		}},
		{"passkey", func(b *bytes.Buffer) error {
			return r.Login(b, LoginPage{Action: "/authn/login", View: flows.View{FlowID: "f", Seq: 1, Status: flows.StatusIncomplete,
				Step: single(flows.AuthenticatorView{ID: "p", Name: connectors.FIDOAuthenticator, Metadata: connectors.Prompt{Type: connectors.PromptInternal,
					AdditionalData: map[string]string{"challengeData": evil}}, RequiredParams: []string{evil}}, "")}})
		}},
		{"prompt", func(b *bytes.Buffer) error {
			return r.Login(b, LoginPage{Action: "/authn/login", View: flows.View{FlowID: "f", Seq: 1, Status: flows.StatusIncomplete,
				Prompt: &flows.PromptView{Template: "genericForm", Data: []byte(`{"username":"<script>alert(1)</script>","inputs":[{"id":"\"><script>","label":"<script>alert(1)</script>"}]}`)}}})
		}},
		{"prompt_unknown", func(b *bytes.Buffer) error {
			return r.Login(b, LoginPage{Action: "/authn/login", View: flows.View{FlowID: "f", Seq: 1, Status: flows.StatusIncomplete,
				Prompt: &flows.PromptView{Template: evil, Data: []byte(`{"<script>":"</script><script>alert(1)</script>"}`)}}})
		}},
		{"error", func(b *bytes.Buffer) error {
			return r.Error(b, ErrorPage{Kind: ErrorSend, Status: evil, StatusMsg: evil, I18nKey: evil, TraceID: evil, RetryURL: "javascript:alert(1)", Branding: brand})
		}},
		{"consent", func(b *bytes.Buffer) error {
			return r.Consent(b, ConsentPage{AppName: evil, Scopes: []string{evil}, Claims: []Claim{{URI: evil, DisplayName: evil}},
				Hidden: map[string]string{evil: evil}, CSRFToken: evil, Action: "/c", Branding: brand})
		}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := p.render(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Contains(out, "<script>") || strings.Contains(out, "<img src=x") || strings.Contains(out, "javascript:") ||
				strings.Contains(out, "expression(") {
				t.Errorf("unescaped payload in page:\n%s", out)
			}
			d := parse(t, buf.Bytes())
			for _, s := range d.all(tag("script")) {
				if src, _ := attr(s, "src"); src != "/ui/assets/passkey.js" || s.FirstChild != nil {
					t.Errorf("unexpected script element src=%q", src)
				}
			}
			for _, n := range d.all(func(*html.Node) bool { return true }) {
				for _, a := range n.Attr {
					if strings.HasPrefix(a.Key, "on") {
						t.Errorf("event handler attribute %s on <%s>", a.Key, n.Data)
					}
				}
			}
			if st := d.all(tag("style")); len(st) != 0 {
				t.Errorf("invalid colours reached a <style> block: %s", text(st[0]))
			}
			if imgs := d.all(tag("img")); len(imgs) != 0 {
				t.Error("invalid logo URL rendered")
			}
		})
	}
}

func TestBrandingRendered(t *testing.T) {
	r := newRenderer(t)
	var buf bytes.Buffer
	err := r.Error(&buf, ErrorPage{Kind: ErrorGeneric, Branding: Branding{Name: "Acme", LogoURL: "https://cdn.acme.test/logo.svg",
		PrimaryColor: "#AA0000", BackgroundColor: "#f0f0f0", CSSURL: "/branding/acme.css"}})
	if err != nil {
		t.Fatal(err)
	}
	d := parse(t, buf.Bytes())
	st := d.all(tag("style"))
	if len(st) != 1 || text(st[0]) != ":root{--kf-primary:#aa0000;--kf-background:#f0f0f0;}" {
		t.Errorf("style block = %v", st)
	}
	var hrefs []string
	for _, l := range d.all(tag("link")) {
		h, _ := attr(l, "href")
		hrefs = append(hrefs, h)
	}
	if strings.Join(hrefs, " ") != "/ui/assets/style.css /branding/acme.css" {
		t.Errorf("stylesheets = %v", hrefs)
	}
	imgs := d.all(tag("img"))
	if len(imgs) != 1 {
		t.Fatal("no logo")
	}
	if alt, _ := attr(imgs[0], "alt"); alt != "Acme" {
		t.Errorf("logo alt = %q", alt)
	}
}

func TestNew(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"custom", Config{AssetsPath: "/static/login/", DefaultLang: "es", ProductName: "Acme ID"}, true},
		{"absolute assets", Config{AssetsPath: "https://cdn.test/x"}, false},
		{"scheme-relative assets", Config{AssetsPath: "//cdn.test/x"}, false},
		{"no catalog", Config{DefaultLang: "fr"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); (err == nil) != tc.ok {
				t.Errorf("New = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	h := http.StripPrefix("/ui/assets", newRenderer(t).Assets())
	cases := []struct {
		name, path string
		code       int
		ctype      string
	}{
		{"stylesheet", "/ui/assets/style.css", http.StatusOK, "text/css"},
		{"passkey script", "/ui/assets/passkey.js", http.StatusOK, "javascript"},
		{"no listing", "/ui/assets/", http.StatusNotFound, ""},
		{"missing", "/ui/assets/nope.css", http.StatusNotFound, ""},
		{"no escape", "/ui/assets/../ui.go", http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.code {
				t.Fatalf("code = %d, want %d", rec.Code, tc.code)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tc.ctype) {
				t.Errorf("content type = %q", ct)
			}
			if tc.code == http.StatusOK && rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
		})
	}
}

// TestCatalogsComplete checks that every key a template or the code can ask for exists, by
// rendering every page in every language and looking for raw keys.
func TestCatalogsComplete(t *testing.T) {
	r := newRenderer(t)
	for _, lang := range r.Languages() {
		t.Run(lang, func(t *testing.T) {
			var buf bytes.Buffer
			for _, k := range []ErrorKind{ErrorGeneric, ErrorSend, ErrorInvalidRequest, ErrorAuthentication, ErrorTimeout} {
				if err := r.Error(&buf, ErrorPage{Kind: k, Lang: lang, TraceID: "t", Status: "s"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Consent(&buf, ConsentPage{Lang: lang, AppName: "A", Scopes: []string{"profile"}, Claims: []Claim{{URI: "email", Mandatory: true}}}); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"error.", "consent.", "scope.", "claim.", "button.", "a11y.", "lang."} {
				if strings.Contains(text(parse(t, buf.Bytes()).root), k) {
					t.Errorf("raw key %q… on a %s page", k, lang)
				}
			}
		})
	}
}

func TestMessage(t *testing.T) {
	r := newRenderer(t)
	cases := []struct {
		name string
		lang string
		msg  connectors.Message
		want message
	}{
		{"i18nKey", "en", connectors.Message{Type: connectors.MessageError, ID: "ABA-60013", Message: "Maximum retry attempts exceeded.", I18nKey: "message.ABA-60013"},
			message{Error: true, Text: "Too many failed attempts."}},
		{"code only", "es", connectors.Message{Type: connectors.MessageError, ID: "ABA-60014"},
			message{Error: true, Text: "Se solicitaron demasiados códigos."}},
		{"specific text key wins", "en", connectors.Message{Type: connectors.MessageError, ID: "ABA-60003", Message: "otp.expired", I18nKey: "message.ABA-60003"},
			message{Error: true, Text: "The code has expired. Request a new one."}},
		{"remaining attempts", "es", connectors.Message{Type: connectors.MessageError, ID: "ABA-60003", I18nKey: "message.ABA-60003", Context: map[string]string{"remainingAttempts": "1"}},
			message{Error: true, Text: "No se pudo iniciar sesión. Inténtalo de nuevo. Intentos restantes: 1."}},
		{"untranslated sentence", "en", connectors.Message{Type: connectors.MessageInfo, ID: "custom", Message: "Your device was recognised."},
			message{Text: "Your device was recognised."}},
		{"untranslated key", "en", connectors.Message{Type: connectors.MessageError, ID: "custom", Message: "custom.failure.key"},
			message{Error: true, Text: "Something went wrong. Please try again."}},
		{"untranslated info key", "es", connectors.Message{Type: connectors.MessageInfo, ID: "x", Message: "x.y"},
			message{Text: "Continúa, por favor."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.message(r.translator(tc.lang), tc.msg); got != tc.want {
				t.Errorf("message = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTOTPEnrollmentRejectsUnsafeData(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name    string
		data    map[string]string
		wantImg bool
		wantURI bool
	}{
		{name: "not an enrolment", data: map[string]string{"qrCode": enrollQR, "keyUri": enrollURI}},
		{name: "valid", data: map[string]string{"enrollment": "true", "qrCode": enrollQR, "keyUri": enrollURI}, wantImg: true, wantURI: true},
		{name: "svg data URI", data: map[string]string{"enrollment": "true", "qrCode": "data:image/svg+xml;base64,PHN2Zz4=", "keyUri": enrollURI}, wantURI: true},
		{name: "html data URI", data: map[string]string{"enrollment": "true", "qrCode": "data:text/html,<script>alert(1)</script>"}},
		{name: "javascript key URI", data: map[string]string{"enrollment": "true", "qrCode": enrollQR, "keyUri": "javascript:alert(1)"}, wantImg: true},
		{name: "quote in key URI", data: map[string]string{"enrollment": "true", "keyUri": `otpauth://totp/a"onmouseover=x`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := otpAuth(connectors.TOTPAuthenticator, "TOTP", "authenticator.totp", "token", "totp.authenticator")
			a.Metadata.AdditionalData = tc.data
			var buf bytes.Buffer
			if err := r.Login(&buf, LoginPage{Action: "/authn/login", CSRFToken: "c",
				View: flows.View{FlowID: "f", Seq: 1, Status: flows.StatusIncomplete, Step: single(a, "")}}); err != nil {
				t.Fatal(err)
			}
			d := parse(t, buf.Bytes())
			if got := len(d.all(tag("img"))) == 1; got != tc.wantImg {
				t.Errorf("QR image rendered = %v", got)
			}
			uris := d.all(func(n *html.Node) bool { h, _ := attr(n, "href"); return strings.HasPrefix(h, "otpauth:") })
			if got := len(uris) == 1; got != tc.wantURI {
				t.Errorf("key URI link rendered = %v", got)
			}
			for _, bad := range []string{"javascript:", "<script>", "ZgotmplZ", "onmouseover"} {
				if bytes.Contains(buf.Bytes(), []byte(bad)) {
					t.Errorf("page contains %q", bad)
				}
			}
		})
	}
}
