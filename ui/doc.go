// Package ui holds Keyflow's user interfaces: the server-rendered login, consent, registration and
// recovery pages (html/template, brandable per application and organization, translated) and the
// built assets of the console and My Account single-page apps, embedded into the binary. The
// api/authn front-end renders the views the login workflow returns with these templates.
//
// Where it sits: a pure rendering package below the browser front-end. It knows flows.View and
// connectors' prompt shapes, nothing of HTTP requests, sessions or Temporal: the front-end owns
// routing, CSRF token generation and checking, redirects (sendError, protocol errors) and the
// Content-Security-Policy header; this package only turns plain structs into HTML.
//
//	front-end ── LoginPage{View, Action, CSRFToken, Lang, Branding} ──► Renderer.Login ──► HTML form
//	          ── ErrorPage{…} / ErrorPageFor(*flows.FlowError) ──────► Renderer.Error
//	          ── ConsentPage{…} ──────────────────────────────────────► Renderer.Consent
//	          ── SelectAccountPage{…} ────────────────────────────────► Renderer.SelectAccount
//	          ── GET <assets prefix>/… ─► Renderer.Assets (style.css, passkey.js)
//
// Every form the login page renders posts the hidden fields flowId, seq and csrf_token together
// with the authenticator's params (username, password, token, OTPCode, BackupCode, prompt fields),
// authenticatorId (multi-option choice), action=resend (new OTP) or abort=1 (cancel); the front-end
// maps the post to a flows.Submission.
//
// Templates and catalogs are embedded and parsed once in New, so a broken template fails start-up
// rather than a login. Every visible string comes from a message catalog (locales/*.json; English
// is the fallback); user, script and branding values only ever reach the page through
// html/template's contextual escaping, branding colours and URLs are validated before use, and the
// only script is the static passkey.js, which reads its input from data- attributes.
package ui
