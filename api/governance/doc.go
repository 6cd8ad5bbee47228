// Package governance serves WSO2's identity-governance API for an organization's account
// policies, and WSO2's idle accounts identification API:
//
//	GET   /api/server/v1/identity-governance                                        categories
//	GET   /api/server/v1/identity-governance/{category-id}                          one, with its connectors
//	GET   /api/server/v1/identity-governance/{category-id}/connectors/{connector-id} one connector
//	PATCH /api/server/v1/identity-governance/{category-id}/connectors/{connector-id} update its properties
//	GET   /api/idle-account-identification/v1/inactive-users?inactiveAfter=YYYY-MM-DD
//
// Connectors and their properties keep WSO2's names (passwordPolicy.min.length,
// passwordHistory.count, passwordExpiry.passwordExpiryInDays,
// suspension.notification.account.disable.delay, …); ids are the base64url encoding of the
// names, as WSO2's are. Property values are strings on the wire. Every connector reads and writes
// one row, the organization's store.PasswordPolicy: a PATCH reads it, sets the properties given
// and writes it back in one SERIALIZABLE transaction (with an audit event), after
// store.PasswordPolicy.Validate accepts the result.
//
// Where the policy is enforced is elsewhere: api/scim and the scripts' updateUserPassword check
// passwords through store.CheckPassword, connectors/basic refuses expired passwords, and the
// maintenance job disables idle accounts with store.DisableIdleUsers.
//
// Callers present an OAuth2 access token (package bearer) with scope internal_governance_view
// (GET) or internal_governance_update (PATCH), or internal_user_mgt_list for the idle accounts
// API; a token issued for a user needs an administrator. Errors use WSO2's REST error body
// {code, message, description, traceId} (package rest).
package governance
