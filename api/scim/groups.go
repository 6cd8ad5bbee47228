package scim

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// Member types of a Group's members (RFC 7643 §4.2) and membership types of a
// User's groups (§4.1.2).
const (
	memberUser    = "User"
	memberGroup   = "Group"
	groupDirect   = "direct"
	groupIndirect = "indirect"
)

type groupView struct {
	group        store.Group
	members      []store.Member
	memberGroups []store.Group // groups nested directly in group
}

type groupDB interface {
	GroupByID(ctx context.Context, orgID, id string) (store.Group, error)
	MembersOfGroups(ctx context.Context, ids []string) (map[string][]store.Member, error)
	MemberGroupsOfGroups(ctx context.Context, ids []string) (map[string][]store.Group, error)
}

func loadGroups(ctx context.Context, q groupDB, groups []store.Group) ([]groupView, error) {
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	members, err := q.MembersOfGroups(ctx, ids)
	if err != nil {
		return nil, err
	}
	memberGroups, err := q.MemberGroupsOfGroups(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]groupView, len(groups))
	for i, g := range groups {
		out[i] = groupView{group: g, members: members[g.ID], memberGroups: memberGroups[g.ID]}
	}
	return out, nil
}

func loadGroup(ctx context.Context, q groupDB, orgID, id string) (groupView, error) {
	g, err := q.GroupByID(ctx, orgID, id)
	if err != nil {
		if toError(err).Status == http.StatusNotFound {
			return groupView{}, notFound("group", truncate(id))
		}
		return groupView{}, err
	}
	vs, err := loadGroups(ctx, q, []store.Group{g})
	if err != nil {
		return groupView{}, err
	}
	return vs[0], nil
}

func (h *Handler) renderGroup(base string, v groupView) map[string]any {
	g := v.group
	res := map[string]any{
		"schemas":     []any{SchemaGroup},
		"id":          g.ID,
		"displayName": qualifiedName(g.Domain, g.Name),
		"meta": map[string]any{
			"resourceType": "Group",
			"created":      formatTime(g.CreatedAt),
			"lastModified": formatTime(g.UpdatedAt),
			"location":     base + "/Groups/" + g.ID,
			"version":      etag(g.UpdatedAt),
		},
	}
	// Users first, then member groups, each sorted by name.
	ms := make([]any, 0, len(v.members)+len(v.memberGroups))
	for _, m := range v.members {
		ms = append(ms, map[string]any{"value": m.UserID, "display": m.Username, "$ref": base + "/Users/" + m.UserID, "type": memberUser})
	}
	for _, mg := range v.memberGroups {
		ms = append(ms, map[string]any{"value": mg.ID, "display": qualifiedName(mg.Domain, mg.Name), "$ref": base + "/Groups/" + mg.ID, "type": memberGroup})
	}
	if len(ms) > 0 {
		res["members"] = ms
	}
	return res
}

type groupInput struct {
	name         string
	members      []string // user ids
	memberGroups []string // group ids
}

// memberDB is what extractGroup checks members against.
type memberDB interface {
	MissingUsers(ctx context.Context, orgID string, ids []string) ([]string, error)
	MissingGroups(ctx context.Context, orgID string, ids []string) ([]string, error)
}

// extractGroup reads a canonical Group resource into store input and
// checks that every member is a user or a group of the organization. A
// member's type comes from its "type", else from its "$ref"
// (…/Users/{id} or …/Groups/{id}), else from what its value names.
func (h *Handler) extractGroup(ctx context.Context, q memberDB, orgID string, res map[string]any) (groupInput, error) {
	var in groupInput
	name, _ := res["displayName"].(string)
	domain, n := splitDomain(name)
	if domain != store.DefaultDomain {
		return in, badRequest(TypeInvalidValue, "user store domain %q does not exist", truncate(domain))
	}
	if err := checkName("displayName", n, store.MaxGroupNameLength); err != nil {
		return in, err
	}
	in.name = n
	var untyped []string
	for _, e := range asList(res["members"]) {
		m, _ := e.(map[string]any)
		id, _ := m["value"].(string)
		if id == "" {
			return in, badRequest(TypeInvalidValue, "every member needs a value (a user or group id)")
		}
		typ, err := memberType(m)
		if err != nil {
			return in, err
		}
		switch typ {
		case memberUser:
			in.members = append(in.members, id)
		case memberGroup:
			in.memberGroups = append(in.memberGroups, id)
		default:
			untyped = append(untyped, id)
		}
	}
	if len(in.members) > 0 {
		missing, err := q.MissingUsers(ctx, orgID, in.members)
		if err != nil {
			return in, err
		}
		if len(missing) > 0 {
			return in, badRequest(TypeInvalidValue, "member %q is not a user", truncate(missing[0]))
		}
	}
	if len(in.memberGroups) > 0 {
		missing, err := q.MissingGroups(ctx, orgID, in.memberGroups)
		if err != nil {
			return in, err
		}
		if len(missing) > 0 {
			return in, badRequest(TypeInvalidValue, "member %q is not a group", truncate(missing[0]))
		}
	}
	if len(untyped) > 0 {
		notUsers, err := q.MissingUsers(ctx, orgID, untyped)
		if err != nil {
			return in, err
		}
		var notGroups []string
		if len(notUsers) > 0 {
			if notGroups, err = q.MissingGroups(ctx, orgID, notUsers); err != nil {
				return in, err
			}
			if len(notGroups) > 0 {
				return in, badRequest(TypeInvalidValue, "member %q is not a user or a group", truncate(notGroups[0]))
			}
		}
		for _, id := range untyped {
			if slices.Contains(notUsers, id) {
				in.memberGroups = append(in.memberGroups, id)
			} else {
				in.members = append(in.members, id)
			}
		}
	}
	return in, nil
}

