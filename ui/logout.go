package ui

import (
	"html/template"
	"io"
	"net/url"
	"slices"
	"strings"
)

// FieldLogoutConfirm is posted by the logout confirmation form, with the CSRF token and the
// logout request's parameters as hidden fields.
const FieldLogoutConfirm = "logout_confirm"

// LogoutConfirmPage asks the user whether to sign out (RP-Initiated Logout 1.0 §2: the request
// carried no valid id_token_hint, so it may not come from the user).
type LogoutConfirmPage struct {
	// AppName names the application that asked, when known.
	AppName   string
	Action    string
	CSRFToken string
	// Hidden are the logout request's parameters, posted back with the confirmation.
	Hidden    map[string]string
	Lang      string
	Branding  Branding
	SwitchURL string
}

// LoggedOutPage tells the user they signed out. It renders each of Frames (front-channel
// logout URLs, http(s) only) in a hidden iframe; when RedirectURL is set, the page then moves
// on to it (a meta refresh, which fires once the frames have loaded, and a link), otherwise it
// says the window can be closed. The front-end must allow the frames' origins in frame-src.
type LoggedOutPage struct {
	Frames      []string
	RedirectURL string
	Lang        string
	Branding    Branding
}

type logoutModel struct {
	base
	Confirm        bool
	AppName        string
	Action         string
	Hidden         []hidden
	Frames         []string
	RedirectURL    template.URL
	RefreshContent string
}

// LogoutConfirm renders the logout confirmation form.
func (r *Renderer) LogoutConfirm(w io.Writer, d LogoutConfirmPage) error {
	m := logoutModel{base: r.newBase(d.Lang, d.Branding, "logout.title", d.SwitchURL), Confirm: true,
		Action: d.Action, AppName: d.AppName}
	keys := make([]string, 0, len(d.Hidden))
	for k := range d.Hidden {
		if k != FieldCSRF && k != FieldLogoutConfirm {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.Hidden = append(m.Hidden, hidden{k, d.Hidden[k]})
	}
	m.Hidden = append(m.Hidden, hidden{FieldCSRF, d.CSRFToken}, hidden{FieldLogoutConfirm, "1"})
	return r.render(w, pageLogout, m)
}

// LoggedOut renders the signed-out page with the front-channel logout frames.
func (r *Renderer) LoggedOut(w io.Writer, d LoggedOutPage) error {
	m := logoutModel{base: r.newBase(d.Lang, d.Branding, "logout.title", "")}
	for _, f := range d.Frames {
		if httpURL(f) {
			m.Frames = append(m.Frames, f)
		}
	}
	if redirectURL(d.RedirectURL) {
		// A registered post-logout redirect URI may use an app's own scheme, which html/template
		// would filter out of href: it is checked here instead.
		m.RedirectURL = template.URL(d.RedirectURL)
		// No script on our pages: a refresh after load (which waits for the iframes) moves on.
		m.RefreshContent = "0;url=" + d.RedirectURL
	}
	return r.render(w, pageLogout, m)
}

// redirectURL accepts http(s) and root-relative URLs, and absolute URLs of other schemes
// (native apps) except those that run code or read files.
func redirectURL(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n\\<>\"'`") {
		return false
	}
	if safeURL(s) {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file", "blob":
		return false
	}
	return true
}

func httpURL(s string) bool {
	l := strings.ToLower(s)
	return safeURL(s) && (strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://"))
}
