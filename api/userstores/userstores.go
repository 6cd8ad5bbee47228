// Package userstores serves WSO2's user store management API (/api/server/v1/userstores): an
// organization's secondary user stores — LDAP and Active Directory directories its users log in
// from as DOMAIN/username (connectors/ldapstore). Settings travel as WSO2's named properties
// (ConnectionURL, ConnectionName, UserSearchBase, …); the bind password (ConnectionPassword) is
// sealed before it reaches the store and is never returned. Every change is one transaction
// with an audit event (package store).
package userstores

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/rest"
	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/store"
)

// Path is the API's base path, WSO2's.
const Path = "/api/server/v1/userstores"

// Scopes of the API, WSO2's names.
const (
	ScopeView   = "internal_userstore_view"
	ScopeCreate = "internal_userstore_create"
	ScopeUpdate = "internal_userstore_update"
	ScopeDelete = "internal_userstore_delete"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// masked stands for the bind password in responses, as WSO2's console shows it.
const masked = "ENCRYPTED"

// Store is what the API needs; *store.Store implements it.
type Store interface {
	bearer.Users
	CreateUserStore(ctx context.Context, us store.UserStore, actor store.Actor) (store.UserStore, error)
	UpdateUserStore(ctx context.Context, us store.UserStore, actor store.Actor) (store.UserStore, error)
	UserStoreByDomain(ctx context.Context, orgID, domain string) (store.UserStore, error)
	UserStores(ctx context.Context, orgID string) ([]store.UserStore, error)
	DeleteUserStore(ctx context.Context, orgID, domain string, actor store.Actor) error
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// Keys seal bind passwords (the same keyring the login's ldapstore.Registry opens them with).
	Keys *ldapstore.Keyring
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
	if cfg.Store == nil || cfg.Tokens == nil || cfg.Keys == nil {
		return nil, errors.New("userstores: Config needs Store, Tokens and Keys")
	}
	g := rest.NewGuard("userstores", cfg.Logger, rest.Codes{Unauthenticated: errUnauthorized, Forbidden: errForbidden, Unavailable: errUnavailable, Server: errServer}, cfg.Tokens, cfg.Store, cfg.OrgHandle)
	return &Handler{cfg: cfg, log: g.Log, errs: g.Errs, auth: g.Auth}, nil
}

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group(Path, a.Authenticate)
	g.GET("", a.Need(ScopeView, bearer.Admin), h.list)
	g.POST("", a.Need(ScopeCreate, bearer.Admin), h.create)
	g.GET("/meta/types", a.Need(ScopeView, bearer.Admin), h.types)
	g.POST("/test-connection", a.Need(ScopeCreate, bearer.Admin), h.testConnection)
	g.GET("/:id", a.Need(ScopeView, bearer.Admin), h.get)
	g.PUT("/:id", a.Need(ScopeUpdate, bearer.Admin), h.put)
	g.DELETE("/:id", a.Need(ScopeDelete, bearer.Admin), h.delete)
}

// Error is WSO2's REST API error body.
type Error = rest.Error

// Error codes, in WSO2's SUS- namespace.
var (
	errInvalid      = Error{Status: http.StatusBadRequest, Code: "SUS-60001", Message: "Invalid request"}
	errNotFound     = Error{Status: http.StatusNotFound, Code: "SUS-60002", Message: "User store not found", Description: "No user store with the given id exists."}
	errConflict     = Error{Status: http.StatusConflict, Code: "SUS-60003", Message: "Conflict", Description: "A user store with this domain name already exists."}
	errUnauthorized = Error{Status: http.StatusUnauthorized, Code: "SUS-60010", Message: "Unauthorized", Description: "A valid bearer access token is required."}
	errForbidden    = Error{Status: http.StatusForbidden, Code: "SUS-60011", Message: "Forbidden", Description: "The caller is not permitted to perform this operation."}
	errServer       = Error{Status: http.StatusInternalServerError, Code: "SUS-65001", Message: "Server error", Description: "The request could not be completed."}
	errUnavailable  = Error{Status: http.StatusServiceUnavailable, Code: "SUS-65002", Message: "Service unavailable", Description: "Token verification is unavailable; retry later."}
)

func (h *Handler) fail(c *gin.Context, e Error, cause error) { h.errs.Fail(c, e, cause) }

// kind is one user store type WSO2 offers, by its user store manager class.
type kind struct {
	className string
	typ       store.UserStoreType
	readOnly  bool
}

