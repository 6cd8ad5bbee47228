// Package emailotp is WSO2's "email-otp-authenticator": a one-time code mailed to the address in
// the user's http://wso2.org/claims/emailaddress claim, as a second factor for the user an earlier
// step identified.
//
// Where it sits: the login workflow runs Begin when the step is reached or the option is picked
// (and again for each resend) and Process with the submitted "OTPCode" param, both as local
// activities. The shared engine (connectors/internal/otpcode) makes and checks codes; this
// package finds the address, renders the mail and hands it to a Mailer (connectors/notify's SMTP
// sender in production).
//
//	Begin ──► address from User.Claims or Claims.UserClaims ──► code ──► Mailer.Send
//	      ◄── State{keyed hash of the code, expiry, resend and failure counts}
//	Process(OTPCode, State) ──► Success | Failed{invalid_code, expired, max_attempts_exceeded}
//
// The code appears only in the mail: State holds a keyed hash, and nothing is logged with it.
// Limits follow WSO2's script authenticatorParams (maximumAllowedResendAttempts,
// maximumAllowedFailureAttempts, terminateOnResendLimitExceeded) over Config.
package emailotp
