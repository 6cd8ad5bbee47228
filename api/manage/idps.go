package manage

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the identity provider API, WSO2's names.
const (
	ScopeIdPView   = "internal_idp_view"
	ScopeIdPCreate = "internal_idp_create"
	ScopeIdPUpdate = "internal_idp_update"
	ScopeIdPDelete = "internal_idp_delete"
)

// WSO2's identity provider error codes (IdPManagementConstants.ErrorMessage).
var (
	errIdPConflict = Error{Status: http.StatusConflict, Code: "IDP-60001", Message: "Identity provider already exists"}
	errIdPNotFound = Error{Status: http.StatusNotFound, Code: "IDP-60002", Message: "Identity provider not found",
		Description: "No identity provider with the given id exists."}
	errIdPAdd    = Error{Status: http.StatusBadRequest, Code: "IDP-60003", Message: "Invalid identity provider"}
	errIdPUpdate = Error{Status: http.StatusBadRequest, Code: "IDP-60006", Message: "Invalid identity provider update"}
	errIdPFilter = Error{Status: http.StatusBadRequest, Code: "IDP-60007", Message: "Invalid search filter"}
	errIdPAuthNF = Error{Status: http.StatusNotFound, Code: "IDP-60002", Message: "Federated authenticator not found",
		Description: "The identity provider has no federated authenticator with the given id."}
)

func (h *Handler) registerIdPs(g *gin.RouterGroup) {
	a := h.idp.auth
	view, create := a.Need(ScopeIdPView, bearer.Admin), a.Need(ScopeIdPCreate, bearer.Admin)
	update, del := a.Need(ScopeIdPUpdate, bearer.Admin), a.Need(ScopeIdPDelete, bearer.Admin)
	g.GET("", view, h.listIdPs)
	g.POST("", create, h.createIdP)
	g.GET("/:id", view, h.getIdP)
	g.PATCH("/:id", update, h.patchIdP)
	g.DELETE("/:id", del, h.deleteIdP)
	g.GET("/:id/federated-authenticators", view, h.getIdPPart(partAuthenticators))
	g.PUT("/:id/federated-authenticators", update, h.putIdPPart(partAuthenticators))
	g.GET("/:id/federated-authenticators/:auth", view, h.getIdPAuthenticator)
	g.GET("/:id/claims", view, h.getIdPPart(partClaims))
	g.PUT("/:id/claims", update, h.putIdPPart(partClaims))
	g.GET("/:id/roles", view, h.getIdPPart(partRoles))
	g.PUT("/:id/roles", update, h.putIdPPart(partRoles))
	g.GET("/:id/provisioning/jit", view, h.getIdPPart(partJIT))
	g.PUT("/:id/provisioning/jit", update, h.putIdPPart(partJIT))
}

// Wire shapes (WSO2 idp.yaml).

type property struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type certificate struct {
	Certificates []string `json:"certificates,omitempty"`
	JWKSURI      string   `json:"jwksUri,omitempty"`
}

type claimRef struct {
	ID          string `json:"id,omitempty"`
	URI         string `json:"uri"`
	DisplayName string `json:"displayName,omitempty"`
}

type idpClaims struct {
	UserIDClaim *claimRef `json:"userIdClaim,omitempty"`
	RoleClaim   *claimRef `json:"roleClaim,omitempty"`
	Mappings    []struct {
		IdPClaim   string   `json:"idpClaim"`
		LocalClaim claimRef `json:"localClaim"`
	} `json:"mappings"`
	ProvisioningClaims []struct {
		Claim        claimRef `json:"claim"`
		DefaultValue string   `json:"defaultValue"`
	} `json:"provisioningClaims"`
}

type idpRoles struct {
	Mappings []struct {
		IdPRole   string `json:"idpRole"`
		LocalRole string `json:"localRole"`
	} `json:"mappings"`
	OutboundProvisioningRoles []string `json:"outboundProvisioningRoles"`
}

