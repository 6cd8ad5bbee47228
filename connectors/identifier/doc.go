// Package identifier is WSO2's "IdentifierExecutor" (identifier first): a step that only asks
// for the username, so later steps (or a script) can choose how this user authenticates. It
// identifies, it does not authenticate: the application must follow it with a real factor.
//
// Where it sits: the login workflow runs Process (param "username") as a local activity; there is
// no Begin. The returned user carries the username and tenant, and, when Config.ValidateUsername
// is on, the user's id and domain from the store.
//
// Enumeration: by default the username is not checked (as in WSO2, where validation is off by
// default), so the step succeeds for any well-formed name and reveals nothing. With
// ValidateUsername an unknown user fails with user_not_found, which tells the user the name is
// wrong at the cost of revealing which names exist.
package identifier
