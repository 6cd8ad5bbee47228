// Package bearer authenticates the management REST APIs' callers (WSO2's /api/users/v1,
// /api/server/v1): an OAuth2 access token issued by Keyflow, acting either for a user (whose
// account must be usable; administrators are the user named AdminUsername or holders of the role
// AdminRole) or, for client_credentials tokens, for the client itself. Authorization is by the
// token's scopes (Need).
//
// HTTP Basic is accepted too when the Tokens given implement PasswordChecker (as *op.Provider
// does), as WSO2's management APIs accept it: the username (DOMAIN/name or name) and password
// of a user. The password is checked as a login checks it (failures counted, accounts locked,
// unusable accounts refused, the same work for unknown users); a wrong one is Unauthenticated.
// An administrator authenticated so holds every scope; any other user only what its roles grant
// as permissions (Need).
package bearer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// AdminRole and AdminUsername make a user an administrator (as in the SCIM API).
const (
	AdminRole     = "admin"
	AdminUsername = "admin"
)

// Tokens verifies access tokens; *op.Provider implements it.
type Tokens interface {
	VerifyAccessToken(ctx context.Context, token string) (op.AccessToken, error)
}

// Users finds a token's user; *store.Store implements it.
type Users interface {
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
	UserByID(ctx context.Context, orgID, id string) (store.User, error)
	UserHasRole(ctx context.Context, userID, roleName string) (bool, error)
}

// PasswordChecker is the optional capability of Tokens that enables HTTP Basic: checking a
// username and password as a login's BasicAuthenticator does (*op.Provider.CheckPassword). ok
// is false for any refusal.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, orgHandle, username, password string) (userID string, ok bool, err error)
}

// Caller is the authenticated caller.
type Caller struct {
	Org   store.Organization
	Token op.AccessToken
	// User is the token's user, zero for a client acting for itself.
	User  store.User
	Admin bool
	// Basic: a user authenticated with HTTP Basic (Token is zero): an administrator holds every
	// scope, anyone else the permissions of its roles.
	Basic bool
}

// Actor is the caller in the audit trail.
func (c Caller) Actor() store.Actor {
	if c.User.ID == "" {
		return store.Actor{Type: store.ActorApplication, ID: c.Token.ClientID}
	}
	return store.Actor{Type: store.ActorUser, ID: c.User.ID}
}

// Failure says why a request was refused; the API writes it in its own error format.
type Failure int

// Failures.
const (
	// Unauthenticated: no, an unknown or an expired token, or an unusable account (401).
	Unauthenticated Failure = iota + 1
	// Forbidden: a missing scope or not an administrator (403).
	Forbidden
	// Unavailable: the token could not be verified now (503).
	Unavailable
	// ServerError: a store failure (500).
	ServerError
)