// kinds are the types this server supports (WSO2's unique-id managers and their older names).
var kinds = []kind{
	{"org.wso2.carbon.user.core.ldap.UniqueIDReadOnlyLDAPUserStoreManager", store.UserStoreLDAP, true},
	{"org.wso2.carbon.user.core.ldap.UniqueIDReadWriteLDAPUserStoreManager", store.UserStoreLDAP, false},
	{"org.wso2.carbon.user.core.ldap.UniqueIDActiveDirectoryUserStoreManager", store.UserStoreAD, false},
	{"org.wso2.carbon.user.core.ldap.ReadOnlyLDAPUserStoreManager", store.UserStoreLDAP, true},
	{"org.wso2.carbon.user.core.ldap.ReadWriteLDAPUserStoreManager", store.UserStoreLDAP, false},
	{"org.wso2.carbon.user.core.ldap.ActiveDirectoryUserStoreManager", store.UserStoreAD, false},
}

func (k kind) typeName() string { return k.className[strings.LastIndex(k.className, ".")+1:] }

// typeID is WSO2's id of a type: the base64url of its type name.
func (k kind) typeID() string { return base64.RawURLEncoding.EncodeToString([]byte(k.typeName())) }

func kindByTypeID(id string) (kind, bool) {
	for _, k := range kinds {
		if k.typeID() == id || k.typeName() == id {
			return k, true
		}
	}
	return kind{}, false
}

// kindOf is the type a stored user store is shown as.
func kindOf(us store.UserStore) kind {
	switch {
	case us.Type == store.UserStoreAD:
		return kinds[2]
	case us.ReadOnly:
		return kinds[0]
	default:
		return kinds[1]
	}
}

// domainID is WSO2's id of a user store: the base64url of its domain.
func domainID(domain string) string { return base64.RawURLEncoding.EncodeToString([]byte(domain)) }

