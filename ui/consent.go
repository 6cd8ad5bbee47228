package ui

import (
	"cmp"
	"io"
	"slices"
)

// Consent form fields.
const (
	// FieldConsent is posted with ConsentApprove or ConsentDeny.
	FieldConsent   = "consent"
	ConsentApprove = "approve"
	ConsentDeny    = "deny"
)

// ConsentPage asks the user to share scopes and claims with an application.
type ConsentPage struct {
	AppName   string
	Scopes    []string
	Claims    []Claim
	Action    string
	CSRFToken string
	// Hidden are extra hidden fields the front-end needs back (the consent request id, …).
	Hidden    map[string]string
	Lang      string
	Branding  Branding
	SwitchURL string
}

// Claim is one requested user attribute.
type Claim struct {
	// URI is the claim name ("email", "http://wso2.org/claims/emailaddress").
	URI string
	// DisplayName is shown when the catalog has no "claim.<URI>" entry.
	DisplayName string
	// Mandatory claims are listed as required.
	Mandatory bool
}

type consentModel struct {
	base
	AppName string
	Action  string
	Hidden  []hidden
	Scopes  []string
	Claims  []claimModel
}

type claimModel struct {
	Name      string
	Mandatory bool
}

// Consent renders the consent page: one form with approve and deny buttons.
func (r *Renderer) Consent(w io.Writer, d ConsentPage) error {
	m := consentModel{base: r.newBase(d.Lang, d.Branding, "consent.title", d.SwitchURL), Action: d.Action,
		AppName: cmp.Or(d.AppName, r.brand(d.Branding).Name)}
	keys := make([]string, 0, len(d.Hidden))
	for k := range d.Hidden {
		if k != FieldCSRF && k != FieldConsent {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.Hidden = append(m.Hidden, hidden{k, d.Hidden[k]})
	}
	m.Hidden = append(m.Hidden, hidden{FieldCSRF, d.CSRFToken})
	for _, s := range d.Scopes {
		if s == "openid" {
			continue // implied by signing in; WSO2 does not list it either
		}
		if t, ok := m.tr.lookup("scope." + s); ok {
			s = t
		}
		m.Scopes = append(m.Scopes, s)
	}
	for _, c := range d.Claims {
		name := cmp.Or(c.DisplayName, c.URI)
		if t, ok := m.tr.lookup("claim." + c.URI); ok {
			name = t
		}
		m.Claims = append(m.Claims, claimModel{Name: name, Mandatory: c.Mandatory})
	}
	return r.render(w, pageConsent, m)
}