type idpGroup struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

type jit struct {
	IsEnabled           bool   `json:"isEnabled"`
	Scheme              string `json:"scheme,omitempty"`
	UserStore           string `json:"userstore,omitempty"`
	AssociateLocalUser  bool   `json:"associateLocalUser"`
	AttributeSyncMethod string `json:"attributeSyncMethod,omitempty"`
}

// authenticator is WSO2's FederatedAuthenticator (request) and list item (response; Keyflow
// adds the properties, secrets masked).
type authenticator struct {
	AuthenticatorID string     `json:"authenticatorId"`
	Name            string     `json:"name"`
	IsEnabled       bool       `json:"isEnabled"`
	IsDefault       bool       `json:"isDefault"`
	Properties      []property `json:"properties"`
	Self            string     `json:"self,omitempty"`
}

type authenticators struct {
	DefaultAuthenticatorID string          `json:"defaultAuthenticatorId"`
	Authenticators         []authenticator `json:"authenticators"`
}

type connector struct {
	ConnectorID     string     `json:"connectorId"`
	Name            string     `json:"name"`
	IsEnabled       bool       `json:"isEnabled"`
	IsDefault       bool       `json:"isDefault"`
	BlockingEnabled bool       `json:"blockingEnabled"`
	RulesEnabled    bool       `json:"rulesEnabled"`
	Properties      []property `json:"properties"`
}

type connectors struct {
	DefaultConnectorID string      `json:"defaultConnectorId"`
	Connectors         []connector `json:"connectors"`
}

type provisioning struct {
	JIT                json.RawMessage `json:"jit,omitempty"`
	OutboundConnectors *connectors     `json:"outboundConnectors,omitempty"`
}

// idpBody is WSO2's IdentityProviderPOSTRequest.
type idpBody struct {
	Name                    string          `json:"name"`
	Description             string          `json:"description"`
	Image                   string          `json:"image"`
	TemplateID              string          `json:"templateId"`
	IsPrimary               bool            `json:"isPrimary"`
	IsFederationHub         bool            `json:"isFederationHub"`
	HomeRealmIdentifier     string          `json:"homeRealmIdentifier"`
	Certificate             json.RawMessage `json:"certificate"`
	Alias                   string          `json:"alias"`
	IdPIssuerName           string          `json:"idpIssuerName"`
	Claims                  json.RawMessage `json:"claims"`
	Roles                   json.RawMessage `json:"roles"`
	Groups                  json.RawMessage `json:"groups"`
	FederatedAuthenticators *authenticators `json:"federatedAuthenticators"`
	Provisioning            *provisioning   `json:"provisioning"`
}

// idpResponse is WSO2's IdentityProviderResponse (and list item, with self).
type idpResponse struct {
	ID                      string          `json:"id"`
	Name                    string          `json:"name"`
	Description             string          `json:"description"`
	TemplateID              string          `json:"templateId,omitempty"`
	IsEnabled               bool            `json:"isEnabled"`
	IsPrimary               bool            `json:"isPrimary"`
	Image                   string          `json:"image"`
	IsFederationHub         bool            `json:"isFederationHub"`
	HomeRealmIdentifier     string          `json:"homeRealmIdentifier"`
	Certificate             json.RawMessage `json:"certificate"`
	Alias                   string          `json:"alias"`
	IdPIssuerName           string          `json:"idpIssuerName"`
	Claims                  json.RawMessage `json:"claims"`
	Roles                   json.RawMessage `json:"roles"`
	Groups                  json.RawMessage `json:"groups"`
	FederatedAuthenticators authenticators  `json:"federatedAuthenticators"`
	Provisioning            struct {
		JIT                json.RawMessage `json:"jit"`
		OutboundConnectors connectors      `json:"outboundConnectors"`
	} `json:"provisioning"`
	Self string `json:"self,omitempty"`
}

func (h *Handler) idpSelf(id string) string {
	return h.cfg.BaseURL + Prefix + "/identity-providers/" + id
}

