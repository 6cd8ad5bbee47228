// Package basic is BasicAuthenticator, WSO2's username and password authenticator, over the
// built-in user store (package store) with argon2id hashes (package connectors/password).
//
// Where it sits: the login workflow runs Process as a local activity with the submitted
// "username" and "password" params (app-native requiredParams ["username","password"], in that
// order). There is no Begin: the prompt is static.
//
// Data flow of one Process call:
//
//	tenant domain ──► Organizations.OrganizationByHandle ──► org id
//	[DOMAIN/]username ──► Users.UserByUsername ──► user (or none)
//	password ──► password.Verify against the user's hash, or against a dummy hash made in New
//	             when there is no such user or no local password, so the work done does not
//	             reveal whether the user exists
//	wrong ──► Users.RecordLoginFailure: consecutive-failure counter (locks after
//	          Config.MaxFailures for Config.LockDuration) and the WSO2 claim
//	          http://wso2.org/claims/identity/failedLoginAttemptsBeforeSuccess
//	right ──► refused if locked, disabled or not ACTIVE; else Users.RecordLoginSuccess resets the
//	          counter (and clears an expired lock) and the user is returned
//
// Enumeration: an unknown user, a user without a password and a wrong password produce the same
// Outcome as far as anything shown to the user goes (reason invalid_credentials, the same
// message, no remaining-attempts count unless Config.ShowRemainingAttempts). Account states
// (disabled, pending) are only revealed to someone who gave the right password. A lock is
// reported as such, as WSO2 does: it can only happen after MaxFailures wrong passwords.
//
// The password never leaves Process: it is not logged, not stored in State and not put in any
// error.
package basic
