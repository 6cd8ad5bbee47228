package oauth2

import (
	"slices"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

// Metadata is the discovery document (OpenID Connect Discovery 1.0 §3, RFC
// 8414 §2). Members are omitted while the feature they describe is not
// served; front-ends that add endpoints fill their members in NewMetadata.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserInfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported is required by both specs; empty while no
	// authorization endpoint is configured.
	ResponseTypesSupported                             []string `json:"response_types_supported"`
	ResponseModesSupported                             []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                                []string `json:"grant_types_supported"`
	SubjectTypesSupported                              []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported                   []string `json:"id_token_signing_alg_values_supported"`
	UserInfoSigningAlgValuesSupported                  []string `json:"userinfo_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported                  []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported         []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ClaimsSupported                                    []string `json:"claims_supported,omitempty"`
	CodeChallengeMethodsSupported                      []string `json:"code_challenge_methods_supported,omitempty"`
	IntrospectionEndpoint                              string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported          []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	RevocationEndpoint                                 string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported             []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgValuesSupported    []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	// The parameters below default to true (request_uri) or are worth
	// stating. Request objects (RFC 9101) are supported with an
	// authorization endpoint; request_uri only for the URNs of the pushed
	// authorization request endpoint (no fetching), hence false; the
	// claims parameter is not supported.
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported     bool `json:"claims_parameter_supported"`
	// RequestObjectSigningAlgValuesSupported: OpenID Connect Discovery §3,
	// RFC 9101 §10.1. No request_object_encryption_* members: encrypted
	// request objects are not supported.
	RequestObjectSigningAlgValuesSupported []string `json:"request_object_signing_alg_values_supported,omitempty"`
	// PushedAuthorizationRequestEndpoint and
	// RequirePushedAuthorizationRequests: RFC 9126 §5.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`
	// AuthorizationSigningAlgValuesSupported: JARM §4.1.
	AuthorizationSigningAlgValuesSupported []string `json:"authorization_signing_alg_values_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported: RFC 9207 §3.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// EndSessionEndpoint: RP-Initiated Logout 1.0 §2.1; the logout members
	// below are set with it (Back-Channel Logout 1.0 §2.1, Front-Channel
	// Logout 1.0 §3).
	EndSessionEndpoint                 string `json:"end_session_endpoint,omitempty"`
	BackchannelLogoutSupported         bool   `json:"backchannel_logout_supported,omitempty"`
	BackchannelLogoutSessionSupported  bool   `json:"backchannel_logout_session_supported,omitempty"`
	FrontchannelLogoutSupported        bool   `json:"frontchannel_logout_supported,omitempty"`
	FrontchannelLogoutSessionSupported bool   `json:"frontchannel_logout_session_supported,omitempty"`
	// DeviceAuthorizationEndpoint: RFC 8628 §4.
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// RegistrationEndpoint: RFC 8414 §2, Dynamic Client Registration (RFC 7591).
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`
}

// MetadataSource is what NewMetadata needs from the provider.
type MetadataSource interface {
	Issuer() string
	SigningAlgorithms() []string
	ClaimsSupported() []string
	// TokenGrantTypes lists the grants the token endpoint serves besides
	// the browser ones.
	TokenGrantTypes() []string
	// RequirePushedAuthorizationRequests: only pushed requests are accepted.
	RequirePushedAuthorizationRequests() bool
}

// NewMetadata describes what is served, with endpoints under baseURL and
// the authorization endpoint at authorizationEndpoint ("" while none is
// served). Front-ends set the members of what they add (for instance
// EndSessionEndpoint) on the result.
func NewMetadata(p MetadataSource, baseURL, authorizationEndpoint string) Metadata {
	secretMethods := []string{op.AuthSecretBasic, op.AuthSecretPost, op.AuthSecretJWT, op.AuthPrivateKeyJWT}
	allMethods := append(slices.Clone(secretMethods), op.AuthNone)
	assertionAlgs := op.AssertionSigningAlgorithms()
	m := Metadata{
		Issuer:                            p.Issuer(),
		TokenEndpoint:                     baseURL + PathToken,
		UserInfoEndpoint:                  baseURL + PathUserInfo,
		JWKSURI:                           baseURL + PathJWKS,
		ScopesSupported:                   []string{op.ScopeOpenID, "profile", "email", "phone", "address", op.ScopeGroups, op.ScopeRoles},
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               p.TokenGrantTypes(),
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  p.SigningAlgorithms(),
		TokenEndpointAuthMethodsSupported: allMethods,
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		ClaimsSupported:                                    p.ClaimsSupported(),
		IntrospectionEndpoint:                              baseURL + PathIntrospect,
		IntrospectionEndpointAuthMethodsSupported:          secretMethods,
		IntrospectionEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		RevocationEndpoint:                                 baseURL + PathRevoke,
		RevocationEndpointAuthMethodsSupported:             allMethods,
		RevocationEndpointAuthSigningAlgValuesSupported:    assertionAlgs,
	}
	if authorizationEndpoint != "" {
		m.AuthorizationEndpoint = authorizationEndpoint
		m.ResponseTypesSupported = op.SupportedResponseTypes()
		m.ResponseModesSupported = op.ResponseModes()
		m.AuthorizationSigningAlgValuesSupported = p.SigningAlgorithms()
		m.RequestParameterSupported = true
		m.RequestObjectSigningAlgValuesSupported = op.RequestObjectSigningAlgorithms()
		m.PushedAuthorizationRequestEndpoint = baseURL + PathPAR
		m.RequirePushedAuthorizationRequests = p.RequirePushedAuthorizationRequests()
		m.GrantTypesSupported = append([]string{op.GrantAuthorizationCode, op.GrantRefreshToken, op.GrantImplicit},
			p.TokenGrantTypes()...)
		m.CodeChallengeMethodsSupported = []string{op.PKCES256, op.PKCEPlain}
		m.AuthorizationResponseIssParameterSupported = true
	}
	return m
}
