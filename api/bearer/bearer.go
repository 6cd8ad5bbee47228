// Package bearer authenticates the management REST APIs' callers (WSO2's /api/users/v1,
// /api/server/v1): an OAuth2 access token issued by Keyflow, acting either for a user (whose
// account must be usable; administrators are the user named AdminUsername or holders of the role
// AdminRole) or, for client_credentials tokens, for the client itself. Authorization is by the
// token's scopes (Need).
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

// Caller is the authenticated caller.
type Caller struct {
	Org   store.Organization
	Token op.AccessToken
	// User is the token's user, zero for a client acting for itself.
	User  store.User
	Admin bool
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
	handle := a.OrgHandle
	if handle == "" {
		handle = store.RootOrganizationHandle
	}
	org, err := a.Users.OrganizationByHandle(ctx, handle)
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
		if strings.EqualFold(u.Username, AdminUsername) && u.Domain == store.DefaultDomain {
			cl.Admin = true
		} else if cl.Admin, err = a.Users.UserHasRole(ctx, u.ID, AdminRole); err != nil {
			a.fail(c, ServerError, err)
			return
		}
	}
	c.Set(callerKey, cl)
	c.Next()
}

// Who says which callers an operation admits besides its scope.
type Who int

// Callers.
const (
	// Self: a token issued for a user (My Account operations).
	Self Who = iota + 1
	// Admin: an administrator's token, or a client acting for itself.
	Admin
)

// Need admits callers with scope who are who.
func (a *Authenticator) Need(scope string, who Who) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := Get(c)
		if !slices.Contains(cl.Token.Scopes, scope) {
			// RFC 6750 §3.1: tell the client which scope it needs.
			c.Header("WWW-Authenticate", `Bearer realm="keyflow", error="insufficient_scope", scope="`+scope+`"`)
			a.fail(c, Forbidden, nil)
			return
		}
		if (who == Admin && cl.User.ID != "" && !cl.Admin) || (who == Self && cl.User.ID == "") {
			a.fail(c, Forbidden, nil)
			return
		}
		c.Next()
	}
}

// Get returns the Caller Authenticate established.
func Get(c *gin.Context) Caller { return c.MustGet(callerKey).(Caller) }

func (a *Authenticator) fail(c *gin.Context, f Failure, cause error) {
	if f == Unauthenticated {
		c.Header("WWW-Authenticate", `Bearer realm="keyflow"`)
	}
	a.Fail(c, f, cause)
	c.Abort()
}
