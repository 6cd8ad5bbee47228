package scim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// userView is what a User resource is rendered from.
type userView struct {
	user   store.User
	claims map[string]string
	groups []store.Membership // direct and through nested groups
	roles  []store.RoleRef
}

// db is what rendering and writing need, from a Store or a Tx.
type db interface {
	UserByID(ctx context.Context, orgID, id string) (store.User, error)
	ClaimsOfUsers(ctx context.Context, ids []string) (map[string]map[string]string, error)
	MembershipsOfUsers(ctx context.Context, ids []string) (map[string][]store.Membership, error)
	RolesOfUsers(ctx context.Context, ids []string) (map[string][]store.RoleRef, error)
}

// loadUsers fetches what rendering needs for users, in three queries.
func loadUsers(ctx context.Context, q db, users []store.User) ([]userView, error) {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	claims, err := q.ClaimsOfUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	groups, err := q.MembershipsOfUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	roles, err := q.RolesOfUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]userView, len(users))
	for i, u := range users {
		out[i] = userView{user: u, claims: claims[u.ID], groups: groups[u.ID], roles: roles[u.ID]}
	}
	return out, nil
}

func loadUser(ctx context.Context, q db, orgID, id string) (userView, error) {
	u, err := q.UserByID(ctx, orgID, id)
	if err != nil {
		return userView{}, err
	}
	vs, err := loadUsers(ctx, q, []store.User{u})
	if err != nil {
		return userView{}, err
	}
	return vs[0], nil
}

func qualifiedName(domain, name string) string {
	if domain == "" || domain == store.DefaultDomain {
		return name
	}
	return domain + "/" + name
}

// renderUser builds the full canonical User resource (never the password).
func (h *Handler) renderUser(base string, v userView) map[string]any {
	u := v.user
	res := map[string]any{
		"id":       u.ID,
		"userName": qualifiedName(u.Domain, u.Username),
		"active":   !u.Disabled,
		"meta": map[string]any{
			"resourceType": "User",
			"created":      formatTime(u.CreatedAt),
			"lastModified": formatTime(u.UpdatedAt),
			"location":     base + "/Users/" + u.ID,
			"version":      etag(u.UpdatedAt),
		},
	}
	renderClaims(h.user.Core, v.claims, res)
	if len(v.groups) > 0 {
		gs := make([]any, len(v.groups))
		for i, g := range v.groups {
			typ := groupIndirect
			if g.Direct {
				typ = groupDirect
			}
			gs[i] = map[string]any{"value": g.ID, "display": qualifiedName(g.Domain, g.Name), "$ref": base + "/Groups/" + g.ID, "type": typ}
		}
		res["groups"] = gs
	}
	if len(v.roles) > 0 {
		rs := make([]any, len(v.roles))
		for i, r := range v.roles {
			rs[i] = map[string]any{"value": r.ID, "display": r.Name}
		}
		res["roles"] = rs
	}
	for _, ext := range h.user.Exts {
		obj := map[string]any{}
		renderClaims(ext, v.claims, obj)
		if ext.ID == SchemaWSO2 {
			obj["accountLocked"] = u.Locked
			obj["accountDisabled"] = u.Disabled
		}
		if m, ok := obj["manager"].(map[string]any); ok {
			if id, ok := m["value"].(string); ok {
				m["$ref"] = base + "/Users/" + id
			}
		}
		if len(obj) > 0 {
			res[ext.ID] = obj
		}
	}
	res["schemas"] = schemasOf(h.user, res)
	return res
}

// userInput is a User resource turned into store input.
type userInput struct {
	domain, username string
	password         string // plain text, empty if not given
	active           *bool
	claims           map[string]string
	// The WSO2 extension's account attributes, nil when absent:
	// accountLocked, accountDisabled and forcePasswordReset.
	locked, disabled, forceReset *bool
}

// disabledAfter is the disabled flag the input asks for, given the current
// one: active and accountDisabled say the same thing, and a rendered
// resource carries both, so whichever differs from cur is the change.
func (in userInput) disabledAfter(cur bool) bool {
	if in.active != nil && !*in.active != cur {
		return !cur
	}
	if in.disabled != nil && *in.disabled != cur {
		return !cur
	}
	return cur
}

