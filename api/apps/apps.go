package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the API, WSO2's names.
const (
	ScopeView   = "internal_application_mgt_view"
	ScopeCreate = "internal_application_mgt_create"
	ScopeUpdate = "internal_application_mgt_update"
	ScopeDelete = "internal_application_mgt_delete"
	// ScopeScriptUpdate guards PUT …/authenticationSequence/script.
	ScopeScriptUpdate = "internal_application_script_update"
	// ScopeSecretCreate guards POST …/inbound-protocols/oidc/regenerate-secret.
	ScopeSecretCreate = "internal_application_mgt_client_secret_create"
)

// Defaults of Config.
const (
	DefaultPendingSecretTTL = 15 * time.Minute
	// DefaultLimit is WSO2's page size of the application list.
	DefaultLimit = 30
	// MaxLimit caps a requested page size.
	MaxLimit = 1000
	// maxBody bounds a request body: SAML metadata (1 MiB) in base64 plus the rest.
	maxBody = 2 << 20
)

// Store is what the API needs; *store.Store implements it.
type Store interface {
	bearer.Users
	ManagedApplication(ctx context.Context, id string) (store.ManagedApplication, error)
	ManagedApplications(ctx context.Context, q store.ApplicationQuery) ([]store.ManagedApplication, int, error)
	OAuth2Client(ctx context.Context, clientID string) (store.OAuth2Client, error)
	SAMLServiceProviderByApplication(ctx context.Context, applicationID string) (store.SAMLServiceProvider, error)
	DeleteSAMLServiceProvider(ctx context.Context, id string, actor store.Actor) error
	WSFedRelyingPartyByApplication(ctx context.Context, applicationID string) (store.WSFedRelyingParty, error)
	DeleteWSFedRelyingParty(ctx context.Context, id string, actor store.Actor) error
	DeleteApplication(ctx context.Context, id string, actor store.Actor) error
	UpdateApplication(ctx context.Context, id string, u store.ApplicationUpdate) (store.ManagedApplication, error)
	// Tx runs fn in one transaction: every change of a request is written by one call.
	Tx(ctx context.Context, fn func(tx *store.Tx) error) error
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// Keys, Issuer and SecretPepper are the OAuth2 provider's (op.Config): clients are
	// validated and their secrets hashed by package op exactly as the provider checks them.
	Keys         op.Keys
	Issuer       string
	SecretPepper []byte
	// BaseURL is the public base URL, for Location headers and self links.
	BaseURL string
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	// PendingSecretTTL is how long a new client secret waits, sealed, for the first read of
	// the OIDC configuration; default DefaultPendingSecretTTL.
	PendingSecretTTL time.Duration
	// MetadataClient fetches SAML metadataURL; nil means a client with the saml package's
	// default timeout and no address policy (cmd/keyflow passes an egress.Policy client, whose
	// refusals are answered 400).
	MetadataClient *http.Client
	// Outbound, when set, checks the URLs of an OIDC configuration that Keyflow itself will
	// call (clientAuthentication.jwksUri, logout.backChannelLogoutUrl) when they are saved:
	// one it refuses is answered 400. *egress.Policy implements it (cmd/keyflow passes the
	// process's policy); nil: no check.
	Outbound URLChecker
	Logger   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Handler serves the API.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	auth   *bearer.Authenticator
	errs   *rest.Errors
	sealer sealer
}

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Tokens == nil || cfg.Keys == nil {
		return nil, errors.New("apps: Config needs Store, Tokens and Keys")
	}
	if len(cfg.SecretPepper) < op.MinPepperLength {
		return nil, fmt.Errorf("apps: Config.SecretPepper: need at least %d bytes", op.MinPepperLength)
	}
	if cfg.PendingSecretTTL < 0 {
		return nil, errors.New("apps: Config.PendingSecretTTL is negative")
	}
	if cfg.PendingSecretTTL == 0 {
		cfg.PendingSecretTTL = DefaultPendingSecretTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := rest.NewGuard("apps", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	h := &Handler{cfg: cfg, log: g.Log, errs: g.Errs, auth: g.Auth}
	// Fail early on a configuration op.New refuses (issuer, keys).
	if _, err := h.clients(nil); err != nil {
		return nil, fmt.Errorf("apps: %w", err)
	}
	var err error
	if h.sealer, err = newSealer(cfg.SecretPepper); err != nil {
		return nil, err
	}
	return h, nil
}

// clients returns an OAuth2 provider whose client writes go to st (a transaction), so that
// a client is created or changed in the same transaction as its application.
func (h *Handler) clients(st op.Store) (*op.Provider, error) {
	if st == nil {
		st = nopStore{}
	}
	return op.New(op.Config{Store: st, Keys: h.cfg.Keys, Issuer: h.cfg.Issuer,
		SecretPepper: h.cfg.SecretPepper, ClientCacheTTL: -1})
}

// nopStore lets New check the provider configuration without a store.
type nopStore struct{ op.Store }

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group("/api/server/v1/applications", a.Authenticate)
	g.GET("", a.Need(ScopeView, bearer.Admin), h.list)
	g.POST("", a.Need(ScopeCreate, bearer.Admin), h.create)
	g.GET("/:id", a.Need(ScopeView, bearer.Admin), h.get)
	g.PATCH("/:id", a.Need(ScopeUpdate, bearer.Admin), h.patch)
	g.DELETE("/:id", a.Need(ScopeDelete, bearer.Admin), h.delete)
	g.PUT("/:id/authenticationSequence/script", a.Need(ScopeScriptUpdate, bearer.Admin), h.putScript)
	g.GET("/:id/inbound-protocols/oidc", a.Need(ScopeView, bearer.Admin), h.getOIDC)
	g.PUT("/:id/inbound-protocols/oidc", a.Need(ScopeUpdate, bearer.Admin), h.putOIDC)
	g.POST("/:id/inbound-protocols/oidc/regenerate-secret", a.Need(ScopeSecretCreate, bearer.Admin), h.regenerateSecret)
	g.GET("/:id/inbound-protocols/saml", a.Need(ScopeView, bearer.Admin), h.getSAML)
	g.PUT("/:id/inbound-protocols/saml", a.Need(ScopeUpdate, bearer.Admin), h.putSAML)
	g.DELETE("/:id/inbound-protocols/saml", a.Need(ScopeDelete, bearer.Admin), h.deleteSAML)
	g.GET("/:id/inbound-protocols/passive-sts", a.Need(ScopeView, bearer.Admin), h.getPassiveSTS)
	g.PUT("/:id/inbound-protocols/passive-sts", a.Need(ScopeUpdate, bearer.Admin), h.putPassiveSTS)
	g.DELETE("/:id/inbound-protocols/passive-sts", a.Need(ScopeDelete, bearer.Admin), h.deletePassiveSTS)
	h.registerAuthorizedAPIs(g)
}