// Status is the HTTP status of f.
func (f Failure) Status() int {
	switch f {
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Authenticator is the middleware.
type Authenticator struct {
	Tokens Tokens
	Users  Users
	// OrgHandle is the organization served; empty means store.RootOrganizationHandle.
	OrgHandle string
	// Fail writes the API's error response for f (cause is for logging); it must abort c.
	Fail func(c *gin.Context, f Failure, cause error)
}

const callerKey = "bearer.caller"

// Authenticate establishes the Caller or fails with Unauthenticated.
func (a *Authenticator) Authenticate(c *gin.Context) {
	ctx := c.Request.Context()
	scheme, tok, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if pc, ok := a.Tokens.(PasswordChecker); ok && strings.EqualFold(scheme, "Basic") {
		a.basic(c, pc)
		return
	}
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		a.fail(c, Unauthenticated, nil)
		return
	}
	at, err := a.Tokens.VerifyAccessToken(ctx, tok)
	if err != nil {
		if errors.Is(err, op.ErrInvalidToken("")) {
			a.fail(c, Unauthenticated, nil)
			return
		}
		a.fail(c, Unavailable, err)
		return
	}
	org, err := a.org(ctx)
	if err != nil {
		a.fail(c, ServerError, err)
		return
	}
	cl := Caller{Org: org, Token: at}
	if !at.ClientOnly {
		u, err := a.Users.UserByID(ctx, org.ID, at.Subject)
		if errors.Is(err, store.ErrNotFound) {
			a.fail(c, Unauthenticated, nil)
			return
		}
		if err != nil {
			a.fail(c, ServerError, err)
			return
		}
		if u.Disabled || u.Locked {
			a.fail(c, Unauthenticated, nil)
			return
		}
		cl.User = u
		if cl.Admin, err = a.isAdmin(ctx, u); err != nil {
			a.fail(c, ServerError, err)
			return
		}
	}
	c.Set(callerKey, cl)
	c.Next()
}

func (a *Authenticator) org(ctx context.Context) (store.Organization, error) {
	handle := a.OrgHandle
	if handle == "" {
		handle = store.RootOrganizationHandle
	}
	return a.Users.OrganizationByHandle(ctx, handle)
}

func (a *Authenticator) isAdmin(ctx context.Context, u store.User) (bool, error) {
	if strings.EqualFold(u.Username, AdminUsername) && u.Domain == store.DefaultDomain {
		return true, nil
	}
	return a.Users.UserHasRole(ctx, u.ID, AdminRole)
}

// basic establishes the caller from HTTP Basic credentials (RFC 7617).
func (a *Authenticator) basic(c *gin.Context, pc PasswordChecker) {
	ctx := c.Request.Context()
	username, pw, ok := c.Request.BasicAuth()
	if !ok || username == "" {
		a.fail(c, Unauthenticated, nil)
		return
	}
	org, err := a.org(ctx)
	if err != nil {
		a.fail(c, ServerError, err)
		return
	}
	id, ok, err := pc.CheckPassword(ctx, org.Handle, username, pw)
	if err != nil {
		a.fail(c, ServerError, err)
		return
	}
	if !ok {
		a.fail(c, Unauthenticated, nil)
		return
	}
	u, err := a.Users.UserByID(ctx, org.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(c, Unauthenticated, nil)
		return
	}
	if err != nil {
		a.fail(c, ServerError, err)
		return
	}
	admin, err := a.isAdmin(ctx, u)
	if err != nil {
		a.fail(c, ServerError, err)
		return
	}
	c.Set(callerKey, Caller{Org: org, User: u, Admin: admin, Basic: true})
	c.Next()
}

// PermissionUsers is the optional capability of Users that lets a user who is not an
// administrator use an Admin operation whose scope one of its roles grants as a permission
// (*store.Store.UserPermissions).
type PermissionUsers interface {
	UserPermissions(ctx context.Context, userID string) ([]string, error)
}

// Who says which callers an operation admits besides its scope.
type Who int

// Callers.
const (
	// Self: a token issued for a user (My Account operations).
	Self Who = iota + 1
	// Admin: an administrator, a user whose roles grant the operation's scope as a permission,
	// or a client acting for itself.
	Admin
)

// Need admits callers with scope who are who.
func (a *Authenticator) Need(scope string, who Who) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := Get(c)
		if !cl.Basic && !slices.Contains(cl.Token.Scopes, scope) {
			// RFC 6750 §3.1: tell the client which scope it needs.
			c.Header("WWW-Authenticate", `Bearer realm="keyflow", error="insufficient_scope", scope="`+scope+`"`)
			a.fail(c, Forbidden, nil)
			return
		}
		if who == Self && cl.User.ID == "" {
			a.fail(c, Forbidden, nil)
			return
		}
		if who == Admin && cl.User.ID != "" && !cl.Admin {
			pu, ok := a.Users.(PermissionUsers)
			if !ok {
				a.fail(c, Forbidden, nil)
				return
			}
			perms, err := pu.UserPermissions(c.Request.Context(), cl.User.ID)
			if err != nil {
				a.fail(c, ServerError, err)
				return
			}
			if !slices.Contains(perms, scope) {
				a.fail(c, Forbidden, nil)
				return
			}
		}
		c.Next()
	}
}

// Get returns the Caller Authenticate established.
func Get(c *gin.Context) Caller { return c.MustGet(callerKey).(Caller) }

func (a *Authenticator) fail(c *gin.Context, f Failure, cause error) {
	if f == Unauthenticated {
		c.Header("WWW-Authenticate", `Bearer realm="keyflow"`)
		if _, ok := a.Tokens.(PasswordChecker); ok {
			c.Writer.Header().Add("WWW-Authenticate", `Basic realm="keyflow", charset="UTF-8"`)
		}
	}
	a.Fail(c, f, cause)
	c.Abort()
}
