// Package notify delivers one-time codes and other notices to users: e-mail over SMTP and text
// messages through an HTTP SMS provider. The OTP authenticators (connectors/emailotp,
// connectors/smsotp) and, later, recovery and registration flows use it through their own narrow
// interfaces (a one-method Send).
//
// SMTP: one connection per message (OTP mail is rare and latency-tolerant; a pool would hold
// sockets that providers drop anyway), bounded by Config.Timeout and the caller's context.
// Transport security is implicit TLS (port 465), STARTTLS (required, never opportunistic: a
// server that does not offer it is an error) or, only when asked for, plain text. Credentials
// are sent with SASL PLAIN only over TLS unless AllowInsecureAuth is set (for loopback tests).
//
// SMS: an HTTP request built from a configurable template, WSO2 custom-SMS-provider style: the
// placeholders {{mobile}} and {{body}} in the URL (query-escaped) and the body (escaped for the
// content type: JSON string, form value, or as is), any headers, any method. A non-2xx answer is
// an error.
//
// Message contents (which carry codes) are never logged; errors name the step that failed, never
// the message.
package notify
