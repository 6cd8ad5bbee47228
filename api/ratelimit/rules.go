package ratelimit

import "net/http"

// Class is a family of endpoints sharing one budget per client: each class has its own Limit
// and its own buckets.
type Class string

// Classes of DefaultRules.
const (
	// Login: requests that check a user's credentials, start a login or send a message (OTP
	// resends go through the same submissions): the app-native API, authorization POSTs, the
	// login form, the device code form.
	Login Class = "login"
	// Token: the client-facing OAuth2 endpoints that authenticate clients and, for the password
	// grant, users. Relying parties' back ends call them for all their users from a few
	// addresses, so only refused requests count at the token endpoint and PAR (Failures), and
	// the class gets a larger budget.
	Token Class = "token"
	// Basic: failed HTTP Basic authentications on the management APIs and SCIM (every one
	// costs an argon2id check); successful ones are not counted.
	Basic Class = "basic"
)

// Format is how a refusal is written: in the protocol's own error format.
type Format int

// Formats.
const (
	// OAuth2: RFC 6749 §5.2 JSON, error temporarily_unavailable (slow_down for a device_code
	// poll, RFC 8628 §3.5).
	OAuth2 Format = iota + 1
	// AppNative: WSO2's app-native error body, ABA-60001.
	AppNative
	// Page: the rendered HTML error page.
	Page
	// Authorize: AppNative when the request has response_mode=direct, else Page (POST
	// /oauth2/authorize serves both).
	Authorize
	// REST: WSO2's management API error body {code, message, description, traceId}.
	REST
	// SCIM: the SCIM error body (RFC 7644 §3.12).
	SCIM
)

// Rule selects requests for a class. Routes are gin route templates, as c.FullPath() reports
// them ("/t/:tenant/oauth2/authn"), so tenant-qualified paths match through their own
// templates and paths the edge rewrites (/t/{root}/oauth2/token) through the rewritten one.
type Rule struct {
	// Method is the HTTP method; "" matches any.
	Method string
	// Route is the route template; with Prefix, a prefix of it.
	Route  string
	Prefix bool
	Class  Class
	Format Format
	// BasicFailures counts only requests with HTTP Basic credentials that were answered 401;
	// before the handler runs such a request is refused only when the budget is already spent.
	BasicFailures bool
	// Failures counts only requests answered 400 or 401 (a wrong client credential, code,
	// refresh token or password), except device_code polls, whose authorization_pending answers
	// are 400 by design (RFC 8628 §3.5) and are paced by the grant itself; as with
	// BasicFailures, a request is refused only when the budget is already spent.
	Failures bool
}

// DefaultRules are the endpoints that spend credentials or send messages. Not limited, on
// purpose: discovery, JWKS, introspection, revocation and userinfo (resource servers and
// relying parties call them at high rates, and they check no user credential), GET
// /oauth2/authorize (a browser redirect; each login it starts is paid for at its form POSTs),
// SAML and WS-Federation requests (they start browser logins, whose form POSTs are limited),
// logout, and the health and metrics endpoints.
//
// Keyflow has no self sign-up or account recovery endpoints yet; OTP (email, SMS, magic link)
// resends are submissions to /oauth2/authn or the login form, so they are in the Login class.
// A new endpoint that checks credentials or sends messages must be added here.
func DefaultRules() []Rule {
	var rules []Rule
	for _, prefix := range []string{"", "/t/:tenant"} {
		rules = append(rules,
			Rule{Method: http.MethodPost, Route: prefix + "/oauth2/authn", Class: Login, Format: AppNative},
			Rule{Method: http.MethodPost, Route: prefix + "/oauth2/authorize", Class: Login, Format: Authorize},
			Rule{Method: http.MethodPost, Route: prefix + "/oauth2/device", Class: Login, Format: Page},
			Rule{Prefix: true, Route: prefix + "/scim2/", Class: Basic, Format: SCIM, BasicFailures: true},
		)
	}
	return append(rules,
		Rule{Method: http.MethodPost, Route: "/authenticationendpoint/login", Class: Login, Format: Page},
		Rule{Method: http.MethodPost, Route: "/oauth2/token", Class: Token, Format: OAuth2, Failures: true},
		Rule{Method: http.MethodPost, Route: "/oauth2/par", Class: Token, Format: OAuth2, Failures: true},
		Rule{Method: http.MethodPost, Route: "/oauth2/device_authorize", Class: Token, Format: OAuth2},
		Rule{Prefix: true, Route: "/o/:org/scim2/", Class: Basic, Format: SCIM, BasicFailures: true},
		Rule{Prefix: true, Route: "/api/", Class: Basic, Format: REST, BasicFailures: true},
	)
}
