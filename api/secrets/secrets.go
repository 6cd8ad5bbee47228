// Package secrets serves WSO2's secret management API for conditional-authentication scripts and
// keeps the values sealed (Vault):
//
//	GET    /api/server/v1/secret-type/{type}/secrets           list (names and metadata only)
//	POST   /api/server/v1/secret-type/{type}/secrets           create {name, value, description}
//	GET    /api/server/v1/secret-type/{type}/secrets/{name}    one secret's metadata
//	PUT    /api/server/v1/secret-type/{type}/secrets/{name}    replace {value, description}
//	DELETE /api/server/v1/secret-type/{type}/secrets/{name}
//
// The only type is ADAPTIVE_AUTH_CALL_CHOREO, the secrets scripts name in httpGet/httpPost and
// callChoreo (secrets.name, getSecretByName); values are never returned. Callers are
// administrators (or clients acting for themselves) with WSO2's scopes internal_secret_mgt_view,
// _add, _update and _delete (package bearer). Errors use WSO2's {code, message, description,
// traceId}.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the API, WSO2's names.
const (
	ScopeView   = "internal_secret_mgt_view"
	ScopeAdd    = "internal_secret_mgt_add"
	ScopeUpdate = "internal_secret_mgt_update"
	ScopeDelete = "internal_secret_mgt_delete"
)

// maxValueBytes bounds a secret's value.
const maxValueBytes = 16 << 10

var namePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// Store is what the API needs; *store.Store implements it.
type Store interface {
	bearer.Users
	CreateSecret(ctx context.Context, s store.Secret, actor store.Actor) (store.Secret, error)
	SecretByName(ctx context.Context, orgID, typ, name string) (store.Secret, error)
	Secrets(ctx context.Context, orgID, typ string) ([]store.Secret, error)
	UpdateSecret(ctx context.Context, orgID, typ, name, description string, ciphertext []byte, keyID string, actor store.Actor) (store.Secret, error)
	DeleteSecret(ctx context.Context, orgID, typ, name string, actor store.Actor) error
}

// Config configures New.
type Config struct {
	Store  Store
	Vault  *Vault
	Tokens bearer.Tokens
	// BaseURL is the public base URL, for Location headers.
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
	if cfg.Store == nil || cfg.Vault == nil || cfg.Tokens == nil {
		return nil, errors.New("secrets: Config needs Store, Vault and Tokens")
	}
	g := rest.NewGuard("secrets", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	return &Handler{cfg: cfg, log: g.Log, errs: g.Errs, auth: g.Auth}, nil
}

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group("/api/server/v1/secret-type/:type/secrets", a.Authenticate, h.checkType)
	g.GET("", a.Need(ScopeView, bearer.Admin), h.list)
	g.POST("", a.Need(ScopeAdd, bearer.Admin), h.create)
	g.GET("/:name", a.Need(ScopeView, bearer.Admin), h.get)
	g.PUT("/:name", a.Need(ScopeUpdate, bearer.Admin), h.update)
	g.DELETE("/:name", a.Need(ScopeDelete, bearer.Admin), h.delete)
}

// Error is WSO2's REST API error body.
type Error = rest.Error

var (
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "SCM-60001", Message: "Unauthorized",
		Description: "A valid bearer access token is required."}
	errForbidden = Error{Status: http.StatusForbidden, Code: "SCM-60002", Message: "Forbidden",
		Description: "The caller is not permitted to perform this operation."}
	errType = Error{Status: http.StatusNotFound, Code: "SCM-60003", Message: "Unknown secret type",
		Description: "The only secret type is " + TypeAdaptiveAuth + "."}
	errNotFound = Error{Status: http.StatusNotFound, Code: "SCM-60004", Message: "Secret not found",
		Description: "No secret with the given name exists."}
	errConflict = Error{Status: http.StatusConflict, Code: "SCM-60005", Message: "Secret already exists",
		Description: "A secret with the given name already exists."}
	errInvalid = Error{Status: http.StatusBadRequest, Code: "SCM-60006", Message: "Invalid request"}
	errServer  = Error{Status: http.StatusInternalServerError, Code: "SCM-65001", Message: "Server error",
		Description: "The request could not be completed."}
	errUnavailable = Error{Status: http.StatusServiceUnavailable, Code: "SCM-65002", Message: "Service unavailable",
		Description: "Token verification is unavailable; retry later."}
)