// Error is WSO2's REST API error body.
type Error = rest.Error

// Error codes, in WSO2's APP- namespace.
var (
	errInvalid      = Error{Status: http.StatusBadRequest, Code: "APP-60001", Message: "Invalid request"}
	errFilter       = Error{Status: http.StatusBadRequest, Code: "APP-60004", Message: "Unsupported filter"}
	errNotFound     = Error{Status: http.StatusNotFound, Code: "APP-60006", Message: "Application not found", Description: "No application with the given id exists."}
	errInboundNone  = Error{Status: http.StatusNotFound, Code: "APP-60008", Message: "Inbound protocol not found", Description: "The application has no configuration of this protocol."}
	errConflict     = Error{Status: http.StatusConflict, Code: "APP-60007", Message: "Conflict"}
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "APP-60010", Message: "Unauthorized",
		Description: "A valid bearer access token is required."}
	errForbidden = Error{Status: http.StatusForbidden, Code: "APP-60011", Message: "Forbidden",
		Description: "The caller is not permitted to perform this operation."}
	errServer = Error{Status: http.StatusInternalServerError, Code: "APP-65001", Message: "Server error",
		Description: "The request could not be completed."}
	errUnavailable = Error{Status: http.StatusServiceUnavailable, Code: "APP-65002", Message: "Service unavailable",
		Description: "Token verification is unavailable; retry later."}
)

