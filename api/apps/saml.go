package apps

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/saml"
	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/store"
)

const bindingHTTPPost = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

// samlConfig is WSO2's SAML2Configuration: exactly one of the three.
type samlConfig struct {
	MetadataFile        string        `json:"metadataFile,omitempty"`
	MetadataURL         string        `json:"metadataURL,omitempty"`
	ManualConfiguration *samlProvider `json:"manualConfiguration,omitempty"`
}

// samlProvider is WSO2's SAML2ServiceProvider, the members Keyflow has.
type samlProvider struct {
	Issuer                      string             `json:"issuer"`
	AssertionConsumerURLs       []string           `json:"assertionConsumerUrls"`
	DefaultAssertionConsumerURL string             `json:"defaultAssertionConsumerUrl,omitempty"`
	SingleSignOnProfile         *ssoProfile        `json:"singleSignOnProfile,omitempty"`
	SingleLogoutProfile         *sloProfile        `json:"singleLogoutProfile,omitempty"`
	RequestValidation           *requestValidation `json:"requestValidation,omitempty"`
	ResponseSigning             *responseSigning   `json:"responseSigning,omitempty"`
}

type ssoProfile struct {
	Bindings                       []string         `json:"bindings,omitempty"`
	EnableIdpInitiatedSingleSignOn bool             `json:"enableIdpInitiatedSingleSignOn"`
	Assertion                      *assertionConfig `json:"assertion,omitempty"`
}

type assertionConfig struct {
	NameIDFormat    string            `json:"nameIdFormat,omitempty"`
	Audiences       []string          `json:"audiences,omitempty"`
	DigestAlgorithm string            `json:"digestAlgorithm,omitempty"`
	Encryption      *encryptionConfig `json:"encryption,omitempty"`
}

type encryptionConfig struct {
	Enabled                      bool   `json:"enabled"`
	AssertionEncryptionAlgorithm string `json:"assertionEncryptionAlgorithm,omitempty"`
	KeyEncryptionAlgorithm       string `json:"keyEncryptionAlgorithm,omitempty"`
}

type sloProfile struct {
	Enabled           bool   `json:"enabled"`
	LogoutRequestURL  string `json:"logoutRequestUrl,omitempty"`
	LogoutResponseURL string `json:"logoutResponseUrl,omitempty"`
	// LogoutMethod is WSO2's BACKCHANNEL (SOAP from the IdP to the SP; WSO2's default, so
	// also when omitted), FRONTCHANNEL_HTTP_POST or FRONTCHANNEL_HTTP_REDIRECT (through the
	// browser).
	LogoutMethod string `json:"logoutMethod,omitempty"`
}

// WSO2's single logout methods.
const (
	logoutFrontChannelPOST     = "FRONTCHANNEL_HTTP_POST"
	logoutFrontChannelRedirect = "FRONTCHANNEL_HTTP_REDIRECT"
	logoutBackChannel          = "BACKCHANNEL"
)

type requestValidation struct {
	EnableSignatureValidation bool `json:"enableSignatureValidation"`
}

type responseSigning struct {
	Enabled          bool   `json:"enabled"`
	SigningAlgorithm string `json:"signingAlgorithm,omitempty"`
}

// samlProvider reads the configuration (fetching a metadata URL) and validates it with the
// SAML front-end's rules. Mistakes are requestErrors.
func (h *Handler) samlProvider(ctx context.Context, cfg samlConfig) (store.SAMLServiceProvider, error) {
	n := 0
	for _, set := range []bool{cfg.MetadataFile != "", cfg.MetadataURL != "", cfg.ManualConfiguration != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return store.SAMLServiceProvider{}, badRequest("Give exactly one of metadataFile, metadataURL and manualConfiguration.")
	}
	var (
		sp  store.SAMLServiceProvider
		err error
	)
	switch {
	case cfg.MetadataFile != "":
		data, derr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cfg.MetadataFile), ""))
		if derr != nil {
			return store.SAMLServiceProvider{}, badRequest("metadataFile is not base64.")
		}
		sp, err = saml.ParseSPMetadata(data)
	case cfg.MetadataURL != "":
		sp, err = saml.FetchSPMetadata(ctx, h.cfg.MetadataClient, cfg.MetadataURL)
		// The outbound policy refused the URL's address: say which and how to allow it.
		var refused *egress.Error
		if errors.As(err, &refused) {
			return store.SAMLServiceProvider{}, badRequest("metadataURL cannot be fetched: %s.", refused.Error())
		}
	default:
		sp, err = manualProvider(*cfg.ManualConfiguration)
		if err == nil {
			err = saml.ValidateServiceProvider(sp)
		}
	}
	var re *requestError
	if errors.As(err, &re) {
		return store.SAMLServiceProvider{}, err
	}
	if err != nil {
		return store.SAMLServiceProvider{}, badRequest("Invalid SAML configuration: %s.", strings.TrimPrefix(err.Error(), "saml: "))
	}
	return sp, nil
}

