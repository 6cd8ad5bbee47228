package scim

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// SchemaRole is WSO2's roles v2 schema, served at /scim2/v2/Roles.
const SchemaRole = "urn:ietf:params:scim:schemas:extension:2.0:Role"

// Specials of the Role resource.
const (
	spRoleName    special = "roleName"
	spAudience    special = "audience"
	spUsers       special = "roleUsers"
	spGroupsOfRol special = "roleGroups"
	spPermissions special = "permissions"
)

// roleResource builds the Role resource type (WSO2 roles v2). A role's audience (set at
// creation, immutable) is the organization — its permissions are API scopes
// (internal_user_mgt_view, …) that holders of the role may use (see Handler) — or one of its
// applications.
func roleResource() *resourceType {
	name := str("displayName", "")
	name.Required, name.Special, name.Field, name.Uniqueness = true, spRoleName, "name", "server"
	imm := func(a *attr) *attr { a.Mutability = immutable; return a }
	audience := imm(complexAttr("audience", false, imm(caseExact(str("value", ""))), ro(str("display", "")), imm(str("type", ""))))
	audience.Special = spAudience
	ref := func(a *attr) *attr {
		a.Sub = append(a.Sub, ro(withType(caseExact(str("$ref", "")), tReference)))
		return a
	}
	users := ref(complexAttr("users", true, caseExact(str("value", "")), ro(str("display", ""))))
	users.Special, users.Field, users.Sub[0].Field = spUsers, "user.id", "user.id"
	groups := ref(complexAttr("groups", true, caseExact(str("value", "")), ro(str("display", ""))))
	groups.Special, groups.Field, groups.Sub[0].Field = spGroupsOfRol, "group.id", "group.id"
	perms := complexAttr("permissions", true, caseExact(str("value", "")), str("display", ""))
	perms.Special = spPermissions
	core := &schema{ID: SchemaRole, Name: "Role", Description: "Role", Attrs: []*attr{
		idAttr(), metaAttr(), name, audience, users, groups, perms,
	}}
	return &resourceType{Name: "Role", Endpoint: "/v2/Roles", Description: "Role", Core: core}
}

type roleView struct {
	role      store.Role
	assignees store.RoleAssignees
}

type roleDB interface {
	RoleByID(ctx context.Context, orgID, id string) (store.Role, error)
	AssigneesOfRoles(ctx context.Context, ids []string) (map[string]store.RoleAssignees, error)
}

func loadRoles(ctx context.Context, q roleDB, roles []store.Role) ([]roleView, error) {
	ids := make([]string, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
	}
	as, err := q.AssigneesOfRoles(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]roleView, len(roles))
	for i, r := range roles {
		out[i] = roleView{role: r, assignees: as[r.ID]}
	}
	return out, nil
}

func loadRole(ctx context.Context, q roleDB, orgID, id string) (roleView, error) {
	r, err := q.RoleByID(ctx, orgID, id)
	if err != nil {
		if toError(err).Status == http.StatusNotFound {
			return roleView{}, notFound("role", truncate(id))
		}
		return roleView{}, err
	}
	vs, err := loadRoles(ctx, q, []store.Role{r})
	if err != nil {
		return roleView{}, err
	}
	return vs[0], nil
}

func (h *Handler) renderRole(base string, org store.Organization, v roleView) map[string]any {
	r := v.role
	res := map[string]any{
		"schemas": []any{SchemaRole}, "id": r.ID, "displayName": r.Name,
		"audience": audienceView(org, r),
		"meta": map[string]any{
			"resourceType": "Role", "created": formatTime(r.CreatedAt), "lastModified": formatTime(r.UpdatedAt),
			"location": base + "/v2/Roles/" + r.ID, "version": etag(r.UpdatedAt),
		},
	}
	if len(v.assignees.Users) > 0 {
		l := make([]any, len(v.assignees.Users))
		for i, u := range v.assignees.Users {
			l[i] = map[string]any{"value": u.UserID, "display": u.Username, "$ref": base + "/Users/" + u.UserID}
		}
		res["users"] = l
	}
	if len(v.assignees.Groups) > 0 {
		l := make([]any, len(v.assignees.Groups))
		for i, g := range v.assignees.Groups {
			l[i] = map[string]any{"value": g.ID, "display": qualifiedName(g.Domain, g.Name), "$ref": base + "/Groups/" + g.ID}
		}
		res["groups"] = l
	}
	if len(r.Permissions) > 0 {
		l := make([]any, len(r.Permissions))
		for i, p := range r.Permissions {
			l[i] = map[string]any{"value": p, "display": p}
		}
		res["permissions"] = l
	}
	return res
}