// changesNewAccount reports whether creating a user with the input also takes an account change
// (locked, disabled or a forced password reset from the start).
func (in userInput) changesNewAccount() bool {
	_, changed := in.accountChange(store.User{Status: store.UserActive})
	return changed || in.disabledAfter(false)
}

// accountChange is the administrator operation the input asks for beyond
// what ReplaceUser writes: a lock or unlock when accountLocked differs from
// the current state, and forcePasswordReset when given.
func (in userInput) accountChange(cur store.User) (store.AccountChange, bool) {
	var ch store.AccountChange
	if in.locked != nil && *in.locked != cur.Locked {
		ch.Locked = in.locked
	}
	if in.forceReset != nil && *in.forceReset != (cur.Status == store.UserPendingForcedPasswordReset) {
		ch.ForcePasswordReset = in.forceReset
	}
	return ch, ch.Locked != nil || ch.ForcePasswordReset != nil
}

// extractUser reads canonical res (as from canonicalize or a patched
// rendering) into store input, checking what the store would refuse.
func (h *Handler) extractUser(res map[string]any) (userInput, *Error) {
	var in userInput
	name, _ := res["userName"].(string)
	if name == "" {
		return in, badRequest(TypeInvalidValue, "userName is required")
	}
	in.domain, in.username = splitDomain(name)
	if in.domain != store.DefaultDomain {
		return in, badRequest(TypeInvalidValue, "user store domain %q does not exist", truncate(in.domain))
	}
	if err := checkName("userName", in.username, store.MaxUsernameLength); err != nil {
		return in, err
	}
	in.password, _ = res["password"].(string)
	if b, ok := res["active"].(bool); ok {
		in.active = &b
	}
	if ext, ok := res[SchemaWSO2].(map[string]any); ok {
		for name, dst := range map[string]**bool{"accountLocked": &in.locked, "accountDisabled": &in.disabled,
			"forcePasswordReset": &in.forceReset} {
			if b, ok := ext[name].(bool); ok {
				*dst = &b
			}
		}
	}
	in.claims = map[string]string{}
	if err := extractClaims(h.user.Core, res, in.claims); err != nil {
		return in, err
	}
	for _, ext := range h.user.Exts {
		if obj, ok := res[ext.ID].(map[string]any); ok {
			if err := extractClaims(ext, obj, in.claims); err != nil {
				return in, err
			}
		}
	}
	for uri, v := range in.claims {
		if len(v) > store.MaxClaimValueLength {
			return in, badRequest(TypeInvalidValue, "the value mapped to %s is longer than %d bytes", uri, store.MaxClaimValueLength)
		}
		if strings.ContainsRune(v, 0) {
			return in, badRequest(TypeInvalidValue, "the value mapped to %s contains a NUL character", uri)
		}
	}
	return in, nil
}

func checkName(what, s string, maxLen int) *Error {
	switch {
	case utf8.RuneCountInString(s) > maxLen:
		return badRequest(TypeInvalidValue, "%s is longer than %d characters", what, maxLen)
	case strings.TrimSpace(s) != s:
		return badRequest(TypeInvalidValue, "%s has leading or trailing spaces", what)
	case strings.ContainsFunc(s, unicode.IsControl):
		return badRequest(TypeInvalidValue, "%s contains control characters", what)
	case s == "":
		return badRequest(TypeInvalidValue, "%s is required", what)
	}
	return nil
}

// passwordChecker is the store's password policy check, on a Store or a Tx.
type passwordChecker interface {
	CheckPassword(ctx context.Context, orgID, userID, pw string, reused func(pw, hash string) (bool, error)) error
}

// checkPolicy applies the organization's password policy to a password
// being set (none: nothing to check). A refusal is 400 invalidValue whose
// detail names the rule.
func (h *Handler) checkPolicy(ctx context.Context, q passwordChecker, orgID, userID, pw string) error {
	if pw == "" {
		return nil
	}
	err := q.CheckPassword(ctx, orgID, userID, pw, func(pw, hash string) (bool, error) {
		return h.cfg.PasswordGate.Verify(ctx, pw, hash)
	})
	if v := (*store.PasswordViolation)(nil); errors.As(err, &v) {
		return badRequest(TypeInvalidValue, "password policy %s: %s", v.Rule, v.Detail)
	}
	return err
}