// manualProvider maps WSO2's manual configuration. It has no certificate, so signed requests
// and encrypted assertions need metadata instead.
func manualProvider(m samlProvider) (store.SAMLServiceProvider, error) {
	if m.Issuer == "" || len(m.AssertionConsumerURLs) == 0 {
		return store.SAMLServiceProvider{}, badRequest("issuer and assertionConsumerUrls are required.")
	}
	def := m.DefaultAssertionConsumerURL
	if def == "" {
		def = m.AssertionConsumerURLs[0]
	}
	if !slices.Contains(m.AssertionConsumerURLs, def) {
		return store.SAMLServiceProvider{}, badRequest("defaultAssertionConsumerUrl must be one of assertionConsumerUrls.")
	}
	sp := store.SAMLServiceProvider{EntityID: m.Issuer, SignResponse: true, SignAssertion: true}
	for i, u := range m.AssertionConsumerURLs {
		sp.ACS = append(sp.ACS, store.SAMLEndpoint{URL: u, Binding: bindingHTTPPost, Index: i + 1, Default: u == def})
	}
	if p := m.SingleSignOnProfile; p != nil {
		if len(p.Bindings) > 0 && !slices.Contains(p.Bindings, "HTTP_POST") {
			return store.SAMLServiceProvider{}, badRequest("singleSignOnProfile.bindings must include HTTP_POST.")
		}
		sp.IdPInitiated = p.EnableIdpInitiatedSingleSignOn
		if a := p.Assertion; a != nil {
			sp.NameIDFormat, sp.Audiences, sp.DigestAlgorithm = a.NameIDFormat, a.Audiences, a.DigestAlgorithm
			if e := a.Encryption; e != nil && e.Enabled {
				return store.SAMLServiceProvider{}, badRequest("Assertion encryption needs the SP's certificate: configure it with metadata.")
			}
		}
	}
	if l := m.SingleLogoutProfile; l != nil && l.Enabled {
		sp.SLOURL, sp.SLOResponseURL = l.LogoutRequestURL, l.LogoutResponseURL
		switch l.LogoutMethod {
		case "", logoutBackChannel:
			// WSO2's default (a service provider without doFrontChannelLogout): SOAP.
			sp.SLOBinding = store.SAMLBindingSOAP
		case logoutFrontChannelPOST:
			sp.SLOBinding = store.SAMLBindingPOST
		case logoutFrontChannelRedirect:
			sp.SLOBinding = store.SAMLBindingRedirect
		default:
			return store.SAMLServiceProvider{}, badRequest("singleLogoutProfile.logoutMethod %q is not one of BACKCHANNEL, FRONTCHANNEL_HTTP_POST, FRONTCHANNEL_HTTP_REDIRECT.", l.LogoutMethod)
		}
	}
	if v := m.RequestValidation; v != nil && v.EnableSignatureValidation {
		return store.SAMLServiceProvider{}, badRequest("Request signature validation needs the SP's certificate: configure it with metadata.")
	}
	if s := m.ResponseSigning; s != nil {
		sp.SignResponse, sp.SignatureAlgorithm = s.Enabled, s.SigningAlgorithm
	}
	return sp, nil
}

// viewSAML is the configuration as WSO2's SAML2ServiceProvider.
func viewSAML(sp store.SAMLServiceProvider) samlProvider {
	var out samlProvider
	out.Issuer = sp.EntityID
	for _, e := range sp.ACS {
		out.AssertionConsumerURLs = append(out.AssertionConsumerURLs, e.URL)
		if e.Default || out.DefaultAssertionConsumerURL == "" {
			out.DefaultAssertionConsumerURL = e.URL
		}
	}
	out.SingleSignOnProfile = &ssoProfile{Bindings: []string{"HTTP_POST"}, EnableIdpInitiatedSingleSignOn: sp.IdPInitiated,
		Assertion: &assertionConfig{NameIDFormat: sp.NameIDFormat, Audiences: sp.Audiences, DigestAlgorithm: sp.DigestAlgorithm,
			Encryption: &encryptionConfig{sp.EncryptAssertion, sp.EncryptionAlgorithm, sp.KeyTransportAlgorithm}}}
	method := logoutFrontChannelPOST
	switch sp.SLOBinding {
	case store.SAMLBindingRedirect:
		method = logoutFrontChannelRedirect
	case store.SAMLBindingSOAP:
		method = logoutBackChannel
	}
	out.SingleLogoutProfile = &sloProfile{sp.SLOURL != "", sp.SLOURL, sp.SLOResponseURL, method}
	out.RequestValidation = &requestValidation{sp.RequireSignedRequests}
	out.ResponseSigning = &responseSigning{sp.SignResponse, sp.SignatureAlgorithm}
	return out
}

func (h *Handler) getSAML(c *gin.Context) {
	getInbound(h, c, h.cfg.Store.SAMLServiceProviderByApplication, viewSAML)
}

// putSAML creates or replaces the application's SAML service provider (201 with Location
// when created, 200 when replaced).
func (h *Handler) putSAML(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	var b samlConfig
	if !h.decode(c, &b) {
		return
	}
	ctx := c.Request.Context()
	sp, err := h.samlProvider(ctx, b)
	if err != nil {
		h.failErr(c, err)
		return
	}
	sp.ApplicationID = a.ID
	h.replaceInbound(c, a.ID, "/inbound-protocols/saml", samlRows[*store.Tx](),
		func(ctx context.Context, tx *store.Tx, actor store.Actor) error {
			_, err := tx.CreateSAMLServiceProvider(ctx, store.NewSAMLServiceProvider{SAMLServiceProvider: sp, Actor: actor})
			return err
		})
}

func (h *Handler) deleteSAML(c *gin.Context) { h.deleteInbound(c, samlRows[Store]()) }
