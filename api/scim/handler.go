package scim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/scim/filter"
	"github.com/keyflow/keyflow/connectors"
	basicauth "github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
)

// Defaults of Config.
const (
	DefaultCount        = 100
	DefaultMaxCount     = 1000
	DefaultMaxBodyBytes = 1 << 20
	// MediaType is SCIM's (RFC 7644 §3.1).
	MediaType = "application/scim+json"
	// AdminRole is the role whose holders may do everything (see Handler).
	AdminRole = "admin"
	// AdminUsername is the bootstrap administrator's username, which has
	// full permission even without the admin role.
	AdminUsername = "admin"
)

// Token is what a TokenVerifier learns from a bearer token.
type Token struct {
	UserID   string   // the user the token acts for; empty for a client acting for itself
	ClientID string   // the client the token was issued to (the audit actor when UserID is empty)
	Scopes   []string // granted scopes
}

// TokenVerifier checks OAuth2 access tokens (RFC 6750 bearer tokens). It
// returns an error for a token that is invalid, expired or revoked; that
// error is answered 401 and not shown to the client. An *Error is
// answered as it is, for failures that say nothing about the token (503).
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (Token, error)
}

// Config configures the SCIM handler.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger // default: discard
	// BaseURL is the externally visible origin (https://id.example.com)
	// used in Location headers and meta.location; empty means the request's
	// scheme and Host.
	BaseURL string
	// OrgHandle selects the organization served (default: the root one,
	// store.RootOrganizationHandle).
	OrgHandle string
	// PasswordParams are argon2id's parameters for new password hashes
	// (zero: password.OWASP).
	PasswordParams password.Params
	// PasswordGate bounds concurrent argon2id work (hashing, password-history checks); share
	// the process's one. Nil: a gate of this handler's own.
	PasswordGate *password.Gate
	// Tokens verifies bearer tokens; nil refuses them (HTTP Basic only).
	Tokens TokenVerifier
	// Passwords checks HTTP Basic credentials as a login does (*op.Provider.CheckPassword, with
	// the server's lockout policy); nil means a BasicAuthenticator over Store that never locks.
	Passwords PasswordChecker
	// DefaultCount is the page size when a request gives no count;
	// MaxCount caps count (ServiceProviderConfig's filter.maxResults).
	DefaultCount, MaxCount int
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Handler serves SCIM 2.0 (RFC 7643/7644) under /scim2, WSO2-shaped.
//
// Authorization: a caller authenticated by HTTP Basic (checked as a login checks a password)
// or by a bearer token has full permission when its user is named AdminUsername or holds a
// role named AdminRole (directly or through a group); any other user may do what its roles'
// permissions name (WSO2 scopes such as internal_user_mgt_list). A bearer token must also
// carry the WSO2 scope of the operation (internal_user_mgt_*, internal_group_mgt_*). A bearer
// token acting for no user (client_credentials) is the application itself, as in WSO2: its
// scopes alone decide what it may do. Every authenticated user may use /Me.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	user  *resourceType
	group *resourceType
	role  *resourceType
	scope []string // claims the User schema owns
	// inner serves the operations of Bulk requests.
	inner *gin.Engine
	// router serves every request under the /scim2 prefixes (see dispatch).
	router *gin.Engine
}

// PasswordChecker checks a username ([DOMAIN/]name) and password of an organization; ok is
// false for any refusal.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, orgHandle, username, password string) (userID string, ok bool, err error)
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("scim: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseURL != "" && !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("scim: Config.BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.OrgHandle = cmp.Or(cfg.OrgHandle, store.RootOrganizationHandle)
	if cfg.PasswordParams == (password.Params{}) {
		cfg.PasswordParams = password.OWASP
	}
	if cfg.PasswordGate == nil {
		cfg.PasswordGate = password.NewGate(0)
	}
	cfg.MaxCount = cmp.Or(cfg.MaxCount, DefaultMaxCount)
	cfg.DefaultCount = cmp.Or(cfg.DefaultCount, min(DefaultCount, cfg.MaxCount))
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	if cfg.DefaultCount < 0 || cfg.MaxCount < 1 || cfg.DefaultCount > cfg.MaxCount || cfg.MaxBodyBytes < 1 {
		return nil, errors.New("scim: DefaultCount, MaxCount or MaxBodyBytes out of range")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, user: userResource(), group: groupResource(), role: roleResource()}
	h.scope = claimScope(h.user)
	if h.cfg.Passwords == nil {
		auth, err := basicauth.New(basicauth.Config{HashParams: cfg.PasswordParams, Gate: cfg.PasswordGate, Logger: cfg.Logger},
			basicauth.Deps{Users: cfg.Store, Organizations: cfg.Store})
		if err != nil {
			return nil, fmt.Errorf("scim: %w", err)
		}
		h.cfg.Passwords = authenticatorChecker{auth}
	}
	return h, nil
}