func (h *Handler) hash(ctx context.Context, pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	return h.cfg.PasswordGate.Hash(ctx, pw, h.cfg.PasswordParams)
}

func (h *Handler) listUsers(c *gin.Context) {
	p, err := h.queryParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.queryUsers(c, p)
}

func (h *Handler) searchUsers(c *gin.Context) {
	p, err := h.searchParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.queryUsers(c, p)
}

func (h *Handler) queryUsers(c *gin.Context, p listParams) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	q, proj, serr := h.compileQuery(h.user, pr.org.ID, p)
	if serr != nil {
		h.fail(c, serr)
		return
	}
	users, total, err := h.cfg.Store.ListUsers(ctx, q)
	if err != nil {
		h.fail(c, err)
		return
	}
	views, err := loadUsers(ctx, h.cfg.Store, users)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	items := make([]any, len(views))
	for i, v := range views {
		items[i] = proj.apply(h.user, h.renderUser(base, v))
	}
	h.write(c, http.StatusOK, listResponse(total, q.Offset+1, items))
}

// respondUser writes one user, honouring attributes/excludedAttributes.
func (h *Handler) respondUser(c *gin.Context, status int, v userView) {
	p, err := h.queryParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	proj, err := newProjection(h.user, p.attrs, p.excluded)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	c.Header("ETag", etag(v.user.UpdatedAt))
	if status == http.StatusCreated {
		c.Header("Location", base+"/Users/"+v.user.ID)
	}
	h.write(c, status, proj.apply(h.user, h.renderUser(base, v)))
}

func (h *Handler) getUser(c *gin.Context) {
	pr := h.principal(c)
	v, err := loadUser(c.Request.Context(), h.cfg.Store, pr.org.ID, c.Param("id"))
	if err != nil {
		h.fail(c, userNotFound(err, c.Param("id")))
		return
	}
	if notModified(c, etag(v.user.UpdatedAt)) {
		return
	}
	h.respondUser(c, http.StatusOK, v)
}

func userNotFound(err error, id string) error {
	if toError(err).Status == http.StatusNotFound {
		return notFound("user", truncate(id))
	}
	return err
}

// parseUser reads a POST or PUT body.
func (h *Handler) parseUser(c *gin.Context) (userInput, *Error) {
	raw, err := h.readObject(c)
	if err != nil {
		return userInput{}, err
	}
	res, _, err := canonicalize(h.user, raw)
	if err != nil {
		return userInput{}, err
	}
	if err := checkSchemas(h.user, res["schemas"]); err != nil {
		return userInput{}, err
	}
	return h.extractUser(res)
}

func (h *Handler) createUser(c *gin.Context) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	in, serr := h.parseUser(c)
	if serr != nil {
		h.fail(c, serr)
		return
	}
	if err := h.checkPolicy(ctx, h.cfg.Store, pr.org.ID, "", in.password); err != nil {
		h.fail(c, err)
		return
	}
	hash, err := h.hash(ctx, in.password)
	if err != nil {
		h.fail(c, err)
		return
	}
	nu := store.NewUser{OrgID: pr.org.ID, Domain: in.domain, Username: in.username, PasswordHash: hash,
		Claims: in.claims, Actor: pr.actor()}
	var id string
	if !in.changesNewAccount() {
		// One atomic insert (user, claims, audit): no SERIALIZABLE transaction, whose
		// predicate locks made concurrent creations (Bulk, provisioning) fail each other.
		u, err := h.cfg.Store.CreateUser(ctx, nu)
		if err != nil {
			h.fail(c, err)
			return
		}
		id = u.ID
	} else if err = h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		u, err := tx.CreateUser(ctx, nu)
		if err != nil {
			return err
		}
		id = u.ID
		ch, changed := in.accountChange(u)
		if disabled := in.disabledAfter(false); disabled {
			ch.Disabled, changed = &disabled, true
		}
		if changed {
			ch.OrgID, ch.UserID, ch.Actor = pr.org.ID, u.ID, pr.actor()
			if _, err := tx.ChangeAccount(ctx, ch); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		h.fail(c, err)
		return
	}
	// Read back after the commit: inside the SERIALIZABLE transaction these reads conflicted with
	// concurrent creations (Bulk) and failed them after the retries (docs/performance.md).
	v, err := loadUser(ctx, h.cfg.Store, pr.org.ID, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.respondUser(c, http.StatusCreated, v)
}

