// Package magiclink is WSO2's "MagicLinkAuthenticator" (display name "Magic Link"): the user
// proves control of their e-mail address by following a single-use link.
//
// Where it sits: the login workflow runs Begin and Process as local activities. The link leads
// to {base}/authenticationendpoint/login?sessionDataKey={flowId}&mlt={token} (Config.LinkTemplate);
// the login page submits the "mlt" query value as the param "mlt" of the waiting flow.
//
// Data flow:
//
//	Begin, user known (second step, or identifier first):
//	      ──► random 256-bit token ──► link mailed through Mailer (the address from the user's
//	          claims or Claims.UserClaims)
//	      ◄── State = {user, nonce, HMAC-SHA-256(HashKey; flow id, user id, nonce, expiry, token),
//	          expiry, resends, failures}: the token is never in Temporal history or logs
//	Begin, no user (first step): a USER_PROMPT for "username" instead; Process of the username
//	      resolves the user, mails the link and returns INCOMPLETE with the "mlt" prompt. An
//	      unknown user, or one without an address, gets the same answer with a state no token
//	      can match, so the step does not tell which usernames exist.
//	Process(mlt) ──► constant-time HMAC comparison, expiry (default 5 minutes), failure limit
//	      ──► SUCCESS with the user (locked or disabled accounts are refused)
//
// A token is single use: the state that can verify it ends with the step it succeeds in, and a
// resend (Begin again) replaces it with a new one.
package magiclink