// Register mounts the endpoints under /scim2, /t/{tenant}/scim2 (the root
// organization whose handle is tenant, WSO2's tenant domain) and
// /o/{org-id}/scim2 (the organization with that id). An unknown or disabled
// organization is a SCIM 404, as are unknown paths; a known path with a
// method it does not serve is a SCIM 405 (RFC 7644 §3.12).
func (h *Handler) Register(r gin.IRouter) {
	// Built here rather than in New so they follow the gin mode the edge set.
	h.inner = h.innerEngine()
	h.router = h.routerEngine()
	r.Any("/scim2/*path", h.dispatch(scopeConfigured))
	r.Any("/t/:tenant/scim2/*path", h.dispatch(scopeTenant))
	r.Any("/o/:org/scim2/*path", h.dispatch(scopeOrgID))
}

// routerEngine routes the requests dispatch hands over: its own engine, so
// that unknown paths and methods under /scim2 get SCIM errors without
// touching the edge's NoRoute, which other APIs share.
func (h *Handler) routerEngine() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A redirect would name the rewritten path, losing a /t/ or /o/
	// prefix; dispatch trims a trailing slash instead.
	r.RedirectTrailingSlash, r.RedirectFixedPath = false, false
	r.NoRoute(func(c *gin.Context) { h.fail(c, notFound("endpoint", truncate(c.Request.URL.Path))) })
	r.NoMethod(func(c *gin.Context) {
		h.fail(c, newError(http.StatusMethodNotAllowed, "", "method %s is not allowed on %s", c.Request.Method, truncate(c.Request.URL.Path)))
	})
	g := r.Group("/scim2")
	g.GET("/ServiceProviderConfig", h.serviceProviderConfig)
	g.GET("/Schemas", h.schemas)
	g.GET("/Schemas/:id", h.schemaByID)
	g.GET("/ResourceTypes", h.resourceTypes)
	g.GET("/ResourceTypes/:id", h.resourceTypeByID)

	a := g.Group("", h.authenticate)
	h.registerResources(a)
	a.POST("/Bulk", h.need("internal_bulk_resource_create"), h.bulk)
	a.GET("/Me", h.getMe)
	a.PUT("/Me", h.putMe)
	a.PATCH("/Me", h.patchMe)
	a.DELETE("/Me", h.notImplemented)
	a.POST("/Me", h.notImplemented)
	return r
}

// scopeKind says how a request path names its organization.
type scopeKind int

const (
	scopeConfigured scopeKind = iota // /scim2: Config.OrgHandle
	scopeTenant                      // /t/{tenant}/scim2
	scopeOrgID                       // /o/{org-id}/scim2
)

// scope is the organization a request addresses and the path prefix it
// came with (for Location headers), carried in the request context.
type scope struct {
	org    *store.Organization // nil: Config.OrgHandle, resolved when needed
	prefix string              // "" or /t/{tenant} or /o/{org-id}
}

type scopeCtxKey struct{}

// dispatch resolves the organization of the path and hands the request,
// its path made /scim2/..., to the SCIM router.
func (h *Handler) dispatch(kind scopeKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var sc scope
		switch kind {
		case scopeTenant:
			tenant := c.Param("tenant")
			org, err := h.cfg.Store.OrganizationByHandle(ctx, tenant)
			if !h.usable(c, org, err, "tenant", tenant) {
				return
			}
			sc = scope{org: &org, prefix: "/t/" + url.PathEscape(tenant)}
		case scopeOrgID:
			id := c.Param("org")
			org, err := h.cfg.Store.OrganizationByID(ctx, id)
			if !h.usable(c, org, err, "organization", id) {
				return
			}
			sc = scope{org: &org, prefix: "/o/" + url.PathEscape(id)}
		}
		req := c.Request.WithContext(context.WithValue(ctx, scopeCtxKey{}, sc))
		u := *req.URL
		u.Path, u.RawPath = "/scim2"+strings.TrimSuffix(c.Param("path"), "/"), ""
		req.URL = &u
		h.router.ServeHTTP(c.Writer, req)
		c.Abort()
	}
}

// usable answers 404 for an organization that does not exist or is not
// active, 500 for a store failure.
func (h *Handler) usable(c *gin.Context, org store.Organization, err error, what, name string) bool {
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && org.Status != store.OrganizationActive):
		h.fail(c, newError(http.StatusNotFound, "", "%s %s not found", what, truncate(name)))
		return false
	case err != nil:
		h.fail(c, err)
		return false
	}
	return true
}

func scopeOf(ctx context.Context) scope {
	sc, _ := ctx.Value(scopeCtxKey{}).(scope)
	return sc
}

