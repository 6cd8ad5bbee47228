package branding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/ui"
)

// Path is the API's path.
const Path = "/api/server/v1/branding-preference"

// ScopeUpdate guards POST, PUT and DELETE (WSO2's scope).
const ScopeUpdate = "internal_branding_preference_update"

// DefaultLocale is WSO2's default locale of a preference, the one pages use.
const DefaultLocale = "en-US"

// maxBody bounds a preference: WSO2's preference JSON is a few kilobytes.
const maxBody = 256 << 10

// Store is what the API needs; *store.Store implements it.
type Store interface {
	bearer.Users
	CreateBrandingPreference(ctx context.Context, b store.BrandingPreference) (store.BrandingPreference, error)
	UpdateBrandingPreference(ctx context.Context, b store.BrandingPreference) (store.BrandingPreference, error)
	BrandingPreference(ctx context.Context, orgID, typ, name, locale string) (store.BrandingPreference, error)
	DeleteBrandingPreference(ctx context.Context, orgID, typ, name, locale string) error
	// BrandingPreferences returns an organization's and an application's preference in locale.
	BrandingPreferences(ctx context.Context, orgID, applicationID, locale string) (org, app store.BrandingPreference, err error)
	// ManagedApplication finds an APP preference's application.
	ManagedApplication(ctx context.Context, id string) (store.ManagedApplication, error)
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	Logger    *slog.Logger
}

// Handler serves the API and resolves pages' branding.
type Handler struct {
	cfg  Config
	log  *slog.Logger
	auth *bearer.Authenticator
	errs *rest.Errors
}

// Error is WSO2's REST API error body.
type Error = rest.Error

// Error codes, WSO2's BPM- namespace (BrandingPreferenceManagementConstants).
var (
	errInvalid = Error{Status: http.StatusBadRequest, Code: "BPM-60001", Message: "Invalid Branding Preference configurations.",
		Description: "Invalid Branding Preference configurations in request"}
	errNotFound = Error{Status: http.StatusNotFound, Code: "BPM-60002", Message: "Branding preferences are not configured."}
	errConflict = Error{Status: http.StatusConflict, Code: "BPM-60003", Message: "Branding preference already exists."}
	// 401 and 403 come from WSO2's authentication valve there; Keyflow answers in the API's
	// namespace, as the other management APIs do.
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "BPM-60010", Message: "Unauthorized",
		Description: "A valid bearer access token is required."}
	errForbidden = Error{Status: http.StatusForbidden, Code: "BPM-60011", Message: "Forbidden",
		Description: "The caller is not permitted to perform this operation."}
	errServer = Error{Status: http.StatusInternalServerError, Code: "BPM-65001", Message: "Error while getting branding preference configurations.",
		Description: "The request could not be completed."}
	errUnavailable = Error{Status: http.StatusServiceUnavailable, Code: "BPM-65002", Message: "Service unavailable",
		Description: "Token verification is unavailable; retry later."}
)

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("branding: Config needs Store and Tokens")
	}
	if cfg.OrgHandle == "" {
		cfg.OrgHandle = store.RootOrganizationHandle
	}
	g := rest.NewGuard("branding", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	return &Handler{cfg: cfg, log: g.Log, errs: g.Errs, auth: g.Auth}, nil
}

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	r.GET(Path, h.get)
	r.POST(Path, a.Authenticate, a.Need(ScopeUpdate, bearer.Admin), h.create)
	r.PUT(Path, a.Authenticate, a.Need(ScopeUpdate, bearer.Admin), h.update)
	r.DELETE(Path, a.Authenticate, a.Need(ScopeUpdate, bearer.Admin), h.delete)
}

// body is WSO2's BrandingPreferenceModel.
type body struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Locale     string          `json:"locale"`
	Preference json.RawMessage `json:"preference"`
}

func (h *Handler) fail(c *gin.Context, e Error, cause error) { h.errs.Fail(c, e, cause) }

// key resolves type, name and locale in organization org: ORG names the organization (its
// handle, whatever was sent, as WSO2 uses the tenant), APP an application of org by id.
func (h *Handler) key(c *gin.Context, org store.Organization, typ, name, locale string) (store.BrandingPreference, bool) {
	b := store.BrandingPreference{OrgID: org.ID, Type: typ, Name: name, Locale: locale}
	if b.Type == "" {
		b.Type = store.BrandingTypeOrg
	}
	if b.Locale == "" {
		b.Locale = DefaultLocale
	}
	switch b.Type {
	case store.BrandingTypeOrg:
		b.Name = org.Handle
	case store.BrandingTypeApp:
		app, err := h.cfg.Store.ManagedApplication(c.Request.Context(), name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && app.OrgID != org.ID) {
			h.fail(c, errInvalid.With(fmt.Sprintf("No application with id %q exists.", name)), nil)
			return b, false
		}
		if err != nil {
			h.fail(c, errServer, err)
			return b, false
		}
		b.ApplicationID = app.ID
	default:
		h.fail(c, errInvalid.With(fmt.Sprintf("Unsupported type %q: use ORG or APP.", typ)), nil)
		return b, false
	}
	if len(b.Locale) > 32 {
		h.fail(c, errInvalid.With("The locale is too long."), nil)
		return b, false
	}
	return b, true
}

