package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
)

// Prefix is where the APIs are mounted.
const Prefix = "/api/server/v1"

// Paging defaults (WSO2's page size) and bounds.
const (
	DefaultLimit = 30
	MaxLimit     = 1000
	// maxBody bounds a JSON request body; script libraries have their own bound.
	maxBody = 1 << 20
)

// Store is what the APIs need; *store.Store implements it.
type Store interface {
	bearer.Users
	IdentityProviderStore
	ClaimStore
	ScriptLibraryStore
	KeyStore
	AuditStore
	// Tx runs fn in one serializable transaction (read-modify-write changes).
	Tx(ctx context.Context, fn func(tx *store.Tx) error) error
}

// IdentityProviderStore reads and writes identity providers.
type IdentityProviderStore interface {
	CreateIdentityProvider(ctx context.Context, p store.IdentityProvider, actor store.Actor) (store.IdentityProvider, error)
	IdentityProvider(ctx context.Context, orgID, id string) (store.IdentityProvider, error)
	IdentityProviders(ctx context.Context, q store.IdentityProviderQuery) ([]store.IdentityProvider, int, error)
	DeleteIdentityProvider(ctx context.Context, orgID, id string, actor store.Actor) error
}

// ClaimStore reads and writes claim dialects and claims.
type ClaimStore interface {
	ClaimDialects(ctx context.Context, orgID string) ([]string, error)
	HasClaimDialect(ctx context.Context, orgID, uri string) error
	CreateClaimDialect(ctx context.Context, orgID, uri string, actor store.Actor) error
	RenameClaimDialect(ctx context.Context, orgID, uri, newURI string, actor store.Actor) error
	DeleteClaimDialect(ctx context.Context, orgID, uri string, actor store.Actor) error
	LocalClaims(ctx context.Context, orgID string) ([]store.LocalClaim, error)
	LocalClaim(ctx context.Context, orgID, uri string) (store.LocalClaim, error)
	CreateLocalClaim(ctx context.Context, c store.LocalClaim, actor store.Actor) (store.LocalClaim, error)
	UpdateLocalClaim(ctx context.Context, c store.LocalClaim, actor store.Actor) (store.LocalClaim, error)
	DeleteLocalClaim(ctx context.Context, orgID, uri string, actor store.Actor) error
	ExternalClaims(ctx context.Context, orgID, dialect string) ([]store.ExternalClaim, error)
	ExternalClaim(ctx context.Context, orgID, dialect, uri string) (store.ExternalClaim, error)
	CreateExternalClaim(ctx context.Context, e store.ExternalClaim, actor store.Actor) (store.ExternalClaim, error)
	UpdateExternalClaim(ctx context.Context, e store.ExternalClaim, actor store.Actor) (store.ExternalClaim, error)
	DeleteExternalClaim(ctx context.Context, orgID, dialect, uri string, actor store.Actor) error
}

// ScriptLibraryStore reads and writes script libraries.
type ScriptLibraryStore interface {
	ScriptLibrary(ctx context.Context, orgID, name string) (store.ScriptLibrary, error)
	ScriptLibraries(ctx context.Context, orgID string) ([]store.ScriptLibrary, error)
	CreateScriptLibraryBy(ctx context.Context, l store.ScriptLibrary, actor store.Actor) (store.ScriptLibrary, error)
	UpdateScriptLibraryBy(ctx context.Context, l store.ScriptLibrary, actor store.Actor) (store.ScriptLibrary, error)
	DeleteScriptLibraryBy(ctx context.Context, orgID, name string, actor store.Actor) error
}

// KeyStore reads the server's keys (public parts only leave this package).
type KeyStore interface {
	OAuth2SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	SAMLSigningKey(ctx context.Context, orgID string) (store.SAMLSigningKey, error)
}

// AuditStore reads and writes the audit trail.
type AuditStore interface {
	RecordAudit(ctx context.Context, r store.AuditRecord) error
	AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, int, error)
}

// Rotator rotates the JWT signing keys; *jwtkeys.Manager implements it.
type Rotator interface {
	// Algorithms lists the configured algorithms.
	Algorithms() []string
	// Rotate advances alg's chain (next signs, current becomes previous).
	Rotate(ctx context.Context, alg string) error
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// SealKeys seal secret identity provider properties: the first seals, every one opens.
	SealKeys []SealKey
	// Keys rotates the JWT signing keys; nil leaves POST /keys/rotate out.
	Keys Rotator
	// BaseURL is the public base URL, for Location headers and links.
	BaseURL string
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	Logger    *slog.Logger
}

// Handler serves the APIs.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	sealer *Sealer
	idp    api
	claims api
	libs   api
	keys   api
	audit  api
}

// api is one API's error codes and authenticator.
type api struct {
	errs rest.Errors
	auth *bearer.Authenticator
	// invalid, notFound and server are its generic codes.
	invalid, notFound, server Error
}

// Error is WSO2's REST API error body.
type Error = rest.Error

