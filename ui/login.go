package ui

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
)

// Form field names the login page posts; the front-end maps them to a flows.Submission.
const (
	FieldFlowID          = "flowId"
	FieldSeq             = "seq"
	FieldCSRF            = "csrf_token"
	FieldAuthenticatorID = "authenticatorId"
	FieldAction          = "action" // "resend" restarts an OTP authenticator
	FieldAbort           = "abort"  // "1" cancels the login
	ActionResend         = "resend" // value of FieldAction for a new OTP
	passkeyDefaultParam  = "tokenResponse"
)

// ErrNoStep is returned by Login for a view with neither a step nor a prompt (a final view):
// the front-end must redirect, answer the client or render Error instead.
var ErrNoStep = errors.New("ui: view has no step or prompt to render")

// LoginPage is one rendering of the login workflow's current view.
type LoginPage struct {
	View flows.View
	// Action is the URL every form posts to.
	Action string
	// CSRFToken is rendered as the hidden csrf_token field; the front-end generates and
	// checks it.
	CSRFToken string
	// Lang is the page language (Renderer.Lang).
	Lang     string
	Branding Branding
	// AppName names the application the user signs in to ("Sign in to {app}"); optional.
	AppName string
	// SwitchURL is this page's URL for the language switch (GET with ui_locales); optional.
	SwitchURL string
}

type loginModel struct {
	base
	Action  string
	Hidden  []hidden
	Heading string
	// Messages are shown above the forms.
	Messages []message
	// Forms are the authenticator forms: the chosen authenticator, or in a multi-option
	// step every option (those without fields are a single button).
	Forms []form
	// Multi is true for a MULTI_OPTIONS_PROMPT.
	Multi  bool
	Prompt *promptModel
	// Passkey is true when passkey.js must be loaded.
	Passkey bool
}

type hidden struct{ Name, Value string }

type message struct {
	Error bool
	Text  string
}

// form is one authenticator.
type form struct {
	Kind string // basic, identifier, otp, passkey, redirect, generic, choice
	// ID is the authenticatorId; Multi forms post it with the submit button.
	ID       string
	Title    string
	Fields   []field
	Submit   string
	Resend   bool
	Hint     string
	Redirect string
	// Passkey data: challengeData (opaque to the server-side template) and the field to fill.
	Challenge string
	PasskeyTo string
	// Enroll is set when a TOTP step shows a new credential to add to an app.
	Enroll *enrollment
}

// enrollment is a TOTP credential shown during login (additionalData.enrollment).
type enrollment struct {
	// QR is the key URI as a PNG data URI, checked to be exactly that.
	QR template.URL
	// URI is the otpauth:// key URI, checked to be one; the link opens the app on a phone.
	URI template.URL
	// Secret is the base32 secret for manual entry, in groups of four.
	Secret string
}

type field struct {
	ID, Name, Label, Type, Autocomplete, InputMode, Value string
	// Required is set for authenticator params; a script's genericForm fields are optional
	// because the script, not the page, decides what an empty value means.
	Required, Autofocus bool
}

