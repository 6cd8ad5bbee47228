// Package users serves WSO2's user session API (/api/users/v1): a user lists and ends their own
// SSO sessions (My Account), an administrator those of any user.
//
//	GET    /api/users/v1/me/sessions                     the caller's sessions
//	DELETE /api/users/v1/me/sessions                     end them all
//	DELETE /api/users/v1/me/sessions/{sessionId}         end one
//	GET    /api/users/v1/{userId}/sessions               a user's sessions (admin)
//	DELETE /api/users/v1/{userId}/sessions               end them all (admin)
//	DELETE /api/users/v1/{userId}/sessions/{sessionId}   end one (admin)
//
// Callers present an OAuth2 access token issued by Keyflow. The /me paths need a token issued
// for a user with scope internal_login (as WSO2's My Account); the others need scope
// internal_session_view (GET) or internal_session_delete (DELETE), and, for a token issued for a
// user, that the user is an administrator. Errors use WSO2's REST error body {code, message,
// description, traceId}.
package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the API, WSO2's names.
const (
	ScopeLogin         = "internal_login"
	ScopeSessionView   = "internal_session_view"
	ScopeSessionDelete = "internal_session_delete"
)

// Store is what the API needs from PostgreSQL; *store.Store implements it.
type Store interface {
	bearer.Users
	UserSSOSessions(ctx context.Context, userID string, now time.Time) ([]store.SSOSession, error)
	TerminateSSOSession(ctx context.Context, id, userID string, now time.Time, actor store.Actor) (store.SSOSession, error)
	TerminateUserSSOSessions(ctx context.Context, userID string, now time.Time, actor store.Actor) ([]store.SSOSession, error)
	RevokeOAuth2SessionGrants(ctx context.Context, sessionID string) ([]store.RevokedJTI, error)
	SubjectConsents(ctx context.Context, orgID, subject string) ([]store.Consent, error)
	RevokeConsent(ctx context.Context, orgID, subject, clientID string) error
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	Logger    *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// TOTP and TOTPStore, when both set, serve My Account's TOTP enrolment (/me/totp).
	TOTP      TOTPEnroller
	TOTPStore TOTPStore
	// Ended, when set, is told of every session the API ended, to log its relying parties out
	// (oidclogout.Ender sends OIDC back-channel logout; cmd/keyflow passes
	// saml.Enders{oidcEnder, samlIdP} so SAML service providers with a back-channel single
	// logout service get SOAP LogoutRequests too). Without it only the session's tokens are
	// revoked. Front-channel-only participants need a browser and are not reached (logged).
	Ended SessionEnder
}

// SessionEnder follows the end of an SSO session: revokes its tokens and notifies its relying
// parties.
type SessionEnder interface {
	SessionEnded(ctx context.Context, s store.SSOSession) []string
}

// Handler serves the API.
type Handler struct {
	cfg  Config
	log  *slog.Logger
	auth *bearer.Authenticator
	errs *rest.Errors
}

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("users: Config needs Store and Tokens")
	}
	if cfg.OrgHandle == "" {
		cfg.OrgHandle = store.RootOrganizationHandle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := rest.NewGuard("users", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	return &Handler{cfg: cfg, log: g.Log, errs: g.Errs, auth: g.Auth}, nil
}

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group("/api/users/v1", a.Authenticate)
	g.GET("/me/sessions", a.Need(ScopeLogin, bearer.Self), h.listSessions)
	g.DELETE("/me/sessions", a.Need(ScopeLogin, bearer.Self), h.terminateAll)
	g.DELETE("/me/sessions/:sessionId", a.Need(ScopeLogin, bearer.Self), h.terminateOne)
	h.registerTOTP(g)
	g.GET("/me/consents", a.Need(ScopeLogin, bearer.Self), h.listConsents)
	g.DELETE("/me/consents/:clientId", a.Need(ScopeLogin, bearer.Self), h.revokeConsent)
	g.GET("/:userId/sessions", a.Need(ScopeSessionView, bearer.Admin), h.listSessions)
	g.DELETE("/:userId/sessions", a.Need(ScopeSessionDelete, bearer.Admin), h.terminateAll)
	g.DELETE("/:userId/sessions/:sessionId", a.Need(ScopeSessionDelete, bearer.Admin), h.terminateOne)
}

// Error is WSO2's REST API error body.
type Error = rest.Error

func (h *Handler) fail(c *gin.Context, e Error, cause error) { h.errs.Fail(c, e, cause) }

var (
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "USM-10001", Message: "Unauthorized",
		Description: "A valid bearer access token is required."}
	errForbidden = Error{Status: http.StatusForbidden, Code: "USM-10002", Message: "Forbidden",
		Description: "The caller is not permitted to perform this operation."}
	errUserNotFound = Error{Status: http.StatusNotFound, Code: "USM-10003", Message: "User not found",
		Description: "No user with the given id exists."}
	errSessionNotFound = Error{Status: http.StatusNotFound, Code: "USM-10004", Message: "Session not found",
		Description: "The user has no active session with the given id."}
	errConsentNotFound = Error{Status: http.StatusNotFound, Code: "USM-10005", Message: "Consent not found",
		Description: "The user has not granted the given application anything."}
	errServer = Error{Status: http.StatusInternalServerError, Code: "USM-15001", Message: "Server error",
		Description: "The request could not be completed."}
	errUnavailable = Error{Status: http.StatusServiceUnavailable, Code: "USM-15002", Message: "Service unavailable",
		Description: "Token verification is unavailable; retry later."}
)