// registerResources mounts the Users and Groups endpoints on a router
// whose requests carry a principal (the authenticated one, or a Bulk
// request's).
func (h *Handler) registerResources(a gin.IRoutes) {
	a.GET("/Users", h.need("internal_user_mgt_list"), h.listUsers)
	a.POST("/Users/.search", h.need("internal_user_mgt_list"), h.searchUsers)
	a.POST("/Users", h.need("internal_user_mgt_create"), h.createUser)
	a.GET("/Users/:id", h.need("internal_user_mgt_view"), h.getUser)
	a.PUT("/Users/:id", h.need("internal_user_mgt_update"), h.putUser)
	a.PATCH("/Users/:id", h.need("internal_user_mgt_update"), h.patchUser)
	a.DELETE("/Users/:id", h.need("internal_user_mgt_delete"), h.deleteUser)

	a.GET("/Groups", h.need("internal_group_mgt_view"), h.listGroups)
	a.POST("/Groups/.search", h.need("internal_group_mgt_view"), h.searchGroups)
	a.POST("/Groups", h.need("internal_group_mgt_create"), h.createGroup)
	a.GET("/Groups/:id", h.need("internal_group_mgt_view"), h.getGroup)
	a.PUT("/Groups/:id", h.need("internal_group_mgt_update"), h.putGroup)
	a.PATCH("/Groups/:id", h.need("internal_group_mgt_update"), h.patchGroup)
	a.DELETE("/Groups/:id", h.need("internal_group_mgt_delete"), h.deleteGroup)
	h.registerRoles(a)
}

