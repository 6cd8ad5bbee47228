// Package dcr serves OAuth 2.0 Dynamic Client Registration (RFC 7591) and its management
// protocol (RFC 7592) at WSO2's path:
//
//	POST   /api/identity/oauth2/dcr/v1.1/register              register a client: 201 + client information
//	GET    /api/identity/oauth2/dcr/v1.1/register?client_name=  an administrator reads a client by name (WSO2)
//	GET    /api/identity/oauth2/dcr/v1.1/register/{client_id}  read it (no secret)
//	PUT    /api/identity/oauth2/dcr/v1.1/register/{client_id}  replace its metadata
//	DELETE /api/identity/oauth2/dcr/v1.1/register/{client_id}  delete it with its application: 204
//
// Metadata use RFC 7591's names (client_name, redirect_uris, grant_types, response_types,
// token_endpoint_auth_method, token_endpoint_auth_signing_alg, jwks, jwks_uri, scope, …)
// plus WSO2's extensions (ext_param_client_id, ext_pkce_mandatory, ext_pkce_support_plain,
// ext_public_client, ext_*_token_lifetime, ext_token_type). Unknown members are ignored
// (RFC 7591 §2). Errors are RFC 7591 §3.2.2's {error, error_description}: 400
// invalid_redirect_uri or invalid_client_metadata (also for a taken client_name or
// client_id, as WSO2 does).
//
// Who may call: registering needs a bearer access token with WSO2's scope
// internal_dcr_create, held by an administrator or a client acting for itself (package
// bearer). A registration returns a registration access token and the
// registration_client_uri (RFC 7592 §3); that token lets the client read, replace and
// delete its own registration. Administrators may do the same with internal_dcr_view,
// _update and _delete for any client of an application of their organization. An unknown
// client, or a token that is neither, is 401 (RFC 7592 §2.1, and WSO2).
//
// Data flow: a registration is one store transaction (store.Tx): the OAuth2 client
// (validated, given its id and secret by package op, exactly as the provider checks them),
// its application, and the registration row with the keyed hash of the registration
// access token; each write records its audit event. Client secrets and registration
// access tokens are generated (256 bits), returned once and stored only hashed. The store
// announces every client change (store.OAuth2ClientsChannel), so every replica's OAuth2
// provider drops its cached copy at once.
package dcr