func maskProps(ps []store.IdPProperty) []property {
	out := make([]property, len(ps))
	for i, p := range ps {
		out[i] = property{Key: p.Key, Value: p.Value}
		if len(p.Sealed) > 0 {
			out[i].Value = Mask
		}
	}
	return out
}

func orJSON(m json.RawMessage, empty string) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return json.RawMessage(empty)
	}
	return m
}

func (h *Handler) viewAuthenticators(p store.IdentityProvider) authenticators {
	out := authenticators{DefaultAuthenticatorID: p.Authenticators.DefaultID, Authenticators: []authenticator{}}
	for _, a := range p.Authenticators.Items {
		out.Authenticators = append(out.Authenticators, authenticator{AuthenticatorID: a.ID, Name: a.Name,
			IsEnabled: a.Enabled, IsDefault: a.ID == p.Authenticators.DefaultID, Properties: maskProps(a.Properties),
			Self: h.idpSelf(p.ID) + "/federated-authenticators/" + a.ID})
	}
	return out
}

func viewConnectors(cs store.IdPConnectors) connectors {
	out := connectors{DefaultConnectorID: cs.DefaultID, Connectors: []connector{}}
	for _, c := range cs.Items {
		out.Connectors = append(out.Connectors, connector{ConnectorID: c.ID, Name: c.Name, IsEnabled: c.Enabled,
			IsDefault: c.ID == cs.DefaultID, BlockingEnabled: c.Blocking, RulesEnabled: c.Rules, Properties: maskProps(c.Properties)})
	}
	return out
}

func (h *Handler) viewIdP(p store.IdentityProvider) idpResponse {
	out := idpResponse{ID: p.ID, Name: p.Name, Description: p.Description, TemplateID: p.TemplateID,
		IsEnabled: p.Enabled, IsPrimary: p.Primary, Image: p.Image, IsFederationHub: p.FederationHub,
		HomeRealmIdentifier: p.HomeRealmIdentifier, Certificate: orJSON(p.Certificate, "{}"), Alias: p.Alias,
		IdPIssuerName: p.IdPIssuerName, Claims: orJSON(p.Claims, "{}"), Roles: orJSON(p.Roles, "{}"),
		Groups: orJSON(p.Groups, "[]"), FederatedAuthenticators: h.viewAuthenticators(p)}
	out.Provisioning.JIT = orJSON(p.JIT, `{"isEnabled":false}`)
	out.Provisioning.OutboundConnectors = viewConnectors(p.OutboundConnectors)
	return out
}

// shapeJSON checks that raw (when present) decodes into v, WSO2's shape of the member, and
// returns v encoded again: members Keyflow does not know are dropped.
func shapeJSON(raw json.RawMessage, v any, what string, e Error) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, errorf(e, "%s is not of WSO2's shape: %s", what, jsonProblem(err))
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, errorf(e, "%s: %v", what, err)
	}
	return out, nil
}

func checkCertificate(raw json.RawMessage, e Error) (json.RawMessage, error) {
	var c certificate
	out, err := shapeJSON(raw, &c, "certificate", e)
	if err != nil || out == nil {
		return out, err
	}
	if c.JWKSURI != "" && !strings.HasPrefix(c.JWKSURI, "https://") && !strings.HasPrefix(c.JWKSURI, "http://") {
		return nil, errorf(e, "certificate.jwksUri must be an http(s) URL.")
	}
	for _, pem := range c.Certificates {
		if strings.TrimSpace(pem) == "" {
			return nil, errorf(e, "certificate.certificates must not contain empty values.")
		}
	}
	return out, nil
}

