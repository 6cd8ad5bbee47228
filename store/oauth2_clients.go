package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Token formats of OAuth2Client.TokenFormat.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// Defaults for zero lifetimes in OAuth2Client (the schema's defaults too).
const (
	DefaultIDTokenLifetime      = time.Hour
	DefaultRefreshTokenLifetime = 24 * time.Hour
)

// AuditOAuth2ClientCreate is recorded when a client is created. The event
// never includes the secret hash.
const AuditOAuth2ClientCreate = "oauth2.client.create"

// OAuth2Client is an OAuth2 client: the inbound OIDC configuration of an
// application. The store checks only structural rules (the schema's);
// protocol policy (which grants a public client may use, redirect URI
// syntax) belongs to api/oauth2.
type OAuth2Client struct {
	ClientID string
	OrgID    string
	Name     string
	// SecretHash is the keyed hash of the secret, in the caller's format;
	// empty exactly when Public.
	SecretHash          string
	Public              bool
	GrantTypes          []string
	RedirectURIs        []string // compared exactly
	Scopes              []string // scopes the client may be granted
	Audiences           []string // aud of its access tokens; empty means the client id
	TokenFormat         string   // TokenFormatJWT or TokenFormatOpaque
	AccessTokenLifetime time.Duration
	SigningAlg          string // ES256, RS256 or EdDSA
	// ResponseTypes are the allowed response_type values (normalised
	// space-separated combinations); empty means derived from GrantTypes by
	// api/oauth2.
	ResponseTypes []string
	// PKCERequired requires PKCE from a confidential client too (public
	// clients always need it); PKCEAllowPlain accepts the plain method.
	PKCERequired   bool
	PKCEAllowPlain bool
	// IDTokenSigningAlg signs ID tokens; empty means SigningAlg.
	IDTokenSigningAlg string
	// IDTokenLifetime and RefreshTokenLifetime: zero means
	// DefaultIDTokenLifetime and DefaultRefreshTokenLifetime.
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	// SkipConsent: the client is trusted (first party) and its users are not
	// asked to consent.
	SkipConsent bool
	// PostLogoutRedirectURIs are where the end-session endpoint may send the
	// browser after logout (compared exactly).
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives Logout Tokens ('' for none);
	// BackchannelLogoutSessionRequired makes them carry sid.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// FrontchannelLogoutURI is rendered in an iframe at logout ('' for
	// none); FrontchannelLogoutSessionRequired adds iss and sid to it.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// TokenEndpointAuthMethod is the token_endpoint_auth_method (RFC 7591
	// §2); '' means the secret methods for a confidential client and none
	// for a public one. A private_key_jwt client may have no secret hash.
	TokenEndpointAuthMethod string
	// TokenEndpointAuthSigningAlg is the only algorithm accepted for client
	// assertions; '' accepts any the provider allows.
	TokenEndpointAuthSigningAlg string
	// JWKS is the client's inline JWK set (JSON) and JWKSURI where to fetch
	// it; at most one is set. They verify private_key_jwt assertions.
	JWKS    []byte
	JWKSURI string
	// SecretSealed is the secret sealed by the caller, for client_secret_jwt
	// (verifying an HMAC needs the secret itself); nil otherwise.
	SecretSealed []byte
	// JWTBearerIssuers are the issuers whose assertions the client may
	// exchange with the JWT bearer grant (RFC 7523 §2.1).
	JWTBearerIssuers []JWTBearerIssuer
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// NewOAuth2Client is the input of CreateOAuth2Client. CreatedAt and
// UpdatedAt are ignored.
type NewOAuth2Client struct {
	OAuth2Client
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

const oauth2ClientColumns = `client_id, org_id, name, coalesce(secret_hash, ''), public, grant_types, redirect_uris,
	scopes, audiences, token_format, access_token_lifetime_seconds, signing_alg, response_types, pkce_required,
	pkce_allow_plain, id_token_signing_alg, id_token_lifetime_seconds, refresh_token_lifetime_seconds, skip_consent,
	post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, frontchannel_logout_uri,
	frontchannel_logout_session_required, token_endpoint_auth_method, token_endpoint_auth_signing_alg, jwks,
	jwks_uri, secret_sealed, jwt_bearer_issuers, created_at, updated_at`

func scanOAuth2Client(row pgx.Row) (OAuth2Client, error) {
	var (
		c                      OAuth2Client
		lifetime, idt, refresh int64
	)
	err := row.Scan(&c.ClientID, &c.OrgID, &c.Name, &c.SecretHash, &c.Public, &c.GrantTypes, &c.RedirectURIs,
		&c.Scopes, &c.Audiences, &c.TokenFormat, &lifetime, &c.SigningAlg, &c.ResponseTypes, &c.PKCERequired,
		&c.PKCEAllowPlain, &c.IDTokenSigningAlg, &idt, &refresh, &c.SkipConsent, &c.PostLogoutRedirectURIs,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.FrontchannelLogoutURI,
		&c.FrontchannelLogoutSessionRequired, &c.TokenEndpointAuthMethod, &c.TokenEndpointAuthSigningAlg, &c.JWKS,
		&c.JWKSURI, &c.SecretSealed, &c.JWTBearerIssuers, &c.CreatedAt, &c.UpdatedAt)
	c.AccessTokenLifetime = time.Duration(lifetime) * time.Second
	c.IDTokenLifetime = time.Duration(idt) * time.Second
	c.RefreshTokenLifetime = time.Duration(refresh) * time.Second
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// CreateOAuth2Client stores a client and records an audit event. A taken
// client id returns ErrConflict, an unknown organization ErrNotFound, a
// structurally invalid client a plain error. The lifetime is stored in whole
// seconds (at least one).
func (q *queries) CreateOAuth2Client(ctx context.Context, nc NewOAuth2Client) (OAuth2Client, error) {
	c := nc.OAuth2Client
	if c.IDTokenLifetime == 0 {
		c.IDTokenLifetime = DefaultIDTokenLifetime
	}
	if c.RefreshTokenLifetime == 0 {
		c.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if _, err := uuid.Parse(c.OrgID); err != nil {
		return OAuth2Client{}, fmt.Errorf("store: create oauth2 client: organization %q: %w", c.OrgID, ErrNotFound)
	}
	if err := validateOAuth2Client(c); err != nil {
		return OAuth2Client{}, fmt.Errorf("store: create oauth2 client: %w", err)
	}
	var out OAuth2Client
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanOAuth2Client(q.db.QueryRow(ctx, `
			INSERT INTO oauth2_clients (client_id, org_id, name, secret_hash, public, grant_types, redirect_uris,
				scopes, audiences, token_format, access_token_lifetime_seconds, signing_alg, response_types, pkce_required,
				pkce_allow_plain, id_token_signing_alg, id_token_lifetime_seconds, refresh_token_lifetime_seconds, skip_consent,
				post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, frontchannel_logout_uri,
				frontchannel_logout_session_required, token_endpoint_auth_method, token_endpoint_auth_signing_alg, jwks,
				jwks_uri, secret_sealed, jwt_bearer_issuers)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
				$25, $26, $27, $28, $29, $30)
			RETURNING `+oauth2ClientColumns,
			c.ClientID, c.OrgID, c.Name, nullIfEmpty(c.SecretHash), c.Public, oauth2List(c.GrantTypes), oauth2List(c.RedirectURIs),
			oauth2List(c.Scopes), oauth2List(c.Audiences), c.TokenFormat, int64(c.AccessTokenLifetime/time.Second), c.SigningAlg,
			oauth2List(c.ResponseTypes), c.PKCERequired, c.PKCEAllowPlain, c.IDTokenSigningAlg,
			int64(c.IDTokenLifetime/time.Second), int64(c.RefreshTokenLifetime/time.Second), c.SkipConsent,
			oauth2List(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, c.TokenEndpointAuthMethod,
			c.TokenEndpointAuthSigningAlg, jsonbOrNull(c.JWKS), c.JWKSURI, c.SecretSealed, jwtBearerIssuers(c.JWTBearerIssuers)))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create oauth2 client: organization %s: %w", c.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create oauth2 client", err)
		}
		// A cache may remember that the id was unknown (a deleted client of that id).
		if err := q.notifyOAuth2Client(ctx, out.ClientID); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{
			orgID: out.OrgID, actor: nc.Actor, action: AuditOAuth2ClientCreate,
			targetType: "oauth2_client", targetID: out.ClientID,
			after: map[string]any{
				"clientId": out.ClientID, "name": out.Name, "public": out.Public, "grantTypes": out.GrantTypes,
				"redirectUris": out.RedirectURIs, "scopes": out.Scopes, "audiences": out.Audiences,
				"tokenFormat": out.TokenFormat, "accessTokenLifetimeSeconds": int64(out.AccessTokenLifetime / time.Second),
				"signingAlg": out.SigningAlg, "responseTypes": out.ResponseTypes, "pkceRequired": out.PKCERequired,
				"pkceAllowPlain": out.PKCEAllowPlain, "idTokenSigningAlg": out.IDTokenSigningAlg,
				"idTokenLifetimeSeconds":            int64(out.IDTokenLifetime / time.Second),
				"refreshTokenLifetimeSeconds":       int64(out.RefreshTokenLifetime / time.Second),
				"skipConsent":                       out.SkipConsent,
				"postLogoutRedirectUris":            out.PostLogoutRedirectURIs,
				"backchannelLogoutUri":              out.BackchannelLogoutURI,
				"backchannelLogoutSessionRequired":  out.BackchannelLogoutSessionRequired,
				"frontchannelLogoutUri":             out.FrontchannelLogoutURI,
				"frontchannelLogoutSessionRequired": out.FrontchannelLogoutSessionRequired,
				"tokenEndpointAuthMethod":           out.TokenEndpointAuthMethod,
				"tokenEndpointAuthSigningAlg":       out.TokenEndpointAuthSigningAlg,
				"jwksUri":                           out.JWKSURI,
				"hasJwks":                           len(out.JWKS) > 0,
				"jwtBearerIssuers":                  out.JWTBearerIssuers,
			},
		})
	})
	if err != nil {
		return OAuth2Client{}, err
	}
	return out, nil
}

