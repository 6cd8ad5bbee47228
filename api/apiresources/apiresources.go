package apiresources

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
)

// Path is the API's base path, WSO2's.
const Path = "/api/server/v1/api-resources"

// Scopes of the API, WSO2's names.
const (
	ScopeView   = "internal_api_resource_view"
	ScopeCreate = "internal_api_resource_create"
	ScopeUpdate = "internal_api_resource_update"
	ScopeDelete = "internal_api_resource_delete"
)

// Paging of the list.
const (
	DefaultLimit = 10
	MaxLimit     = 100
	maxBody      = 1 << 20
)

// Store is what the API needs; *store.Store implements it.
type Store interface {
	bearer.Users
	CreateAPIResource(ctx context.Context, r store.APIResource, actor store.Actor) (store.APIResource, error)
	APIResource(ctx context.Context, orgID, id string) (store.APIResource, error)
	APIResources(ctx context.Context, q store.APIResourceQuery) ([]store.APIResource, bool, int, error)
	UpdateAPIResource(ctx context.Context, orgID, id string, u store.APIResourceUpdate) (store.APIResource, error)
	DeleteAPIResource(ctx context.Context, orgID, id string, actor store.Actor) error
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// BaseURL is the public base URL, for Location headers and self links.
	BaseURL string
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	Logger    *slog.Logger
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
		return nil, errors.New("apiresources: Config needs Store and Tokens")
	}
	g := rest.NewGuard("apiresources", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	return &Handler{cfg: cfg, log: g.Log, errs: g.Errs, auth: g.Auth}, nil
}

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group(Path, a.Authenticate)
	g.GET("", a.Need(ScopeView, bearer.Admin), h.list)
	g.POST("", a.Need(ScopeCreate, bearer.Admin), h.create)
	g.GET("/:id", a.Need(ScopeView, bearer.Admin), h.get)
	g.PATCH("/:id", a.Need(ScopeUpdate, bearer.Admin), h.patch)
	g.DELETE("/:id", a.Need(ScopeDelete, bearer.Admin), h.delete)
	g.GET("/:id/scopes", a.Need(ScopeView, bearer.Admin), h.getScopes)
	g.PUT("/:id/scopes", a.Need(ScopeUpdate, bearer.Admin), h.putScopes)
	g.DELETE("/:id/scopes/:scope", a.Need(ScopeUpdate, bearer.Admin), h.deleteScope)
}

// Error is WSO2's REST API error body.
type Error = rest.Error

// Error codes, in the namespace of WSO2's API resource management API.
var (
	errInvalid      = Error{Status: http.StatusBadRequest, Code: "APR-60001", Message: "Invalid request"}
	errFilter       = Error{Status: http.StatusBadRequest, Code: "APR-60002", Message: "Unsupported filter"}
	errNotFound     = Error{Status: http.StatusNotFound, Code: "APR-60003", Message: "API resource not found", Description: "No API resource with the given id exists."}
	errScopeMissing = Error{Status: http.StatusNotFound, Code: "APR-60004", Message: "Scope not found", Description: "The API resource has no scope of this name."}
	errConflict     = Error{Status: http.StatusConflict, Code: "APR-60005", Message: "Conflict"}
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "APR-60010", Message: "Unauthorized", Description: "A valid bearer access token is required."}
	errForbidden    = Error{Status: http.StatusForbidden, Code: "APR-60011", Message: "Forbidden", Description: "The caller is not permitted to perform this operation."}
	errServer       = Error{Status: http.StatusInternalServerError, Code: "APR-65001", Message: "Server error", Description: "The request could not be completed."}
	errUnavailable  = Error{Status: http.StatusServiceUnavailable, Code: "APR-65002", Message: "Service unavailable", Description: "Token verification is unavailable; retry later."}
)

func (h *Handler) fail(c *gin.Context, e Error, cause error) { h.errs.Fail(c, e, cause) }