func checkJIT(raw json.RawMessage, e Error) (json.RawMessage, error) {
	var j jit
	out, err := shapeJSON(raw, &j, "provisioning.jit", e)
	if err != nil || out == nil {
		return out, err
	}
	if j.Scheme != "" && !slices.Contains([]string{"PROMPT_USERNAME_PASSWORD_CONSENT", "PROMPT_PASSWORD_CONSENT",
		"PROMPT_CONSENT", "PROVISION_SILENTLY"}, j.Scheme) {
		return nil, errorf(e, "provisioning.jit.scheme %q is not one of WSO2's schemes.", j.Scheme)
	}
	if j.AttributeSyncMethod != "" && !slices.Contains([]string{"OVERRIDE_ALL", "NONE", "PRESERVE_LOCAL"}, j.AttributeSyncMethod) {
		return nil, errorf(e, "provisioning.jit.attributeSyncMethod %q is not one of WSO2's methods.", j.AttributeSyncMethod)
	}
	return out, nil
}

// connectorID fills a connector's id and name from each other as WSO2 does (the id is the
// base64url of the name).
func connectorID(id, name string) (string, string, bool) {
	switch {
	case id == "" && name == "":
		return "", "", false
	case id == "":
		return base64.RawURLEncoding.EncodeToString([]byte(name)), name, true
	case name == "":
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || !utf8.Valid(b) || len(b) == 0 {
			return "", "", false
		}
		return id, string(b), true
	}
	return id, name, true
}

// sealProps turns request properties into stored ones: secrets sealed, a masked value kept
// from cur (the stored connector of the same id).
func (h *Handler) sealProps(idpID, connID string, in []property, cur *store.IdPConnector, e Error) ([]store.IdPProperty, error) {
	out := make([]store.IdPProperty, 0, len(in))
	seen := map[string]bool{}
	for _, p := range in {
		if p.Key == "" || !utf8.ValidString(p.Key) || !utf8.ValidString(p.Value) {
			return nil, errorf(e, "Every property needs a key; keys and values must be valid UTF-8.")
		}
		if seen[p.Key] {
			return nil, errorf(e, "Property %q is given twice.", p.Key)
		}
		seen[p.Key] = true
		if !IsSecretProperty(p.Key) || p.Value == "" {
			if p.Value == Mask {
				return nil, errorf(e, "Property %q has the mask as its value.", p.Key)
			}
			out = append(out, store.IdPProperty{Key: p.Key, Value: p.Value})
			continue
		}
		if p.Value == Mask {
			var kept *store.IdPProperty
			if cur != nil {
				for i := range cur.Properties {
					if cur.Properties[i].Key == p.Key && len(cur.Properties[i].Sealed) > 0 {
						kept = &cur.Properties[i]
					}
				}
			}
			if kept == nil {
				return nil, errorf(e, "Property %q is masked but no value is stored; send the value.", p.Key)
			}
			out = append(out, *kept)
			continue
		}
		sp, err := h.sealer.Seal(idpID, connID, p.Key, p.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

func findConnector(cs store.IdPConnectors, id string) *store.IdPConnector {
	for i := range cs.Items {
		if cs.Items[i].ID == id {
			return &cs.Items[i]
		}
	}
	return nil
}

func (h *Handler) buildAuthenticators(idpID string, in *authenticators, cur store.IdPConnectors, e Error) (store.IdPConnectors, error) {
	out := store.IdPConnectors{DefaultID: in.DefaultAuthenticatorID, Items: []store.IdPConnector{}}
	for _, a := range in.Authenticators {
		id, name, ok := connectorID(a.AuthenticatorID, a.Name)
		if !ok {
			return out, errorf(e, "Every federated authenticator needs an authenticatorId (base64url of its name) or a name.")
		}
		if findConnector(out, id) != nil {
			return out, errorf(e, "Federated authenticator %q is given twice.", id)
		}
		props, err := h.sealProps(idpID, id, a.Properties, findConnector(cur, id), e)
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, store.IdPConnector{ID: id, Name: name, Enabled: a.IsEnabled, Properties: props})
		if a.IsDefault && out.DefaultID == "" {
			out.DefaultID = id
		}
	}
	if out.DefaultID == "" && len(out.Items) == 1 {
		out.DefaultID = out.Items[0].ID
	}
	if out.DefaultID != "" && findConnector(out, out.DefaultID) == nil {
		return out, errorf(e, "defaultAuthenticatorId %q is not one of the authenticators.", out.DefaultID)
	}
	return out, nil
}

func (h *Handler) buildConnectors(idpID string, in *connectors, cur store.IdPConnectors, e Error) (store.IdPConnectors, error) {
	out := store.IdPConnectors{DefaultID: in.DefaultConnectorID, Items: []store.IdPConnector{}}
	for _, c := range in.Connectors {
		id, name, ok := connectorID(c.ConnectorID, c.Name)
		if !ok {
			return out, errorf(e, "Every outbound connector needs a connectorId (base64url of its name) or a name.")
		}
		if findConnector(out, id) != nil {
			return out, errorf(e, "Outbound connector %q is given twice.", id)
		}
		props, err := h.sealProps(idpID, "outbound:"+id, c.Properties, findConnector(cur, id), e)
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, store.IdPConnector{ID: id, Name: name, Enabled: c.IsEnabled,
			Blocking: c.BlockingEnabled, Rules: c.RulesEnabled, Properties: props})
	}
	if out.DefaultID != "" && findConnector(out, out.DefaultID) == nil {
		return out, errorf(e, "defaultConnectorId %q is not one of the connectors.", out.DefaultID)
	}
	return out, nil
}

func checkIdPText(p store.IdentityProvider, e Error) error {
	n := p.Name
	if n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > 255 || strings.TrimSpace(n) != n ||
		strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errorf(e, "name is required: 1 to 255 characters, no control characters or surrounding spaces.")
	}
	if !utf8.ValidString(p.Description) || utf8.RuneCountInString(p.Description) > 1024 {
		return errorf(e, "description must be at most 1024 characters.")
	}
	for _, s := range []string{p.Image, p.Alias, p.IdPIssuerName} {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 2048 {
			return errorf(e, "image, alias and idpIssuerName must be at most 2048 characters.")
		}
	}
	for _, s := range []string{p.HomeRealmIdentifier, p.TemplateID} {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 255 {
			return errorf(e, "homeRealmIdentifier and templateId must be at most 255 characters.")
		}
	}
	return nil
}

