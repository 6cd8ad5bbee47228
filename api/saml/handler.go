package saml

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/gin-gonic/gin"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

// Paths served, relative to the router (and under /t/{tenant} for tenants).
const (
	PathSSO      = "/samlsso"
	PathMetadata = "/samlsso/metadata"
	// PathLogout is IdP-initiated single logout (GET); /samlsso?slo=true is WSO2's spelling
	// of the same. SP-initiated logout messages arrive at PathSSO, the SingleLogoutService
	// the metadata advertises.
	PathLogout = "/samlsso/logout"
	// PathArtifactResolve is the ArtifactResolutionService (SOAP binding), as in WSO2.
	PathArtifactResolve = "/samlartresolve"
)

// ProtocolSAML is flows.LoginRequest.Protocol (and the authn.Completer key) of SAML logins.
const ProtocolSAML = "saml"

// Defaults applied by New.
const (
	DefaultAssertionLifetime = 5 * time.Minute
	DefaultMaxRequestAge     = 90 * time.Second
	DefaultClockSkew         = 3 * time.Minute
	// DefaultLogoutLifetime bounds a single logout's propagation through the browser.
	DefaultLogoutLifetime = 10 * time.Minute
	// DefaultArtifactLifetime is how long an artifact can be resolved.
	DefaultArtifactLifetime = time.Minute
	metadataValidity        = 48 * time.Hour
	metadataCacheControl    = "public, max-age=300"
)

// Store is what the SAML front-end needs from the database; *store.Store implements it.
type Store interface {
	KeyStore
	// OrganizationByHandle resolves a tenant domain (store.ErrNotFound when unknown).
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
	// OrganizationByID returns an organization (store.ErrNotFound when unknown): the tenant of
	// a session another protocol ended (Handler.SessionEnded).
	OrganizationByID(ctx context.Context, id string) (store.Organization, error)
	// SAMLServiceProviderByEntityID finds a service provider of an organization.
	SAMLServiceProviderByEntityID(ctx context.Context, orgID, entityID string) (store.SAMLServiceProvider, error)
	// Application returns the application a service provider belongs to.
	Application(ctx context.Context, id string) (store.Application, error)
	// UserClaims returns a local user's stored claims (the attributes an assertion carries).
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
	// ConsumeSAMLRequestID records a request id; store.ErrConflict on a replay.
	ConsumeSAMLRequestID(ctx context.Context, issuer, requestID string, expiresAt time.Time) error
	SessionStore
	LogoutStore
	ArtifactStore
}

// SessionStore is what single logout needs of SSO sessions.
type SessionStore interface {
	// SSOSessionByToken returns the live session of a cookie token's SHA-256.
	SSOSessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.SSOSession, error)
	// SSOSessionByID returns a live session with its participants.
	SSOSessionByID(ctx context.Context, id string, now time.Time) (store.SSOSession, error)
	// TerminateSSOSession ends a session and returns it with its participants.
	TerminateSSOSession(ctx context.Context, id, userID string, now time.Time, actor store.Actor) (store.SSOSession, error)
	// AddSSOParticipant records (or updates) a relying party of a session.
	AddSSOParticipant(ctx context.Context, id string, p store.SSOParticipant, now time.Time) error
}

// LogoutStore keeps single logouts in progress.
type LogoutStore interface {
	// SaveSAMLLogout creates (empty ID) or updates a logout.
	SaveSAMLLogout(ctx context.Context, l store.SAMLLogout) (store.SAMLLogout, error)
	// TakeSAMLLogoutByRequest returns the logout waiting for the answer to requestID, once.
	TakeSAMLLogoutByRequest(ctx context.Context, requestID string, now time.Time) (store.SAMLLogout, error)
	// TakeSAMLLogout returns a logout by id and clears its pending request.
	TakeSAMLLogout(ctx context.Context, id, orgID string, now time.Time) (store.SAMLLogout, error)
	// DeleteSAMLLogout removes a finished logout.
	DeleteSAMLLogout(ctx context.Context, id string) error
}