// updateUser runs change on the current state of a user inside one
// transaction, after checking If-Match, and writes what it returns.
func (h *Handler) updateUser(c *gin.Context, id string, change func(cur userView) (userInput, *Error)) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	var v userView
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		cur, err := loadUser(ctx, tx, pr.org.ID, id)
		if err != nil {
			return userNotFound(err, id)
		}
		if err := checkIfMatch(c, etag(cur.user.UpdatedAt)); err != nil {
			return err
		}
		in, serr := change(cur)
		if serr != nil {
			return serr
		}
		if err := h.checkPolicy(ctx, tx, pr.org.ID, id, in.password); err != nil {
			return err
		}
		hash, err := h.hash(ctx, in.password)
		if err != nil {
			return err
		}
		// A new password ends a forced reset (migration 00020's trigger);
		// the account change comes after it, so that an administrator can
		// set a temporary password and force its reset in one request.
		after, err := tx.ReplaceUser(ctx, store.UserReplace{OrgID: pr.org.ID, ID: id, Username: in.username,
			PasswordHash: hash, Disabled: in.disabledAfter(cur.user.Disabled), Claims: in.claims, ClaimScope: h.scope,
			Actor: pr.actor()})
		if err != nil {
			return err
		}
		if ch, ok := in.accountChange(after); ok {
			ch.OrgID, ch.UserID, ch.Actor = pr.org.ID, id, pr.actor()
			if _, err := tx.ChangeAccount(ctx, ch); err != nil {
				return err
			}
		}
		v, err = loadUser(ctx, tx, pr.org.ID, id)
		return err
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.respondUser(c, http.StatusOK, v)
}

func (h *Handler) putUser(c *gin.Context) {
	in, err := h.parseUser(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.updateUser(c, c.Param("id"), func(userView) (userInput, *Error) { return in, nil })
}

// patchRequest is a PatchOp body (RFC 7644 §3.5.2).
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

func (h *Handler) readPatch(c *gin.Context) ([]patchOp, *Error) {
	var pr patchRequest
	if err := h.readJSON(c, &pr); err != nil {
		return nil, err
	}
	if len(pr.Schemas) != 1 || pr.Schemas[0] != SchemaPatchOp {
		return nil, badRequest(TypeInvalidSyntax, "schemas must be [%q]", SchemaPatchOp)
	}
	return pr.Operations, nil
}

func (h *Handler) patchUser(c *gin.Context) {
	ops, err := h.readPatch(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	h.updateUser(c, c.Param("id"), func(cur userView) (userInput, *Error) {
		return h.patchedUser(base, cur, ops)
	})
}

// patchedUser applies ops to a user's current resource and returns the
// resulting store input.
func (h *Handler) patchedUser(base string, cur userView, ops []patchOp) (userInput, *Error) {
	res := h.renderUser(base, cur)
	if err := applyPatch(h.user, res, ops); err != nil {
		return userInput{}, err
	}
	return h.extractUser(res)
}

func (h *Handler) deleteUser(c *gin.Context) {
	ctx := c.Request.Context()
	pr := h.principal(c)
	id := c.Param("id")
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByID(ctx, pr.org.ID, id)
		if err != nil {
			return userNotFound(err, id)
		}
		if err := checkIfMatch(c, etag(u.UpdatedAt)); err != nil {
			return err
		}
		return tx.DeleteUser(ctx, pr.org.ID, id, pr.actor())
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// getMe returns the authenticated user (RFC 7644 §3.11).
func (h *Handler) getMe(c *gin.Context) {
	id, ok := h.meID(c)
	if !ok {
		return
	}
	v, err := loadUser(c.Request.Context(), h.cfg.Store, h.principal(c).org.ID, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	if notModified(c, etag(v.user.UpdatedAt)) {
		return
	}
	h.respondUser(c, http.StatusOK, v)
}
