// Package backupcodes is WSO2's "backup-code-authenticator": single-use recovery codes a user
// generates in advance (shown once) and types in when the usual second factor is unavailable.
//
// Where it sits: the My Account API calls Generate; the login workflow runs Begin (which ends the
// step with not_enrolled when the user has no unused code) and Process (param "BackupCode") as
// local activities.
//
//	Generate ──► Config.Count random codes ──► HMAC-SHA-256(Config.HashKey, user id, code) each
//	         ──► Codes.ReplaceBackupCodes (the old set is dropped)   ◄── the codes, once
//	Process(code) ──► same HMAC ──► Codes.UseBackupCode: an atomic "unused → used" update, so a
//	         code works once even under concurrent submissions
//
// Codes are stored as keyed hashes: a stolen table does not yield usable codes without the key,
// and lookup is one indexed comparison rather than one slow hash per stored code. Codes are never
// logged and never put in State.
package backupcodes