func (h *Handler) fail(c *gin.Context, e Error, cause error) { h.errs.Fail(c, e, cause) }

func invalid(description string) Error { return errInvalid.With(description) }

func (h *Handler) checkType(c *gin.Context) {
	if c.Param("type") != TypeAdaptiveAuth {
		h.fail(c, errType, nil)
		return
	}
	c.Next()
}

// Secret is a secret's metadata, WSO2's SecretResponse; the value is never returned.
type Secret struct {
	ID           string `json:"secretId"`
	Name         string `json:"secretName"`
	Type         string `json:"type"`
	Description  string `json:"description"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
}

func view(s store.Secret) Secret {
	return Secret{ID: s.ID, Name: s.Name, Type: s.Type, Description: s.Description,
		Created: s.CreatedAt.UTC().Format(time.RFC3339), LastModified: s.UpdatedAt.UTC().Format(time.RFC3339)}
}

func (h *Handler) list(c *gin.Context) {
	cl := bearer.Get(c)
	list, err := h.cfg.Store.Secrets(c.Request.Context(), cl.Org.ID, TypeAdaptiveAuth)
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	out := make([]Secret, len(list))
	for i, s := range list {
		out[i] = view(s)
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) get(c *gin.Context) {
	cl := bearer.Get(c)
	s, err := h.cfg.Store.SecretByName(c.Request.Context(), cl.Org.ID, TypeAdaptiveAuth, c.Param("name"))
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound, nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.JSON(http.StatusOK, view(s))
}

// body is the create and update request.
type body struct {
	Name        string  `json:"name"`
	Value       *string `json:"value"`
	Description string  `json:"description"`
}

func (h *Handler) decode(c *gin.Context) (body, bool) {
	var b body
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 2*maxValueBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		h.fail(c, invalid("The body must be a JSON object with name, value and description."), nil)
		return body{}, false
	}
	if b.Value != nil && (*b.Value == "" || len(*b.Value) > maxValueBytes) {
		h.fail(c, invalid("The value must be 1 to 16384 bytes."), nil)
		return body{}, false
	}
	if len(b.Description) > 1024 {
		h.fail(c, invalid("The description must be at most 1024 characters."), nil)
		return body{}, false
	}
	return b, true
}

func (h *Handler) create(c *gin.Context) {
	b, ok := h.decode(c)
	if !ok {
		return
	}
	if !namePattern.MatchString(b.Name) || b.Value == nil {
		h.fail(c, invalid("name (a letter, then letters, digits or _, at most 64) and value are required."), nil)
		return
	}
	cl := bearer.Get(c)
	ct, keyID, err := h.cfg.Vault.Seal(cl.Org.ID, TypeAdaptiveAuth, b.Name, *b.Value)
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	s, err := h.cfg.Store.CreateSecret(c.Request.Context(), store.Secret{OrgID: cl.Org.ID, Type: TypeAdaptiveAuth,
		Name: b.Name, Description: b.Description, Ciphertext: ct, KeyID: keyID}, cl.Actor())
	if errors.Is(err, store.ErrConflict) {
		h.fail(c, errConflict, nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.Header("Location", h.cfg.BaseURL+"/api/server/v1/secret-type/"+TypeAdaptiveAuth+"/secrets/"+s.Name)
	c.JSON(http.StatusCreated, view(s))
}

func (h *Handler) update(c *gin.Context) {
	b, ok := h.decode(c)
	if !ok {
		return
	}
	name := c.Param("name")
	if b.Name != "" && b.Name != name {
		h.fail(c, invalid("A secret cannot be renamed."), nil)
		return
	}
	cl := bearer.Get(c)
	var ct []byte
	var keyID string
	if b.Value != nil {
		var err error
		if ct, keyID, err = h.cfg.Vault.Seal(cl.Org.ID, TypeAdaptiveAuth, name, *b.Value); err != nil {
			h.fail(c, errServer, err)
			return
		}
	}
	s, err := h.cfg.Store.UpdateSecret(c.Request.Context(), cl.Org.ID, TypeAdaptiveAuth, name, b.Description, ct, keyID, cl.Actor())
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound, nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.JSON(http.StatusOK, view(s))
}

func (h *Handler) delete(c *gin.Context) {
	cl := bearer.Get(c)
	err := h.cfg.Store.DeleteSecret(c.Request.Context(), cl.Org.ID, TypeAdaptiveAuth, c.Param("name"), cl.Actor())
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound, nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.Status(http.StatusNoContent)
}