// fromBody builds a new identity provider of id from a POST body.
func (h *Handler) fromBody(orgID, id string, b idpBody, e Error) (store.IdentityProvider, error) {
	p := store.IdentityProvider{ID: id, OrgID: orgID, Name: strings.TrimSpace(b.Name), Description: b.Description,
		Image: b.Image, TemplateID: b.TemplateID, Enabled: true, Primary: b.IsPrimary, FederationHub: b.IsFederationHub,
		HomeRealmIdentifier: b.HomeRealmIdentifier, Alias: b.Alias, IdPIssuerName: b.IdPIssuerName}
	if err := checkIdPText(p, e); err != nil {
		return p, err
	}
	var err error
	if p.Certificate, err = checkCertificate(b.Certificate, e); err != nil {
		return p, err
	}
	if p.Claims, err = shapeJSON(b.Claims, &idpClaims{}, "claims", e); err != nil {
		return p, err
	}
	if p.Roles, err = shapeJSON(b.Roles, &idpRoles{}, "roles", e); err != nil {
		return p, err
	}
	if p.Groups, err = shapeJSON(b.Groups, &[]idpGroup{}, "groups", e); err != nil {
		return p, err
	}
	if b.FederatedAuthenticators != nil {
		if p.Authenticators, err = h.buildAuthenticators(id, b.FederatedAuthenticators, store.IdPConnectors{}, e); err != nil {
			return p, err
		}
	}
	if pr := b.Provisioning; pr != nil {
		if p.JIT, err = checkJIT(pr.JIT, e); err != nil {
			return p, err
		}
		if pr.OutboundConnectors != nil {
			if p.OutboundConnectors, err = h.buildConnectors(id, pr.OutboundConnectors, store.IdPConnectors{}, e); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

// idpErr writes err of the identity provider API.
func (h *Handler) idpErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, store.ErrConflict):
		fail(h.idp, c, errIdPConflict.With("An identity provider with the same name already exists."), nil)
	case errors.Is(err, store.ErrNotFound):
		fail(h.idp, c, errIdPNotFound, nil)
	default:
		failErr(h.idp, c, err)
	}
}

