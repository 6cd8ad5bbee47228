package scim

import (
	"strings"
)

// Schema URNs (RFC 7643 §8.7 and WSO2's extension).
const (
	SchemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaWSO2       = "urn:scim:wso2:schema"
	SchemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaSearch     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	SchemaSPConfig   = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResType    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// WSO2 local claim URIs the attributes map to.
const claimPrefix = "http://wso2.org/claims/"

// Attribute types (RFC 7643 §2.3).
const (
	tString    = "string"
	tBoolean   = "boolean"
	tDecimal   = "decimal"
	tInteger   = "integer"
	tDateTime  = "dateTime"
	tReference = "reference"
	tComplex   = "complex"
)

// Mutability and returned values (RFC 7643 §2.2).
const (
	readOnly  = "readOnly"
	readWrite = "readWrite"
	immutable = "immutable"
	writeOnly = "writeOnly"

	retAlways  = "always"
	retNever   = "never"
	retDefault = "default"
)

// special names attributes whose value is not a plain claim: the handler
// code reads and writes them from user or group columns.
type special string

const (
	spNone        special = ""
	spID          special = "id"
	spMeta        special = "meta"
	spUserName    special = "userName"
	spPassword    special = "password"
	spActive      special = "active"
	spGroups      special = "groups"
	spRoles       special = "roles"
	spLocked      special = "accountLocked"
	spDisabled    special = "accountDisabled"
	spForceReset  special = "forcePasswordReset"
	spDisplayName special = "displayName" // a group's name
	spMembers     special = "members"
	spIgnored     special = "ignored" // accepted and dropped (a group's externalId)
)

// slot is one element a claim-backed multi-valued attribute can hold: the
// element of a given type (or the primary one) lives in one claim, WSO2
// style (emails of type work in http://wso2.org/claims/emails.work).
type slot struct {
	Type    string // "" for the primary, untyped element
	Primary bool
	Claim   string
}

// attr is an attribute definition (RFC 7643 §7) plus where Keyflow keeps
// its value.
type attr struct {
	Name        string
	Type        string
	Multi       bool
	Description string
	Required    bool
	CaseExact   bool
	Mutability  string
	Returned    string
	Uniqueness  string
	Canonical   []string
	RefTypes    []string
	Sub         []*attr

	Claim   string  // a claim holding the (simple) value
	Slots   []slot  // a claim-backed multi-valued complex attribute
	Special special // handled by code
	Field   string  // store filter field for a special attribute
	common  bool    // id, externalId, meta: not listed in /Schemas
}

func (a *attr) sub(name string) *attr {
	for _, s := range a.Sub {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// schema is a schema (RFC 7643 §7).
type schema struct {
	ID          string
	Name        string
	Description string
	Attrs       []*attr
}

func (s *schema) attr(name string) *attr {
	for _, a := range s.Attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// resourceType ties an endpoint to its core schema and extensions.
type resourceType struct {
	Name        string
	Endpoint    string
	Description string
	Core        *schema
	Exts        []*schema
}

func (rt *resourceType) schemas() []*schema { return append([]*schema{rt.Core}, rt.Exts...) }

func (rt *resourceType) ext(uri string) *schema {
	for _, s := range rt.Exts {
		if strings.EqualFold(s.ID, uri) {
			return s
		}
	}
	return nil
}

// Builders keep the tables below readable.
func str(name, claim string) *attr {
	return &attr{Name: name, Type: tString, Mutability: readWrite, Returned: retDefault, Uniqueness: "none", Claim: claim}
}

func subs(a *attr, s ...*attr) *attr { a.Sub = s; return a }

func ro(a *attr) *attr { a.Mutability = readOnly; return a }

func withType(a *attr, t string) *attr { a.Type = t; return a }

func caseExact(a *attr) *attr { a.CaseExact = true; return a }

func complexAttr(name string, multi bool, sub ...*attr) *attr {
	return &attr{Name: name, Type: tComplex, Multi: multi, Mutability: readWrite, Returned: retDefault, Uniqueness: "none", Sub: sub}
}

// slotted is a claim-backed multi-valued attribute with value, type and
// primary sub-attributes.
func slotted(name string, types []string, slots []slot) *attr {
	a := complexAttr(name, true,
		str("value", ""), withType(str("display", ""), tString), str("type", ""), withType(str("primary", ""), tBoolean))
	a.Sub[1].Mutability = readOnly
	a.Sub[2].Canonical = types
	a.Slots = slots
	return a
}

func metaAttr() *attr {
	m := ro(complexAttr("meta", false,
		ro(caseExact(str("resourceType", ""))), ro(withType(str("created", ""), tDateTime)),
		ro(withType(str("lastModified", ""), tDateTime)), ro(caseExact(withType(str("location", ""), tReference))),
		ro(caseExact(str("version", "")))))
	m.Special, m.common = spMeta, true
	m.Sub[1].Field, m.Sub[2].Field = "created", "modified"
	return m
}

func idAttr() *attr {
	a := ro(caseExact(str("id", "")))
	a.Returned, a.Uniqueness, a.Special, a.Field, a.common = retAlways, "server", spID, "id", true
	return a
}

// userResource builds the User resource type: RFC 7643's core User schema,
// the enterprise extension and WSO2's extension, mapped onto WSO2's local
// claims as WSO2's default SCIM2 dialect does.
func userResource() *resourceType {
	c := func(name string) string { return claimPrefix + name }
	userName := str("userName", "")
	userName.Required, userName.Uniqueness, userName.Special, userName.Field = true, "server", spUserName, "username"
	externalID := caseExact(str("externalId", c("externalid")))
	externalID.common = true
	password := str("password", "")
	password.Mutability, password.Returned, password.Special = writeOnly, retNever, spPassword
	active := withType(str("active", ""), tBoolean)
	active.Special, active.Field = spActive, "active"
	// groups lists direct and indirect (through nested groups) memberships, RFC 7643 §4.1.2.
	groups := ro(complexAttr("groups", true, ro(caseExact(str("value", ""))), ro(withType(caseExact(str("$ref", "")), tReference)),
		ro(str("display", "")), ro(str("type", ""))))
	groups.Special, groups.Field = spGroups, "group.id"
	groups.Sub[0].Field, groups.Sub[2].Field, groups.Sub[3].Field = "group.id", "group.name", "group.type"
	groups.Sub[3].Canonical = []string{groupDirect, groupIndirect}
	roles := ro(complexAttr("roles", true, ro(caseExact(str("value", ""))), ro(str("display", ""))))
	roles.Special = spRoles

	core := &schema{ID: SchemaUser, Name: "User", Description: "User Account", Attrs: []*attr{
		idAttr(), externalID, metaAttr(), userName,
		subs(complexAttr("name", false),
			str("formatted", c("fullname")), str("familyName", c("lastname")), str("givenName", c("givenname")),
			str("middleName", c("middleName")), str("honorificPrefix", c("honorificPrefix")), str("honorificSuffix", c("honorificSuffix"))),
		str("displayName", c("displayName")), str("nickName", c("nickname")),
		withType(str("profileUrl", c("url")), tReference), str("title", c("title")), str("userType", c("userType")),
		str("preferredLanguage", c("preferredLanguage")), str("locale", c("local")), str("timezone", c("timeZone")),
		active, password,
		slotted("emails", []string{"work", "home", "other"}, []slot{
			{Primary: true, Claim: c("emailaddress")}, {Type: "work", Claim: c("emails.work")},
			{Type: "home", Claim: c("emails.home")}, {Type: "other", Claim: c("emails.other")}}),
		slotted("phoneNumbers", []string{"mobile", "work", "home", "fax", "pager", "other"}, []slot{
			{Type: "mobile", Claim: c("mobile")}, {Type: "work", Claim: c("phoneNumbers.work")},
			{Type: "home", Claim: c("phoneNumbers.home")}, {Type: "fax", Claim: c("phoneNumbers.fax")},
			{Type: "pager", Claim: c("phoneNumbers.pager")}, {Type: "other", Claim: c("phoneNumbers.other")}}),
		slotted("photos", []string{"photo", "thumbnail"}, []slot{
			{Type: "photo", Claim: c("photourl")}, {Type: "thumbnail", Claim: c("thumbnail")}}),
		groups, roles,
	}}
	manager := complexAttr("manager", false, caseExact(str("value", c("managerId"))), withType(caseExact(str("$ref", "")), tReference), str("displayName", c("manager")))
	manager.Sub[1].Mutability = readOnly
	enterprise := &schema{ID: SchemaEnterprise, Name: "EnterpriseUser", Description: "Enterprise User", Attrs: []*attr{
		str("employeeNumber", c("employeeNumber")), str("costCenter", c("costCenter")), str("organization", c("organization")),
		str("division", c("division")), str("department", c("department")), manager,
	}}
	// Administrators lock, disable and force a password reset by writing
	// these, as over WSO2's SCIM (see users.go, accountChange).
	locked := withType(str("accountLocked", ""), tBoolean)
	locked.Special, locked.Field = spLocked, "locked"
	disabled := withType(str("accountDisabled", ""), tBoolean)
	disabled.Special = spDisabled
	forceReset := withType(str("forcePasswordReset", ""), tBoolean)
	forceReset.Mutability, forceReset.Returned, forceReset.Special = writeOnly, retNever, spForceReset
	wso2 := &schema{ID: SchemaWSO2, Name: "WSO2User", Description: "WSO2 User Account", Attrs: []*attr{
		str("country", c("country")), withType(str("dateOfBirth", c("dob")), tString),
		str("mobileNumbers", c("mobileNumbers")),
		withType(str("askPassword", c("identity/askPassword")), tBoolean),
		withType(str("verifyEmail", c("identity/verifyEmail")), tBoolean),
		withType(str("emailVerified", c("identity/emailVerified")), tBoolean),
		withType(str("phoneVerified", c("identity/phoneVerified")), tBoolean),
		str("userSource", c("userSource")), str("userAccountType", c("userAccountType")),
		locked, disabled, forceReset,
	}}
	return &resourceType{Name: "User", Endpoint: "/Users", Description: "User Account", Core: core, Exts: []*schema{enterprise, wso2}}
}

// groupResource builds the Group resource type (RFC 7643 §4.2).
func groupResource() *resourceType {
	name := str("displayName", "")
	name.Required, name.Special, name.Field, name.Uniqueness = true, spDisplayName, "name", "server"
	members := complexAttr("members", true,
		caseExact(withType(str("value", ""), tString)), withType(caseExact(str("$ref", "")), tReference),
		ro(str("display", "")), str("type", ""))
	// $ref is immutable as in RFC 7643 §8.7.1, not readOnly: a client may name a member by its
	// $ref alone ("…/Groups/{id}") and extractGroup reads the member's type from it.
	members.Sub[0].Mutability, members.Sub[1].Mutability, members.Sub[3].Mutability = immutable, immutable, immutable
	members.Sub[3].Canonical = []string{memberUser, memberGroup}
	members.Special, members.Field = spMembers, "member.id"
	members.Sub[0].Field, members.Sub[2].Field, members.Sub[3].Field = "member.id", "member.name", "member.type"
	externalID := caseExact(str("externalId", ""))
	externalID.Special, externalID.common = spIgnored, true
	core := &schema{ID: SchemaGroup, Name: "Group", Description: "Group", Attrs: []*attr{
		idAttr(), externalID, metaAttr(), name, members,
	}}
	return &resourceType{Name: "Group", Endpoint: "/Groups", Description: "Group", Core: core}
}

// claimScope lists every claim the User schema writes: a PUT replaces
// exactly these and leaves other claims (identity data of other
// components) alone.
func claimScope(rt *resourceType) []string {
	var out []string
	var walk func(a *attr)
	walk = func(a *attr) {
		if a.Claim != "" {
			out = append(out, a.Claim)
		}
		for _, s := range a.Slots {
			out = append(out, s.Claim)
		}
		if a.Mutability == readOnly {
			return
		}
		for _, s := range a.Sub {
			walk(s)
		}
	}
	for _, s := range rt.schemas() {
		for _, a := range s.Attrs {
			if a.Mutability != readOnly {
				walk(a)
			}
		}
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, c := range out {
		if !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	return uniq
}
