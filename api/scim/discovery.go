package scim

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The discovery endpoints (RFC 7644 §4) need no authentication: they
// describe the server, not its data.

func (h *Handler) serviceProviderConfig(c *gin.Context) {
	base := h.base(c)
	h.write(c, http.StatusOK, map[string]any{
		"schemas":          []string{SchemaSPConfig},
		"documentationUri": "https://github.com/keyflow/keyflow/tree/main/docs",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": MaxBulkOperations, "maxPayloadSize": h.cfg.MaxBodyBytes},
		"filter":           map[string]any{"supported": true, "maxResults": h.cfg.MaxCount},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{
			map[string]any{"type": "httpbasic", "name": "HTTP Basic", "description": "Authentication with a username and password (RFC 7617)", "primary": true},
			map[string]any{"type": "oauthbearertoken", "name": "OAuth Bearer Token", "description": "Authentication with an OAuth 2.0 access token (RFC 6750)"},
		},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	})
}

func (h *Handler) allSchemas() []*schema {
	return append(h.user.schemas(), h.group.Core, h.role.Core)
}

func renderAttr(a *attr) map[string]any {
	m := map[string]any{
		"name": a.Name, "type": a.Type, "multiValued": a.Multi, "description": a.Description,
		"required": a.Required, "caseExact": a.CaseExact, "mutability": a.Mutability,
		"returned": a.Returned, "uniqueness": a.Uniqueness,
	}
	if a.Canonical != nil {
		m["canonicalValues"] = a.Canonical
	}
	if a.Type == tReference {
		m["referenceTypes"] = []string{"external"}
		if a.Name == "$ref" {
			m["referenceTypes"] = []string{"User", "Group"}
		}
	}
	if a.Sub != nil {
		subs := make([]any, len(a.Sub))
		for i, s := range a.Sub {
			subs[i] = renderAttr(s)
		}
		m["subAttributes"] = subs
	}
	return m
}

func (h *Handler) renderSchema(base string, s *schema) map[string]any {
	var attrs []any
	for _, a := range s.Attrs {
		if !a.common {
			attrs = append(attrs, renderAttr(a))
		}
	}
	return map[string]any{
		"schemas": []string{SchemaSchema}, "id": s.ID, "name": s.Name, "description": s.Description,
		"attributes": attrs,
		"meta":       map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + s.ID},
	}
}

func (h *Handler) schemas(c *gin.Context) {
	base := h.base(c)
	var items []any
	for _, s := range h.allSchemas() {
		items = append(items, h.renderSchema(base, s))
	}
	h.write(c, http.StatusOK, listResponse(len(items), 1, items))
}

func (h *Handler) schemaByID(c *gin.Context) {
	for _, s := range h.allSchemas() {
		if strings.EqualFold(s.ID, c.Param("id")) {
			h.write(c, http.StatusOK, h.renderSchema(h.base(c), s))
			return
		}
	}
	h.fail(c, notFound("schema", truncate(c.Param("id"))))
}

func (h *Handler) renderResourceType(base string, rt *resourceType) map[string]any {
	m := map[string]any{
		"schemas": []string{SchemaResType}, "id": rt.Name, "name": rt.Name, "endpoint": rt.Endpoint,
		"description": rt.Description, "schema": rt.Core.ID,
		"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + rt.Name},
	}
	if len(rt.Exts) > 0 {
		exts := make([]any, len(rt.Exts))
		for i, e := range rt.Exts {
			exts[i] = map[string]any{"schema": e.ID, "required": false}
		}
		m["schemaExtensions"] = exts
	}
	return m
}

func (h *Handler) resourceTypes(c *gin.Context) {
	base := h.base(c)
	items := []any{h.renderResourceType(base, h.user), h.renderResourceType(base, h.group), h.renderResourceType(base, h.role)}
	h.write(c, http.StatusOK, listResponse(len(items), 1, items))
}

func (h *Handler) resourceTypeByID(c *gin.Context) {
	for _, rt := range []*resourceType{h.user, h.group, h.role} {
		if strings.EqualFold(rt.Name, c.Param("id")) {
			h.write(c, http.StatusOK, h.renderResourceType(h.base(c), rt))
			return
		}
	}
	h.fail(c, notFound("resource type", truncate(c.Param("id"))))
}
