package oauth2

import "github.com/keyflow/keyflow/api/oauth2/op"

// Metadata is the discovery document (OpenID Connect Discovery 1.0 §3, RFC
// 8414 §2). Members are omitted while the feature they describe is not
// served; front-ends that add endpoints fill their members in NewMetadata.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported is required by both specs; empty until
	// /oauth2/authorize is served.
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
}

// NewMetadata describes what this package serves, with endpoints under
// baseURL.
func NewMetadata(issuer, baseURL string) Metadata {
	secretMethods := []string{op.AuthSecretBasic, op.AuthSecretPost}
	return Metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     baseURL + PathToken,
		JWKSURI:                           baseURL + PathJWKS,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{op.GrantClientCredentials},
		TokenEndpointAuthMethodsSupported: secretMethods,
		IntrospectionEndpoint:             baseURL + PathIntrospect,
		IntrospectionEndpointAuthMethodsSupported: secretMethods,
		RevocationEndpoint:                        baseURL + PathRevoke,
		RevocationEndpointAuthMethodsSupported:    []string{op.AuthSecretBasic, op.AuthSecretPost, op.AuthNone},
	}
}