// Login renders the login page for an in-progress view.
func (r *Renderer) Login(w io.Writer, d LoginPage) error {
	v := d.View
	if v.Step == nil && v.Prompt == nil {
		return ErrNoStep
	}
	m := loginModel{base: r.newBase(d.Lang, d.Branding, "login.title", d.SwitchURL), Action: d.Action}
	m.Hidden = []hidden{{FieldFlowID, v.FlowID}, {FieldSeq, strconv.Itoa(v.Seq)}, {FieldCSRF, d.CSRFToken}}
	if d.AppName != "" {
		m.Heading = m.T("login.heading.app", "app", d.AppName)
	} else {
		m.Heading = m.T("login.heading", "app", m.Brand.Name)
	}
	for _, msg := range v.Messages {
		m.Messages = append(m.Messages, r.message(m.tr, msg))
	}
	switch {
	case v.Prompt != nil:
		p, err := r.prompt(m.tr, *v.Prompt)
		if err != nil {
			return err
		}
		m.Prompt = &p
	default:
		m.Multi = v.Step.Type == flows.StepMultiOptionsPrompt
		for i, a := range v.Step.Authenticators {
			f := r.authForm(m.tr, a, v.Step.LoginHint, m.Multi)
			if i == 0 && len(f.Fields) > 0 {
				f.Fields[0].Autofocus = true
			}
			m.Passkey = m.Passkey || f.Kind == "passkey"
			m.Forms = append(m.Forms, f)
		}
		// Options with fields come first: the chooser buttons follow under "or".
		slices.SortStableFunc(m.Forms, func(a, b form) int {
			return cmp.Compare(boolInt(a.Kind == "choice"), boolInt(b.Kind == "choice"))
		})
	}
	return r.render(w, pageLogin, m)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// authForm maps an authenticator option to a form. In a multi-option step an option whose
// params are not known yet (it must be initiated first) is a plain choice button.
func (r *Renderer) authForm(tr translator, a flows.AuthenticatorView, loginHint string, multi bool) form {
	f := form{ID: a.ID, Title: authTitle(tr, a)}
	p := a.Metadata
	switch {
	case p.Type == connectors.PromptRedirect:
		f.Kind, f.Submit = "redirect", tr.T("button.continue.with", map[string]string{"name": f.Title})
		if u := p.AdditionalData["redirectUrl"]; safeURL(u) {
			f.Redirect = u
		}
		if multi || f.Redirect == "" {
			f.Kind = "choice"
		}
		return f
	case p.Type == connectors.PromptInternal && a.Name == connectors.FIDOAuthenticator:
		f.Kind, f.Submit = "passkey", tr.T("button.passkey", nil)
		if multi || p.AdditionalData["challengeData"] == "" {
			f.Kind = "choice"
			return f
		}
		f.Challenge = p.AdditionalData["challengeData"]
		f.PasskeyTo = cmp.Or(first(a.RequiredParams), passkeyDefaultParam)
		return f
	case len(p.Params) == 0:
		f.Kind, f.Submit = "choice", f.Title
		return f
	}
	params := slices.Clone(p.Params)
	slices.SortStableFunc(params, func(x, y connectors.Param) int { return cmp.Compare(x.Order, y.Order) })
	f.Kind, f.Submit = "generic", tr.T("button.continue", nil)
	switch a.Name {
	case connectors.BasicAuthenticator:
		f.Kind, f.Submit = "basic", tr.T("button.signin", nil)
	case connectors.IdentifierExecutor:
		f.Kind, f.Submit = "identifier", tr.T("button.continue", nil)
	case connectors.EmailOTPAuthenticator:
		f.Kind, f.Submit, f.Resend, f.Hint = "otp", tr.T("button.verify", nil), !multi, tr.T("login.emailotp.hint", nil)
	case connectors.SMSOTPAuthenticator:
		f.Kind, f.Submit, f.Resend, f.Hint = "otp", tr.T("button.verify", nil), !multi, tr.T("login.smsotp.hint", nil)
	case connectors.TOTPAuthenticator:
		f.Kind, f.Submit, f.Hint = "otp", tr.T("button.verify", nil), tr.T("login.totp.hint", nil)
		if en := totpEnrollment(p.AdditionalData); en != nil {
			f.Enroll, f.Hint = en, tr.T("login.totp.enroll.hint", nil)
		}
	case connectors.BackupCodeAuthenticator:
		f.Kind, f.Submit, f.Hint = "otp", tr.T("button.verify", nil), tr.T("login.backup.hint", nil)
	}
	for _, prm := range params {
		fl := field{ID: "f" + a.ID + "-" + prm.Name, Name: prm.Name, Label: paramLabel(tr, prm), Type: "text", Required: true}
		switch {
		case prm.Name == "username":
			fl.Autocomplete, fl.Value = "username", loginHint
		case prm.Name == "password":
			fl.Type, fl.Autocomplete = "password", "current-password"
		case prm.Name == "token" || prm.Name == "OTPCode":
			fl.Autocomplete, fl.InputMode = "one-time-code", "numeric"
		case prm.Name == "BackupCode":
			fl.Autocomplete = "one-time-code"
		case prm.Confidential:
			fl.Type, fl.Autocomplete = "password", "off"
		case prm.Type == connectors.ParamInteger:
			fl.InputMode, fl.Autocomplete = "numeric", "off"
		default:
			fl.Autocomplete = "off"
		}
		f.Fields = append(f.Fields, fl)
	}
	return f
}

// Limits on what an enrolment prompt may carry; a 256-pixel QR code PNG is about 2 KB.
const (
	maxQRDataURI = 256 << 10
	maxKeyURI    = 2048
)

var (
	pngDataURI = regexp.MustCompile(`^data:image/png;base64,[A-Za-z0-9+/]+={0,2}$`)
	base32Text = regexp.MustCompile(`^[A-Z2-7]+=*$`)
)

// totpEnrollment reads a TOTP enrolment from a prompt's additionalData (keys of the totp
// connector: enrollment, qrCode, keyUri, secret). Values that are not what they claim to be are
// dropped, so the template never marks an unchecked string as a safe URL; nil when the prompt
// is no enrolment or carries nothing usable.
func totpEnrollment(d map[string]string) *enrollment {
	if d["enrollment"] != "true" {
		return nil
	}
	en := &enrollment{}
	if q := d["qrCode"]; len(q) <= maxQRDataURI && pngDataURI.MatchString(q) {
		en.QR = template.URL(q)
	}
	if k := d["keyUri"]; len(k) <= maxKeyURI && !strings.ContainsAny(k, " \t\r\n\\<>\"'`") {
		if u, err := url.Parse(k); err == nil && u.Scheme == "otpauth" && u.Host == "totp" {
			en.URI = template.URL(k)
		}
	}
	if s := d["secret"]; len(s) <= 256 && base32Text.MatchString(s) {
		s = strings.TrimRight(s, "=")
		var b strings.Builder
		for i := 0; i < len(s); i += 4 {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s[i:min(i+4, len(s))])
		}
		en.Secret = b.String()
	}
	if en.QR == "" && en.URI == "" && en.Secret == "" {
		return nil
	}
	return en
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// authTitle names an authenticator: its i18n key, else its display name, else its name.
func authTitle(tr translator, a flows.AuthenticatorView) string {
	if s, ok := tr.lookup(a.Metadata.I18nKey); ok {
		return s
	}
	return cmp.Or(a.DisplayName, a.Name)
}

func paramLabel(tr translator, p connectors.Param) string {
	if s, ok := tr.lookup(p.I18nKey); ok {
		return s
	}
	if s, ok := tr.lookup("param." + p.Name); ok {
		return s
	}
	return cmp.Or(p.DisplayName, p.Name)
}

// message translates a workflow message: by its i18nKey, its ABA code, or its text as a key;
// an untranslated sentence is shown as is, an untranslated key as the generic text of its type.
func (r *Renderer) message(tr translator, m connectors.Message) message {
	out := message{Error: m.Type != connectors.MessageInfo}
	// A key-shaped text ("otp.expired") is more specific than the i18nKey of its code.
	for _, k := range []string{m.Message, m.I18nKey, "message." + m.ID} {
		if s, ok := tr.lookup(k); ok {
			out.Text = substitute(s, m.Context)
			if n := m.Context["remainingAttempts"]; n != "" {
				if s, ok := tr.lookup("message.remainingAttempts"); ok {
					out.Text += " " + substitute(s, m.Context)
				}
			}
			return out
		}
	}
	if strings.Contains(strings.TrimSpace(m.Message), " ") {
		out.Text = m.Message
		return out
	}
	if out.Error {
		out.Text = tr.T("message.generic.error", nil)
	} else {
		out.Text = tr.T("message.generic.info", nil)
	}
	return out
}

// promptModel is a script prompt() page.
type promptModel struct {
	Template string // genericForm, internalWait or "" for the generic rendering
	Username string
	Fields   []field
	Greeting string
	Message  string
	// Timeout is internalWait's delay in seconds, shown to the user.
	Timeout int
	Data    []kv
}

type kv struct{ Key, Value string }

// maxPromptData bounds the generic rendering of an unknown template's data.
const maxPromptData = 50

func (r *Renderer) prompt(tr translator, p flows.PromptView) (promptModel, error) {
	var data map[string]any
	if len(bytes.TrimSpace(p.Data)) > 0 {
		d := json.NewDecoder(bytes.NewReader(p.Data))
		d.UseNumber()
		if err := d.Decode(&data); err != nil {
			return promptModel{}, fmt.Errorf("ui: prompt %q data: %w", p.Template, err)
		}
	}
	switch p.Template {
	case "genericForm":
		m := promptModel{Template: p.Template, Username: str(data["username"])}
		inputs, _ := data["inputs"].([]any)
		for i, in := range inputs {
			o, _ := in.(map[string]any)
			id := str(o["id"])
			if id == "" {
				continue
			}
			label := str(o["label"])
			if s, ok := tr.lookup(label); ok {
				label = s
			}
			m.Fields = append(m.Fields, field{ID: "p-" + strconv.Itoa(i), Name: id, Label: cmp.Or(label, id),
				Type: "text", Autocomplete: "off", Autofocus: len(m.Fields) == 0})
		}
		return m, nil
	case "internalWait":
		cfg, _ := data["waitingConfigs"].(map[string]any)
		m := promptModel{Template: p.Template, Greeting: str(cfg["greeting"]), Message: str(cfg["message"]), Timeout: 10}
		if n, err := strconv.Atoi(str(cfg["timeout"])); err == nil && n > 0 {
			m.Timeout = min(n, 20) // script-api.md §2.5: default 10, max 20
		}
		return m, nil
	}
	m := promptModel{}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys[:min(len(keys), maxPromptData)] {
		m.Data = append(m.Data, kv{k, str(data[k])})
	}
	return m, nil
}

// str renders a JSON value as text: strings as is, anything else as compact JSON.
func str(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