// target is the user an operation is about: the caller on /me, else {userId} (which must exist
// in the organization).
func (h *Handler) target(c *gin.Context) (store.User, bool) {
	cl := bearer.Get(c)
	id := c.Param("userId")
	if id == "" {
		return cl.User, true
	}
	u, err := h.cfg.Store.UserByID(c.Request.Context(), cl.Org.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errUserNotFound, nil)
		return store.User{}, false
	}
	if err != nil {
		h.fail(c, errServer, err)
		return store.User{}, false
	}
	return u, true
}

// Sessions is the list body: WSO2's UserSessions.
type Sessions struct {
	UserID   string    `json:"userId"`
	Sessions []Session `json:"sessions"`
}

// Session is one SSO session. Times are Unix milliseconds as strings, as WSO2 sends them.
type Session struct {
	ID             string        `json:"id"`
	Applications   []Application `json:"applications"`
	UserAgent      string        `json:"userAgent"`
	IP             string        `json:"ip"`
	LoginTime      string        `json:"loginTime"`
	LastAccessTime string        `json:"lastAccessTime"`
}

// Application is an application a session signed in to.
type Application struct {
	Subject string `json:"subject"`
	AppName string `json:"appName"`
	AppID   string `json:"appId"`
}

func (h *Handler) listSessions(c *gin.Context) {
	u, ok := h.target(c)
	if !ok {
		return
	}
	list, err := h.cfg.Store.UserSSOSessions(c.Request.Context(), u.ID, h.cfg.Now())
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	out := Sessions{UserID: u.ID, Sessions: make([]Session, 0, len(list))}
	for _, s := range list {
		ss := Session{ID: s.ID, UserAgent: s.UserAgent, IP: s.IP, Applications: []Application{},
			LoginTime: millis(s.AuthTime), LastAccessTime: millis(s.LastActiveAt)}
		for _, p := range s.Participants {
			ss.Applications = append(ss.Applications, Application{Subject: s.Subject, AppName: p.RelyingParty, AppID: p.ApplicationID})
		}
		out.Sessions = append(out.Sessions, ss)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (h *Handler) terminateAll(c *gin.Context) {
	u, ok := h.target(c)
	if !ok {
		return
	}
	ended, err := h.cfg.Store.TerminateUserSSOSessions(c.Request.Context(), u.ID, h.cfg.Now(), bearer.Get(c).Actor())
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	for _, s := range ended {
		if err := h.revoke(c.Request.Context(), s); err != nil {
			h.fail(c, errServer, err)
			return
		}
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) terminateOne(c *gin.Context) {
	u, ok := h.target(c)
	if !ok {
		return
	}
	ended, err := h.cfg.Store.TerminateSSOSession(c.Request.Context(), c.Param("sessionId"), u.ID, h.cfg.Now(), bearer.Get(c).Actor())
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errSessionNotFound, nil)
		return
	}
	if err == nil {
		err = h.revoke(c.Request.Context(), ended)
	}
	if err != nil {
		h.fail(c, errServer, fmt.Errorf("terminate session: %w", err))
		return
	}
	c.Status(http.StatusNoContent)
}

// revoke revokes the tokens issued in an ended session (those of offline_access grants stay,
// as at logout) and, with Config.Ended, logs its relying parties out.
func (h *Handler) revoke(ctx context.Context, s store.SSOSession) error {
	if h.cfg.Ended != nil {
		if frames := h.cfg.Ended.SessionEnded(ctx, s); len(frames) > 0 {
			// No browser is present: front-channel participants (OIDC front-channel,
			// WS-Federation cleanup) cannot be reached, as in WSO2.
			h.log.InfoContext(ctx, "users: front-channel participants of an ended session not reached",
				"session", s.ID, "frontchannel", len(frames))
		}
		return nil
	}
	_, err := h.cfg.Store.RevokeOAuth2SessionGrants(ctx, s.ID)
	return err
}

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Consent is what the user granted one OAuth2 application (My Account's "Manage consents").
type Consent struct {
	ClientID  string   `json:"clientId"`
	Scopes    []string `json:"scopes"`
	GrantedAt string   `json:"grantedAt"`
	UpdatedAt string   `json:"updatedAt"`
}

func (h *Handler) listConsents(c *gin.Context) {
	cl := bearer.Get(c)
	list, err := h.cfg.Store.SubjectConsents(c.Request.Context(), cl.Org.ID, cl.User.ID)
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	out := make([]Consent, 0, len(list))
	for _, cs := range list {
		out = append(out, Consent{ClientID: cs.ClientID, Scopes: cs.Scopes,
			GrantedAt: cs.GrantedAt.UTC().Format(time.RFC3339), UpdatedAt: cs.UpdatedAt.UTC().Format(time.RFC3339)})
	}
	c.JSON(http.StatusOK, out)
}

// revokeConsent withdraws what the user granted an application: its next authorization request
// asks again.
func (h *Handler) revokeConsent(c *gin.Context) {
	cl := bearer.Get(c)
	err := h.cfg.Store.RevokeConsent(c.Request.Context(), cl.Org.ID, cl.User.ID, c.Param("clientId"))
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errConsentNotFound, nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.Status(http.StatusNoContent)
}