func domainOf(id string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// Property is one named setting.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ClaimAttributeMapping maps a local claim to a directory attribute.
type ClaimAttributeMapping struct {
	ClaimURI        string `json:"claimURI"`
	MappedAttribute string `json:"mappedAttribute"`
}

// Request is the body of POST and PUT (WSO2's UserStoreReq).
type Request struct {
	TypeID                 string                  `json:"typeId"`
	Name                   string                  `json:"name"`
	Description            string                  `json:"description"`
	Properties             []Property              `json:"properties"`
	ClaimAttributeMappings []ClaimAttributeMapping `json:"claimAttributeMappings"`
}

// Property names, WSO2's.
const (
	propURL            = "ConnectionURL"
	propBindDN         = "ConnectionName"
	propBindPassword   = "ConnectionPassword"
	propUserBase       = "UserSearchBase"
	propUserClass      = "UserEntryObjectClass"
	propUserAttr       = "UserNameAttribute"
	propUserFilter     = "UserNameListFilter"
	propGroupBase      = "GroupSearchBase"
	propGroupClass     = "GroupEntryObjectClass"
	propGroupAttr      = "GroupNameAttribute"
	propMembership     = "MembershipAttribute"
	propMemberOf       = "MemberOfAttribute"
	propDisabled       = "Disabled"
	propReadOnly       = "ReadOnly"
	propStartTLS       = "StartTLSEnabled"
	propConnectTimeout = "LDAPConnectionTimeout"
	propReadTimeout    = "ReadTimeout"
	propPoolSize       = "MaxConnections"
)

var knownProps = []string{propURL, propBindDN, propBindPassword, propUserBase, propUserClass, propUserAttr,
	propUserFilter, propGroupBase, propGroupClass, propGroupAttr, propMembership, propMemberOf, propDisabled,
	propReadOnly, propStartTLS, propConnectTimeout, propReadTimeout, propPoolSize}

// settings is a request turned into a user store (without the sealed password) plus the bind
// password in clear ("" with hasPassword false: not sent).
type settings struct {
	us          store.UserStore
	password    string
	hasPassword bool
}

// parse checks a request; a mistake is an errInvalid description.
func parse(req Request, orgID string) (settings, error) {
	k, ok := kindByTypeID(req.TypeID)
	if !ok {
		return settings{}, fmt.Errorf("typeId %q is not a supported user store type (see %s/meta/types)", req.TypeID, Path)
	}
	props := map[string]string{}
	for _, p := range req.Properties {
		if !slices.Contains(knownProps, p.Name) {
			return settings{}, fmt.Errorf("property %q is not supported", p.Name)
		}
		if _, dup := props[p.Name]; dup {
			return settings{}, fmt.Errorf("property %q is given twice", p.Name)
		}
		props[p.Name] = p.Value
	}
	s := settings{us: store.UserStore{OrgID: orgID, Domain: req.Name, Type: k.typ, ReadOnly: k.readOnly,
		Description: req.Description, URL: props[propURL], BindDN: props[propBindDN],
		UserSearchBase: props[propUserBase], UserObjectClass: props[propUserClass],
		UsernameAttribute: props[propUserAttr], UserSearchFilter: props[propUserFilter],
		GroupSearchBase: props[propGroupBase], GroupObjectClass: props[propGroupClass],
		GroupNameAttribute: props[propGroupAttr], MembershipAttribute: props[propMembership],
		ClaimMappings: map[string]string{}}}
	if s.us.UsernameAttribute == "" {
		s.us.UsernameAttribute = map[store.UserStoreType]string{store.UserStoreLDAP: "uid", store.UserStoreAD: "sAMAccountName"}[k.typ]
	}
	if s.us.UserObjectClass == "" {
		s.us.UserObjectClass = map[store.UserStoreType]string{store.UserStoreLDAP: "inetOrgPerson", store.UserStoreAD: "user"}[k.typ]
	}
	if v := props[propMemberOf]; v != "" {
		if v != store.MembershipMemberOf {
			return settings{}, fmt.Errorf("%s must be memberOf", propMemberOf)
		}
		s.us.MembershipAttribute = store.MembershipMemberOf
	}
	if pw, ok := props[propBindPassword]; ok && pw != masked {
		s.password, s.hasPassword = pw, true
	}
	var err error
	for _, b := range []struct {
		name string
		dst  *bool
	}{{propDisabled, &s.us.Disabled}, {propStartTLS, &s.us.StartTLS}, {propReadOnly, &s.us.ReadOnly}} {
		if v, ok := props[b.name]; ok {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return settings{}, fmt.Errorf("property %s: %q is not true or false", b.name, v)
			}
		}
	}
	if k.typ == store.UserStoreLDAP && !k.readOnly && s.us.ReadOnly {
		return settings{}, fmt.Errorf("property %s contradicts typeId %s", propReadOnly, k.typeName())
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{propConnectTimeout, &s.us.ConnectTimeout}, {propReadTimeout, &s.us.RequestTimeout}} {
		if v, ok := props[d.name]; ok {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				return settings{}, fmt.Errorf("property %s: %q is not a positive number of milliseconds", d.name, v)
			}
			*d.dst = time.Duration(ms) * time.Millisecond
		}
	}
	if v, ok := props[propPoolSize]; ok {
		if s.us.PoolSize, err = strconv.Atoi(v); err != nil || s.us.PoolSize <= 0 {
			return settings{}, fmt.Errorf("property %s: %q is not a positive number", propPoolSize, v)
		}
	}
	for _, m := range req.ClaimAttributeMappings {
		if m.ClaimURI == "" || m.MappedAttribute == "" {
			return settings{}, errors.New("a claim attribute mapping needs claimURI and mappedAttribute")
		}
		s.us.ClaimMappings[m.ClaimURI] = m.MappedAttribute
	}
	return s, nil
}

// UserStore is a user store as GET shows it (WSO2's UserStoreConfigurationsRes).
type UserStore struct {
	ID                     string                  `json:"id"`
	TypeID                 string                  `json:"typeId"`
	TypeName               string                  `json:"typeName"`
	Name                   string                  `json:"name"`
	Description            string                  `json:"description"`
	ClassName              string                  `json:"className"`
	IsLocal                bool                    `json:"isLocal"`
	Properties             []Property              `json:"properties"`
	ClaimAttributeMappings []ClaimAttributeMapping `json:"claimAttributeMappings"`
}

// ListItem is one user store in the list (WSO2's UserStoreListResponse).
type ListItem struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	TypeName    string `json:"typeName"`
	Self        string `json:"self"`
}

func (h *Handler) self(id string) string { return h.cfg.BaseURL + Path + "/" + id }