// ArtifactStore keeps the messages of issued artifacts.
type ArtifactStore interface {
	// CreateSAMLArtifact stores an artifact's (sealed) message.
	CreateSAMLArtifact(ctx context.Context, a store.SAMLArtifact) error
	// TakeSAMLArtifact removes and returns the artifact issued to spEntityID, once.
	TakeSAMLArtifact(ctx context.Context, handle []byte, orgID, spEntityID string, now time.Time) (store.SAMLArtifact, error)
}

// SessionEnder follows the end of an SSO session for its OIDC relying parties: it revokes the
// session's tokens, starts OIDC back-channel logout and returns the front-channel logout URLs
// the browser must load. *oidclogout.Handler implements it.
type SessionEnder interface {
	SessionEnded(ctx context.Context, s store.SSOSession) []string
}

// BrowserLogins starts server-rendered browser logins; *authn.Handler implements it. It sets
// the CSRF cookie and renders the first page, or — when the first view is already final —
// calls the Completer registered for in.Request.Protocol (this Handler for "saml") at once.
type BrowserLogins interface {
	// BeginBrowserLogin starts the login in; state is handed back, as JSON, to
	// Handler.CompleteLogin when the login ends.
	BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any)
}

// DeferredLogins is BrowserLogins whose Target is set after construction: api/authn needs the
// IdP as its Completer, and the IdP needs authn to start logins.
type DeferredLogins struct {
	Target BrowserLogins
}

// BeginBrowserLogin implements BrowserLogins.
func (d *DeferredLogins) BeginBrowserLogin(c *gin.Context, in flows.LoginInput, state any) {
	d.Target.BeginBrowserLogin(c, in, state)
}

// Config configures New.
type Config struct {
	Store  Store
	Logins BrowserLogins
	// BaseURL is the server's public base URL (https://id.example.com). Required.
	BaseURL string
	// KEKs seal the tenants' signing keys: the first seals, all unseal (the same KEKs as the
	// OAuth2 signing keys may be used; the sealed data is bound to its purpose). Required.
	KEKs []jwtkeys.KEK
	// PersistentIDKey keys the HMAC behind persistent NameIDs (at least 32 bytes). Changing it
	// changes every persistent NameID. Default: derived from the first KEK.
	PersistentIDKey []byte
	// DefaultTenant is the tenant of paths without /t/{tenant}; default
	// store.RootOrganizationHandle.
	DefaultTenant string
	// AssertionLifetime is how long assertions are valid; default DefaultAssertionLifetime.
	AssertionLifetime time.Duration
	// MaxRequestAge is how old an AuthnRequest's IssueInstant may be; default
	// DefaultMaxRequestAge. crewjam's own limit (saml.MaxIssueDelay, 90 s) applies too.
	MaxRequestAge time.Duration
	// ClockSkew is tolerated in IssueInstants; default DefaultClockSkew.
	ClockSkew time.Duration
	// Ended, when set, logs the OIDC relying parties of a session single logout ended out
	// (cross-protocol logout); without it only SAML service providers are told.
	//
	// To log the session's WS-Federation relying parties out too (wsignoutcleanup1.0 frames),
	// pass Enders{oidcLogout, wsfed.Cleanup{…}}.
	Ended SessionEnder
	// BackChannel delivers LogoutRequests to participants whose single logout service takes
	// the SOAP binding (backchannel.go); without it they cannot be logged out and count as
	// failed (PartialLogout).
	BackChannel BackChannel
	// CookieName is the SSO session cookie; default "commonAuthId" (authn.SessionCookie).
	CookieName string
	// LogoutLifetime bounds a single logout's propagation; default DefaultLogoutLifetime.
	LogoutLifetime time.Duration
	// ArtifactLifetime is how long an artifact can be resolved; default
	// DefaultArtifactLifetime.
	ArtifactLifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID makes the ids of responses and assertions; default 20 random bytes, hex, after "_".
	NewID func() string
	// Logger; default discards.
	Logger *slog.Logger
}

