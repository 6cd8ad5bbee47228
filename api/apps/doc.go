// Package apps serves WSO2's Application Management API (/api/server/v1/applications), the
// one the Console uses to create applications and edit their login flow:
//
//	GET    /applications                                     list: limit, offset, filter (name|clientId|issuer eq|sw|ew|co)
//	POST   /applications                                     create (ApplicationModel); 201 + Location
//	GET    /applications/{id}                                ApplicationResponseModel
//	PATCH  /applications/{id}                                name, description, authenticationSequence, advancedConfigurations
//	DELETE /applications/{id}                                with its OAuth2 client and SAML configuration
//	PUT    /applications/{id}/authenticationSequence/script  {script}
//	GET    /applications/{id}/inbound-protocols/oidc         OpenIDConnectConfiguration
//	PUT    /applications/{id}/inbound-protocols/oidc         create or replace the OAuth2 client
//	POST   /applications/{id}/inbound-protocols/oidc/regenerate-secret  new secret, returned once
//	GET    /applications/{id}/inbound-protocols/saml         SAML2ServiceProvider
//	PUT    /applications/{id}/inbound-protocols/saml         metadataFile, metadataURL or manualConfiguration
//	DELETE /applications/{id}/inbound-protocols/saml
//
// Callers are administrators (or clients acting for themselves) holding WSO2's scopes
// internal_application_mgt_view, _create, _update and _delete,
// internal_application_script_update for the script and
// internal_application_mgt_client_secret_create to regenerate a secret (package bearer). Errors use WSO2's
// {code, message, description, traceId} with APP- codes.
//
// Data flow: every change of a request is written in one store transaction (store.Tx), so a
// failure leaves nothing half created. OAuth2 clients are validated, given ids and secrets,
// and their secrets hashed by package op through a provider bound to that transaction. Client
// secrets are kept only as hashes; a newly generated one is also kept sealed (AES-GCM under a
// key derived from the secret pepper) until the first GET of the OIDC configuration returns
// it, once, as WSO2's Console reads it there after creating an application. A creator may
// choose the secret instead (clientSecret, at least MinClientSecretLength characters), and
// regenerate-secret replaces it, returning the new one in its response (it revokes nothing
// else, unlike WSO2). The OIDC configuration's clientAuthentication (tokenEndpointAuthMethod,
// tokenEndpointAuthSigningAlg, and Keyflow's jwksUri or jwks for private_key_jwt) is kept
// with the client; a PUT without it leaves the client's settings as they are. SAML settings are
// parsed and validated by package saml (metadata is fetched before the transaction opens).
//
// Changes to a client reach the OAuth2 provider at once: the store announces them
// (store.OAuth2ClientsChannel) and every replica's provider drops its cached copy.
package apps