func (h *Handler) fail(c *gin.Context, e Error, cause error) { h.errs.Fail(c, e, cause) }

// requestError is a client mistake found while handling a request, possibly inside a
// transaction (which it rolls back).
type requestError struct{ e Error }

func (r *requestError) Error() string { return r.e.Code + ": " + r.e.Description }

func badRequest(format string, args ...any) error {
	return &requestError{errInvalid.With(fmt.Sprintf(format, args...))}
}

// failErr writes err: a requestError as is, an op invalid_request as 400, store conflicts
// as 409, not found as 404, anything else as 500.
func (h *Handler) failErr(c *gin.Context, err error) {
	var re *requestError
	var oe *op.Error
	switch {
	case errors.As(err, &re):
		h.fail(c, re.e, nil)
	case errors.As(err, &oe) && oe.Code == op.CodeInvalidRequest:
		h.fail(c, errInvalid.With(oe.Description), nil)
	case errors.Is(err, store.ErrConflict):
		h.fail(c, errConflict.With("An application with the same name, client id or SAML issuer already exists."), nil)
	case errors.Is(err, store.ErrNotFound):
		h.fail(c, errNotFound, nil)
	default:
		h.fail(c, errServer, err)
	}
}

// decode reads a JSON body into v; unknown members are ignored, as WSO2's Console sends
// settings Keyflow does not have.
func (h *Handler) decode(c *gin.Context, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		h.fail(c, errInvalid.With("The body must be a JSON object of the documented shape: "+jsonProblem(err)), nil)
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

// application loads the application of the path in the caller's organization.
func (h *Handler) application(c *gin.Context) (store.ManagedApplication, bool) {
	a, err := h.cfg.Store.ManagedApplication(c.Request.Context(), c.Param("id"))
	if err == nil && a.OrgID != bearer.Get(c).Org.ID {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound, nil)
		return store.ManagedApplication{}, false
	}
	if err != nil {
		h.fail(c, errServer, err)
		return store.ManagedApplication{}, false
	}
	return a, true
}

func (h *Handler) self(id string) string { return h.cfg.BaseURL + "/api/server/v1/applications/" + id }

// listItem is WSO2's ApplicationListItem.
type listItem struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	ClientID    string `json:"clientId,omitempty"`
	Issuer      string `json:"issuer,omitempty"`
	Access      string `json:"access"`
	Self        string `json:"self"`
	// AdvancedConfigurations is WSO2's; only enableAPIBasedAuthentication is kept.
	AdvancedConfigurations advanced `json:"advancedConfigurations"`
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// listResponse is WSO2's ApplicationListResponse.
type listResponse struct {
	TotalResults int        `json:"totalResults"`
	StartIndex   int        `json:"startIndex"`
	Count        int        `json:"count"`
	Applications []listItem `json:"applications"`
	Links        []link     `json:"links"`
}

