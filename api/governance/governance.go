package governance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the APIs, WSO2's names.
const (
	ScopeView     = "internal_governance_view"
	ScopeUpdate   = "internal_governance_update"
	ScopeUserList = "internal_user_mgt_list"
)

// Paths of the APIs.
const (
	PathGovernance = "/api/server/v1/identity-governance"
	PathIdle       = "/api/idle-account-identification/v1/inactive-users"
)

// Policies reads and writes an organization's policy; *store.Store and *store.Tx implement it.
type Policies interface {
	PasswordPolicy(ctx context.Context, orgID string) (store.PasswordPolicy, error)
	PutPasswordPolicy(ctx context.Context, orgID string, p store.PasswordPolicy, actor store.Actor) (store.PasswordPolicy, error)
}

// Store is what the APIs need from PostgreSQL; *store.Store implements it.
type Store interface {
	bearer.Users
	Policies
	// InTx runs fn in one SERIALIZABLE transaction (see StoreTx).
	InTx(ctx context.Context, fn func(Policies) error) error
	IdleUsers(ctx context.Context, q store.IdleQuery) ([]store.IdleUser, error)
}

// StoreTx adapts *store.Store to Store.
type StoreTx struct{ *store.Store }

// InTx implements Store.
func (s StoreTx) InTx(ctx context.Context, fn func(Policies) error) error {
	return s.Tx(ctx, func(tx *store.Tx) error { return fn(tx) })
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	Logger    *slog.Logger
}

// Handler serves the APIs.
type Handler struct {
	cfg     Config
	auth    *bearer.Authenticator
	errs    *rest.Errors
	catalog []category
}

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Tokens == nil {
		return nil, errors.New("governance: Config needs Store and Tokens")
	}
	if cfg.OrgHandle == "" {
		cfg.OrgHandle = store.RootOrganizationHandle
	}
	g := rest.NewGuard("governance", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	return &Handler{cfg: cfg, catalog: newCatalog(), errs: g.Errs, auth: g.Auth}, nil
}

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group(PathGovernance, a.Authenticate)
	g.GET("", a.Need(ScopeView, bearer.Admin), h.listCategories)
	g.GET("/:category", a.Need(ScopeView, bearer.Admin), h.getCategory)
	g.GET("/:category/connectors/:connector", a.Need(ScopeView, bearer.Admin), h.getConnector)
	g.PATCH("/:category/connectors/:connector", a.Need(ScopeUpdate, bearer.Admin), h.patchConnector)
	r.GET(PathIdle, a.Authenticate, a.Need(ScopeUserList, bearer.Admin), h.inactiveUsers)
}

// Error is WSO2's REST API error body.
type Error = rest.Error

var (
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "IDG-10001", Message: "Unauthorized",
		Description: "A valid bearer access token is required."}
	errForbidden = Error{Status: http.StatusForbidden, Code: "IDG-10002", Message: "Forbidden",
		Description: "The caller is not permitted to perform this operation."}
	errCategoryNotFound = Error{Status: http.StatusNotFound, Code: "IDG-50008", Message: "Resource not found.",
		Description: "Unable to find a category with the given id."}
	errConnectorNotFound = Error{Status: http.StatusNotFound, Code: "IDG-50009", Message: "Resource not found.",
		Description: "Unable to find a connector with the given id in the category."}
	errInvalidPatch = Error{Status: http.StatusBadRequest, Code: "IDG-50010", Message: "Invalid request.",
		Description: "The request body is not a valid connector update."}
	errInvalidDate = Error{Status: http.StatusBadRequest, Code: "IAI-60001", Message: "Invalid date format.",
		Description: "inactiveAfter is required; dates are yyyy-mm-dd."}
	errInvalidFilter = Error{Status: http.StatusBadRequest, Code: "IAI-60002", Message: "Invalid filter.",
		Description: "The only filter supported is isDisabled eq true|false."}
	errServer = Error{Status: http.StatusInternalServerError, Code: "IDG-15001", Message: "Server error",
		Description: "The request could not be completed."}
	errUnavailable = Error{Status: http.StatusServiceUnavailable, Code: "IDG-15002", Message: "Service unavailable",
		Description: "Token verification is unavailable; retry later."}
)

// property is one connector property: its wire name and how it maps onto the policy.
type property struct {
	name, display, description string
	get                        func(p *store.PasswordPolicy) string
	set                        func(p *store.PasswordPolicy, v string) error
}

