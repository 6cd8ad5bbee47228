// Package authn is WSO2's app-native authentication API (wso2-wire.md §1): native and
// single-page apps log users in through JSON calls instead of browser redirects.
//
// Where it sits: the HTTP edge (gin), between an app and the login workflow (flows.Login). It
// parses requests into plain structs, validates the OAuth2 side with api/oauth2/op, drives the
// workflow through the flows client helpers and renders WSO2's wire shapes. No state is kept
// in the process: the login lives in Temporal, the application in PostgreSQL.
//
//	POST /oauth2/authorize?response_mode=direct
//	  ├─ application by client_id (ABA-60005), client authentication (401),
//	  │  response_type=code, enableAPIBasedAuthentication (ABA-60007),
//	  │  op.ValidateAuthorizeRequest (ABA-60001 "<error> - <description>")
//	  └─ flows.StartLoginWithState(new flowId, LoginInput, the validated request)
//	       ──► AuthResponse {flowId, flowStatus, flowType, nextStep, links}
//	POST /oauth2/authn {flowId, selectedAuthenticator{authenticatorId, params}}
//	  ├─ flows.CurrentLoginView (the Seq to answer; ABA-60009 when the flow is unknown or over)
//	  └─ flows.SubmitLogin ──► INCOMPLETE / FAIL_INCOMPLETE: AuthResponse (200)
//	                       ──► SUCCESS_COMPLETED: op.CompleteAuthorization ─► {flowStatus, authData{code, state, session_state}}
//	                       ──► FAIL_COMPLETED: 400 {code, message, description, traceId}
//
// With Config.UI set, the same /oauth2/authorize also serves browsers (browser.go): a request
// without response_mode=direct is validated, starts the same workflow and is sent to the
// server-rendered login page (PathLogin), which shows each view with package ui and ends with
// the authorization response to the client's redirect URI. Around the login, consent.go asks
// for per-user consent before the response (Config.Consents) and account.go handles
// prompt=select_account (an account chooser when an SSO session exists) and id_token_hint (a
// session of another subject forces authentication, or login_required with prompt=none). Pages
// take their look from Config.Branding (the application's preference over the organization's).
//
// Responses follow Jackson's NON_EMPTY rule of the reference server: empty lists, maps and
// strings are left out, except where WSO2's SDKs need a field (nextStep.authenticators, links,
// the error body's traceId). Every error the API answers is an *Error carrying an ABA-* code;
// toError maps everything else to one.
package authn
