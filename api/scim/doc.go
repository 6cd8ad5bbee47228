// Package scim is Keyflow's SCIM 2.0 server (RFC 7643, RFC 7644), shaped
// like WSO2 Identity Server's /scim2 API: the core User schema with the
// enterprise extension and WSO2's urn:scim:wso2:schema extension, and the
// core Group schema; WSO2's roles v2 at /scim2/v2/Roles; /Me; Bulk; and
// the discovery endpoints.
//
// # Where it sits
//
// It is a front-end of the HTTP edge: api.New mounts Handler.Register on
// the gin engine. Below it is only package store; nothing here is seen by
// flows or connectors. Sub-package filter parses the filter language and
// PATCH paths.
//
// Register mounts catch-all routes for /scim2/..., /t/{tenant}/scim2/...
// and /o/{org-id}/scim2/...; dispatch (handler.go) resolves the
// organization the path names (404 if unknown or disabled), records it
// and the prefix (for Location headers) in the request context, and hands
// the request to the handler's own gin engine, whose NoRoute and NoMethod
// answer RFC 7644 errors (404, 405) rather than gin's text.
//
// # How data flows
//
// A request is authenticated (auth.go: HTTP Basic against the users table,
// or a bearer token through Config.Tokens, which OAuth2Tokens in oauth2.go
// checks with Keyflow's own OAuth2 provider) and authorised (admins, or an
// application by its token's scopes, see Handler). Resources are handled as JSON objects in canonical form
// (resource.go): the schema tables of schema.go say, per attribute, its
// SCIM characteristics and where the value lives — a WSO2 local claim
// (http://wso2.org/claims/givenname) in user_claims, a "slot" claim for
// each type of a multi-valued attribute (emails of type work in
// http://wso2.org/claims/emails.work, the primary email in
// .../emailaddress), or a users/groups column (userName, active, groups).
//
//   - Reads render store rows to a resource, then apply
//     attributes/excludedAttributes (project.go).
//   - Queries parse the filter (package filter), resolve each attribute path
//     against the schemas and translate it to a store.Filter (query.go),
//     which the store turns into parameterised SQL; unknown attributes and
//     type mismatches are 400 invalidFilter before any SQL exists.
//   - POST and PUT canonicalize the body (type checks; readOnly attributes
//     dropped), extract store input and write it in one transaction.
//   - PATCH renders the current resource, applies the operations in memory
//     (patch.go), extracts the result and replaces the stored state, all in
//     one SERIALIZABLE store.Tx together with the If-Match check, so
//     concurrent PATCHes cannot lose updates.
//
// Account administration rides on the User resource as in WSO2: an
// administrator writes urn:scim:wso2:schema's accountLocked (lock until
// unlocked, reason ADMIN_INITIATED; unlocking resets the failure count),
// accountDisabled (the same flag as active) and forcePasswordReset (status
// PENDING_FORCED_PASSWORD_RESET until a new password is set), applied by
// store.ChangeAccount in the request's transaction. Every password set
// (POST, PUT, PATCH, /Me, Bulk) first passes the organization's password
// policy (store.CheckPassword): a refusal is 400 invalidValue whose detail
// names the rule (passwordPolicy.min.length, passwordHistory.count, …).
//
// Groups nest (RFC 7643 §4.2): a Group's members are users and groups of
// the organization ("type" User or Group, read from "$ref" or from what the
// value names when absent); a write that would make a group contain itself
// is 400 invalidValue (store.GroupCycleError). A User's groups lists its
// direct groups and, with type "indirect", those containing them (§4.1.2);
// the groups filter of Users and the roles and permissions a user holds
// follow the nesting too.
//
// Bulk (bulk.go) replays each operation through an inner router carrying
// the caller's principal, one transaction per operation (RFC 7644 bulk is
// not atomic), resolving bulkId references to ids created earlier in the
// same request.
//
// Versions (meta.version, ETag) are weak tags derived from updated_at.
// Every client mistake is an *Error with an RFC 7644 §3.12 body; only
// unexpected failures are 500s, whose cause is logged and not sent.
package scim