// OAuth2Client returns the client with the given id, or ErrNotFound.
func (q *queries) OAuth2Client(ctx context.Context, clientID string) (OAuth2Client, error) {
	if !utf8.ValidString(clientID) || clientID == "" {
		return OAuth2Client{}, fmt.Errorf("store: oauth2 client: %w", ErrNotFound)
	}
	c, err := scanOAuth2Client(q.db.QueryRow(ctx, `
		SELECT `+oauth2ClientColumns+` FROM oauth2_clients WHERE client_id = $1`, clientID))
	if err != nil {
		return OAuth2Client{}, mapErr("store: oauth2 client", err)
	}
	return c, nil
}

func validateOAuth2Client(c OAuth2Client) error {
	if err := validateName("client id", c.ClientID, 255); err != nil {
		return err
	}
	switch {
	case !utf8.ValidString(c.Name) || utf8.RuneCountInString(c.Name) > 255:
		return fmt.Errorf("client name: invalid or longer than 255 characters")
	case c.Public && c.SecretHash != "",
		!c.Public && c.SecretHash == "" && c.TokenEndpointAuthMethod != oauth2PrivateKeyJWT:
		return fmt.Errorf("client %s: a secret hash is required exactly for confidential clients (but private_key_jwt ones)", c.ClientID)
	case !slices.Contains(oauth2AuthMethods, c.TokenEndpointAuthMethod):
		return fmt.Errorf("client %s: unknown token endpoint auth method %q", c.ClientID, c.TokenEndpointAuthMethod)
	case len(c.JWKS) > 0 && c.JWKSURI != "":
		return fmt.Errorf("client %s: jwks and jwks_uri are exclusive", c.ClientID)
	case len(c.JWKS) > 0 && !json.Valid(c.JWKS):
		return fmt.Errorf("client %s: jwks is not JSON", c.ClientID)
	case len(c.JWKSURI) > 2048 || len(c.TokenEndpointAuthSigningAlg) > 16:
		return fmt.Errorf("client %s: jwks_uri or assertion algorithm too long", c.ClientID)
	}
	for _, i := range c.JWTBearerIssuers {
		if i.Issuer == "" || (len(i.JWKS) == 0) == (i.JWKSURI == "") ||
			(i.SubjectType != SubjectUsername && i.SubjectType != SubjectUserID) {
			return fmt.Errorf("client %s: JWT bearer issuer %q needs exactly one of jwks and jwks_uri, and a subject type", c.ClientID, i.Issuer)
		}
	}
	switch {
	case c.TokenFormat != TokenFormatJWT && c.TokenFormat != TokenFormatOpaque:
		return fmt.Errorf("client %s: unknown token format %q", c.ClientID, c.TokenFormat)
	case !slices.Contains([]string{"ES256", "RS256", "EdDSA"}, c.SigningAlg):
		return fmt.Errorf("client %s: unsupported signing algorithm %q", c.ClientID, c.SigningAlg)
	case c.IDTokenSigningAlg != "" && !slices.Contains([]string{"ES256", "RS256", "EdDSA"}, c.IDTokenSigningAlg):
		return fmt.Errorf("client %s: unsupported ID token signing algorithm %q", c.ClientID, c.IDTokenSigningAlg)
	}
	for name, d := range map[string]time.Duration{"access token": c.AccessTokenLifetime,
		"ID token": c.IDTokenLifetime, "refresh token": c.RefreshTokenLifetime} {
		if d < time.Second || d/time.Second > 1<<31-1 {
			return fmt.Errorf("client %s: %s lifetime %v out of range", c.ClientID, name, d)
		}
	}
	if len(c.BackchannelLogoutURI) > 2048 || len(c.FrontchannelLogoutURI) > 2048 {
		return fmt.Errorf("client %s: logout URI longer than 2048 bytes", c.ClientID)
	}
	for _, list := range [][]string{c.GrantTypes, c.RedirectURIs, c.Scopes, c.Audiences, c.ResponseTypes, c.PostLogoutRedirectURIs} {
		for _, s := range list {
			if s == "" || !utf8.ValidString(s) {
				return fmt.Errorf("client %s: empty or invalid list entry", c.ClientID)
			}
		}
	}
	return nil
}

