// Package apiresources serves WSO2 IS 7's API resource management API
// (/api/server/v1/api-resources): an organization's own APIs, each named by an identifier
// (the audience of the access tokens issued for it) and offering scopes whose names are unique
// in the organization.
//
// Requests are parsed here into plain values and written through package store, one
// transaction with an audit event per change. Applications are authorized for API resources
// through the application API (api/apps, …/authorized-apis); the OAuth2 provider (api/oauth2/op)
// grants an authorized scope to a client's tokens, subject to the authorization's policy and
// the user's role permissions (role permissions name scopes, store.role_permissions).
//
// Deleting an API resource or one of its scopes cascades, as WSO2 does: the applications
// authorized for it lose the authorization and the roles holding a deleted scope lose that
// permission; the audit event lists the applications affected.
package apiresources
