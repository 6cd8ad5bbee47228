// Package fido is WSO2's "FIDOAuthenticator" (display name "Passkey"): WebAuthn passkeys, verified
// by github.com/go-webauthn/webauthn, as a first factor (usernameless, discoverable credentials)
// or as a second factor for the user an earlier step identified.
//
// Where it sits: the login workflow runs Begin and Process as local activities. Begin makes a
// challenge and returns an INTERNAL_PROMPT whose additionalData.challengeData the client hands to
// the platform passkey API; Process verifies what it returns in the param "tokenResponse"
// (app-native requiredParams ["tokenResponse"]). The My Account API registers passkeys with
// BeginRegistration and FinishRegistration. Credentials live in the store
// (store.WebAuthnCredential, table webauthn_credentials).
//
// Data flow of a login:
//
//	Begin ─┬─ user known (second step) ──► Credentials.WebAuthnCredentials ──► BeginLogin
//	       │                                 (allowCredentials = the user's passkeys)
//	       ├─ no user (first step) ─────────► BeginDiscoverableLogin (empty allowCredentials)
//	       └─ user known without a passkey and the runtime param
//	          enablePasskeyProgressiveEnrollment = "true" ──► BeginRegistration (see below)
//	      ◄── State = {mode, requestId, SessionData, userId, expiry}; the SessionData holds the
//	          challenge, which is no secret (the payload codec encrypts it anyway)
//	      ◄── challengeData = base64(JSON{requestId, publicKeyCredentialRequestOptions})
//	Process(tokenResponse) ──► raw JSON (JS SDK) or base64url JSON (Android), either
//	          {requestId, credential} or the bare PublicKeyCredential
//	      ──► go-webauthn ValidateLogin / ValidatePasskeyLogin (challenge, origin, RP ID hash,
//	          UP/UV flags, signature, backup flags; the user handle of a discoverable
//	          credential is the user id)
//	      ──► Credentials.UseWebAuthnCredential: an atomic "stored counter < new counter" update,
//	          so a cloned authenticator or a replayed assertion is refused even concurrently
//
// Encoding of challengeData (wso2-wire §1.7): WSO2 emits base64url, which the JS SDK's atob
// rejects whenever '-' or '_' appear; Android maps '-'→'+' and '_'→'/' and pads before decoding.
// Standard base64 with padding decodes in both (and in Keyflow's own login page), so it is the
// default; Config.URLSafeChallengeData switches to WSO2's exact alphabet.
//
// Progressive enrolment: when the step's user has no passkey and the script sets
// enablePasskeyProgressiveEnrollment, Begin asks the client to create one instead. The prompt is
// the same INTERNAL_PROMPT with params ["tokenResponse"], but challengeData decodes to
// {"requestId", "mode":"registration", "publicKeyCredentialCreationOptions":{…}} and
// additionalData carries "passkeyMode":"registration", so a client tells the two ceremonies apart
// without decoding. The client returns the attestation (PublicKeyCredential with
// response.attestationObject) in tokenResponse; Process verifies it, stores the credential and the
// step succeeds for that user.
package fido