// org is the organization served (the public GET has no caller).
func (h *Handler) org(c *gin.Context) (store.Organization, bool) {
	org, err := h.cfg.Store.OrganizationByHandle(c.Request.Context(), h.cfg.OrgHandle)
	if err != nil {
		h.fail(c, errServer, err)
		return store.Organization{}, false
	}
	return org, true
}

func (h *Handler) get(c *gin.Context) {
	org, ok := h.org(c)
	if !ok {
		return
	}
	k, ok := h.key(c, org, c.Query("type"), c.Query("name"), c.Query("locale"))
	if !ok {
		return
	}
	b, err := h.cfg.Store.BrandingPreference(c.Request.Context(), org.ID, k.Type, k.Name, k.Locale)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound.With(fmt.Sprintf("Branding preferences are not configured for organization: %s.", org.Handle)), nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	h.write(c, http.StatusOK, b)
}

func (h *Handler) write(c *gin.Context, status int, b store.BrandingPreference) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, body{Type: b.Type, Name: b.Name, Locale: b.Locale, Preference: b.Preference})
}

// decode reads and checks a request body into a preference of the caller's organization.
func (h *Handler) decode(c *gin.Context) (store.BrandingPreference, bool) {
	var in body
	if err := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)).Decode(&in); err != nil {
		h.fail(c, errInvalid.With("The body must be a branding preference JSON object."), nil)
		return store.BrandingPreference{}, false
	}
	if err := Validate(in.Preference); err != nil {
		h.fail(c, errInvalid.With(strings.ReplaceAll(err.Error(), "\n", "; ")), nil)
		return store.BrandingPreference{}, false
	}
	b, ok := h.key(c, bearer.Get(c).Org, in.Type, in.Name, in.Locale)
	b.Preference = in.Preference
	return b, ok
}

func (h *Handler) create(c *gin.Context) {
	b, ok := h.decode(c)
	if !ok {
		return
	}
	out, err := h.cfg.Store.CreateBrandingPreference(c.Request.Context(), b)
	if errors.Is(err, store.ErrConflict) {
		h.fail(c, errConflict.With(fmt.Sprintf("There exists a branding preference configurations in the organization: %s.", bearer.Get(c).Org.Handle)), nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	h.write(c, http.StatusCreated, out)
}

func (h *Handler) update(c *gin.Context) {
	b, ok := h.decode(c)
	if !ok {
		return
	}
	out, err := h.cfg.Store.UpdateBrandingPreference(c.Request.Context(), b)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound.With(fmt.Sprintf("Branding preferences are not configured for organization: %s.", bearer.Get(c).Org.Handle)), nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	h.write(c, http.StatusOK, out)
}

func (h *Handler) delete(c *gin.Context) {
	org := bearer.Get(c).Org
	k, ok := h.key(c, org, c.Query("type"), c.Query("name"), c.Query("locale"))
	if !ok {
		return
	}
	err := h.cfg.Store.DeleteBrandingPreference(c.Request.Context(), org.ID, k.Type, k.Name, k.Locale)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound.With(fmt.Sprintf("Branding preferences are not configured for organization: %s.", org.Handle)), nil)
		return
	}
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// Branding resolves the look of a page of applicationID in organization orgID ("" for the
// organization served): the application's preference over the organization's, member by
// member, over the default look. Preferences with configs.isBrandingEnabled false are skipped.
// A store failure is logged and yields the default look: branding never breaks a login.
func (h *Handler) Branding(ctx context.Context, orgID, applicationID string) ui.Branding {
	if orgID == "" {
		org, err := h.cfg.Store.OrganizationByHandle(ctx, h.cfg.OrgHandle)
		if err != nil {
			h.log.ErrorContext(ctx, "branding: organization look-up failed", "error", err)
			return ui.Branding{}
		}
		orgID = org.ID
	}
	org, app, err := h.cfg.Store.BrandingPreferences(ctx, orgID, applicationID, DefaultLocale)
	if err != nil {
		h.log.ErrorContext(ctx, "branding: preference look-up failed", "error", err)
		return ui.Branding{}
	}
	var out ui.Branding
	for _, p := range []store.BrandingPreference{org, app} {
		b, enabled, err := FromPreference(p.Preference)
		if len(p.Preference) == 0 || err != nil || !enabled {
			continue
		}
		out = overlay(out, b)
	}
	return out
}

// overlay returns base with top's non-empty members.
func overlay(base, top ui.Branding) ui.Branding {
	for _, f := range []struct{ dst, src *string }{{&base.Name, &top.Name}, {&base.LogoURL, &top.LogoURL},
		{&base.PrimaryColor, &top.PrimaryColor}, {&base.BackgroundColor, &top.BackgroundColor}, {&base.CSSURL, &top.CSSURL}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	return base
}