func (h *Handler) list(c *gin.Context) {
	limit, offset := DefaultLimit, 0
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			h.fail(c, errInvalid.With("limit must be a positive integer."), nil)
			return
		}
		limit = min(n, MaxLimit)
	}
	if s := c.Query("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.fail(c, errInvalid.With("offset must be a non-negative integer."), nil)
			return
		}
		offset = n
	}
	q := store.ApplicationQuery{OrgID: bearer.Get(c).Org.ID, Offset: offset, Limit: limit}
	if s := strings.TrimSpace(c.Query("filter")); s != "" {
		f, err := parseFilter(s)
		if err != nil {
			h.fail(c, errFilter.With(err.Error()), nil)
			return
		}
		q.Filter = &f
	}
	list, total, err := h.cfg.Store.ManagedApplications(c.Request.Context(), q)
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	out := listResponse{TotalResults: total, StartIndex: offset + 1, Count: len(list),
		Applications: make([]listItem, len(list)), Links: []link{}}
	for i, a := range list {
		out.Applications[i] = listItem{ID: a.ID, Name: a.Name, Description: a.Description, ClientID: a.ClientID,
			Issuer: a.Issuer, Access: "WRITE", Self: h.self(a.ID),
			AdvancedConfigurations: advanced{EnableAPIBasedAuthentication: a.APIBasedAuthentication}}
	}
	page := func(off int) string {
		v := url.Values{"offset": {strconv.Itoa(off)}, "limit": {strconv.Itoa(limit)}}
		if f := c.Query("filter"); f != "" {
			v.Set("filter", f)
		}
		return h.cfg.BaseURL + "/api/server/v1/applications?" + v.Encode()
	}
	if offset+len(list) < total {
		out.Links = append(out.Links, link{Href: page(offset + limit), Rel: "next"})
	}
	if offset > 0 {
		out.Links = append(out.Links, link{Href: page(max(0, offset-limit)), Rel: "previous"})
	}
	c.JSON(http.StatusOK, out)
}

// parseFilter reads WSO2's "attribute op value" filter: name, clientId or issuer with eq, sw,
// ew or co (one condition; and/or are not supported).
func parseFilter(s string) (store.ApplicationFilter, error) {
	attr, rest, _ := strings.Cut(s, " ")
	opName, value, _ := strings.Cut(strings.TrimSpace(rest), " ")
	value = strings.TrimSpace(value)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	f := store.ApplicationFilter{Value: value}
	switch attr {
	case store.AppFilterName, store.AppFilterClientID, store.AppFilterIssuer:
		f.Attribute = attr
	default:
		return f, fmt.Errorf("filter attribute %q: only name, clientId and issuer are supported", attr)
	}
	switch o := store.FilterOp(strings.ToLower(opName)); o {
	case store.FilterEq, store.FilterSw, store.FilterEw, store.FilterCo:
		f.Operator = o
	default:
		return f, fmt.Errorf("filter operator %q: only eq, sw, ew and co are supported", opName)
	}
	if value == "" || strings.Contains(value, " and ") || strings.Contains(value, " or ") {
		return f, errors.New("a filter is one condition 'attribute operator value' with a value")
	}
	return f, nil
}

// advanced is the part of WSO2's AdvancedApplicationConfiguration Keyflow keeps.
type advanced struct {
	EnableAPIBasedAuthentication bool `json:"enableAPIBasedAuthentication"`
	// SkipLoginConsent is the OIDC client's: its users are not asked to consent (first-party
	// applications). Shown for an application with an OIDC client.
	SkipLoginConsent *bool `json:"skipLoginConsent,omitempty"`
}

// inboundItem is WSO2's InboundProtocolListItem.
type inboundItem struct {
	Type string `json:"type"`
	Self string `json:"self"`
}

// application is WSO2's ApplicationResponseModel, the fields Keyflow has.
type application struct {
	ID                     string                       `json:"id"`
	Name                   string                       `json:"name"`
	Description            string                       `json:"description"`
	ClientID               string                       `json:"clientId,omitempty"`
	Issuer                 string                       `json:"issuer,omitempty"`
	InboundProtocols       []inboundItem                `json:"inboundProtocols"`
	AuthenticationSequence store.AuthenticationSequence `json:"authenticationSequence"`
	AdvancedConfigurations advanced                     `json:"advancedConfigurations"`
	ApplicationEnabled     bool                         `json:"applicationEnabled"`
	Access                 string                       `json:"access"`
}

