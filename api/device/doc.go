// Package device is the user side of the OAuth2 device authorization grant (RFC 8628 §3.3):
// the verification page where a user types the code a device shows, sees what the device asks
// for, and approves after signing in — or denies.
//
//	GET  /oauth2/device[?user_code=…] ─► code form (prefilled from verification_uri_complete),
//	                                     CSRF cookie set
//	POST /oauth2/device (CSRF checked, 403 on mismatch)
//	  ├─ user_code only ─► op.DeviceRequest ─► confirmation: client name, scopes, approve/deny
//	  │                   (unknown code: the form again with a message, counted per client IP)
//	  ├─ decision=deny ─► op.DenyDevice ─► "request denied" (the device's poll: access_denied)
//	  └─ decision=approve ─► authn.BeginBrowserLogin(protocol "device", the client's
//	       application, state = the user code) ─► the login pages of api/authn
//	       └─ Handler.CompleteLogin (authn.Completer): success ─► op.ApproveDevice with the
//	          authenticated user ─► "return to your device"; a failed login leaves the request
//	          pending and shows the error page.
//
// The CSRF token is a double-submit token: a random cookie (kfdev_csrf) whose value every form
// posts back. Wrong codes are limited per client IP in memory (Config.MaxFailures per
// Config.FailureWindow): the store has no row to count a wrong code in (it names no request), so
// each replica counts its own; with N replicas a client gets at most N times the limit, which
// against an eight-letter code (about 34 bits) and a ten-minute lifetime stays negligible.
package device
