// Package saml is Keyflow's SAML 2.0 identity provider (saml-core, saml-bindings,
// saml-profiles, saml-metadata 2.0) at the HTTP edge. Like the OIDC front-end it is thin: it
// parses and validates the protocol request, starts the login workflow through api/authn's
// browser login pages, and builds the signed response when the login ends.
//
// Served (Handler.Register), also under /t/{tenant}:
//
//	GET  /samlsso/metadata   the tenant's IdP metadata: signing (and encryption) certificate,
//	                         SSO and SLO endpoints for HTTP-Redirect and HTTP-POST, the
//	                         ArtifactResolutionService (SOAP), NameID formats
//	GET  /samlsso            AuthnRequest over HTTP-Redirect (deflate, query-string signature),
//	                         or IdP-initiated SSO (?spEntityID=…[&acs=…][&RelayState=…]);
//	                         also the SingleLogoutService: a LogoutRequest or LogoutResponse
//	                         over HTTP-Redirect, and ?slo=true (WSO2's IdP-initiated logout)
//	POST /samlsso            AuthnRequest, LogoutRequest or LogoutResponse over HTTP-POST
//	GET  /samlsso/logout     IdP-initiated single logout [?spEntityID=…&returnTo=…], or
//	                         ?logout={id}: one WS-Federation sign-out prepared
//	                         (FrontChannelLogout)
//	POST /samlartresolve     ArtifactResolve over SOAP → signed ArtifactResponse
//
// How a request flows:
//
//	SSO ─► size caps, no DTD (checkXML) ─► crewjam's IdpAuthnRequest.Validate (version, ID,
//	       IssueInstant, Destination, the SP by Issuer from the store, its signature, the ACS)
//	    ─► Keyflow's rules: request age (Config.MaxRequestAge + ClockSkew), replayed IDs
//	       (store.ConsumeSAMLRequestID), an unregistered ACS only under a valid signature
//	    ─► BrowserLogins.BeginBrowserLogin(flows.LoginInput{Protocol "saml", ForceAuth ←
//	       ForceAuthn, Passive ← IsPassive, RequestedACR ← RequestedAuthnContext}, loginState)
//	    … the login pages (api/authn) …
//	    ─► Handler.CompleteLogin (authn.Completer): Response + Assertion (NameID, Audience,
//	       Recipient, InResponseTo, NotOnOrAfter, AuthnContextClassRef ← ACR, SessionIndex ←
//	       SSO session, attributes by the SP's claim mapping), signed and optionally encrypted,
//	       posted to the ACS with an auto-submitting form (HTTP-POST binding, RelayState).
//
// A request that cannot be tied to a registered SP and a registered ACS is answered with HTTP
// 400 and never redirected; one that can is answered with a signed SAML error Response
// (Requester/RequestDenied, VersionMismatch, UnsupportedBinding) posted to that ACS. Failed
// logins are answered with Responder and NoPassive, RequestDenied or AuthnFailed.
//
// Service providers are stored per organization (store.SAMLServiceProvider, linked to an
// application); ParseSPMetadata and FetchSPMetadata turn an SP's metadata into one, for the
// management API. Each tenant has one RSA signing key with a self-signed certificate
// (store.SAMLSigningKey), generated on first use and sealed with the configured KEK.
//
// Responses go to the ACS with the HTTP-POST binding, or with HTTP-Artifact when the
// AuthnRequest's ProtocolBinding asks for it (or the chosen ACS is an artifact endpoint): a
// redirect with a type 0x0004 SAMLart (SourceID = SHA-1 of the entity id); the Response waits,
// sealed, in store.SAMLArtifact (Config.ArtifactLifetime, single use) until the SP it was
// issued to resolves it at /samlartresolve — signed ArtifactResolve when the SP has a signing
// certificate or requires signed requests, Issuer always (artifact.go).
//
// Single logout (logout.go): a LogoutRequest (signed — verified by crewjam's IdpLogoutRequest —
// when the SP has a signing certificate or requires signed requests; not replayed) ends the SSO
// session of the browser's commonAuthId cookie, or, signed only, the one its SessionIndex
// names (SessionIndex is the session id; the NameID must be the one the SP was issued, kept in
// the session participant's RPSession). Config.Ended (*oidclogout.Handler) then logs the OIDC
// relying parties out (tokens, back-channel, front-channel iframes on the next page) and, wired
// as Enders{oidcLogout, wsfed.Cleanup{…}}, loads the WS-Federation relying parties'
// wsignoutcleanup1.0 URLs in frames too. SAML participants whose single logout service takes
// SOAP (WSO2's logoutMethod BACKCHANNEL, its default) get their signed LogoutRequests over the
// back channel at once, through Config.BackChannel (backchannel.Starter: a durable Temporal
// workflow that checks each SP's LogoutResponse; backchannel.go says why the initiator does not
// wait for it). The other SAML participants get signed LogoutRequests one after the other
// through the browser, over the binding their single logout service takes (HTTP-POST with an
// enveloped signature, or HTTP-Redirect, DEFLATEd with a query-string signature;
// store.SAMLServiceProvider.SLOBinding),
// progress in store.SAMLLogout keyed by the pending request's ID, which the
// LogoutResponse's InResponseTo must name. The initiator gets a signed LogoutResponse:
// Success, or Success/PartialLogout when a participant failed or never answered (a browser
// that comes back to /samlsso/logout skips it, by the kf_saml_slo cookie).
//
// Handler.SessionEnded and Handler.FrontChannelLogout are the other direction: for a session
// ended elsewhere (api/wsfed's wsignout1.0, wired with Config.Ended = Enders{oidcLogout,
// samlHandler} and Config.SAML = samlHandler) the first sends the back-channel LogoutRequests,
// the second saves a logout of the front-channel SPs that the browser then walks from
// PathLogout?logout={id}, as in IdP-initiated logout, ending at the caller's return URL.
//
// crewjam/saml provides the protocol pieces (parsing, signature verification, the XML
// schema types, XML-Enc); goxmldsig signs. WS-Federation is api/wsfed's; it signs with this
// package's per-tenant key (Handler.SigningKey).
package saml
