// Package oauth2 is Keyflow's OpenID Connect / OAuth 2.0 provider at the HTTP
// edge: it turns requests into plain structs, calls api/oauth2/op (domain
// logic) and api/oauth2/jwtkeys (signing keys), and renders the responses.
//
// Served so far (Handler.Register):
//
//	GET  /.well-known/openid-configuration                OpenID Connect Discovery 1.0
//	GET  /oauth2/token/.well-known/openid-configuration   the same, for WSO2's issuer {base}/oauth2/token
//	GET  /.well-known/oauth-authorization-server          RFC 8414 (same document)
//	GET  /oauth2/jwks                                     RFC 7517 key set: next, current and previous keys
//	POST /oauth2/token                                    RFC 6749 client_credentials, authorization_code
//	                                                      (PKCE), refresh_token (rotation), password,
//	                                                      RFC 7523 jwt-bearer, RFC 8693 token-exchange,
//	                                                      RFC 8628 device_code
//	POST /oauth2/device_authorize                         RFC 8628, when Config.DeviceVerificationURI is set
//	POST /oauth2/introspect                               RFC 7662
//	POST /oauth2/revoke                                   RFC 7009
//	GET|POST /oauth2/userinfo                             OpenID Connect Core §5.3, bearer token
//
// The authorization endpoint is not served here: the login front-end
// parses the request (op.ParseAuthorizeParams), validates it
// (op.Provider.ValidateAuthorizeRequest: a plain *op.Error means show an
// error page, an *op.RedirectError carries the response to send back), runs
// the login workflow, then calls op.Provider.CompleteAuthorization (or
// ErrorResponse) and renders the result with WriteAuthorizeResponse. Its URL
// goes in Config.AuthorizationEndpoint, which makes discovery advertise it
// with the response types, modes, PKCE methods and browser grants.
//
// OpenID Connect logout is served by api/oidclogout; its URL goes in
// Config.EndSessionEndpoint, which makes discovery advertise it with
// front- and back-channel logout (and their session support).
//
// The discovery document lists only what is served.
//
// Requests: POST bodies must be application/x-www-form-urlencoded, at most
// 64 KiB, with no parameter repeated (RFC 6749 §3.2); client credentials
// come from HTTP Basic (form-urlencoded id and secret, RFC 6749 §2.3.1),
// from client_id/client_secret in the body, or from a client_assertion (RFC
// 7523 §2.2: private_key_jwt, client_secret_jwt), never more than one.
// Parameters cannot repeat, so token exchange takes one audience and one
// resource. Responses carrying
// tokens are Cache-Control: no-store. Errors are rendered by writeError from
// op.ToError: {"error","error_description"} with the RFC's status, and 401 +
// WWW-Authenticate: Basic for invalid_client.
package oauth2
