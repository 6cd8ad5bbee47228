package ui

import (
	"io"
	"strings"

	"github.com/keyflow/keyflow/flows"
)

// ErrorKind selects the error page's wording.
type ErrorKind string

// Error page kinds.
const (
	// ErrorGeneric: anything that went wrong on our side; nothing more is said.
	ErrorGeneric ErrorKind = "generic"
	// ErrorSend: a script's sendError(null, {status, statusMsg, i18nkey}); WSO2's error page
	// shows status and statusMsg, and so does this one.
	ErrorSend ErrorKind = "sendError"
	// ErrorInvalidRequest: a protocol error that must not be redirected to the client (unknown
	// client, redirect URI mismatch; RFC 6749 §4.1.2.1).
	ErrorInvalidRequest ErrorKind = "invalidRequest"
	// ErrorAuthentication: the login failed and nothing recovered.
	ErrorAuthentication ErrorKind = "authentication"
	// ErrorTimeout: the login expired.
	ErrorTimeout ErrorKind = "timeout"
)

// ErrorPage is the error page's input. It has no field for internal detail on purpose: causes
// go to the log, not to the page.
type ErrorPage struct {
	Kind     ErrorKind
	Lang     string
	Branding Branding
	// Status and StatusMsg are sendError's params, shown as given (escaped, truncated).
	Status    string
	StatusMsg string
	// I18nKey is sendError's i18nkey param; when the catalog knows it, its text replaces
	// StatusMsg.
	I18nKey string
	// Code is an app-native ABA code (ABA-60013, …) whose catalog text explains the failure.
	Code string
	// TraceID is a correlation id the user can quote to support.
	TraceID string
	// RetryURL, http(s) or root-relative, adds a "try again" link.
	RetryURL  string
	SwitchURL string
}

// ErrorPageFor maps a failed login to the error page. sendError keeps its params; fail() and
// engine errors are protocol errors the front-end normally redirects to the client, so here they
// get the generic wording.
func ErrorPageFor(e *flows.FlowError) ErrorPage {
	if e == nil {
		return ErrorPage{Kind: ErrorGeneric}
	}
	switch e.Kind {
	case flows.ErrorSendError:
		return ErrorPage{Kind: ErrorSend, Status: e.Params["status"], StatusMsg: e.Params["statusMsg"],
			I18nKey: e.Params["i18nkey"], Code: e.Code}
	case flows.ErrorAuthentication:
		return ErrorPage{Kind: ErrorAuthentication, Code: e.Code}
	case flows.ErrorTimeout:
		return ErrorPage{Kind: ErrorTimeout, Code: e.Code}
	}
	return ErrorPage{Kind: ErrorGeneric}
}

// maxStatusText bounds sendError's free text on the page.
const maxStatusText = 300

type errorModel struct {
	base
	Heading  string
	Detail   string
	Status   string
	Reason   string
	TraceID  string
	RetryURL string
}

// Error renders the error page.
func (r *Renderer) Error(w io.Writer, d ErrorPage) error {
	kind := d.Kind
	switch kind {
	case ErrorSend, ErrorInvalidRequest, ErrorAuthentication, ErrorTimeout:
	default:
		kind = ErrorGeneric
	}
	m := errorModel{base: r.newBase(d.Lang, d.Branding, "error.title", d.SwitchURL), TraceID: truncate(d.TraceID, 64)}
	m.Heading = m.T("error." + string(kind) + ".heading")
	m.Detail = m.T("error." + string(kind) + ".detail")
	// Only an authentication failure is explained by its code (too many attempts, too many
	// resends); the other kinds have their own wording and a server code says nothing useful.
	if s, ok := m.tr.lookup("message." + d.Code); ok && strings.HasPrefix(d.Code, "ABA-") && kind == ErrorAuthentication {
		m.Detail = s
	}
	if kind == ErrorSend {
		m.Status = truncate(d.Status, maxStatusText)
		m.Reason = truncate(d.StatusMsg, maxStatusText)
		if s, ok := m.tr.lookup(d.I18nKey); ok {
			m.Reason = s
		}
	}
	if safeURL(d.RetryURL) {
		m.RetryURL = d.RetryURL
	}
	return r.render(w, pageError, m)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
