package slapdtest

// Example is seed LDIF for the default suffix dc=example,dc=org:
//
//	ou=people:  alice (password "wonderland", mail alice@example.org, givenName Alice, sn Liddell),
//	            bob ("builder"), carol ("carol-pw")
//	ou=groups:  engineers (alice, bob), admins (alice) — groupOfNames, so memberOf is maintained
//	cn=reader:  the read-only service account ReaderDN, password ReaderPassword
const Example = `dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=reader,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: ` + ReaderPassword + `

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
givenName: Alice
mail: alice@example.org
userPassword: wonderland

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@example.org
userPassword: builder

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Carol
userPassword: carol-pw

dn: cn=engineers,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: engineers
member: uid=alice,ou=people,dc=example,dc=org
member: uid=bob,ou=people,dc=example,dc=org

dn: cn=admins,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,dc=example,dc=org
`

// ReaderPassword is the password Example gives the read-only service account ReaderDN.
const ReaderPassword = "reader-secret"