// newAPI makes an API's codes: prefix-invalid for a malformed request, prefix-notFound for a
// missing resource.
func newAPI(h *Handler, name, prefix, invalid, notFound string) api {
	e := func(status int, code, msg, desc string) Error {
		return Error{Status: status, Code: prefix + "-" + code, Message: msg, Description: desc}
	}
	a := api{
		errs: rest.Errors{Log: h.log, API: name,
			Unauthenticated: e(http.StatusUnauthorized, "60401", "Unauthorized", "Valid bearer access token or administrator Basic credentials are required."),
			Forbidden:       e(http.StatusForbidden, "60403", "Forbidden", "The caller is not permitted to perform this operation."),
			Unavailable:     e(http.StatusServiceUnavailable, "65503", "Service unavailable", "Token verification is unavailable; retry later."),
			Server:          e(http.StatusInternalServerError, "65001", "Server error", "The request could not be completed."),
		},
		invalid:  e(http.StatusBadRequest, invalid, "Invalid request", ""),
		notFound: e(http.StatusNotFound, notFound, "Not found", "The resource does not exist."),
	}
	a.server = a.errs.Server
	a.auth = &bearer.Authenticator{Tokens: h.cfg.Tokens, Users: h.cfg.Store, OrgHandle: h.cfg.OrgHandle, Fail: a.errs.Refuse}
	return a
}

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("manage: Config needs Store and Tokens")
	}
	sealer, err := NewSealer(cfg.SealKeys)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, sealer: sealer}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.idp = newAPI(h, "identity-providers", "IDP", "60003", "60002")
	h.claims = newAPI(h, "claims", "CMT", "50037", "50016")
	h.libs = newAPI(h, "script-libraries", "SCL", "60001", "60006")
	h.keys = newAPI(h, "keys", "KSS", "60001", "60002")
	h.audit = newAPI(h, "audit", "AUD", "60001", "60002")
	return h, nil
}

// Sealer returns the sealer of identity provider secrets, for the login engine to open them.
func (h *Handler) Sealer() *Sealer { return h.sealer }

// Register mounts the routes under Prefix.
func (h *Handler) Register(r gin.IRouter) {
	h.registerIdPs(r.Group(Prefix+"/identity-providers", h.idp.auth.Authenticate))
	h.registerClaims(r.Group(Prefix+"/claim-dialects", h.claims.auth.Authenticate))
	h.registerScriptLibraries(r.Group(Prefix+"/script-libraries", h.libs.auth.Authenticate))
	h.registerKeys(r.Group(Prefix, h.keys.auth.Authenticate))
	a := h.audit.auth
	r.GET(Prefix+"/audit-events", a.Authenticate, a.Need(ScopeAuditView, bearer.Admin), h.listAudit)
}

// requestError is a client mistake found while handling a request, possibly inside a
// transaction (which it rolls back).
type requestError struct{ e Error }

func (r *requestError) Error() string { return r.e.Code + ": " + r.e.Description }

func fail(a api, c *gin.Context, e Error, cause error) { a.errs.Fail(c, e, cause) }

// failErr writes err: a requestError as is, not found as a.notFound, anything else as 500.
func failErr(a api, c *gin.Context, err error) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		fail(a, c, re.e, nil)
	case errors.Is(err, store.ErrNotFound):
		fail(a, c, a.notFound, nil)
	default:
		fail(a, c, a.server, err)
	}
}

// decode reads a JSON body into v; unknown members are ignored (WSO2's Console sends
// settings Keyflow does not have).
func decode(a api, c *gin.Context, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		fail(a, c, a.invalid.With("The body must be a JSON value of the documented shape: "+jsonProblem(err)), nil)
		return false
	}
	return true
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field + " has the wrong type."
	}
	return "malformed JSON."
}

// page reads limit and offset.
func page(a api, c *gin.Context) (limit, offset int, ok bool) {
	limit = DefaultLimit
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fail(a, c, a.invalid.With("limit must be a positive integer."), nil)
			return 0, 0, false
		}
		limit = min(n, MaxLimit)
	}
	if s := c.Query("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fail(a, c, a.invalid.With("offset must be a non-negative integer."), nil)
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

// link is WSO2's Link.
type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// pageLinks returns the next and previous links of a page of a listing at path.
func (h *Handler) pageLinks(c *gin.Context, path string, limit, offset, count, total int) []link {
	out := []link{}
	at := func(off int) string {
		v := url.Values{}
		for k, vs := range c.Request.URL.Query() {
			v[k] = vs
		}
		v.Set("offset", strconv.Itoa(off))
		v.Set("limit", strconv.Itoa(limit))
		return h.cfg.BaseURL + Prefix + path + "?" + v.Encode()
	}
	if offset+count < total {
		out = append(out, link{Href: at(offset + limit), Rel: "next"})
	}
	if offset > 0 {
		out = append(out, link{Href: at(max(0, offset-limit)), Rel: "previous"})
	}
	return out
}

func orgID(c *gin.Context) string { return bearer.Get(c).Org.ID }

func actor(c *gin.Context) store.Actor { return bearer.Get(c).Actor() }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func errorf(e Error, format string, args ...any) error {
	return &requestError{e.With(fmt.Sprintf(format, args...))}
}