func view(us store.UserStore) UserStore {
	k := kindOf(us)
	password := ""
	if len(us.BindPassword) > 0 {
		password = masked
	}
	props := []Property{
		{propURL, us.URL}, {propBindDN, us.BindDN}, {propBindPassword, password},
		{propUserBase, us.UserSearchBase}, {propUserClass, us.UserObjectClass}, {propUserAttr, us.UsernameAttribute},
		{propUserFilter, us.UserSearchFilter}, {propGroupBase, us.GroupSearchBase}, {propGroupClass, us.GroupObjectClass},
		{propGroupAttr, us.GroupNameAttribute}, {propMembership, us.MembershipAttribute},
		{propDisabled, strconv.FormatBool(us.Disabled)}, {propReadOnly, strconv.FormatBool(us.ReadOnly)},
		{propStartTLS, strconv.FormatBool(us.StartTLS)},
		{propConnectTimeout, strconv.FormatInt(us.ConnectTimeout.Milliseconds(), 10)},
		{propReadTimeout, strconv.FormatInt(us.RequestTimeout.Milliseconds(), 10)},
		{propPoolSize, strconv.Itoa(us.PoolSize)},
	}
	maps := make([]ClaimAttributeMapping, 0, len(us.ClaimMappings))
	for _, uri := range slices.Sorted(mapKeys(us.ClaimMappings)) {
		maps = append(maps, ClaimAttributeMapping{ClaimURI: uri, MappedAttribute: us.ClaimMappings[uri]})
	}
	return UserStore{ID: domainID(us.Domain), TypeID: k.typeID(), TypeName: k.typeName(), Name: us.Domain,
		Description: us.Description, ClassName: k.className, Properties: props, ClaimAttributeMappings: maps}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (h *Handler) list(c *gin.Context) {
	all, err := h.cfg.Store.UserStores(c.Request.Context(), bearer.Get(c).Org.ID)
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	out := make([]ListItem, 0, len(all))
	for _, us := range all {
		id := domainID(us.Domain)
		out = append(out, ListItem{ID: id, Name: us.Domain, Description: us.Description, Enabled: !us.Disabled,
			TypeName: kindOf(us).typeName(), Self: h.self(id)})
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) types(c *gin.Context) {
	type typeItem struct {
		TypeID    string `json:"typeId"`
		TypeName  string `json:"typeName"`
		ClassName string `json:"className"`
		Self      string `json:"self"`
	}
	out := make([]typeItem, 0, len(kinds))
	for _, k := range kinds[:3] {
		out = append(out, typeItem{TypeID: k.typeID(), TypeName: k.typeName(), ClassName: k.className,
			Self: h.cfg.BaseURL + Path + "/meta/types/" + k.typeID()})
	}
	c.JSON(http.StatusOK, out)
}

// stored returns the user store the path's id names, or fails the request.
func (h *Handler) stored(c *gin.Context) (store.UserStore, bool) {
	domain, ok := domainOf(c.Param("id"))
	if !ok {
		h.fail(c, errNotFound, nil)
		return store.UserStore{}, false
	}
	us, err := h.cfg.Store.UserStoreByDomain(c.Request.Context(), bearer.Get(c).Org.ID, domain)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errNotFound, nil)
		return store.UserStore{}, false
	}
	if err != nil {
		h.fail(c, errServer, err)
		return store.UserStore{}, false
	}
	return us, true
}

func (h *Handler) get(c *gin.Context) {
	if us, ok := h.stored(c); ok {
		c.JSON(http.StatusOK, view(us))
	}
}

// request reads and checks the body.
func (h *Handler) request(c *gin.Context) (settings, bool) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	var req Request
	if err := c.ShouldBindJSON(&req); err != nil {
		h.fail(c, errInvalid.With("The body is not a user store: "+err.Error()), nil)
		return settings{}, false
	}
	s, err := parse(req, bearer.Get(c).Org.ID)
	if err == nil {
		err = s.us.Validate()
	}
	if err != nil {
		h.fail(c, errInvalid.With(err.Error()), nil)
		return settings{}, false
	}
	return s, true
}

// seal puts the sealed bind password into s.us.
func (h *Handler) seal(s *settings) error {
	if !s.hasPassword || s.password == "" {
		return nil
	}
	var err error
	s.us.BindPassword, s.us.BindPasswordKeyID, err = h.cfg.Keys.SealBindPassword(s.us.OrgID, strings.ToUpper(s.us.Domain), s.password)
	return err
}

