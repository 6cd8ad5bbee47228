// Package wsfed is Keyflow's WS-Federation 1.2 passive requestor profile (WSO2's Passive STS) at
// the HTTP edge. Like api/saml it is thin: it validates the request, starts the login workflow
// through api/authn's browser login pages, and posts the signed token when the login ends.
//
// Served (Handler.Register), also under /t/{tenant}:
//
//	GET|POST /passivests   wa=wsignin1.0 (wtrealm, wreply, wctx, wfresh), wa=wsignout1.0 and
//	                       wa=wsignoutcleanup1.0 (wreply, wtrealm)
//	GET /passivests/FederationMetadata/2007-06/FederationMetadata.xml
//	                       signed metadata: fed:SecurityTokenServiceType with the token
//	                       signing certificate and the passive requestor endpoint
//
// How a sign-in flows:
//
//	wsignin1.0 ─► size caps, single-valued UTF-8 parameters ─► the relying party by wtrealm
//	  (store.WSFedRelyingParty; unknown → 400) ─► wreply equal to a registered reply URL
//	  (absent → the default reply; unregistered → 400, never a redirect)
//	─► BrowserLogins.BeginBrowserLogin(flows.LoginInput{Protocol "wsfed", ClientID ← realm,
//	   ForceAuth ← wfresh=0, MaxAge ← wfresh minutes}, loginState)
//	… the login pages (api/authn) …
//	─► Handler.CompleteLogin (authn.Completer): a SAML 1.1 assertion (or SAML 2.0, per relying
//	   party) — audience = realm, NotBefore/NotOnOrAfter, the mapped claims (the login's and the
//	   local user's stored claims), the authentication statement — signed enveloped (exclusive
//	   C14N, RSA-SHA256) with the tenant's SAML key, in a WS-Trust 2005/02
//	   RequestSecurityTokenResponse, auto-posted as wresult with wa=wsignin1.0 and wctx.
//
// Sign-out ends the browser's SSO session (the commonAuthId cookie of api/authn) and clears the
// cookie. wsignout1.0 then notifies the session's other relying parties from a signed-out
// page: each other WS-Federation relying party gets a wsignoutcleanup1.0 image GET at its
// logout reply URL (else its default reply URL), the OIDC relying parties their front-channel
// iframes and back-channel notifications (Config.Ended, *oidclogout.Handler); the page then
// follows wreply when a relying party registers it. wsignoutcleanup1.0 only ends the session
// (notifying no one, so sign-outs cannot loop) and answers with a 1×1 image, or redirects to a
// registered wreply. The session's SAML service providers with a back-channel (SOAP) single
// logout service get signed LogoutRequests when Config.Ended includes the SAML IdP
// (saml.Enders{oidcLogout, samlHandler}, as cmd/keyflow wires it); with Config.SAML the
// signed-out page then goes on to the SAML IdP (saml.Handler.FrontChannelLogout), which walks
// the browser through the front-channel SAML SPs as its IdP-initiated logout does, and ends at
// wreply.
//
// The other way round, wsfed.Cleanup gives api/saml the wsignoutcleanup1.0 URLs of a session's
// WS-Federation relying parties, which a SAML single logout loads in frames.
//
// Tokens and metadata are signed with the key api/saml keeps per tenant (Keys, implemented by
// *saml.Handler), so both protocols publish one certificate. The issuer of tokens and the
// metadata's entityID is the tenant's passive STS URL.
package wsfed
