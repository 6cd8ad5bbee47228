package apps

import (
	"slices"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

// Application templates (WSO2 Console's templateId, or Keyflow's short names): each sets the
// OIDC defaults that are safe for that kind of application; whatever the request sets itself
// wins, except what would make the template unsafe (a single-page or mobile application is
// always a public client with mandatory PKCE; a machine-to-machine one has no browser grant).
const (
	TemplateSPA    = "spa"
	TemplateWebApp = "web-app"
	TemplateMobile = "mobile"
	TemplateM2M    = "m2m"
)

// wso2Templates maps WSO2 Console's template ids to Keyflow's names.
var wso2Templates = map[string]string{
	"6a90e4b0-fbff-42d7-bfde-1efd98f07cd7": TemplateSPA,
	"b9c5e11e-fc78-484b-9bec-015d247561b8": TemplateWebApp,
	"mobile-application":                   TemplateMobile,
	"m2m-application":                      TemplateM2M,
	"single-page-application":              TemplateSPA,
	"traditional-web-application":          TemplateWebApp,
}

// templateName is the Keyflow template an id names, "" for none or an unknown one (WSO2
// ignores template ids it has no defaults for, and so does Keyflow).
func templateName(id string) string {
	switch id {
	case TemplateSPA, TemplateWebApp, TemplateMobile, TemplateM2M:
		return id
	}
	return wso2Templates[id]
}

// applyTemplate fills b's OIDC configuration with the template's defaults.
func applyTemplate(b *createBody) error {
	name := templateName(b.TemplateID)
	if name == "" {
		return nil
	}
	if b.InboundProtocolConfiguration == nil {
		b.InboundProtocolConfiguration = &inboundBody{}
	}
	in := b.InboundProtocolConfiguration
	if in.OIDC == nil {
		in.OIDC = &oidcConfig{}
	}
	o := in.OIDC
	switch name {
	case TemplateSPA, TemplateMobile:
		if o.ClientSecret != "" {
			return badRequest("A %s application is a public client: it has no client secret.", name)
		}
		o.PublicClient = true
		o.PKCE = &pkceConfig{Mandatory: true}
		if len(o.GrantTypes) == 0 {
			o.GrantTypes = []string{op.GrantAuthorizationCode, op.GrantRefreshToken}
		}
		if slices.Contains(o.GrantTypes, op.GrantClientCredentials) || slices.Contains(o.GrantTypes, op.GrantPassword) {
			return badRequest("A %s application cannot use the client_credentials or password grant.", name)
		}
	case TemplateWebApp:
		if len(o.GrantTypes) == 0 {
			o.GrantTypes = []string{op.GrantAuthorizationCode, op.GrantRefreshToken}
		}
		if o.PKCE == nil {
			o.PKCE = &pkceConfig{Mandatory: true}
		}
	case TemplateM2M:
		if len(o.CallbackURLs) > 0 {
			return badRequest("A machine-to-machine application has no callback URLs.")
		}
		if len(o.GrantTypes) == 0 {
			o.GrantTypes = []string{op.GrantClientCredentials}
		}
		if !slices.Equal(o.GrantTypes, []string{op.GrantClientCredentials}) {
			return badRequest("A machine-to-machine application uses the client_credentials grant only.")
		}
		o.PublicClient = false
	}
	return nil
}
