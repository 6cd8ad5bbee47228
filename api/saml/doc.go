// Package saml is Keyflow's SAML 2.0 identity provider (saml-core, saml-bindings,
// saml-profiles, saml-metadata 2.0) at the HTTP edge. Like the OIDC front-end it is thin: it
// parses and validates the protocol request, starts the login workflow through api/authn's
// browser login pages, and builds the signed response when the login ends.
//
// Served (Handler.Register), also under /t/{tenant}:
//
//	GET  /samlsso/metadata   the tenant's IdP metadata: signing (and encryption) certificate,
//	                         SSO and SLO endpoints for HTTP-Redirect and HTTP-POST, NameID formats
//	GET  /samlsso            AuthnRequest over HTTP-Redirect (deflate, query-string signature),
//	                         or IdP-initiated SSO (?spEntityID=…[&acs=…][&RelayState=…])
//	POST /samlsso            AuthnRequest over HTTP-POST (enveloped signature)
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
// crewjam/saml provides the protocol pieces (parsing, signature verification, the XML
// schema types, XML-Enc); goxmldsig signs. Single logout and the Artifact binding are not
// served yet (slo.go holds the first LogoutRequest parsing). WS-Federation is api/wsfed's; it
// signs with this package's per-tenant key (Handler.SigningKey).
package saml
