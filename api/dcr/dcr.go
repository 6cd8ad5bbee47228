package dcr

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api"
	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the API, WSO2's names.
const (
	ScopeCreate = "internal_dcr_create"
	ScopeView   = "internal_dcr_view"
	ScopeUpdate = "internal_dcr_update"
	ScopeDelete = "internal_dcr_delete"
)

// Path is where the registration endpoint is mounted (WSO2's).
const Path = "/api/identity/oauth2/dcr/v1.1/register"

// maxBody bounds a request body: metadata with an inline JWK set.
const maxBody = 64 << 10

// Store is what the API needs; *store.Store implements it.
type Store interface {
	bearer.Users
	DCRRegistration(ctx context.Context, clientID string) (store.DCRRegistration, error)
	ManagedApplications(ctx context.Context, q store.ApplicationQuery) ([]store.ManagedApplication, int, error)
	OAuth2Client(ctx context.Context, clientID string) (store.OAuth2Client, error)
	// Tx runs fn in one transaction: every change of a request is written by one call.
	Tx(ctx context.Context, fn func(tx *store.Tx) error) error
}

// Config configures New.
type Config struct {
	Store  Store
	Tokens bearer.Tokens
	// Keys, Issuer and SecretPepper are the OAuth2 provider's (op.Config): clients are
	// validated and their secrets hashed by package op exactly as the provider checks them.
	// The registration access tokens are hashed under a key derived from SecretPepper.
	Keys         op.Keys
	Issuer       string
	SecretPepper []byte
	// BaseURL is the public base URL, for registration_client_uri.
	BaseURL string
	// OrgHandle is the organization served; default store.RootOrganizationHandle.
	OrgHandle string
	// Outbound, when set, checks the URLs Keyflow will call (jwks_uri, backchannel_logout_uri)
	// at registration: one it refuses is invalid_client_metadata. *egress.Policy implements
	// it; it checks the scheme and literal addresses, a host name is checked when it is called.
	Outbound URLChecker
	Logger   *slog.Logger
}

// URLChecker refuses URLs whose target the outbound address policy does not allow.
type URLChecker interface {
	// CheckURL returns an error saying why raw may not be called, nil when it may (so far as
	// can be known before resolving its host).
	CheckURL(raw string) error
}

// Handler serves the API.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	auth     *bearer.Authenticator
	tokenKey []byte
}

// New validates cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Tokens == nil || cfg.Keys == nil {
		return nil, errors.New("dcr: Config needs Store, Tokens and Keys")
	}
	if len(cfg.SecretPepper) < op.MinPepperLength {
		return nil, fmt.Errorf("dcr: Config.SecretPepper: need at least %d bytes", op.MinPepperLength)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	// Fail early on a configuration op.New refuses (issuer, keys).
	if _, err := h.clients(nopStore{}); err != nil {
		return nil, fmt.Errorf("dcr: %w", err)
	}
	var err error
	if h.tokenKey, err = hkdf.Key(sha256.New, cfg.SecretPepper, nil, "keyflow dcr registration access token", 32); err != nil {
		return nil, fmt.Errorf("dcr: derive key: %w", err)
	}
	h.auth = &bearer.Authenticator{Tokens: cfg.Tokens, Users: cfg.Store, OrgHandle: cfg.OrgHandle, Fail: h.refuse}
	return h, nil
}

// clients returns an OAuth2 provider whose client writes go to st (a transaction, or a
// capture), so that a client is created or changed in the same transaction as its
// application.
func (h *Handler) clients(st op.Store) (*op.Provider, error) {
	return op.New(op.Config{Store: st, Keys: h.cfg.Keys, Issuer: h.cfg.Issuer,
		SecretPepper: h.cfg.SecretPepper, ClientCacheTTL: -1})
}

// nopStore lets New check the provider configuration without a store.
type nopStore struct{ op.Store }

// Register mounts the routes.
func (h *Handler) Register(r gin.IRouter) {
	a := h.auth
	g := r.Group(Path)
	g.POST("", a.Authenticate, a.Need(ScopeCreate, bearer.Admin), h.register)
	g.GET("", a.Authenticate, a.Need(ScopeView, bearer.Admin), h.byName)
	g.GET("/:client_id", h.holder, h.authenticate, h.need(ScopeView), h.read)
	g.PUT("/:client_id", h.holder, h.authenticate, h.need(ScopeUpdate), h.update)
	g.DELETE("/:client_id", h.holder, h.authenticate, h.need(ScopeDelete), h.remove)
}

