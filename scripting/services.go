package scripting

import (
	"context"
	"errors"

	"github.com/keyflow/keyflow/connectors"
)

// The interfaces below serve the script functions beyond Directory. Each is optional in Config:
// when one is nil the functions it serves log an error and return false/null (or end in onFail),
// as WSO2's functions do when a service is unavailable. Inside a workflow every call is an
// activity (package wfhost); the CPU budget is paused while a call blocks.

// Accounts serves the user look-up and account functions: getUniqueUserWithClaimValues,
// getUsersWithClaimValues, resolveMultiAttributeLoginIdentifier, getAssociatedLocalUser,
// doAssociationWithLocalUser, removeAssociatedLocalUser and updateUserPassword.
type Accounts interface {
	// FindUsers returns the local users of tenantDomain that hold every claim value (exact
	// match; claim URIs are local claims), in a stable order. profile is WSO2's user profile
	// name ("default" when the script gives none).
	FindUsers(ctx context.Context, tenantDomain string, claims map[string]string, profile string) ([]connectors.User, error)
	// ResolveLoginIdentifier maps a login identifier (username, e-mail address, mobile number…)
	// of tenantDomain to the username of the one user it identifies; "" when none or several
	// users match.
	ResolveLoginIdentifier(ctx context.Context, tenantDomain, loginID string) (string, error)
	// AssociatedUser returns the local user linked to federated user fed, nil when none.
	AssociatedUser(ctx context.Context, fed *connectors.User) (*connectors.User, error)
	// Associate links federated user fed to local user userStoreDomain/username of
	// tenantDomain.
	Associate(ctx context.Context, fed *connectors.User, tenantDomain, userStoreDomain, username string) error
	// RemoveAssociation removes fed's link; false when there was none.
	RemoveAssociation(ctx context.Context, fed *connectors.User) (bool, error)
	// UpdatePassword sets a local user's password. The password must never be logged.
	UpdatePassword(ctx context.Context, u *connectors.User, password string) error
}

// Mailer serves sendEmail(user, templateId, placeholders): it renders template templateID for the
// user's e-mail address and sends it.
type Mailer interface {
	SendEmail(ctx context.Context, u *connectors.User, templateID string, placeholders map[string]string) error
}

// ErrNoLibrary is what Libraries returns (wrapped) for a library the tenant does not have.
var ErrNoLibrary = errors.New("scripting: no such script library")

// Libraries serves require(name) and loadLocalLibrary(name): the source of a tenant's script
// library (WSO2 function library). An unknown library is an error wrapping ErrNoLibrary.
type Libraries interface {
	Library(ctx context.Context, tenantDomain, name string) (string, error)
}

// Sessions serves getUserSessions(user) and terminateUserSession(user, sessionId) from the SSO
// session store.
type Sessions interface {
	// UserSessions returns the user's active SSO sessions.
	UserSessions(ctx context.Context, u *connectors.User) ([]UserSession, error)
	// TerminateUserSession ends session sessionID of the user; false when the user has no such
	// session.
	TerminateUserSession(ctx context.Context, u *connectors.User, sessionID string) (bool, error)
}

// UserSession is one SSO session as scripts see it (WSO2's JsUserSession).
type UserSession struct {
	ID string `json:"id"`
	IP string `json:"ip,omitempty"`
	// LoginTime and LastAccessTime are Unix times in milliseconds.
	LoginTime      int64                `json:"loginTime"`
	LastAccessTime int64                `json:"lastAccessTime"`
	UserAgent      UserAgent            `json:"userAgent"`
	Applications   []SessionApplication `json:"applications,omitempty"`
}

// UserAgent is a session's parsed User-Agent.
type UserAgent struct {
	RawString string `json:"rawString,omitempty"`
	Browser   string `json:"browser,omitempty"`
	Platform  string `json:"platform,omitempty"`
	Device    string `json:"device,omitempty"`
}

// SessionApplication is an application a session signed in to.
type SessionApplication struct {
	Subject string `json:"subject,omitempty"`
	AppName string `json:"appName,omitempty"`
	AppID   string `json:"appId,omitempty"`
}

// Cookies signs, encrypts, decrypts and verifies the values of setCookie/getCookieValue with
// the server's cookie key. Values travel in the envelope EncodeCookie describes.
type Cookies interface {
	// Seal returns the stored cookie value for value: value encrypted when encrypt is set, an
	// HMAC signature of the plain value when sign is set.
	Seal(ctx context.Context, value string, sign, encrypt bool) (string, error)
	// Open reads a stored cookie value: it decrypts when decrypt is set and checks the signature
	// when validateSignature is set. ok is false when the value is not a setCookie envelope,
	// cannot be decrypted, or its signature is missing or wrong.
	Open(ctx context.Context, stored string, decrypt, validateSignature bool) (value string, ok bool, err error)
}

// Response is what the script set on context.response during the last request: headers and
// cookies. The front-end adds them to the HTTP response it sends for the view that carries
// them.
type Response struct {
	// Headers are set with context.response.headers[name] = value.
	Headers map[string]string `json:"headers,omitempty"`
	// Cookies are set with setCookie(context.response, name, value, properties).
	Cookies []SetCookie `json:"cookies,omitempty"`
}

// SetCookie is one Set-Cookie of setCookie. Value is already encoded (EncodeCookie), ready to
// send; the other fields are setCookie's properties.
type SetCookie struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Domain string `json:"domain,omitempty"`
	Path   string `json:"path,omitempty"`
	// MaxAge is max-age in seconds; nil means a session cookie.
	MaxAge   *int   `json:"maxAge,omitempty"`
	Version  int    `json:"version,omitempty"`
	Comment  string `json:"comment,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
	// SameSite is NONE, LAX or STRICT (empty: not set).
	SameSite string `json:"sameSite,omitempty"`
}
