package ui

import (
	"cmp"
	"io"
)

// Device verification form fields (RFC 8628 §3.3).
const (
	// FieldUserCode is the user code typed (or prefilled from verification_uri_complete).
	FieldUserCode = "user_code"
	// FieldDeviceDecision is posted with ConsentApprove or ConsentDeny once the request is shown.
	FieldDeviceDecision = "decision"
)

// DeviceStage is which of the device verification pages to render.
type DeviceStage int

// The device verification pages, in order.
const (
	// DeviceEnterCode asks for the user code.
	DeviceEnterCode DeviceStage = iota
	// DeviceConfirm shows the client and its scopes with approve and deny buttons.
	DeviceConfirm
	// DeviceApproved tells the user to return to the device.
	DeviceApproved
	// DeviceDenied confirms the refusal.
	DeviceDenied
)

// DevicePage is one page of the device verification flow.
type DevicePage struct {
	Stage DeviceStage
	// UserCode prefills the code field (DeviceEnterCode) or is carried back with the decision
	// (DeviceConfirm).
	UserCode string
	// Invalid says the code typed is unknown, used or expired; Throttled that too many wrong
	// codes were typed (DeviceEnterCode).
	Invalid   bool
	Throttled bool
	// AppName and Scopes describe the request (DeviceConfirm).
	AppName   string
	Scopes    []string
	Action    string
	CSRFToken string
	Lang      string
	Branding  Branding
	SwitchURL string
}

type deviceModel struct {
	base
	Enter, Confirm, Approved, Denied bool
	Invalid, Throttled               bool
	UserCode                         string
	AppName                          string
	Action                           string
	Hidden                           []hidden
	Scopes                           []string
}

// Device renders a device verification page.
func (r *Renderer) Device(w io.Writer, d DevicePage) error {
	m := deviceModel{base: r.newBase(d.Lang, d.Branding, "device.title", d.SwitchURL), Action: d.Action,
		UserCode: d.UserCode, Invalid: d.Invalid, Throttled: d.Throttled,
		AppName: cmp.Or(d.AppName, r.brand(d.Branding).Name)}
	switch d.Stage {
	case DeviceConfirm:
		m.Confirm = true
		m.Hidden = []hidden{{FieldUserCode, d.UserCode}, {FieldCSRF, d.CSRFToken}}
		for _, s := range d.Scopes {
			if s == "openid" {
				continue
			}
			if t, ok := m.tr.lookup("scope." + s); ok {
				s = t
			}
			m.Scopes = append(m.Scopes, s)
		}
	case DeviceApproved:
		m.Approved = true
	case DeviceDenied:
		m.Denied = true
	default:
		m.Enter = true
		m.Hidden = []hidden{{FieldCSRF, d.CSRFToken}}
	}
	return r.render(w, pageDevice, m)
}