func boolProp(name, display, desc string, f func(*store.PasswordPolicy) *bool) property {
	return property{name: name, display: display, description: desc,
		get: func(p *store.PasswordPolicy) string { return strconv.FormatBool(*f(p)) },
		set: func(p *store.PasswordPolicy, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%s must be true or false", name)
			}
			*f(p) = b
			return nil
		}}
}

func intProp(name, display, desc string, f func(*store.PasswordPolicy) *int) property {
	return property{name: name, display: display, description: desc,
		get: func(p *store.PasswordPolicy) string { return strconv.Itoa(*f(p)) },
		set: func(p *store.PasswordPolicy, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return fmt.Errorf("%s must be a non-negative integer", name)
			}
			*f(p) = n
			return nil
		}}
}

func stringProp(name, display, desc string, f func(*store.PasswordPolicy) *string) property {
	return property{name: name, display: display, description: desc,
		get: func(p *store.PasswordPolicy) string { return *f(p) },
		set: func(p *store.PasswordPolicy, v string) error { *f(p) = v; return nil }}
}

// connector is a WSO2 governance connector.
type connector struct {
	name, friendlyName string
	order              int
	props              []property
}

// category groups connectors, as WSO2's do.
type category struct {
	name       string
	connectors []connector
}

// Category names, WSO2's.
const (
	CategoryPasswordPolicies  = "Password Policies"
	CategoryAccountManagement = "Account Management"
)

// Connector names, WSO2's.
const (
	ConnectorPasswordPolicy  = "passwordPolicy"
	ConnectorPasswordHistory = "passwordHistory"
	ConnectorPasswordExpiry  = "passwordExpiry"
	ConnectorIdleAccounts    = "suspension.notification"
)

// newCatalog is the categories served, in WSO2's order.
func newCatalog() []category {
	return []category{
		{name: CategoryPasswordPolicies, connectors: []connector{
			{name: ConnectorPasswordHistory, friendlyName: "Password History", order: 0, props: []property{
				boolProp("passwordHistory.enable", "Validate password history", "Refuse a password used recently.",
					func(p *store.PasswordPolicy) *bool { return &p.HistoryEnabled }),
				intProp("passwordHistory.count", "Password history validation count",
					"How many of the latest passwords, the current one included, cannot be reused.",
					func(p *store.PasswordPolicy) *int { return &p.HistoryCount }),
			}},
			{name: ConnectorPasswordPolicy, friendlyName: "Password Patterns", order: 1, props: []property{
				boolProp("passwordPolicy.enable", "Validate passwords based on a policy pattern", "Apply the rules below.",
					func(p *store.PasswordPolicy) *bool { return &p.Enabled }),
				intProp(store.RuleMinLength, "Minimum number of characters", "0: no minimum.",
					func(p *store.PasswordPolicy) *int { return &p.MinLength }),
				intProp(store.RuleMaxLength, "Maximum number of characters", "0: no maximum.",
					func(p *store.PasswordPolicy) *int { return &p.MaxLength }),
				intProp(store.RuleMinUpper, "Minimum number of upper-case letters", "Keyflow extension.",
					func(p *store.PasswordPolicy) *int { return &p.MinUpper }),
				intProp(store.RuleMinLower, "Minimum number of lower-case letters", "Keyflow extension.",
					func(p *store.PasswordPolicy) *int { return &p.MinLower }),
				intProp(store.RuleMinDigits, "Minimum number of digits", "Keyflow extension.",
					func(p *store.PasswordPolicy) *int { return &p.MinDigits }),
				intProp(store.RuleMinSpecial, "Minimum number of special characters",
					"Characters neither letters nor digits. Keyflow extension.",
					func(p *store.PasswordPolicy) *int { return &p.MinSpecial }),
				stringProp(store.RulePattern, "Password pattern regex",
					"A Go (RE2) regular expression the password must match; look-aheads are not supported.",
					func(p *store.PasswordPolicy) *string { return &p.Pattern }),
				stringProp("passwordPolicy.errorMsg", "Error message on pattern violation", "Shown when the pattern does not match.",
					func(p *store.PasswordPolicy) *string { return &p.ErrorMessage }),
			}},
			{name: ConnectorPasswordExpiry, friendlyName: "Password Expiry", order: 2, props: []property{
				boolProp("passwordExpiry.enablePasswordExpiry", "Enable password expiry", "Refuse logins with an old password.",
					func(p *store.PasswordPolicy) *bool { return &p.ExpiryEnabled }),
				intProp("passwordExpiry.passwordExpiryInDays", "Password expiry in days", "Maximum password age.",
					func(p *store.PasswordPolicy) *int { return &p.MaxAgeDays }),
			}},
		}},
		{name: CategoryAccountManagement, connectors: []connector{
			{name: ConnectorIdleAccounts, friendlyName: "Idle Account Suspend", order: 0, props: []property{
				boolProp("suspension.notification.enable", "Suspend idle user accounts", "Disable accounts idle for too long.",
					func(p *store.PasswordPolicy) *bool { return &p.IdleEnabled }),
				intProp("suspension.notification.account.disable.delay", "Lock account after", "Days of inactivity.",
					func(p *store.PasswordPolicy) *int { return &p.IdleDisableDays }),
			}},
		}},
	}
}

