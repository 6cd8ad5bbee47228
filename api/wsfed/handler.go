package wsfed

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

// Paths served, relative to the router (and under /t/{tenant} for tenants).
const (
	// PathPassiveSTS is WSO2's passive STS endpoint: sign-in and sign-out.
	PathPassiveSTS = "/passivests"
	// PathMetadata is the federation metadata document (WS-Federation 1.2 §3.1.2 location).
	PathMetadata = "/passivests/FederationMetadata/2007-06/FederationMetadata.xml"
)

// ProtocolWSFed is flows.LoginRequest.Protocol (and the authn.Completer key) of WS-Federation
// logins.
const ProtocolWSFed = "wsfed"

// Defaults applied by New.
const (
	DefaultTokenLifetime = 5 * time.Minute
	metadataCacheControl = "public, max-age=300"
)

// Store is what the WS-Federation front-end needs from the database; *store.Store implements it.
type Store interface {
	// OrganizationByHandle resolves a tenant domain (store.ErrNotFound when unknown).
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
	// WSFedRelyingPartyByRealm finds a relying party of an organization (store.ErrNotFound).
	WSFedRelyingPartyByRealm(ctx context.Context, orgID, realm string) (store.WSFedRelyingParty, error)
	// WSFedReplyURLRegistered reports whether a relying party of the organization registers u.
	WSFedReplyURLRegistered(ctx context.Context, orgID, u string) (bool, error)
	// Application returns the application a relying party belongs to.
	Application(ctx context.Context, id string) (store.Application, error)
	// UserClaims returns a local user's stored claims (the attributes a token carries).
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
	// SSOSessionByToken returns the live SSO session of a cookie token's SHA-256.
	SSOSessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.SSOSession, error)
	// TerminateSSOSession ends an SSO session (store.ErrNotFound when already ended).
	TerminateSSOSession(ctx context.Context, id, userID string, now time.Time, actor store.Actor) (store.SSOSession, error)
}

// Keys gives the tenants' token signing keys; *saml.Handler implements it, so that SAML and
// WS-Federation sign with the same key and publish the same certificate.
type Keys interface {
	// SigningKey returns the key and certificate of organization orgID (tenant domain
	// tenantDomain), generating them on first use.
	SigningKey(ctx context.Context, orgID, tenantDomain string) (*rsa.PrivateKey, *x509.Certificate, error)
}

// BrowserLogins starts server-rendered browser logins; *authn.Handler implements it (and so
// does saml.DeferredLogins once its Target is set). It renders the first login page, or calls
// the Completer registered for "wsfed" (this Handler) at once when the login is already over.
type BrowserLogins interface {
	// BeginBrowserLogin starts the login in; state is handed back, as JSON, to
	// Handler.CompleteLogin when the login ends.
	BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any)
}

// Config configures New.
type Config struct {
	Store  Store
	Keys   Keys
	Logins BrowserLogins
	// BaseURL is the server's public base URL (https://id.example.com). Required.
	BaseURL string
	// DefaultTenant is the tenant of paths without /t/{tenant}; default
	// store.RootOrganizationHandle.
	DefaultTenant string
	// TokenLifetime is how long tokens are valid (NotOnOrAfter); default DefaultTokenLifetime.
	TokenLifetime time.Duration
	// CookieName is the SSO session cookie sign-out ends; default authn.SessionCookie.
	CookieName string
	// Ended, when set, logs the other participants of a session wsignout1.0 ended out: the
	// OIDC relying parties (*oidclogout.Handler: front-channel iframes on the signed-out page,
	// back-channel notifications) and, through saml.Enders{…, samlIdP}, the SAML service
	// providers with a back-channel (SOAP) single logout service.
	Ended SessionEnder
	// SAML, when set, walks the browser through the session's front-channel SAML service
	// providers after wsignout1.0 (*saml.Handler): the signed-out page goes on to it, and it
	// ends at wreply.
	SAML SAMLFrontChannel
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID makes the ids of assertions and metadata; default 20 random bytes, hex, after "_".
	NewID func() string
	// Logger; default discards.
	Logger *slog.Logger
}

// Handler is Keyflow's WS-Federation passive requestor STS: sign-in, sign-out, federation
// metadata, and the completion of WS-Federation logins (authn.Completer).
type Handler struct {
	cfg  Config
	base *url.URL
	log  *slog.Logger
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Logins == nil {
		return nil, errors.New("wsfed: Config needs Store, Keys and Logins")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || !base.IsAbs() || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("wsfed: BaseURL %q must be an absolute URL without query or fragment", cfg.BaseURL)
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = store.RootOrganizationHandle
	}
	if cfg.TokenLifetime < 0 {
		return nil, fmt.Errorf("wsfed: negative TokenLifetime %v", cfg.TokenLifetime)
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.CookieName == "" {
		cfg.CookieName = authn.SessionCookie
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return "_" + hex.EncodeToString(randomBytes(20)) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, base: base, log: cfg.Logger}, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// Register mounts the passive STS and the metadata, with and without the /t/{tenant} prefix.
func (h *Handler) Register(r gin.IRouter) {
	for _, prefix := range []string{"", "/t/:tenant"} {
		r.GET(prefix+PathPassiveSTS, h.PassiveSTS)
		r.POST(prefix+PathPassiveSTS, h.PassiveSTS)
		r.GET(prefix+PathMetadata, h.Metadata)
	}
}

// tenant is a resolved tenant: its organization and URL prefix.
type tenant struct {
	domain string
	org    store.Organization
	prefix string // "" or "/t/{tenant}"
}

func (h *Handler) tenant(c *gin.Context) (tenant, error) {
	t := tenant{domain: h.cfg.DefaultTenant}
	if p := c.Param("tenant"); p != "" {
		t.domain, t.prefix = p, "/t/"+url.PathEscape(p)
	}
	return h.tenantByDomain(c.Request.Context(), t.domain, t.prefix)
}

func (h *Handler) tenantByDomain(ctx context.Context, domain, prefix string) (tenant, error) {
	org, err := h.cfg.Store.OrganizationByHandle(ctx, domain)
	if err != nil {
		return tenant{}, err
	}
	return tenant{domain: domain, org: org, prefix: prefix}, nil
}

// stsURL is the tenant's passive STS endpoint; it is also the issuer of its tokens and the
// entity id of its metadata.
func (h *Handler) stsURL(t tenant) string { return h.base.String() + t.prefix + PathPassiveSTS }

func statusFor(err error) int {
	if errors.Is(err, store.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// plainError answers with a short text body; cause is logged, never shown. WS-Federation has
// no error message to a relying party: a request that cannot be answered safely stays here.
func (h *Handler) plainError(c *gin.Context, status int, msg string, cause error) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(c.Request.Context(), level, "wsfed: request refused", "path", c.FullPath(), "status", status, "error", cause)
	securityHeaders(c)
	c.Data(status, "text/plain; charset=utf-8", []byte(msg+"\n"))
}

func securityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
}