// writeErr answers a failed store write; the settings were validated before it.
func (h *Handler) writeErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, store.ErrConflict):
		h.fail(c, errConflict, nil)
	case errors.Is(err, store.ErrNotFound):
		h.fail(c, errNotFound, nil)
	default:
		h.fail(c, errServer, err)
	}
}

func (h *Handler) create(c *gin.Context) {
	s, ok := h.request(c)
	if !ok {
		return
	}
	if err := h.seal(&s); err != nil {
		h.fail(c, errServer, err)
		return
	}
	us, err := h.cfg.Store.CreateUserStore(c.Request.Context(), s.us, bearer.Get(c).Actor())
	if err != nil {
		h.writeErr(c, err)
		return
	}
	id := domainID(us.Domain)
	c.Header("Location", h.self(id))
	c.JSON(http.StatusCreated, gin.H{"id": id, "name": us.Domain, "self": h.self(id)})
}

func (h *Handler) put(c *gin.Context) {
	old, ok := h.stored(c)
	if !ok {
		return
	}
	s, ok := h.request(c)
	if !ok {
		return
	}
	if !strings.EqualFold(s.us.Domain, old.Domain) {
		h.fail(c, errInvalid.With("The user store's name (its domain) cannot be changed."), nil)
		return
	}
	if err := h.seal(&s); err != nil {
		h.fail(c, errServer, err)
		return
	}
	if !s.hasPassword {
		s.us.BindPassword = nil // keep the stored one
	} else if s.password == "" {
		s.us.BindPassword = []byte{} // an explicit empty password removes it
	}
	us, err := h.cfg.Store.UpdateUserStore(c.Request.Context(), s.us, bearer.Get(c).Actor())
	if err != nil {
		h.writeErr(c, err)
		return
	}
	c.JSON(http.StatusOK, view(us))
}

func (h *Handler) delete(c *gin.Context) {
	us, ok := h.stored(c)
	if !ok {
		return
	}
	if err := h.cfg.Store.DeleteUserStore(c.Request.Context(), us.OrgID, us.Domain, bearer.Get(c).Actor()); err != nil {
		h.writeErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ConnectionTest is the body of POST /test-connection (WSO2's RDBMSConnectionReq, LDAP fields).
type ConnectionTest struct {
	Domain             string `json:"domain"`
	TypeID             string `json:"typeId"`
	ConnectionURL      string `json:"connectionURL"`
	Username           string `json:"username"`
	ConnectionPassword string `json:"connectionPassword"`
}

// testConnectionTimeout bounds a connection test.
const testConnectionTimeout = 10 * time.Second

// testConnection dials the directory and binds as the given account: {"connection": true|false}.
func (h *Handler) testConnection(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	var req ConnectionTest
	if err := c.ShouldBindJSON(&req); err != nil {
		h.fail(c, errInvalid.With("The body is not a connection test: "+err.Error()), nil)
		return
	}
	k, ok := kindByTypeID(req.TypeID)
	if !ok && req.TypeID != "" {
		h.fail(c, errInvalid.With(fmt.Sprintf("typeId %q is not a supported user store type", req.TypeID)), nil)
		return
	}
	if !ok {
		k = kinds[0]
	}
	if !strings.HasPrefix(req.ConnectionURL, "ldap://") && !strings.HasPrefix(req.ConnectionURL, "ldaps://") {
		h.fail(c, errInvalid.With("connectionURL must be an ldap:// or ldaps:// URL"), nil)
		return
	}
	cl, err := ldapstore.New(ldapstore.Config{Domain: "TEST", Type: k.typ, ReadOnly: true, URL: req.ConnectionURL,
		// The search settings are not used by Ping; New wants them set.
		BindDN: req.Username, BindPassword: req.ConnectionPassword, UserSearchBase: "cn=connection-test",
		UserObjectClass: "top", UsernameAttribute: "uid", ConnectTimeout: 5 * time.Second,
		RequestTimeout: 5 * time.Second, PoolSize: 1, Logger: h.log})
	if err != nil {
		h.fail(c, errInvalid.With(err.Error()), nil)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Request.Context(), testConnectionTimeout)
	defer cancel()
	err = cl.Ping(ctx)
	if err != nil {
		h.log.InfoContext(c.Request.Context(), "userstores: connection test failed", "url", req.ConnectionURL, "error", err)
	}
	c.JSON(http.StatusOK, gin.H{"connection": err == nil})
}