func (h *Handler) get(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	out := application{ID: a.ID, Name: a.Name, Description: a.Description, ClientID: a.ClientID, Issuer: a.Issuer,
		InboundProtocols: []inboundItem{}, AuthenticationSequence: a.Sequence,
		AdvancedConfigurations: advanced{EnableAPIBasedAuthentication: a.APIBasedAuthentication},
		ApplicationEnabled:     true, Access: "WRITE"}
	if out.AuthenticationSequence.Steps == nil {
		out.AuthenticationSequence.Steps = []store.AuthenticationStep{}
	}
	if a.ClientID != "" {
		out.InboundProtocols = append(out.InboundProtocols, inboundItem{Type: "oauth2", Self: h.self(a.ID) + "/inbound-protocols/oidc"})
		client, err := h.cfg.Store.OAuth2Client(c.Request.Context(), a.ClientID)
		if err != nil {
			h.fail(c, errServer, err)
			return
		}
		skip := client.SkipConsent
		out.AdvancedConfigurations.SkipLoginConsent = &skip
	}
	if a.Issuer != "" {
		out.InboundProtocols = append(out.InboundProtocols, inboundItem{Type: "samlsso", Self: h.self(a.ID) + "/inbound-protocols/saml"})
	}
	if _, err := h.cfg.Store.WSFedRelyingPartyByApplication(c.Request.Context(), a.ID); err == nil {
		out.InboundProtocols = append(out.InboundProtocols, inboundItem{Type: "passivests", Self: h.self(a.ID) + "/inbound-protocols/passive-sts"})
	} else if !errors.Is(err, store.ErrNotFound) {
		h.fail(c, errServer, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// sequenceBody is WSO2's AuthenticationSequence as a request member.
type sequenceBody struct {
	Type            string                     `json:"type"`
	Steps           []store.AuthenticationStep `json:"steps"`
	SubjectStepID   int                        `json:"subjectStepId"`
	AttributeStepID int                        `json:"attributeStepId"`
	Script          string                     `json:"script"`
	// RequestPathAuthenticators are not supported; a non-empty list is refused.
	RequestPathAuthenticators []string `json:"requestPathAuthenticators"`
}

// merge applies WSO2's UpdateAuthenticationSequence rules to the current sequence: DEFAULT
// wipes steps and script; a blank script leaves the current one.
func (b sequenceBody) merge(cur store.AuthenticationSequence) (store.AuthenticationSequence, error) {
	if len(b.RequestPathAuthenticators) > 0 {
		return store.AuthenticationSequence{}, badRequest("requestPathAuthenticators are not supported.")
	}
	s := store.AuthenticationSequence{Type: b.Type, Steps: b.Steps, SubjectStepID: b.SubjectStepID,
		AttributeStepID: b.AttributeStepID, Script: b.Script}
	if s.Type == "" {
		s.Type = store.SequenceDefault
	}
	if s.Type == store.SequenceDefault {
		return store.AuthenticationSequence{Type: store.SequenceDefault}, nil
	}
	if strings.TrimSpace(s.Script) == "" && cur.Type == store.SequenceUserDefined {
		s.Script = cur.Script
	}
	if err := s.Validate(); err != nil {
		return store.AuthenticationSequence{}, badRequest("%s.", upperFirst(err.Error()))
	}
	return s, nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// createBody is WSO2's ApplicationModel, the members Keyflow uses. templateId names a template
// whose safe defaults fill the OIDC configuration (templates.go); others are ignored.
type createBody struct {
	Name                         string        `json:"name"`
	Description                  string        `json:"description"`
	TemplateID                   string        `json:"templateId"`
	AuthenticationSequence       *sequenceBody `json:"authenticationSequence"`
	AdvancedConfigurations       *advanced     `json:"advancedConfigurations"`
	InboundProtocolConfiguration *inboundBody  `json:"inboundProtocolConfiguration"`
}

// inboundBody is WSO2's InboundProtocols, the protocols Keyflow configures here.
type inboundBody struct {
	OIDC       *oidcConfig       `json:"oidc"`
	SAML       *samlConfig       `json:"saml"`
	PassiveSTS *passiveSTSConfig `json:"passiveSts"`
}

func (h *Handler) create(c *gin.Context) {
	var b createBody
	if !h.decode(c, &b) {
		return
	}
	ctx := c.Request.Context()
	cl := bearer.Get(c)
	b.Name = strings.TrimSpace(b.Name)
	if err := checkName(b.Name, &b.Description); err != nil {
		h.failErr(c, err)
		return
	}
	if err := applyTemplate(&b); err != nil {
		h.failErr(c, err)
		return
	}
	var seq store.AuthenticationSequence
	if b.AuthenticationSequence != nil {
		var err error
		if seq, err = b.AuthenticationSequence.merge(store.AuthenticationSequence{}); err != nil {
			h.failErr(c, err)
			return
		}
	}
	var oidc *oidcConfig
	var sp *store.SAMLServiceProvider
	var rp *store.WSFedRelyingParty
	if in := b.InboundProtocolConfiguration; in != nil && in.PassiveSTS != nil {
		r, err := in.PassiveSTS.relyingParty("")
		if err != nil {
			h.failErr(c, err)
			return
		}
		rp = &r
	}
	if in := b.InboundProtocolConfiguration; in != nil {
		oidc = in.OIDC
		if oidc != nil && oidc.ClientSecret != "" {
			if err := checkClientSecret(oidc); err != nil {
				h.failErr(c, err)
				return
			}
		}
		if in.SAML != nil {
			// Fetched before the transaction: no network wait holds it open.
			p, err := h.samlProvider(ctx, *in.SAML)
			if err != nil {
				h.failErr(c, err)
				return
			}
			sp = &p
		}
	}
	var (
		app    store.Application
		secret string
	)
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		secret = ""
		na := store.NewApplication{Application: store.Application{OrgID: cl.Org.ID, Name: b.Name, Sequence: seq}, Actor: cl.Actor()}
		if b.AdvancedConfigurations != nil {
			na.APIBasedAuthentication = b.AdvancedConfigurations.EnableAPIBasedAuthentication
		}
		if oidc != nil {
			nc, err := oidc.newClient(cl.Org.ID, b.Name, nil, h.cfg.Outbound)
			if err != nil {
				return err
			}
			nc.Actor = cl.Actor()
			if adv := b.AdvancedConfigurations; adv != nil && adv.SkipLoginConsent != nil {
				nc.SkipConsent = *adv.SkipLoginConsent
			}
			client, s, err := h.createClient(ctx, tx, nc, oidc.ClientSecret)
			if err != nil {
				return err
			}
			na.ClientID, secret = client.ClientID, s
		}
		var err error
		if app, err = tx.CreateApplication(ctx, na); err != nil {
			return err
		}
		if b.Description != "" {
			if _, err := tx.UpdateApplication(ctx, app.ID, store.ApplicationUpdate{Description: &b.Description, Actor: cl.Actor()}); err != nil {
				return err
			}
		}
		if secret != "" {
			if err := h.keepSecret(ctx, tx, app.ID, app.ClientID, secret); err != nil {
				return err
			}
		}
		if sp != nil {
			s := *sp
			s.ApplicationID = app.ID
			if _, err := tx.CreateSAMLServiceProvider(ctx, store.NewSAMLServiceProvider{SAMLServiceProvider: s, Actor: cl.Actor()}); err != nil {
				return err
			}
		}
		if rp != nil {
			r := *rp
			r.ApplicationID = app.ID
			if _, err := tx.CreateWSFedRelyingParty(ctx, store.NewWSFedRelyingParty{WSFedRelyingParty: r, Actor: cl.Actor()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.Header("Location", h.self(app.ID))
	c.Status(http.StatusCreated)
}

// checkName applies the store's rules for names and descriptions, so that a bad value is a
// 400 and not a failed write.
func checkName(name string, description *string) error {
	switch {
	case name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 255 ||
		strings.ContainsFunc(name, unicode.IsControl):
		return badRequest("name is required: 1 to 255 characters, no control characters.")
	case description != nil && (!utf8.ValidString(*description) ||
		utf8.RuneCountInString(*description) > store.MaxApplicationDescription):
		return badRequest("description must be at most %d characters.", store.MaxApplicationDescription)
	}
	return nil
}

// patchBody is WSO2's ApplicationPatchModel, the members Keyflow has.
type patchBody struct {
	Name                   *string       `json:"name"`
	Description            *string       `json:"description"`
	AuthenticationSequence *sequenceBody `json:"authenticationSequence"`
	AdvancedConfigurations *struct {
		EnableAPIBasedAuthentication *bool `json:"enableAPIBasedAuthentication"`
		SkipLoginConsent             *bool `json:"skipLoginConsent"`
	} `json:"advancedConfigurations"`
}

func (h *Handler) patch(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	var b patchBody
	if !h.decode(c, &b) {
		return
	}
	u := store.ApplicationUpdate{Name: b.Name, Description: b.Description, Actor: bearer.Get(c).Actor()}
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		u.Name = &n
		if err := checkName(n, u.Description); err != nil {
			h.failErr(c, err)
			return
		}
	} else if err := checkName(a.Name, u.Description); err != nil {
		h.failErr(c, err)
		return
	}
	if b.AdvancedConfigurations != nil {
		u.APIBasedAuthentication = b.AdvancedConfigurations.EnableAPIBasedAuthentication
	}
	if b.AuthenticationSequence != nil {
		seq, err := b.AuthenticationSequence.merge(a.Sequence)
		if err != nil {
			h.failErr(c, err)
			return
		}
		u.Sequence = &seq
	}
	var skip *bool
	if b.AdvancedConfigurations != nil {
		skip = b.AdvancedConfigurations.SkipLoginConsent
	}
	if skip != nil && a.ClientID == "" {
		h.fail(c, errInvalid.With("skipLoginConsent needs an OIDC client: configure the OIDC inbound protocol first."), nil)
		return
	}
	ctx := c.Request.Context()
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.UpdateApplication(ctx, a.ID, u); err != nil {
			return err
		}
		if skip == nil {
			return nil
		}
		cur, err := tx.OAuth2Client(ctx, a.ClientID)
		if err != nil || cur.SkipConsent == *skip {
			return err
		}
		cur.SkipConsent = *skip
		_, err = tx.UpdateOAuth2Client(ctx, store.NewOAuth2Client{OAuth2Client: cur, Actor: u.Actor})
		return err
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.Status(http.StatusOK)
}

func (h *Handler) putScript(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	var b struct {
		Script *string `json:"script"`
	}
	if !h.decode(c, &b) {
		return
	}
	if b.Script == nil {
		h.fail(c, errInvalid.With("script is required."), nil)
		return
	}
	seq := a.Sequence
	if seq.Type != store.SequenceUserDefined {
		h.fail(c, errInvalid.With("A script needs a USER_DEFINED authentication sequence; PATCH the application's authenticationSequence first."), nil)
		return
	}
	seq.Script = *b.Script
	if _, err := h.cfg.Store.UpdateApplication(c.Request.Context(), a.ID, store.ApplicationUpdate{Sequence: &seq, Actor: bearer.Get(c).Actor()}); err != nil {
		h.failErr(c, err)
		return
	}
	c.Status(http.StatusOK)
}

func (h *Handler) delete(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	if err := h.cfg.Store.DeleteApplication(c.Request.Context(), a.ID, bearer.Get(c).Actor()); err != nil {
		h.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