// failStore answers a store error: conflicts 409, not found notFound, anything else 500.
func (h *Handler) failStore(c *gin.Context, err error, notFound Error) {
	switch {
	case errors.Is(err, store.ErrConflict):
		h.fail(c, errConflict.With("An API resource with this identifier, or a scope with one of these names, already exists in the organization."), nil)
	case errors.Is(err, store.ErrNotFound):
		h.fail(c, notFound, nil)
	default:
		h.fail(c, errServer, err)
	}
}

func (h *Handler) decode(c *gin.Context, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		h.fail(c, errInvalid.With("The body must be JSON of the documented shape."), nil)
		return false
	}
	return true
}

func (h *Handler) self(id string) string { return h.cfg.BaseURL + Path + "/" + id }

// scopeBody is WSO2's ScopeCreationModel.
type scopeBody struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

// scopes checks bs: valid scopes with distinct names.
func scopes(bs []scopeBody) ([]store.APIScope, error) {
	if len(bs) > store.MaxAPIResourceScopes {
		return nil, fmt.Errorf("more than %d scopes", store.MaxAPIResourceScopes)
	}
	out := make([]store.APIScope, 0, len(bs))
	seen := map[string]bool{}
	for _, b := range bs {
		s := store.APIScope{Name: strings.TrimSpace(b.Name), DisplayName: strings.TrimSpace(b.DisplayName), Description: b.Description}
		if s.DisplayName == "" {
			s.DisplayName = s.Name
		}
		if err := store.ValidateAPIScope(s); err != nil {
			return nil, err
		}
		if strings.HasPrefix(s.Name, "internal_") || s.Name == "openid" {
			return nil, fmt.Errorf("scope name %q is reserved", s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("scope %q appears twice", s.Name)
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	return out, nil
}

// scopeModel is WSO2's ScopeGetModel.
type scopeModel struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

func scopeModels(ss []store.APIScope) []scopeModel {
	out := make([]scopeModel, len(ss))
	for i, s := range ss {
		out[i] = scopeModel{ID: s.ID, Name: s.Name, DisplayName: s.DisplayName, Description: s.Description}
	}
	return out
}

// resourceModel is WSO2's APIResourceResponse.
type resourceModel struct {
	ID                    string       `json:"id"`
	Name                  string       `json:"name"`
	Description           string       `json:"description"`
	Identifier            string       `json:"identifier"`
	Type                  string       `json:"type"`
	RequiresAuthorization bool         `json:"requiresAuthorization"`
	Scopes                []scopeModel `json:"scopes"`
	Properties            []any        `json:"properties"`
	Self                  string       `json:"self"`
}

func (h *Handler) model(r store.APIResource) resourceModel {
	return resourceModel{ID: r.ID, Name: r.Name, Description: r.Description, Identifier: r.Identifier, Type: r.Type,
		RequiresAuthorization: r.RequiresAuthorization, Scopes: scopeModels(r.Scopes), Properties: []any{}, Self: h.self(r.ID)}
}

// createBody is WSO2's APIResourceCreationModel.
type createBody struct {
	Name                  string      `json:"name"`
	Identifier            string      `json:"identifier"`
	Description           string      `json:"description"`
	RequiresAuthorization *bool       `json:"requiresAuthorization"`
	Scopes                []scopeBody `json:"scopes"`
}

func (h *Handler) create(c *gin.Context) {
	var b createBody
	if !h.decode(c, &b) {
		return
	}
	r := store.APIResource{OrgID: bearer.Get(c).Org.ID, Name: strings.TrimSpace(b.Name), Identifier: strings.TrimSpace(b.Identifier),
		Description: b.Description, RequiresAuthorization: true, Type: store.APIResourceBusiness}
	if b.RequiresAuthorization != nil {
		r.RequiresAuthorization = *b.RequiresAuthorization
	}
	var err error
	if r.Scopes, err = scopes(b.Scopes); err != nil {
		h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
		return
	}
	if err := store.ValidateAPIResource(r); err != nil {
		h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
		return
	}
	out, err := h.cfg.Store.CreateAPIResource(c.Request.Context(), r, bearer.Get(c).Actor())
	if err != nil {
		h.failStore(c, err, errNotFound)
		return
	}
	c.Header("Location", h.self(out.ID))
	c.JSON(http.StatusCreated, h.model(out))
}

// resource loads the API resource of the path in the caller's organization.
func (h *Handler) resource(c *gin.Context) (store.APIResource, bool) {
	r, err := h.cfg.Store.APIResource(c.Request.Context(), bearer.Get(c).Org.ID, c.Param("id"))
	if err != nil {
		h.failStore(c, err, errNotFound)
		return store.APIResource{}, false
	}
	return r, true
}

func (h *Handler) get(c *gin.Context) {
	if r, ok := h.resource(c); ok {
		c.JSON(http.StatusOK, h.model(r))
	}
}

func (h *Handler) getScopes(c *gin.Context) {
	if r, ok := h.resource(c); ok {
		c.JSON(http.StatusOK, scopeModels(r.Scopes))
	}
}

// listItem is WSO2's APIResourceListItem.
type listItem struct {
	ID                    string `json:"id"`
	Name                  string `json:"name"`
	Identifier            string `json:"identifier"`
	Type                  string `json:"type"`
	RequiresAuthorization bool   `json:"requiresAuthorization"`
	Self                  string `json:"self"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// listResponse is WSO2's APIResourceListResponse.
type listResponse struct {
	TotalResults int        `json:"totalResults"`
	Links        []link     `json:"links"`
	APIResources []listItem `json:"apiResources"`
}

// cursor encodes an id as WSO2's opaque before/after value.
func cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func uncursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return "", errors.New("before and after must be cursors from the links of a previous page")
	}
	return string(b), nil
}

func (h *Handler) list(c *gin.Context) {
	q := store.APIResourceQuery{OrgID: bearer.Get(c).Org.ID, Limit: DefaultLimit}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			h.fail(c, errInvalid.With("limit must be a positive integer."), nil)
			return
		}
		q.Limit = min(n, MaxLimit)
	}
	var err error
	if s := c.Query("after"); s != "" {
		if q.After, err = uncursor(s); err != nil {
			h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
			return
		}
	}
	if s := c.Query("before"); s != "" {
		if q.After != "" {
			h.fail(c, errInvalid.With("before and after cannot be used together."), nil)
			return
		}
		if q.Before, err = uncursor(s); err != nil {
			h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
			return
		}
	}
	if s := strings.TrimSpace(c.Query("filter")); s != "" {
		if q.FilterAttribute, q.FilterValue, err = parseFilter(s); err != nil {
			h.fail(c, errFilter.With(err.Error()), nil)
			return
		}
	}
	page, more, total, err := h.cfg.Store.APIResources(c.Request.Context(), q)
	if errors.Is(err, store.ErrNotFound) { // a cursor that is no id
		h.fail(c, errInvalid.With("before and after must be cursors from the links of a previous page."), nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	out := listResponse{TotalResults: total, Links: []link{}, APIResources: make([]listItem, len(page))}
	for i, r := range page {
		out.APIResources[i] = listItem{ID: r.ID, Name: r.Name, Identifier: r.Identifier, Type: r.Type,
			RequiresAuthorization: r.RequiresAuthorization, Self: h.self(r.ID)}
	}
	href := func(param, id string) string {
		v := url.Values{"limit": {strconv.Itoa(q.Limit)}, param: {cursor(id)}}
		if f := c.Query("filter"); f != "" {
			v.Set("filter", f)
		}
		return h.cfg.BaseURL + Path + "?" + v.Encode()
	}
	if len(page) > 0 {
		// A further page exists in the direction asked, and one in the other when a cursor led here.
		if more && q.Before == "" || q.Before != "" {
			out.Links = append(out.Links, link{Href: href("after", page[len(page)-1].ID), Rel: "next"})
		}
		if more && q.Before != "" || q.After != "" {
			out.Links = append(out.Links, link{Href: href("before", page[0].ID), Rel: "previous"})
		}
	}
	c.JSON(http.StatusOK, out)
}

// parseFilter reads WSO2's "name eq value" or "identifier eq value".
func parseFilter(s string) (attr, value string, err error) {
	attr, rest, _ := strings.Cut(s, " ")
	op, value, _ := strings.Cut(strings.TrimSpace(rest), " ")
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if attr != store.APIResourceFilterName && attr != store.APIResourceFilterIdentifier {
		return "", "", fmt.Errorf("filter attribute %q: only name and identifier are supported", attr)
	}
	if !strings.EqualFold(op, "eq") {
		return "", "", fmt.Errorf("filter operator %q: only eq is supported", op)
	}
	if value == "" {
		return "", "", errors.New("a filter is 'attribute eq value' with a value")
	}
	return attr, value, nil
}

// patchBody is WSO2's APIResourcePatchModel.
type patchBody struct {
	Name          *string     `json:"name"`
	Description   *string     `json:"description"`
	AddedScopes   []scopeBody `json:"addedScopes"`
	RemovedScopes []string    `json:"removedScopes"`
}

func (h *Handler) patch(c *gin.Context) {
	var b patchBody
	if !h.decode(c, &b) {
		return
	}
	u := store.APIResourceUpdate{Name: b.Name, Description: b.Description, RemoveScopes: b.RemovedScopes, Actor: bearer.Get(c).Actor()}
	// Checked on a stand-in with the new values, so that a bad value is a 400, not a failed write.
	check := store.APIResource{Identifier: "x", Name: "x", Type: store.APIResourceBusiness}
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		u.Name, check.Name = &n, n
	}
	if u.Description != nil {
		check.Description = *u.Description
	}
	if err := store.ValidateAPIResource(check); err != nil {
		h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
		return
	}
	var err error
	if u.AddScopes, err = scopes(b.AddedScopes); err != nil {
		h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
		return
	}
	h.update(c, u, http.StatusOK)
}

// update applies u, answering status with the resource (200) or nothing (204).
func (h *Handler) update(c *gin.Context, u store.APIResourceUpdate, status int) {
	out, err := h.cfg.Store.UpdateAPIResource(c.Request.Context(), bearer.Get(c).Org.ID, c.Param("id"), u)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		// The resource, or a scope to remove.
		if _, lerr := h.cfg.Store.APIResource(c.Request.Context(), bearer.Get(c).Org.ID, c.Param("id")); lerr == nil {
			h.fail(c, errScopeMissing, nil)
			return
		}
		h.fail(c, errNotFound, nil)
		return
	case errors.Is(err, store.ErrConflict):
		h.failStore(c, err, errNotFound)
		return
	default:
		h.fail(c, errServer, err)
		return
	}
	if status == http.StatusNoContent {
		c.Status(status)
		return
	}
	c.JSON(status, h.model(out))
}

func (h *Handler) putScopes(c *gin.Context) {
	var b []scopeBody
	if !h.decode(c, &b) {
		return
	}
	ss, err := scopes(b)
	if err != nil {
		h.fail(c, errInvalid.With(upperFirst(err.Error())+"."), nil)
		return
	}
	h.update(c, store.APIResourceUpdate{Scopes: &ss, Actor: bearer.Get(c).Actor()}, http.StatusNoContent)
}

func (h *Handler) deleteScope(c *gin.Context) {
	h.update(c, store.APIResourceUpdate{RemoveScopes: []string{c.Param("scope")}, Actor: bearer.Get(c).Actor()}, http.StatusNoContent)
}

func (h *Handler) delete(c *gin.Context) {
	if err := h.cfg.Store.DeleteAPIResource(c.Request.Context(), bearer.Get(c).Org.ID, c.Param("id"), bearer.Get(c).Actor()); err != nil {
		h.failStore(c, err, errNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
