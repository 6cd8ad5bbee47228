// Package ldapstore is Keyflow's secondary user stores: LDAP and Active Directory directories
// that an organization attaches under an upper-case domain, so that "EMPLOYEES/alice" logs in
// against the directory while "alice" stays in the built-in (PRIMARY) store.
//
// Where it sits: store holds each store's settings (store.UserStore, bind password sealed by a
// Keyring) and the shadow rows of directory users; this package talks LDAP (go-ldap) and is used
// by connectors/basic (BasicAuthenticator) for DOMAIN/username logins, and by whatever manages
// users (SCIM, management API) for look-ups, searches and, in read-write stores, writes.
//
// Data flow of a login:
//
//	Registry.Directory(org, domain) ──► store.UserStoreByDomain ──► Client (cached per store,
//	                                    rebuilt when the row's updated_at moves)
//	Directory.Login(username, password)
//	    Client.Authenticate: search (service account, filter values escaped with
//	                         ldap.EscapeFilter) ──► bind as the user's DN ──► rebind as service
//	    Client.Groups:       member/uniqueMember search, or the user's memberOf
//	    store.UpsertShadowUser: (org, domain, username) → stable user id; mapped claims refreshed;
//	                            memberships in the domain's groups synchronised
//	◄── Login{User (shadow row, Domain = DOMAIN), Claims, Groups ("DOMAIN/group")}
//
// Passwords are only ever checked by binding: no hash is read or compared. Empty passwords are
// refused before anything reaches the directory (an LDAP bind with a DN and no password is an
// unauthenticated bind, RFC 4513 §5.1.2, that many servers accept). Passwords and bind passwords
// are never logged.
//
// Connections: a Client keeps a bounded pool (Config.PoolSize) of connections bound as the
// service account, dials within ConnectTimeout, bounds each request by RequestTimeout and by the
// caller's context (the connection is closed under a request whose context ends), drops
// connections after client-side errors, and replaces once a pooled connection the server closed
// while idle. A directory that is down produces an error, never a verdict on a password.
//
// slapdtest starts a private slapd for tests.
package ldapstore