// oauth2PrivateKeyJWT and oauth2AuthMethods are the token endpoint
// authentication methods the schema accepts (the empty string is the
// default).
const oauth2PrivateKeyJWT = "private_key_jwt"

var oauth2AuthMethods = []string{"", "client_secret_basic", "client_secret_post", "client_secret_jwt", oauth2PrivateKeyJWT, "none"}

// JWTBearerIssuer is an issuer trusted for the JWT bearer grant: its keys
// (an inline JWK set or where to fetch it) and how its sub names a local
// user.
type JWTBearerIssuer struct {
	Issuer  string          `json:"issuer"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// SubjectType is SubjectUsername or SubjectUserID.
	SubjectType string `json:"subject_type"`
}

// SubjectType values of JWTBearerIssuer: sub is a username of the client's
// organization (primary user store, or DOMAIN/username), or a user id.
const (
	SubjectUsername = "username"
	SubjectUserID   = "id"
)

// jwtBearerIssuers makes a nil list an empty array (the column is NOT NULL).
func jwtBearerIssuers(l []JWTBearerIssuer) []JWTBearerIssuer {
	if l == nil {
		return []JWTBearerIssuer{}
	}
	return l
}

// jsonbOrNull stores an empty document as NULL.
func jsonbOrNull(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// oauth2List makes a nil slice an empty array, since the columns are NOT NULL.
func oauth2List(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