func (h *Handler) createIdP(c *gin.Context) {
	var b idpBody
	if !decode(h.idp, c, &b) {
		return
	}
	p, err := h.fromBody(orgID(c), uuid.NewString(), b, errIdPAdd)
	if err != nil {
		h.idpErr(c, err)
		return
	}
	out, err := h.cfg.Store.CreateIdentityProvider(c.Request.Context(), p, actor(c))
	if err != nil {
		h.idpErr(c, err)
		return
	}
	c.Header("Location", h.idpSelf(out.ID))
	c.JSON(http.StatusCreated, h.viewIdP(out))
}

func (h *Handler) getIdP(c *gin.Context) {
	p, err := h.cfg.Store.IdentityProvider(c.Request.Context(), orgID(c), c.Param("id"))
	if err != nil {
		h.idpErr(c, err)
		return
	}
	c.JSON(http.StatusOK, h.viewIdP(p))
}

func (h *Handler) deleteIdP(c *gin.Context) {
	if err := h.cfg.Store.DeleteIdentityProvider(c.Request.Context(), orgID(c), c.Param("id"), actor(c)); err != nil {
		h.idpErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// parseIdPFilter reads WSO2's identity provider filter: conditions on name (eq, sw, ew, co)
// and isEnabled (eq) joined by "and".
func parseIdPFilter(s string, q *store.IdentityProviderQuery) error {
	for _, cond := range splitAnd(s) {
		attr, rest, _ := strings.Cut(strings.TrimSpace(cond), " ")
		op, value, _ := strings.Cut(strings.TrimSpace(rest), " ")
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		op = strings.ToLower(op)
		switch attr {
		case "name":
			o := store.FilterOp(op)
			if !slices.Contains([]store.FilterOp{store.FilterEq, store.FilterSw, store.FilterEw, store.FilterCo}, o) {
				return errors.New("name supports eq, sw, ew and co")
			}
			if value == "" || q.Name != nil {
				return errors.New("a name condition needs a value, once")
			}
			q.Name = &store.ApplicationFilter{Attribute: store.AppFilterName, Operator: o, Value: value}
		case "isEnabled":
			v, err := strconv.ParseBool(value)
			if op != "eq" || err != nil || q.Enabled != nil {
				return errors.New(`isEnabled supports eq "true" or "false", once`)
			}
			q.Enabled = &v
		default:
			return errors.New("filter attribute " + strconv.Quote(attr) + ": only name and isEnabled are supported")
		}
	}
	return nil
}

// splitAnd splits a filter at its (case-insensitive) " and " joins.
func splitAnd(s string) []string {
	var out []string
	for {
		i := strings.Index(strings.ToLower(s), " and ")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+5:]
	}
}

func (h *Handler) listIdPs(c *gin.Context) {
	limit, offset, ok := page(h.idp, c)
	if !ok {
		return
	}
	q := store.IdentityProviderQuery{OrgID: orgID(c), Offset: offset, Limit: limit}
	if s := strings.TrimSpace(c.Query("filter")); s != "" {
		if err := parseIdPFilter(s, &q); err != nil {
			fail(h.idp, c, errIdPFilter.With(err.Error()+"."), nil)
			return
		}
	}
	list, total, err := h.cfg.Store.IdentityProviders(c.Request.Context(), q)
	if err != nil {
		fail(h.idp, c, h.idp.server, err)
		return
	}
	items := make([]idpResponse, len(list))
	for i, p := range list {
		items[i] = h.viewIdP(p)
		items[i].Self = h.idpSelf(p.ID)
	}
	c.JSON(http.StatusOK, gin.H{"totalResults": total, "startIndex": offset + 1, "count": len(list),
		"links": h.pageLinks(c, "/identity-providers", limit, offset, len(list), total), "identityProviders": items})
}

// modifyIdP runs change on the identity provider of the path in one transaction and answers
// with the result (render picks what to show).
func (h *Handler) modifyIdP(c *gin.Context, change func(p *store.IdentityProvider) error, render func(p store.IdentityProvider) any) {
	ctx := c.Request.Context()
	var out store.IdentityProvider
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		p, err := tx.IdentityProvider(ctx, orgID(c), c.Param("id"))
		if err != nil {
			return err
		}
		if err := change(&p); err != nil {
			return err
		}
		if err := checkIdPText(p, errIdPUpdate); err != nil {
			return err
		}
		out, err = tx.UpdateIdentityProvider(ctx, p, actor(c))
		return err
	})
	if err != nil {
		h.idpErr(c, err)
		return
	}
	c.JSON(http.StatusOK, render(out))
}