// Handler is Keyflow's SAML 2.0 identity provider: metadata, SSO (SP- and IdP-initiated) and
// the completion of SAML logins (authn.Completer).
type Handler struct {
	cfg  Config
	base *url.URL
	keys *keys
	log  *slog.Logger
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Logins == nil {
		return nil, errors.New("saml: Config needs Store and Logins")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || !base.IsAbs() || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("saml: BaseURL %q must be an absolute URL without query or fragment", cfg.BaseURL)
	}
	if len(cfg.KEKs) == 0 {
		return nil, errors.New("saml: Config.KEKs: at least one key-encryption key is required")
	}
	for _, k := range cfg.KEKs {
		if k.ID == "" || len(k.Key) != 32 {
			return nil, fmt.Errorf("saml: Config.KEKs: KEK %q needs an id and 32 bytes", k.ID)
		}
	}
	if cfg.PersistentIDKey == nil {
		m := hmac.New(sha256.New, cfg.KEKs[0].Key)
		m.Write([]byte("keyflow.saml.persistent-nameid.v1"))
		cfg.PersistentIDKey = m.Sum(nil)
	}
	if len(cfg.PersistentIDKey) < 32 {
		return nil, errors.New("saml: Config.PersistentIDKey needs at least 32 bytes")
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = store.RootOrganizationHandle
	}
	for _, d := range []*time.Duration{&cfg.AssertionLifetime, &cfg.MaxRequestAge, &cfg.ClockSkew,
		&cfg.LogoutLifetime, &cfg.ArtifactLifetime} {
		if *d < 0 {
			return nil, fmt.Errorf("saml: negative duration %v in Config", *d)
		}
	}
	if cfg.AssertionLifetime == 0 {
		cfg.AssertionLifetime = DefaultAssertionLifetime
	}
	if cfg.MaxRequestAge == 0 {
		cfg.MaxRequestAge = DefaultMaxRequestAge
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.LogoutLifetime == 0 {
		cfg.LogoutLifetime = DefaultLogoutLifetime
	}
	if cfg.ArtifactLifetime == 0 {
		cfg.ArtifactLifetime = DefaultArtifactLifetime
	}
	if cfg.CookieName == "" {
		cfg.CookieName = authn.SessionCookie
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = func() string { return "_" + hex.EncodeToString(randBytes(20)) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, base: base, log: cfg.Logger,
		keys: &keys{store: cfg.Store, keks: slices.Clone(cfg.KEKs), now: cfg.Now, byOrg: map[string]*signingKey{}}}
	return h, nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// Register mounts the metadata, SSO (and SP-initiated single logout), IdP-initiated logout
// and artifact resolution endpoints, with and without the /t/{tenant} prefix.
func (h *Handler) Register(r gin.IRouter) {
	for _, prefix := range []string{"", "/t/:tenant"} {
		r.GET(prefix+PathMetadata, h.Metadata)
		r.GET(prefix+PathSSO, h.SSO)
		r.POST(prefix+PathSSO, h.SSO)
		r.GET(prefix+PathLogout, h.Logout)
		r.POST(prefix+PathArtifactResolve, h.ResolveArtifact)
	}
}

// tenant is a resolved tenant: its organization and URLs.
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
	org, err := h.cfg.Store.OrganizationByHandle(c.Request.Context(), t.domain)
	if err != nil {
		return tenant{}, err
	}
	t.org = org
	return t, nil
}

// tenantByDomain rebuilds a tenant from the login state.
func (h *Handler) tenantByDomain(ctx context.Context, domain, prefix string) (tenant, error) {
	org, err := h.cfg.Store.OrganizationByHandle(ctx, domain)
	if err != nil {
		return tenant{}, err
	}
	return tenant{domain: domain, org: org, prefix: prefix}, nil
}

// ssoURL is the tenant's SSO endpoint; it is also what signed requests' Destination must be.
func (h *Handler) ssoURL(t tenant) string { return h.base.String() + t.prefix + PathSSO }

// artifactResolveURL is the tenant's ArtifactResolutionService.
func (h *Handler) artifactResolveURL(t tenant) string {
	return h.base.String() + t.prefix + PathArtifactResolve
}

// entityID is the IdP's entity id for the tenant: its metadata URL.
func (h *Handler) entityID(t tenant) string { return h.base.String() + t.prefix + PathMetadata }

// idp builds crewjam's IdP for one request of tenant t: its key, URLs, a clock fixed at now
// and the store-backed SP lookup in sps.
func (h *Handler) idp(ctx context.Context, t tenant, now time.Time) (*crewjam.IdentityProvider, *spLookup, error) {
	sk, err := h.keys.get(ctx, t.org.ID, h.entityID(t))
	if err != nil {
		return nil, nil, err
	}
	meta, _ := url.Parse(h.entityID(t))
	sso, _ := url.Parse(h.ssoURL(t))
	look := &spLookup{ctx: ctx, store: h.cfg.Store, orgID: t.org.ID}
	idp := &crewjam.IdentityProvider{
		Key: sk.key, Certificate: sk.cert, MetadataURL: *meta, SSOURL: *sso, LogoutURL: *sso,
		LogoutBindings:          []string{crewjam.HTTPRedirectBinding, crewjam.HTTPPostBinding},
		ServiceProviderProvider: look,
		Clock:                   dsig.NewFakeClockAt(now),
		NameIDFormats: []crewjam.NameIDFormat{crewjam.EmailAddressNameIDFormat, crewjam.PersistentNameIDFormat,
			crewjam.TransientNameIDFormat, crewjam.UnspecifiedNameIDFormat},
		RejectSHA1Signatures: true,
	}
	look.idp = idp
	return idp, look, nil
}

// spLookup is crewjam's ServiceProviderProvider over the store. It remembers the SP it found
// and applies the SP's SHA-1 policy to the IdP before the request signature is checked. It
// lives for one request, whose context it holds because crewjam's interface passes none.
type spLookup struct {
	ctx   context.Context
	store Store
	orgID string
	idp   *crewjam.IdentityProvider
	found *store.SAMLServiceProvider
}

// GetServiceProvider implements crewjam.ServiceProviderProvider.
func (l *spLookup) GetServiceProvider(_ *http.Request, entityID string) (*crewjam.EntityDescriptor, error) {
	sp, err := l.store.SAMLServiceProviderByEntityID(l.ctx, l.orgID, entityID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, os.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	l.found = &sp
	l.idp.RejectSHA1Signatures = !sp.AllowSHA1
	return entityDescriptor(sp)
}

// Metadata serves GET /samlsso/metadata: the tenant's IdP metadata (saml-metadata-2.0-os).
func (h *Handler) Metadata(c *gin.Context) {
	ctx := c.Request.Context()
	t, err := h.tenant(c)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown tenant", err)
		return
	}
	doc, err := h.metadata(ctx, t)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	c.Header("Cache-Control", metadataCacheControl)
	c.Data(http.StatusOK, "application/samlmetadata+xml", doc)
}

// metadata renders the IdP metadata of t.
func (h *Handler) metadata(ctx context.Context, t tenant) ([]byte, error) {
	now := h.cfg.Now().UTC().Truncate(time.Second)
	idp, _, err := h.idp(ctx, t, now)
	if err != nil {
		return nil, err
	}
	validity := metadataValidity
	idp.ValidDuration = &validity
	ed := idp.Metadata()
	isDefault := true
	ed.IDPSSODescriptors[0].SSODescriptor.ArtifactResolutionServices = []crewjam.IndexedEndpoint{{Binding: crewjam.SOAPBinding,
		Location: h.artifactResolveURL(t), Index: artifactEndpointIndex, IsDefault: &isDefault}}
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml: render metadata: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

func statusFor(err error) int {
	if errors.Is(err, store.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// plainError answers with a short text body; cause is logged, never shown.
func (h *Handler) plainError(c *gin.Context, status int, msg string, cause error) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(c.Request.Context(), level, "saml: request refused", "path", c.FullPath(), "status", status, "error", cause)
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
