// Package connectors defines the contracts that pluggable parts of Keyflow implement. This file set
// holds the authenticator contract: one interface (Authenticator) with WSO2's internal names, the
// plain, JSON-serialisable values that cross it, and a registry keyed by name.
//
// Where it sits: every authenticator (password, totp, email/sms OTP, passkey, backup codes, magic
// link, federated OIDC/SAML) lives in its own package under connectors/ and implements
// Authenticator. The login workflow (package flows) never calls an authenticator directly: it runs
// Begin and Process as local activities, so everything an authenticator receives or returns is a
// plain struct that Temporal records in history. No *http.Request or other transport type appears
// here; the HTTP edge parses requests into these values first.
//
// Data flow for one login step:
//
//	workflow reaches step n ──► Begin (if Prompt().Initiate)   e.g. send the OTP, make a FIDO challenge
//	                           ◄── BeginResult{State, Prompt}   state is opaque JSON the workflow keeps
//	user submits params     ──► Process(Params, State, Attempt)
//	                           ◄── Outcome{Status, User | Reason, Retry, Messages}
//
// The workflow, not the authenticator, decides what a failure means for the flow (re-show the step,
// run the script's onFail, or end the login): the authenticator only reports what happened and
// whether a retry would be allowed.
//
// connectortest holds the contract suite every implementation runs; fake holds a scriptable
// authenticator and user directory for tests.
package connectors
