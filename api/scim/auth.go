package scim

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// principal is the authenticated caller.
type principal struct {
	org      store.Organization
	user     store.User // zero for a client acting for itself
	clientID string     // a bearer token's client
	admin    bool
	bearer   bool
	scopes   []string
}

func (p principal) actor() store.Actor {
	if p.user.ID == "" {
		return store.Actor{Type: store.ActorApplication, ID: p.clientID}
	}
	return store.Actor{Type: store.ActorUser, ID: p.user.ID}
}

const principalKey = "scim.principal"

func unauthorized(detail string) *Error {
	return newError(http.StatusUnauthorized, "", "%s", detail)
}

// authenticate establishes the principal from HTTP Basic credentials or a
// bearer token, or answers 401.
func (h *Handler) authenticate(c *gin.Context) {
	ctx := c.Request.Context()
	org, err := h.org(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	p := principal{org: org}
	authz := c.GetHeader("Authorization")
	scheme, cred, _ := strings.Cut(authz, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		username, pw, ok := c.Request.BasicAuth()
		if !ok {
			h.fail(c, unauthorized("malformed Basic credentials"))
			return
		}
		u, ok, err := h.checkPassword(c, org, username, pw)
		if err != nil {
			h.fail(c, err)
			return
		}
		if !ok {
			h.fail(c, unauthorized("invalid credentials"))
			return
		}
		p.user = u
	case strings.EqualFold(scheme, "Bearer") && h.cfg.Tokens != nil:
		tok, err := h.cfg.Tokens.VerifyAccessToken(ctx, strings.TrimSpace(cred))
		if e := (*Error)(nil); errors.As(err, &e) {
			h.fail(c, err)
			return
		}
		if err != nil {
			h.fail(c, unauthorized("invalid or expired token"))
			return
		}
		p.bearer, p.scopes, p.clientID = true, tok.Scopes, tok.ClientID
		if tok.UserID != "" {
			u, err := h.cfg.Store.UserByID(ctx, org.ID, tok.UserID)
			if errors.Is(err, store.ErrNotFound) {
				h.fail(c, unauthorized("the token's user no longer exists"))
				return
			}
			if err != nil {
				h.fail(c, err)
				return
			}
			p.user = u
		}
	default:
		h.fail(c, unauthorized("authentication required"))
		return
	}
	if p.user.ID != "" {
		if p.user.Disabled || p.user.LockedAt(h.cfg.Now()) {
			h.fail(c, unauthorized("account disabled or locked"))
			return
		}
		admin, err := h.isAdmin(c, p.user)
		if err != nil {
			h.fail(c, err)
			return
		}
		p.admin = admin
	}
	c.Set(principalKey, p)
	c.Next()
}

// checkPassword verifies Basic credentials as a login does (Config.Passwords): failures count
// towards the lock, and locked, disabled or otherwise unusable accounts are refused. The
// username may carry a user store domain (PRIMARY/alice).
func (h *Handler) checkPassword(c *gin.Context, org store.Organization, username, pw string) (store.User, bool, error) {
	ctx := c.Request.Context()
	id, ok, err := h.cfg.Passwords.CheckPassword(ctx, org.Handle, username, pw)
	if err != nil || !ok {
		return store.User{}, false, err
	}
	u, err := h.cfg.Store.UserByID(ctx, org.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil
	}
	return u, err == nil, err
}

func (h *Handler) isAdmin(c *gin.Context, u store.User) (bool, error) {
	if strings.EqualFold(u.Username, AdminUsername) && u.Domain == store.DefaultDomain {
		return true, nil
	}
	return h.cfg.Store.UserHasRole(c.Request.Context(), u.ID, AdminRole)
}

// need admits administrators and users holding scope as a role permission; a bearer token
// must also hold scope. A bearer token acting for no user is the application itself, permitted
// by its scopes alone (see Handler).
func (h *Handler) need(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := c.MustGet(principalKey).(principal)
		app := p.bearer && p.user.ID == ""
		if !p.admin && !app {
			perms, err := h.cfg.Store.UserPermissions(c.Request.Context(), p.user.ID)
			if err != nil {
				h.fail(c, err)
				return
			}
			if !slices.Contains(perms, scope) {
				h.fail(c, newError(http.StatusForbidden, "", "not permitted: %s is not a permission of the user's roles", scope))
				return
			}
		}
		if p.bearer && !slices.Contains(p.scopes, scope) {
			// RFC 6750 §3.1: tell the client which scope it needs.
			c.Header("WWW-Authenticate", `Bearer realm="keyflow", error="insufficient_scope", scope="`+scope+`"`)
			h.fail(c, newError(http.StatusForbidden, "", "insufficient_scope: the token lacks scope %s", scope))
			return
		}
		c.Next()
	}
}

func (h *Handler) principal(c *gin.Context) principal {
	return c.MustGet(principalKey).(principal)
}

// splitDomain splits WSO2's qualified name DOMAIN/name.
func splitDomain(qualified string) (domain, name string) {
	if d, n, ok := strings.Cut(qualified, "/"); ok {
		return strings.ToUpper(d), n
	}
	return store.DefaultDomain, qualified
}
