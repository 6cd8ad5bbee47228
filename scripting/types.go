package scripting

import (
	"context"

	"github.com/keyflow/keyflow/connectors"
)

// Setup is everything a Session needs to know about one login transaction. It is plain data: the
// login workflow fills it from its input.
type Setup struct {
	// FlowID is the login transaction's id (context.contextIdentifier, WSO2's sessionDataKey).
	FlowID string
	// Script is the application's conditional-authentication script, pinned for the whole
	// transaction. Empty means "no script": the configured steps run in order (WSO2's default
	// sequence) and authenticators may retry on their own.
	Script string
	// Steps are the application's configured steps; step n is Steps[n-1].
	Steps []Step
	// TenantDomain, ApplicationID and ApplicationName describe the application
	// (context.tenantDomain, context.serviceProviderName).
	TenantDomain    string
	ApplicationID   string
	ApplicationName string
	// RequestedACR are the ACR values the client asked for, in request order (context.requestedAcr).
	RequestedACR []string
	// Request is the request that started the login (context.request before any submission).
	Request Request
	// Session are the options (authenticator and IdP) the user already authenticated with in
	// their SSO session; checkSessionExistence and promptIdentifierForStep's default
	// pre-handler match a step's options against them. Empty: no SSO session.
	Session []Option
}

// Step is one configured authentication step.
type Step struct {
	// Options are the authenticators the user may choose from.
	Options []Option `json:"options"`
	// SubjectIdentifier marks the step whose user becomes the login's subject ("use subject
	// identifier from this step"); SubjectAttribute the step whose user's attributes are used.
	// When no step is marked, step 1 is.
	SubjectIdentifier bool `json:"subjectIdentifier,omitempty"`
	SubjectAttribute  bool `json:"subjectAttribute,omitempty"`
}

// Option is one authenticator of a step.
type Option struct {
	// Authenticator is the WSO2 internal name ("BasicAuthenticator", "totp", …).
	Authenticator string `json:"authenticator"`
	// IdP is connectors.LocalIdP for local authenticators, else the connection name.
	IdP string `json:"idp"`
	// DisplayName is the authenticator's display name; authenticationOptions may match on it
	// (legacy WSO2 behaviour). Filled by the workflow from the authenticator registry.
	DisplayName string `json:"displayName,omitempty"`
}

// Request is the protocol-neutral view of an HTTP request that scripts see as context.request.
type Request struct {
	// IP is the client address (after trusted X-Forwarded-For processing at the edge).
	IP string `json:"ip,omitempty"`
	// Headers are keyed by lower-case name, first value only (as Tomcat exposes them).
	Headers map[string]string `json:"headers,omitempty"`
	// Cookies are keyed by name.
	Cookies map[string]Cookie `json:"cookies,omitempty"`
	// Params are the query and form parameters; scripts index them ([0]).
	Params map[string][]string `json:"params,omitempty"`
}

// Cookie is one request cookie, with the members WSO2's cookie object exposes.
type Cookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Domain   string `json:"domain,omitempty"`
	Path     string `json:"path,omitempty"`
	MaxAge   int    `json:"maxAge,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Version  int    `json:"version,omitempty"`
	Comment  string `json:"comment,omitempty"`
	SameSite string `json:"sameSite,omitempty"`
}

// Directory is what the script functions need from the user store: role, group and claim
// look-ups and claim writes. Every call may block (inside a workflow it is a local activity); the
// CPU budget is paused while it does. Errors are logged and turned into false/null for the
// script, as WSO2's functions do.
type Directory interface {
	// UserRoles returns the user's role names (hasRole, hasAnyOfTheRoles, user.roles).
	UserRoles(ctx context.Context, u *connectors.User) ([]string, error)
	// UserGroups returns the user's group names, domain-qualified for secondary user stores
	// (isMemberOfAnyOfGroups).
	UserGroups(ctx context.Context, u *connectors.User) ([]string, error)
	// ApplicationRoles returns the roles associated with application appID that the user holds
	// directly or through a group (hasAnyOfTheRolesV2).
	ApplicationRoles(ctx context.Context, appID string, u *connectors.User) ([]string, error)
	// ReadClaims returns the user's values for the given local claim URIs; missing claims are
	// absent from the map.
	ReadClaims(ctx context.Context, u *connectors.User, uris []string) (map[string]string, error)
	// WriteClaims persists claim values (user.localClaims[uri] = v).
	WriteClaims(ctx context.Context, u *connectors.User, claims map[string]string) error
}