// fail writes err as a SCIM error; a 500's cause is logged, never sent.
func (h *Handler) fail(c *gin.Context, err error) {
	e := toError(err)
	if e.Status >= 500 {
		h.log.ErrorContext(c.Request.Context(), "scim: request failed", "method", c.Request.Method,
			"path", c.FullPath(), "error", err)
	}
	if e.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="keyflow", Bearer realm="keyflow"`)
	}
	h.write(c, e.Status, e.body())
	c.Abort()
}

func (h *Handler) write(c *gin.Context, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		h.log.ErrorContext(c.Request.Context(), "scim: encode response", "error", err)
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Data(status, MediaType+"; charset=utf-8", buf.Bytes())
}

// readJSON decodes a request body holding one JSON object.
func (h *Handler) readJSON(c *gin.Context, into any) *Error {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(into); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusRequestEntityTooLarge, "", "request body larger than %d bytes", h.cfg.MaxBodyBytes)
		}
		return badRequest(TypeInvalidSyntax, "request body is not valid JSON of the expected shape")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(TypeInvalidSyntax, "request body has data after the JSON object")
	}
	return nil
}

func (h *Handler) readObject(c *gin.Context) (map[string]any, *Error) {
	var obj map[string]any
	if err := h.readJSON(c, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, badRequest(TypeInvalidSyntax, "request body must be a JSON object")
	}
	return obj, nil
}

func (h *Handler) base(c *gin.Context) string {
	prefix := scopeOf(c.Request.Context()).prefix
	if h.cfg.BaseURL != "" {
		return h.cfg.BaseURL + prefix + "/scim2"
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + prefix + "/scim2"
}

// org is the organization the request addresses (see Register).
func (h *Handler) org(ctx context.Context) (store.Organization, error) {
	if sc := scopeOf(ctx); sc.org != nil {
		return *sc.org, nil
	}
	org, err := h.cfg.Store.OrganizationByHandle(ctx, h.cfg.OrgHandle)
	if err != nil {
		// A 500, not the 404 ErrNotFound maps to: this is misconfiguration.
		return store.Organization{}, &Error{Status: http.StatusInternalServerError, Detail: "internal error",
			cause: fmt.Errorf("scim: organization %s: %w", h.cfg.OrgHandle, err)}
	}
	return org, nil
}

// etag is the weak entity tag of a resource version (RFC 7644 §3.14),
// derived from its modification time.
func etag(updated time.Time) string {
	return `W/"` + strconv.FormatInt(updated.UnixMicro(), 36) + `"`
}

// checkIfMatch enforces If-Match on a write (RFC 7232 §3.1).
func checkIfMatch(c *gin.Context, current string) *Error {
	im := strings.TrimSpace(c.GetHeader("If-Match"))
	if im == "" || im == "*" {
		return nil
	}
	for _, t := range strings.Split(im, ",") {
		if weakEqual(strings.TrimSpace(t), current) {
			return nil
		}
	}
	return newError(http.StatusPreconditionFailed, "", "the resource has changed (If-Match does not match its version)")
}

func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// notModified handles If-None-Match on a read.
func notModified(c *gin.Context, current string) bool {
	inm := c.GetHeader("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		if t = strings.TrimSpace(t); t == "*" || weakEqual(t, current) {
			c.Header("ETag", current)
			c.Status(http.StatusNotModified)
			return true
		}
	}
	return false
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// listParams are a query's parameters (RFC 7644 §3.4.2), from the URL or
// a SearchRequest body.
type listParams struct {
	filter     string
	sortBy     string
	sortOrder  string
	startIndex int
	count      int
	attrs      []string
	excluded   []string
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (h *Handler) queryParams(c *gin.Context) (listParams, *Error) {
	p := listParams{
		filter: c.Query("filter"), sortBy: c.Query("sortBy"), sortOrder: c.Query("sortOrder"),
		attrs: splitList(c.Query("attributes")), excluded: splitList(c.Query("excludedAttributes")),
		startIndex: 1, count: h.cfg.DefaultCount,
	}
	for name, dst := range map[string]*int{"startIndex": &p.startIndex, "count": &p.count} {
		if v, ok := c.GetQuery(name); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return p, badRequest(TypeInvalidValue, "%s must be an integer", name)
			}
			*dst = n
		}
	}
	return p, nil
}

// searchRequest is the body of POST .search (RFC 7644 §3.4.3).
type searchRequest struct {
	Schemas            []string `json:"schemas"`
	Attributes         []string `json:"attributes"`
	ExcludedAttributes []string `json:"excludedAttributes"`
	Filter             string   `json:"filter"`
	SortBy             string   `json:"sortBy"`
	SortOrder          string   `json:"sortOrder"`
	StartIndex         *int     `json:"startIndex"`
	Count              *int     `json:"count"`
}

func (h *Handler) searchParams(c *gin.Context) (listParams, *Error) {
	var sr searchRequest
	if err := h.readJSON(c, &sr); err != nil {
		return listParams{}, err
	}
	if len(sr.Schemas) != 1 || sr.Schemas[0] != SchemaSearch {
		return listParams{}, badRequest(TypeInvalidSyntax, "schemas must be [%q]", SchemaSearch)
	}
	p := listParams{filter: sr.Filter, sortBy: sr.SortBy, sortOrder: sr.SortOrder, attrs: sr.Attributes,
		excluded: sr.ExcludedAttributes, startIndex: 1, count: h.cfg.DefaultCount}
	if sr.StartIndex != nil {
		p.startIndex = *sr.StartIndex
	}
	if sr.Count != nil {
		p.count = *sr.Count
	}
	return p, nil
}

// compileQuery validates p for rt and builds the store query.
func (h *Handler) compileQuery(rt *resourceType, orgID string, p listParams) (store.ListQuery, projection, *Error) {
	q := store.ListQuery{OrgID: orgID}
	if len(p.attrs) > 0 && len(p.excluded) > 0 {
		return q, projection{}, badRequest(TypeInvalidSyntax, "attributes and excludedAttributes are mutually exclusive")
	}
	proj, err := newProjection(rt, p.attrs, p.excluded)
	if err != nil {
		return q, proj, err
	}
	if p.filter != "" {
		e, perr := filter.Parse(p.filter)
		if perr != nil {
			return q, proj, invalidFilter("%s", perr.Error())
		}
		f, err := translator{rt: rt}.expr(e)
		if err != nil {
			return q, proj, err
		}
		if n := countNodes(f); n > store.MaxFilterNodes {
			return q, proj, invalidFilter("filter too complex")
		}
		q.Filter = &f
	}
	if p.sortBy != "" {
		if q.SortField, q.SortClaim, err = rt.sortKey(p.sortBy); err != nil {
			return q, proj, err
		}
	}
	switch strings.ToLower(p.sortOrder) {
	case "", "ascending":
	case "descending":
		q.Descending = true
	default:
		return q, proj, badRequest(TypeInvalidValue, "sortOrder must be ascending or descending")
	}
	// RFC 7644 §3.4.2.4: startIndex < 1 is 1; count < 0 is 0.
	q.Offset = max(p.startIndex, 1) - 1
	q.Limit = min(max(p.count, 0), h.cfg.MaxCount)
	return q, proj, nil
}

func countNodes(f store.Filter) int {
	n := 1
	for _, s := range f.Sub {
		n += countNodes(s)
	}
	return n
}

func listResponse(total, startIndex int, items []any) map[string]any {
	return map[string]any{
		"schemas":      []string{SchemaList},
		"totalResults": total,
		"startIndex":   max(startIndex, 1),
		"itemsPerPage": len(items),
		"Resources":    items,
	}
}

// authenticatorChecker is the PasswordChecker of a BasicAuthenticator.
type authenticatorChecker struct{ a *basicauth.Authenticator }

func (c authenticatorChecker) CheckPassword(ctx context.Context, orgHandle, username, password string) (string, bool, error) {
	return connectors.CheckPassword(ctx, c.a, orgHandle, username, password)
}