// patchOp is WSO2's Patch (RFC 6902-like, on root attributes of the identity provider).
type patchOp struct {
	Operation string          `json:"operation"`
	Path      string          `json:"path"`
	Value     json.RawMessage `json:"value"`
}

func (h *Handler) patchIdP(c *gin.Context) {
	var ops []patchOp
	if !decode(h.idp, c, &ops) {
		return
	}
	if len(ops) == 0 {
		fail(h.idp, c, errIdPUpdate.With("The patch has no operations."), nil)
		return
	}
	h.modifyIdP(c, func(p *store.IdentityProvider) error {
		for _, op := range ops {
			if err := applyPatch(p, op); err != nil {
				return err
			}
		}
		return nil
	}, func(p store.IdentityProvider) any { return h.viewIdP(p) })
}

// patchString reads a patch value: a JSON string (or, for booleans, true/false).
func patchString(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err == nil {
		return strconv.FormatBool(b), nil
	}
	return "", errorf(errIdPUpdate, "A patch value must be a string.")
}

func applyPatch(p *store.IdentityProvider, op patchOp) error {
	kind := strings.ToUpper(op.Operation)
	if kind != "ADD" && kind != "REPLACE" && kind != "REMOVE" {
		return errorf(errIdPUpdate, "operation %q: use ADD, REPLACE or REMOVE.", op.Operation)
	}
	var value string
	if kind != "REMOVE" {
		var err error
		if value, err = patchString(op.Value); err != nil {
			return err
		}
	}
	strField := map[string]*string{"/name": &p.Name, "/description": &p.Description, "/image": &p.Image,
		"/homeRealmIdentifier": &p.HomeRealmIdentifier, "/alias": &p.Alias, "/idpIssuerName": &p.IdPIssuerName}
	boolField := map[string]*bool{"/isPrimary": &p.Primary, "/isFederationHub": &p.FederationHub, "/isEnabled": &p.Enabled}
	if f, ok := strField[op.Path]; ok {
		if kind == "REMOVE" && op.Path == "/name" {
			return errorf(errIdPUpdate, "The name cannot be removed.")
		}
		*f = value
		if op.Path == "/name" {
			*f = strings.TrimSpace(value)
		}
		return nil
	}
	if f, ok := boolField[op.Path]; ok {
		if kind == "REMOVE" {
			*f = false
			return nil
		}
		b, err := strconv.ParseBool(value)
		if err != nil {
			return errorf(errIdPUpdate, "%s takes \"true\" or \"false\".", op.Path)
		}
		*f = b
		return nil
	}
	if strings.HasPrefix(op.Path, "/certificate/") {
		var cert certificate
		if len(p.Certificate) > 0 {
			if err := json.Unmarshal(p.Certificate, &cert); err != nil {
				return err
			}
		}
		switch rest := strings.TrimPrefix(op.Path, "/certificate/"); {
		case rest == "jwksUri":
			cert.JWKSURI = value
		case strings.HasPrefix(rest, "certificates/"):
			idx := strings.TrimPrefix(rest, "certificates/")
			if idx == "-" && kind == "ADD" {
				cert.Certificates = append(cert.Certificates, value)
				break
			}
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 || i > len(cert.Certificates) || (i == len(cert.Certificates) && kind != "ADD") {
				return errorf(errIdPUpdate, "%s: no such certificate index.", op.Path)
			}
			switch kind {
			case "ADD":
				cert.Certificates = slices.Insert(cert.Certificates, i, value)
			case "REPLACE":
				cert.Certificates[i] = value
			default:
				cert.Certificates = slices.Delete(cert.Certificates, i, i+1)
			}
		default:
			return errorf(errIdPUpdate, "path %q is not supported.", op.Path)
		}
		raw, err := json.Marshal(cert)
		if err != nil {
			return err
		}
		p.Certificate, err = checkCertificate(raw, errIdPUpdate)
		return err
	}
	return errorf(errIdPUpdate, "path %q is not supported: patch name, description, image, isEnabled, isPrimary, "+
		"isFederationHub, homeRealmIdentifier, alias, idpIssuerName or certificate/….", op.Path)
}

