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
//	POST /oauth2/par                                      RFC 9126 pushed authorization requests (201
//	                                                      {request_uri, expires_in}), when
//	                                                      Config.AuthorizationEndpoint is set
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
// Request objects (RFC 9101 request parameter), request_uri values from
// /oauth2/par, JARM response modes (jwt, query.jwt, fragment.jwt,
// form_post.jwt) and id_token_hint are handled inside
// ValidateAuthorizeRequest and the op.Response it and CompleteAuthorization
// return, so the front-end needs nothing more: WriteAuthorizeResponse
// renders JARM responses too (the JWT is the single response parameter).
// Discovery then also advertises request_parameter_supported,
// request_object_signing_alg_values_supported,
// pushed_authorization_request_endpoint,
// require_pushed_authorization_requests and
// authorization_signing_alg_values_supported. request_uri_parameter_supported
// stays false: only our own PAR URNs are accepted, nothing is fetched, and
// encrypted request objects are not supported.
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
