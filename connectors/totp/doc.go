// Package totp is WSO2's "totp" authenticator: time-based one-time passwords (RFC 6238) from an
// authenticator app, as a second factor for the user an earlier step identified.
//
// Where it sits: the login workflow runs Begin (which checks the user has a confirmed
// credential, so the step fails early with not_enrolled otherwise, unless the user may enrol in
// the flow) and Process (param "token", app-native requiredParams ["token"]) as local
// activities. The My Account API calls Enroll and ConfirmEnrollment.
//
// Enrolment in the login flow (Config.EnrollInFlow, or the script's authenticatorParams
// "enrolUserInAuthenticationFlow": "true"): Begin, for a user with no confirmed credential,
// enrols one and returns the token prompt with AdditionalData {enrollment: "true", keyUri,
// qrCode, secret} and a state holding only a hash of the stored ciphertext. A resend or reload
// in the same step shows that pending credential again; a new step replaces it. Process in that
// state confirms the enrolment with the submitted code (the step succeeds; later logins verify
// normally) or fails with a retry that keeps the same prompt.
//
// Data flow:
//
//	Enroll ──► random 160-bit secret ──► AES-256-GCM (Config.EncryptionKey, user id as
//	           additional data) ──► Credentials.PutTOTPSecret (pending)
//	       ◄── otpauth:// URI (issuer, account) and the same as a QR code PNG data URI
//	ConfirmEnrollment(code) ──► verify ──► Credentials.ConfirmTOTP (step marked used)
//	Process(token) ──► Credentials.TOTPCredential ──► decrypt ──► compare with the codes of
//	           steps T-1, T, T+1 (RFC 6238 §5.2 window) ──► Credentials.UseTOTPStep(step):
//	           an atomic "last used step < step" update, so a code, or an older one, is never
//	           accepted twice, even by concurrent submissions
//
// The secret exists in clear only in memory during a call and, when enrolling in the flow, in the
// prompt the user must see: the database holds ciphertext, the step state a hash of it, and the
// prompt reaches Temporal history only inside the encrypting payload codec. Submitted tokens and
// secrets are never logged.
package totp