// Sub-resources of an identity provider, each read and replaced whole.
type idpPart int

const (
	partAuthenticators idpPart = iota
	partClaims
	partRoles
	partJIT
)

func (h *Handler) renderPart(part idpPart, p store.IdentityProvider) any {
	switch part {
	case partAuthenticators:
		return h.viewAuthenticators(p)
	case partClaims:
		return orJSON(p.Claims, "{}")
	case partRoles:
		return orJSON(p.Roles, "{}")
	default:
		return orJSON(p.JIT, `{"isEnabled":false}`)
	}
}

func (h *Handler) getIdPPart(part idpPart) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := h.cfg.Store.IdentityProvider(c.Request.Context(), orgID(c), c.Param("id"))
		if err != nil {
			h.idpErr(c, err)
			return
		}
		c.JSON(http.StatusOK, h.renderPart(part, p))
	}
}

func (h *Handler) putIdPPart(part idpPart) gin.HandlerFunc {
	return func(c *gin.Context) {
		var raw json.RawMessage
		if !decode(h.idp, c, &raw) {
			return
		}
		h.modifyIdP(c, func(p *store.IdentityProvider) error {
			var err error
			switch part {
			case partAuthenticators:
				var in authenticators
				if _, err := shapeJSON(raw, &in, "federatedAuthenticators", errIdPUpdate); err != nil {
					return err
				}
				p.Authenticators, err = h.buildAuthenticators(p.ID, &in, p.Authenticators, errIdPUpdate)
			case partClaims:
				p.Claims, err = shapeJSON(raw, &idpClaims{}, "claims", errIdPUpdate)
			case partRoles:
				p.Roles, err = shapeJSON(raw, &idpRoles{}, "roles", errIdPUpdate)
			default:
				p.JIT, err = checkJIT(raw, errIdPUpdate)
			}
			return err
		}, func(p store.IdentityProvider) any { return h.renderPart(part, p) })
	}
}

func (h *Handler) getIdPAuthenticator(c *gin.Context) {
	p, err := h.cfg.Store.IdentityProvider(c.Request.Context(), orgID(c), c.Param("id"))
	if err != nil {
		h.idpErr(c, err)
		return
	}
	for _, a := range h.viewAuthenticators(p).Authenticators {
		if a.AuthenticatorID == c.Param("auth") {
			a.Self = ""
			c.JSON(http.StatusOK, a)
			return
		}
	}
	fail(h.idp, c, errIdPAuthNF, nil)
}
