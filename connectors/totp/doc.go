// Package totp is WSO2's "totp" authenticator: time-based one-time passwords (RFC 6238) from an
// authenticator app, as a second factor for the user an earlier step identified.
//
// Where it sits: the login workflow runs Begin (which only checks the user has a confirmed
// credential, so the step fails early with not_enrolled otherwise) and Process (param "token",
// app-native requiredParams ["token"]) as local activities. The My Account API calls Enroll and
// ConfirmEnrollment.
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
// The secret exists in clear only in memory during a call; the database holds ciphertext and
// Temporal history holds nothing of it (Begin returns no state). Submitted tokens are never logged.
package totp