// audienceView is a role's audience as WSO2 shows it.
func audienceView(org store.Organization, r store.Role) map[string]any {
	if r.AudienceType == store.RoleAudienceApplication {
		return map[string]any{"value": r.AudienceID, "display": r.AudienceID, "type": "application"}
	}
	return map[string]any{"value": r.AudienceID, "display": org.Handle, "type": "organization"}
}

type roleInput struct {
	name          string
	users, groups []string
	permissions   []string
	// audienceType and audienceID are the audience asked for ("" when none was given).
	audienceType, audienceID string
}

// permissionPattern is what a permission (a scope name) may look like, as the store checks it.
var permissionPattern = regexp.MustCompile(`^[A-Za-z0-9_:./-]{1,255}$`)

// extractRole reads a canonical Role resource, checking its assignees.
func (h *Handler) extractRole(ctx context.Context, q interface {
	MissingUsers(ctx context.Context, orgID string, ids []string) ([]string, error)
	GroupByID(ctx context.Context, orgID, id string) (store.Group, error)
}, orgID string, res map[string]any) (roleInput, error) {
	var in roleInput
	in.name, _ = res["displayName"].(string)
	if err := checkName("displayName", in.name, store.MaxGroupNameLength); err != nil {
		return in, err
	}
	if aud, ok := res["audience"].(map[string]any); ok {
		typ, _ := aud["type"].(string)
		in.audienceID, _ = aud["value"].(string)
		switch strings.ToLower(typ) {
		case "", "organization":
			in.audienceType = store.RoleAudienceOrganization
		case "application":
			in.audienceType = store.RoleAudienceApplication
			if in.audienceID == "" {
				return in, badRequest(TypeInvalidValue, "an application audience needs the application's id as its value")
			}
		default:
			return in, badRequest(TypeInvalidValue, "audience type %q is neither organization nor application", truncate(typ))
		}
	}
	for _, e := range asList(res["permissions"]) {
		m, _ := e.(map[string]any)
		p, _ := m["value"].(string)
		if !permissionPattern.MatchString(p) {
			return in, badRequest(TypeInvalidValue, "permission %q is not a scope name", truncate(p))
		}
		in.permissions = append(in.permissions, p)
	}
	if len(in.permissions) > store.MaxRolePermissions {
		return in, badRequest(TypeInvalidValue, "a role has at most %d permissions", store.MaxRolePermissions)
	}
	ids := func(attr string) ([]string, *Error) {
		var out []string
		for _, e := range asList(res[attr]) {
			m, _ := e.(map[string]any)
			id, _ := m["value"].(string)
			if id == "" {
				return nil, badRequest(TypeInvalidValue, "every element of %s needs a value (an id)", attr)
			}
			out = append(out, id)
		}
		return out, nil
	}
	var serr *Error
	if in.users, serr = ids("users"); serr != nil {
		return in, serr
	}
	if in.groups, serr = ids("groups"); serr != nil {
		return in, serr
	}
	if len(in.users) > 0 {
		missing, err := q.MissingUsers(ctx, orgID, in.users)
		if err != nil {
			return in, err
		}
		if len(missing) > 0 {
			return in, badRequest(TypeInvalidValue, "user %q does not exist", truncate(missing[0]))
		}
	}
	for _, g := range in.groups {
		if _, err := q.GroupByID(ctx, orgID, g); err != nil {
			if toError(err).Status == http.StatusNotFound {
				return in, badRequest(TypeInvalidValue, "group %q does not exist", truncate(g))
			}
			return in, err
		}
	}
	return in, nil
}

func (h *Handler) registerRoles(a gin.IRoutes) {
	a.GET("/v2/Roles", h.need("internal_role_mgt_view"), h.listRoles)
	a.POST("/v2/Roles/.search", h.need("internal_role_mgt_view"), h.searchRoles)
	a.POST("/v2/Roles", h.need("internal_role_mgt_create"), h.createRole)
	a.GET("/v2/Roles/:id", h.need("internal_role_mgt_view"), h.getRole)
	a.PUT("/v2/Roles/:id", h.need("internal_role_mgt_update"), h.putRole)
	a.PATCH("/v2/Roles/:id", h.need("internal_role_mgt_update"), h.patchRole)
	a.DELETE("/v2/Roles/:id", h.need("internal_role_mgt_delete"), h.deleteRole)
}

func (h *Handler) listRoles(c *gin.Context) {
	p, err := h.queryParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.queryRoles(c, p)
}

func (h *Handler) searchRoles(c *gin.Context) {
	p, err := h.searchParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.queryRoles(c, p)
}