// RFC 7591 §3.2.2 error codes, and RFC 6750 §3.1's for refused tokens.
const (
	CodeInvalidRedirectURI    = "invalid_redirect_uri"
	CodeInvalidClientMetadata = "invalid_client_metadata"
	codeInvalidToken          = "invalid_token"
	codeInsufficientScope     = "insufficient_scope"
	codeServerError           = "server_error"
	codeUnavailable           = "temporarily_unavailable"
)

// Error is an error response: RFC 7591 §3.2.2's body, sent with Status.
type Error struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func invalidMetadata(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidClientMetadata, Description: fmt.Sprintf(format, args...)}
}

func invalidRedirectURI(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRedirectURI, Description: fmt.Sprintf(format, args...)}
}

// errNoRegistration answers an unknown client, or one the token does not reach (RFC 7592
// §2.1: 401, so that client ids cannot be probed).
var errNoRegistration = Error{Status: http.StatusUnauthorized, Code: codeInvalidToken,
	Description: "The token does not give access to a registration of this client."}

// fail writes e and aborts; a 5xx is logged with cause.
func (h *Handler) fail(c *gin.Context, e Error, cause error) {
	if e.Status >= http.StatusInternalServerError {
		h.log.ErrorContext(c.Request.Context(), "dcr: request failed", "error", cause,
			"request_id", api.RequestID(c.Request.Context()))
	}
	if e.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="keyflow", error="invalid_token"`)
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(e.Status, e)
}

// failErr writes err: an *Error as is, op's invalid_request as invalid_client_metadata,
// conflicts as invalid_client_metadata (WSO2 answers a taken name so), anything else 500.
func (h *Handler) failErr(c *gin.Context, err error) {
	var e *Error
	var oe *op.Error
	switch {
	case errors.As(err, &e):
		h.fail(c, *e, nil)
	case errors.As(err, &oe) && oe.Code == op.CodeInvalidRequest:
		h.fail(c, *invalidMetadata("%s", oe.Description), nil)
	case errors.Is(err, store.ErrConflict):
		h.fail(c, *invalidMetadata("An application with this client_name, or a client with this client_id, exists already."), nil)
	case errors.Is(err, store.ErrNotFound):
		h.fail(c, errNoRegistration, nil)
	default:
		h.fail(c, Error{Status: http.StatusInternalServerError, Code: codeServerError}, err)
	}
}

// refuse answers a request package bearer refused.
func (h *Handler) refuse(c *gin.Context, f bearer.Failure, cause error) {
	switch f {
	case bearer.Unauthenticated:
		h.fail(c, Error{Status: http.StatusUnauthorized, Code: codeInvalidToken,
			Description: "A valid bearer access token or registration access token is required."}, nil)
	case bearer.Forbidden:
		h.fail(c, Error{Status: http.StatusForbidden, Code: codeInsufficientScope,
			Description: "The token does not allow this operation."}, nil)
	case bearer.Unavailable:
		h.fail(c, Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable,
			Description: "Token verification is unavailable; retry later."}, cause)
	default:
		h.fail(c, Error{Status: http.StatusInternalServerError, Code: codeServerError}, cause)
	}
}

const holderKey = "dcr.holder"

// holder admits the holder of the client's registration access token (RFC 7592 §1.1). Any
// other token is left to authenticate and need, which admit administrators.
func (h *Handler) holder(c *gin.Context) {
	scheme, tok, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return
	}
	reg, err := h.cfg.Store.DCRRegistration(c.Request.Context(), c.Param("client_id"))
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		h.fail(c, Error{Status: http.StatusInternalServerError, Code: codeServerError}, err)
		return
	}
	if hmac.Equal(h.tokenHash(reg.ClientID, tok), reg.TokenHash) {
		c.Set(holderKey, reg)
	}
}

func (h *Handler) authenticate(c *gin.Context) {
	if _, ok := c.Get(holderKey); !ok {
		h.auth.Authenticate(c)
	}
}

func (h *Handler) need(scope string) gin.HandlerFunc {
	need := h.auth.Need(scope, bearer.Admin)
	return func(c *gin.Context) {
		if _, ok := c.Get(holderKey); !ok {
			need(c)
		}
	}
}

// tokenHash is the stored form of a registration access token: HMAC-SHA256 under a key
// derived from the secret pepper, bound to the client. The token has 256 bits of entropy,
// so a fast keyed hash suffices (as for client secrets).
func (h *Handler) tokenHash(clientID, token string) []byte {
	m := hmac.New(sha256.New, h.tokenKey)
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(token))
	return m.Sum(nil)
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (h *Handler) clientURI(clientID string) string {
	return h.cfg.BaseURL + Path + "/" + url.PathEscape(clientID)
}

// checkOutbound refuses metadata naming a URL Keyflow would call at an address the outbound
// policy does not allow (RFC 7591 §2: the server may refuse metadata values).
func (h *Handler) checkOutbound(m *metadata) error {
	if h.cfg.Outbound == nil {
		return nil
	}
	for _, u := range []struct{ name, url string }{{"jwks_uri", m.JWKSURI}, {"backchannel_logout_uri", m.BackchannelLogoutURI}} {
		if u.url == "" {
			continue
		}
		err := h.cfg.Outbound.CheckURL(u.url)
		// The client is told what is refused, not the server's setting that would allow it.
		var refused *egress.Error
		switch {
		case errors.As(err, &refused):
			return invalidMetadata("%s is not allowed: %s.", u.name, refused.Reason())
		case err != nil:
			return invalidMetadata("%s is not allowed.", u.name)
		}
	}
	return nil
}

// decode reads the JSON metadata into m.
func (h *Handler) decode(c *gin.Context, m *metadata) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err := dec.Decode(m); err != nil {
		desc := "The body must be a JSON object of client metadata (RFC 7591 §2)."
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			desc = te.Field + " has the wrong type."
		}
		h.fail(c, *invalidMetadata("%s", desc), nil)
		return false
	}
	return true
}

// register is RFC 7591 §3.1: the client, its application and the registration are created
// in one transaction; the secret and the registration access token are returned once.
func (h *Handler) register(c *gin.Context) {
	var m metadata
	if !h.decode(c, &m) {
		return
	}
	ctx := c.Request.Context()
	cl := bearer.Get(c)
	nc, err := m.newClient(nil)
	if err == nil {
		err = h.checkOutbound(&m)
	}
	if err != nil {
		h.failErr(c, err)
		return
	}
	nc.OrgID, nc.Actor = cl.Org.ID, cl.Actor()
	var (
		client store.OAuth2Client
		secret string
		rat    string
	)
	err = h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		p, err := h.clients(tx)
		if err != nil {
			return err
		}
		if client, secret, err = p.CreateClient(ctx, nc); err != nil {
			return err
		}
		app, err := tx.CreateApplication(ctx, store.NewApplication{Application: store.Application{
			OrgID: cl.Org.ID, Name: client.Name, ClientID: client.ClientID}, Actor: cl.Actor()})
		if err != nil {
			return err
		}
		rat = randomToken()
		_, err = tx.CreateDCRRegistration(ctx, store.NewDCRRegistration{DCRRegistration: store.DCRRegistration{
			ClientID: client.ClientID, ApplicationID: app.ID, TokenHash: h.tokenHash(client.ClientID, rat)}, Actor: cl.Actor()})
		return err
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	out := h.view(client, secret)
	out.RegistrationAccessToken = rat
	h.respond(c, http.StatusCreated, out)
}

// managed is the client of the path with its application, if the caller may manage it:
// the registration access token's holder, or an administrator of its organization.
func (h *Handler) managed(ctx context.Context, c *gin.Context, tx *store.Tx) (store.OAuth2Client, store.Application, error) {
	clientID := c.Param("client_id")
	client, err := tx.OAuth2Client(ctx, clientID)
	if err != nil {
		return store.OAuth2Client{}, store.Application{}, err
	}
	app, err := tx.ApplicationByClientID(ctx, clientID)
	if err != nil {
		return store.OAuth2Client{}, store.Application{}, err
	}
	if _, ok := c.Get(holderKey); !ok && app.OrgID != bearer.Get(c).Org.ID {
		return store.OAuth2Client{}, store.Application{}, fmt.Errorf("dcr: client of another organization: %w", store.ErrNotFound)
	}
	return client, app, nil
}

// actor is who changes a registration: the client itself, or the administrator.
func actor(c *gin.Context) store.Actor {
	if reg, ok := c.Get(holderKey); ok {
		return store.Actor{Type: store.ActorApplication, ID: reg.(store.DCRRegistration).ClientID}
	}
	return bearer.Get(c).Actor()
}

// read is RFC 7592 §2.1.
func (h *Handler) read(c *gin.Context) {
	ctx := c.Request.Context()
	var client store.OAuth2Client
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		client, _, err = h.managed(ctx, c, tx)
		return err
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	h.respond(c, http.StatusOK, h.view(client, ""))
}

// byName is WSO2's GET /register?client_name=…: an administrator reads a client by the name
// of its application. None is 401, as in WSO2.
func (h *Handler) byName(c *gin.Context) {
	ctx := c.Request.Context()
	name := c.Query("client_name")
	if name == "" {
		h.fail(c, *invalidMetadata("client_name is required."), nil)
		return
	}
	list, _, err := h.cfg.Store.ManagedApplications(ctx, store.ApplicationQuery{OrgID: bearer.Get(c).Org.ID,
		Filter: &store.ApplicationFilter{Attribute: store.AppFilterName, Operator: store.FilterEq, Value: name}, Limit: 1})
	if err != nil {
		h.failErr(c, err)
		return
	}
	if len(list) == 0 || list[0].ClientID == "" {
		h.fail(c, errNoRegistration, nil)
		return
	}
	client, err := h.cfg.Store.OAuth2Client(ctx, list[0].ClientID)
	if err != nil {
		h.failErr(c, err)
		return
	}
	h.respond(c, http.StatusOK, h.view(client, ""))
}

// update is RFC 7592 §2.2: the metadata sent replace the client's (left-out ones take
// their defaults). The secret stays while the client authenticates with it; a client that
// needs a secret it lacks gets one, in the response.
func (h *Handler) update(c *gin.Context) {
	var m metadata
	if !h.decode(c, &m) {
		return
	}
	ctx := c.Request.Context()
	var (
		client    store.OAuth2Client
		newSecret string
	)
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		cur, app, err := h.managed(ctx, c, tx)
		if err != nil {
			return err
		}
		if m.ClientSecret != "" {
			p, err := h.clients(tx)
			if err != nil {
				return err
			}
			// RFC 7592 §2.2: a client_secret sent must be the current one.
			if _, err := p.AuthenticateClient(ctx, op.ClientCredentials{ClientID: cur.ClientID, Secret: m.ClientSecret,
				Method: op.AuthSecretPost}); err != nil {
				return invalidMetadata("client_secret does not match the client's; a secret cannot be chosen here.")
			}
			m.ClientSecret = ""
		}
		nc, err := m.newClient(&cur)
		if err != nil {
			return err
		}
		if err := h.checkOutbound(&m); err != nil {
			return err
		}
		nc.OrgID, nc.Actor = cur.OrgID, actor(c)
		// op validates the metadata and makes a secret with its hash; the capture keeps what
		// op would store instead of inserting it.
		capt := &capture{}
		p, err := h.clients(capt)
		if err != nil {
			return err
		}
		_, generated, err := p.CreateClient(ctx, nc)
		if err != nil {
			return err
		}
		if capt.got == nil {
			return errors.New("dcr: op did not store the client")
		}
		next := *capt.got
		newSecret = op.KeepOrReplaceSecret(cur, &next, generated)
		if client, err = tx.UpdateOAuth2Client(ctx, next); err != nil {
			return err
		}
		if client.Name != app.Name {
			_, err = tx.UpdateApplication(ctx, app.ID, store.ApplicationUpdate{Name: &client.Name, Actor: actor(c)})
		}
		return err
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	h.respond(c, http.StatusOK, h.view(client, newSecret))
}

// remove is RFC 7592 §2.3: the client goes with its application (and so its tokens, codes
// and registration).
func (h *Handler) remove(c *gin.Context) {
	ctx := c.Request.Context()
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		_, app, err := h.managed(ctx, c, tx)
		if err != nil {
			return err
		}
		return tx.DeleteApplication(ctx, app.ID, actor(c))
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// respond writes client information; it may hold secrets, so it is never cached (RFC 7591
// §3.2.1).
func (h *Handler) respond(c *gin.Context, status int, out clientInfo) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(status, out)
}

// capture is an op.Store that keeps the client op.CreateClient would store, so that op's
// validation and hashing serve an update too.
// TODO(#5): replace with an op function for updating clients.
type capture struct {
	op.Store
	got *store.NewOAuth2Client
}

func (c *capture) CreateOAuth2Client(_ context.Context, nc store.NewOAuth2Client) (store.OAuth2Client, error) {
	c.got = &nc
	return nc.OAuth2Client, nil
}