// ID is WSO2's id of a category or connector: its name, base64url-encoded without padding.
func ID(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

func (h *Handler) findCategory(id string) (*category, bool) {
	for i := range h.catalog {
		if ID(h.catalog[i].name) == id {
			return &h.catalog[i], true
		}
	}
	return nil, false
}

func (c *category) connector(id string) (*connector, bool) {
	for i := range c.connectors {
		if ID(c.connectors[i].name) == id {
			return &c.connectors[i], true
		}
	}
	return nil, false
}

// Wire shapes, WSO2's.
type (
	// CategorySummary is an item of the category list.
	CategorySummary struct {
		ID         string         `json:"id"`
		Name       string         `json:"name"`
		Self       string         `json:"self"`
		Connectors []ConnectorRef `json:"connectors"`
	}
	// ConnectorRef names a connector of a category.
	ConnectorRef struct {
		ID   string `json:"id"`
		Self string `json:"self"`
	}
	// Category is one category with its connectors.
	Category struct {
		Name       string      `json:"name"`
		Connectors []Connector `json:"connectors"`
	}
	// Connector is one connector with its properties.
	Connector struct {
		ID           string     `json:"id"`
		Name         string     `json:"name"`
		Category     string     `json:"category"`
		FriendlyName string     `json:"friendlyName"`
		Order        string     `json:"order"`
		SubCategory  string     `json:"subCategory"`
		Properties   []Property `json:"properties"`
	}
	// Property is a connector property; values are strings.
	Property struct {
		Name        string `json:"name"`
		Value       string `json:"value"`
		DisplayName string `json:"displayName,omitempty"`
		Description string `json:"description,omitempty"`
	}
	// PatchRequest is the body of a connector PATCH.
	PatchRequest struct {
		Operation  string     `json:"operation"`
		Properties []Property `json:"properties"`
	}
	// InactiveUser is an item of the idle accounts answer.
	InactiveUser struct {
		UserID          string `json:"userId"`
		Username        string `json:"username"`
		UserStoreDomain string `json:"userStoreDomain"`
	}
)

func (h *Handler) render(c *category, k *connector, p *store.PasswordPolicy) Connector {
	out := Connector{ID: ID(k.name), Name: k.name, Category: c.name, FriendlyName: k.friendlyName,
		Order: strconv.Itoa(k.order), SubCategory: "DEFAULT", Properties: make([]Property, 0, len(k.props))}
	for _, pr := range k.props {
		out.Properties = append(out.Properties, Property{Name: pr.name, Value: pr.get(p), DisplayName: pr.display, Description: pr.description})
	}
	return out
}

func (h *Handler) policy(c *gin.Context) (store.PasswordPolicy, bool) {
	p, err := h.cfg.Store.PasswordPolicy(c.Request.Context(), bearer.Get(c).Org.ID)
	if err != nil {
		h.errs.Fail(c, errServer, err)
		return p, false
	}
	return p, true
}

func (h *Handler) listCategories(c *gin.Context) {
	out := make([]CategorySummary, 0, len(h.catalog))
	for _, cat := range h.catalog {
		s := CategorySummary{ID: ID(cat.name), Name: cat.name, Self: PathGovernance + "/" + ID(cat.name)}
		for _, k := range cat.connectors {
			s.Connectors = append(s.Connectors, ConnectorRef{ID: ID(k.name), Self: s.Self + "/connectors/" + ID(k.name)})
		}
		out = append(out, s)
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) getCategory(c *gin.Context) {
	cat, ok := h.findCategory(c.Param("category"))
	if !ok {
		h.errs.Fail(c, errCategoryNotFound, nil)
		return
	}
	p, ok := h.policy(c)
	if !ok {
		return
	}
	out := Category{Name: cat.name, Connectors: make([]Connector, 0, len(cat.connectors))}
	for i := range cat.connectors {
		out.Connectors = append(out.Connectors, h.render(cat, &cat.connectors[i], &p))
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) target(c *gin.Context) (*category, *connector, bool) {
	cat, ok := h.findCategory(c.Param("category"))
	if !ok {
		h.errs.Fail(c, errCategoryNotFound, nil)
		return nil, nil, false
	}
	k, ok := cat.connector(c.Param("connector"))
	if !ok {
		h.errs.Fail(c, errConnectorNotFound, nil)
		return nil, nil, false
	}
	return cat, k, true
}

func (h *Handler) getConnector(c *gin.Context) {
	cat, k, ok := h.target(c)
	if !ok {
		return
	}
	p, ok := h.policy(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, h.render(cat, k, &p))
}

// invalid is a client mistake found inside the transaction.
type invalid struct{ description string }

func (e *invalid) Error() string { return e.description }

func (h *Handler) patchConnector(c *gin.Context) {
	_, k, ok := h.target(c)
	if !ok {
		return
	}
	var req PatchRequest
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10))
	if err := dec.Decode(&req); err != nil || !strings.EqualFold(req.Operation, "UPDATE") || len(req.Properties) == 0 {
		h.errs.Fail(c, errInvalidPatch.With(`The body must be {"operation":"UPDATE","properties":[{"name":…,"value":…}]}.`), nil)
		return
	}
	cl := bearer.Get(c)
	ctx := c.Request.Context()
	err := h.cfg.Store.InTx(ctx, func(tx Policies) error {
		p, err := tx.PasswordPolicy(ctx, cl.Org.ID)
		if err != nil {
			return err
		}
		for _, in := range req.Properties {
			var prop *property
			for i := range k.props {
				if k.props[i].name == in.Name {
					prop = &k.props[i]
				}
			}
			if prop == nil {
				return &invalid{fmt.Sprintf("Connector %s has no property %q.", k.name, in.Name)}
			}
			if err := prop.set(&p, in.Value); err != nil {
				return &invalid{err.Error()}
			}
		}
		if err := p.Validate(); err != nil {
			return &invalid{err.Error()}
		}
		_, err = tx.PutPasswordPolicy(ctx, cl.Org.ID, p, cl.Actor())
		return err
	})
	if bad := (*invalid)(nil); errors.As(err, &bad) {
		h.errs.Fail(c, errInvalidPatch.With(bad.description), nil)
		return
	}
	if err != nil {
		h.errs.Fail(c, errServer, err)
		return
	}
	c.Status(http.StatusOK)
}

// inactiveUsers lists the users who have not logged in since inactiveAfter (users who never
// logged in count from their creation), leaving out those inactive since before excludeBefore.
func (h *Handler) inactiveUsers(c *gin.Context) {
	after, err := time.Parse(time.DateOnly, c.Query("inactiveAfter"))
	if err != nil {
		h.errs.Fail(c, errInvalidDate, nil)
		return
	}
	q := store.IdleQuery{OrgID: bearer.Get(c).Org.ID, InactiveSince: after}
	if v := c.Query("excludeBefore"); v != "" {
		if q.ExcludeBefore, err = time.Parse(time.DateOnly, v); err != nil || !q.ExcludeBefore.Before(after) {
			h.errs.Fail(c, errInvalidDate.With("excludeBefore must be a yyyy-mm-dd date before inactiveAfter."), nil)
			return
		}
	}
	if f := strings.Join(strings.Fields(c.Query("filter")), " "); f != "" {
		var disabled bool
		switch strings.ToLower(f) {
		case "isdisabled eq true":
			disabled = true
		case "isdisabled eq false":
		default:
			h.errs.Fail(c, errInvalidFilter, nil)
			return
		}
		q.Disabled = &disabled
	}
	users, err := h.cfg.Store.IdleUsers(c.Request.Context(), q)
	if err != nil {
		h.errs.Fail(c, errServer, err)
		return
	}
	out := make([]InactiveUser, 0, len(users))
	for _, u := range users {
		out = append(out, InactiveUser{UserID: u.ID, Username: u.Username, UserStoreDomain: u.Domain})
	}
	c.JSON(http.StatusOK, out)
}