// memberType is the type a member element declares, by "type" or "$ref";
// empty when it declares none.
func memberType(m map[string]any) (string, *Error) {
	if t, ok := m["type"].(string); ok {
		switch {
		case strings.EqualFold(t, memberUser):
			return memberUser, nil
		case strings.EqualFold(t, memberGroup):
			return memberGroup, nil
		}
		return "", badRequest(TypeInvalidValue, "members of type %q are not supported (User or Group)", truncate(t))
	}
	ref, _ := m["$ref"].(string)
	id, _ := m["value"].(string)
	switch {
	case ref == "":
		return "", nil
	case strings.HasSuffix(ref, "/Users/"+id):
		return memberUser, nil
	case strings.HasSuffix(ref, "/Groups/"+id):
		return memberGroup, nil
	}
	return "", badRequest(TypeInvalidValue, "member $ref %q does not name /Users/%s or /Groups/%s", truncate(ref), truncate(id), truncate(id))
}

func (h *Handler) listGroups(c *gin.Context) {
	p, err := h.queryParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.queryGroups(c, p)
}

func (h *Handler) searchGroups(c *gin.Context) {
	p, err := h.searchParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.queryGroups(c, p)
}

func (h *Handler) queryGroups(c *gin.Context, p listParams) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	q, proj, serr := h.compileQuery(h.group, pr.org.ID, p)
	if serr != nil {
		h.fail(c, serr)
		return
	}
	groups, total, err := h.cfg.Store.ListGroups(ctx, q)
	if err != nil {
		h.fail(c, err)
		return
	}
	views, err := loadGroups(ctx, h.cfg.Store, groups)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	items := make([]any, len(views))
	for i, v := range views {
		items[i] = proj.apply(h.group, h.renderGroup(base, v))
	}
	h.write(c, http.StatusOK, listResponse(total, q.Offset+1, items))
}

func (h *Handler) respondGroup(c *gin.Context, status int, v groupView) {
	p, err := h.queryParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	proj, err := newProjection(h.group, p.attrs, p.excluded)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	c.Header("ETag", etag(v.group.UpdatedAt))
	if status == http.StatusCreated {
		c.Header("Location", base+"/Groups/"+v.group.ID)
	}
	h.write(c, status, proj.apply(h.group, h.renderGroup(base, v)))
}

func (h *Handler) getGroup(c *gin.Context) {
	pr := h.principal(c)
	v, err := loadGroup(c.Request.Context(), h.cfg.Store, pr.org.ID, c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if notModified(c, etag(v.group.UpdatedAt)) {
		return
	}
	h.respondGroup(c, http.StatusOK, v)
}

func (h *Handler) parseGroup(c *gin.Context) (map[string]any, *Error) {
	raw, err := h.readObject(c)
	if err != nil {
		return nil, err
	}
	res, _, err := canonicalize(h.group, raw)
	if err != nil {
		return nil, err
	}
	if err := checkSchemas(h.group, res["schemas"]); err != nil {
		return nil, err
	}
	return res, nil
}

func (h *Handler) createGroup(c *gin.Context) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	res, serr := h.parseGroup(c)
	if serr != nil {
		h.fail(c, serr)
		return
	}
	var v groupView
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		in, err := h.extractGroup(ctx, tx, pr.org.ID, res)
		if err != nil {
			return err
		}
		g, err := tx.CreateGroup(ctx, store.NewGroup{OrgID: pr.org.ID, Name: in.name, Members: in.members,
			MemberGroups: in.memberGroups, Actor: pr.actor()})
		if err != nil {
			return err
		}
		v, err = loadGroup(ctx, tx, pr.org.ID, g.ID)
		return err
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.respondGroup(c, http.StatusCreated, v)
}

func (h *Handler) updateGroup(c *gin.Context, id string, change func(cur groupView) (map[string]any, *Error)) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	var v groupView
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		cur, err := loadGroup(ctx, tx, pr.org.ID, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(c, etag(cur.group.UpdatedAt)); err != nil {
			return err
		}
		res, serr := change(cur)
		if serr != nil {
			return serr
		}
		in, err := h.extractGroup(ctx, tx, pr.org.ID, res)
		if err != nil {
			return err
		}
		if _, err := tx.ReplaceGroup(ctx, store.GroupReplace{OrgID: pr.org.ID, ID: id, Name: in.name,
			Members: in.members, MemberGroups: in.memberGroups, Actor: pr.actor()}); err != nil {
			return err
		}
		v, err = loadGroup(ctx, tx, pr.org.ID, id)
		return err
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.respondGroup(c, http.StatusOK, v)
}

func (h *Handler) putGroup(c *gin.Context) {
	res, err := h.parseGroup(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.updateGroup(c, c.Param("id"), func(groupView) (map[string]any, *Error) { return res, nil })
}

func (h *Handler) patchGroup(c *gin.Context) {
	ops, err := h.readPatch(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	h.updateGroup(c, c.Param("id"), func(cur groupView) (map[string]any, *Error) {
		res := h.renderGroup(base, cur)
		if err := applyPatch(h.group, res, ops); err != nil {
			return nil, err
		}
		return res, nil
	})
}

func (h *Handler) deleteGroup(c *gin.Context) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	id := c.Param("id")
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		g, err := loadGroup(ctx, tx, pr.org.ID, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(c, etag(g.group.UpdatedAt)); err != nil {
			return err
		}
		return tx.DeleteGroup(ctx, pr.org.ID, id, pr.actor())
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