func (h *Handler) queryRoles(c *gin.Context, p listParams) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	q, proj, serr := h.compileQuery(h.role, pr.org.ID, p)
	if serr != nil {
		h.fail(c, serr)
		return
	}
	roles, total, err := h.cfg.Store.ListRoles(ctx, q)
	if err != nil {
		h.fail(c, err)
		return
	}
	views, err := loadRoles(ctx, h.cfg.Store, roles)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	items := make([]any, len(views))
	for i, v := range views {
		items[i] = proj.apply(h.role, h.renderRole(base, pr.org, v))
	}
	h.write(c, http.StatusOK, listResponse(total, q.Offset+1, items))
}

func (h *Handler) respondRole(c *gin.Context, status int, v roleView) {
	p, err := h.queryParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	proj, err := newProjection(h.role, p.attrs, p.excluded)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	c.Header("ETag", etag(v.role.UpdatedAt))
	if status == http.StatusCreated {
		c.Header("Location", base+"/v2/Roles/"+v.role.ID)
	}
	h.write(c, status, proj.apply(h.role, h.renderRole(base, h.principal(c).org, v)))
}

func (h *Handler) getRole(c *gin.Context) {
	v, err := loadRole(c.Request.Context(), h.cfg.Store, h.principal(c).org.ID, c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if notModified(c, etag(v.role.UpdatedAt)) {
		return
	}
	h.respondRole(c, http.StatusOK, v)
}

func (h *Handler) parseRole(c *gin.Context) (map[string]any, *Error) {
	raw, err := h.readObject(c)
	if err != nil {
		return nil, err
	}
	res, _, err := canonicalize(h.role, raw)
	if err != nil {
		return nil, err
	}
	if err := checkSchemas(h.role, res["schemas"]); err != nil {
		return nil, err
	}
	return res, nil
}

func (h *Handler) createRole(c *gin.Context) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	res, serr := h.parseRole(c)
	if serr != nil {
		h.fail(c, serr)
		return
	}
	var v roleView
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		in, err := h.extractRole(ctx, tx, pr.org.ID, res)
		if err != nil {
			return err
		}
		r, err := tx.CreateRole(ctx, store.NewRole{OrgID: pr.org.ID, Name: in.name, Users: in.users, Groups: in.groups,
			Permissions: in.permissions, AudienceType: in.audienceType, AudienceID: in.audienceID, Actor: pr.actor()})
		if in.audienceType == store.RoleAudienceApplication && errors.Is(err, store.ErrNotFound) {
			return badRequest(TypeInvalidValue, "audience application %q does not exist", truncate(in.audienceID))
		}
		if err != nil {
			return err
		}
		v, err = loadRole(ctx, tx, pr.org.ID, r.ID)
		return err
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.respondRole(c, http.StatusCreated, v)
}

func (h *Handler) updateRole(c *gin.Context, id string, change func(cur roleView) (map[string]any, *Error)) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	var v roleView
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		cur, err := loadRole(ctx, tx, pr.org.ID, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(c, etag(cur.role.UpdatedAt)); err != nil {
			return err
		}
		res, serr := change(cur)
		if serr != nil {
			return serr
		}
		in, err := h.extractRole(ctx, tx, pr.org.ID, res)
		if err != nil {
			return err
		}
		if in.audienceType != "" && (in.audienceType != cur.role.AudienceType ||
			(in.audienceType == store.RoleAudienceApplication && in.audienceID != cur.role.AudienceID)) {
			return newError(http.StatusBadRequest, TypeMutability, "a role's audience cannot change")
		}
		if _, err := tx.ReplaceRole(ctx, store.RoleReplace{OrgID: pr.org.ID, ID: id, Name: in.name,
			Users: in.users, Groups: in.groups, Permissions: in.permissions, Actor: pr.actor()}); err != nil {
			return err
		}
		v, err = loadRole(ctx, tx, pr.org.ID, id)
		return err
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.respondRole(c, http.StatusOK, v)
}

func (h *Handler) putRole(c *gin.Context) {
	res, err := h.parseRole(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.updateRole(c, c.Param("id"), func(roleView) (map[string]any, *Error) { return res, nil })
}

func (h *Handler) patchRole(c *gin.Context) {
	ops, err := h.readPatch(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	org := h.principal(c).org
	h.updateRole(c, c.Param("id"), func(cur roleView) (map[string]any, *Error) {
		res := h.renderRole(base, org, cur)
		if err := applyPatch(h.role, res, ops); err != nil {
			return nil, err
		}
		return res, nil
	})
}

func (h *Handler) deleteRole(c *gin.Context) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	id := c.Param("id")
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		r, err := loadRole(ctx, tx, pr.org.ID, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(c, etag(r.role.UpdatedAt)); err != nil {
			return err
		}
		return tx.DeleteRole(ctx, pr.org.ID, id, pr.actor())
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
