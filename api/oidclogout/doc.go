// Package oidclogout serves OpenID Connect logout at WSO2's end-session path:
//
//	GET|POST /oidc/logout            RP-Initiated Logout 1.0 (also under /t/{tenant})
//
// A request is validated by op.Provider.ValidateLogoutRequest (id_token_hint signed by us,
// expired accepted, aud = client_id; post_logout_redirect_uri registered exactly for the
// client). Errors are an error page, never a redirect.
//
// The session to end is the browser's SSO session (the commonAuthId cookie) or, without a
// cookie, the id_token_hint's sid. The user confirms on a page (CSRF double-submit cookie)
// unless a valid id_token_hint names the session being ended. Then:
//
//  1. the SSO session is terminated (store.TerminateSSOSession) and the cookie cleared;
//  2. the grants made in the session are revoked (refresh and access tokens, except
//     offline_access grants), op.Provider.RevokeSessionTokens;
//  3. every OIDC participant with a backchannel_logout_uri gets a Logout Token (Back-Channel
//     Logout 1.0), handed to a Notifier that delivers after the response: backchannel.Starter
//     (flows/backchannel, a Temporal workflow retrying each delivery durably) or HTTPNotifier
//     (bounded retries in goroutines detached from the request, not durable);
//  4. the browser gets a page with an iframe per participant frontchannel_logout_uri
//     (Front-Channel Logout 1.0; its CSP allows exactly those origins in frame-src), which then
//     moves on to the post_logout_redirect_uri with state, or says the user signed out. Without
//     front-channel participants, a redirect goes straight to the post_logout_redirect_uri.
//  5. with Config.Ended (saml.Enders{samlIdP, wsfed.Cleanup}), the session's other participants
//     are told too: SAML SPs with a back-channel (SOAP) single logout service get signed
//     LogoutRequests through the durable back-channel workflow, and WS-Federation relying
//     parties' wsignoutcleanup1.0 URLs join the page's frames; with Config.SAML, the page then
//     goes on to the SAML IdP, which walks the browser through the front-channel SAML SPs and
//     ends at the post_logout_redirect_uri.
//
// App-native logout (wso2-wire.md §1, "App-native logout"): POST with response_mode=direct and an
// id_token_hint answers 200 with an empty body, or an ABA-60010 JSON error; no page, no
// confirmation, no front-channel frames (front-channel-only participants are logged, not
// reached).
package oidclogout
