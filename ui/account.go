package ui

import (
	"cmp"
	"io"
	"slices"
)

// Account chooser form fields (prompt=select_account).
const (
	// FieldAccount is posted with AccountContinue or AccountOther.
	FieldAccount    = "account"
	AccountContinue = "continue"
	AccountOther    = "other"
)

// SelectAccountPage offers to continue with the signed-in account or to use another one
// (OpenID Connect Core §3.1.2.1 prompt=select_account).
type SelectAccountPage struct {
	AppName string
	// Account names the signed-in user (username or e-mail address).
	Account   string
	Action    string
	CSRFToken string
	// Hidden are extra hidden fields the front-end needs back (the interaction id).
	Hidden    map[string]string
	Lang      string
	Branding  Branding
	SwitchURL string
}

type selectAccountModel struct {
	base
	AppName string
	Account string
	Action  string
	Hidden  []hidden
}

// SelectAccount renders the account chooser: one form with two buttons.
func (r *Renderer) SelectAccount(w io.Writer, d SelectAccountPage) error {
	m := selectAccountModel{base: r.newBase(d.Lang, d.Branding, "account.title", d.SwitchURL), Action: d.Action,
		AppName: cmp.Or(d.AppName, r.brand(d.Branding).Name), Account: d.Account}
	m.Hidden = hiddenFields(d.Hidden, FieldAccount)
	m.Hidden = append(m.Hidden, hidden{FieldCSRF, d.CSRFToken})
	return r.render(w, pageSelectAccount, m)
}

// hiddenFields sorts the extra hidden fields, leaving out the CSRF field and the form's own
// button field.
func hiddenFields(extra map[string]string, button string) []hidden {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if k != FieldCSRF && k != button {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]hidden, 0, len(keys)+1)
	for _, k := range keys {
		out = append(out, hidden{k, extra[k]})
	}
	return out
}
