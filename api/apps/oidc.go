package apps

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/connectors/egress"
	"github.com/keyflow/keyflow/store"
)

// WSO2 access token types (accessToken.type).
const (
	tokenTypeJWT     = "JWT"
	tokenTypeDefault = "Default" // opaque
)

// oidcConfig is WSO2's OpenIDConnectConfiguration, the members Keyflow has.
type oidcConfig struct {
	ClientID     string   `json:"clientId,omitempty"`
	ClientSecret string   `json:"clientSecret,omitempty"`
	State        string   `json:"state,omitempty"`
	GrantTypes   []string `json:"grantTypes"`
	// CallbackURLs are redirect URIs; "regexp=…" entries are patterns, as in WSO2.
	CallbackURLs []string           `json:"callbackURLs"`
	PublicClient bool               `json:"publicClient"`
	PKCE         *pkceConfig        `json:"pkce,omitempty"`
	AccessToken  *accessTokenConfig `json:"accessToken,omitempty"`
	RefreshToken *expiryConfig      `json:"refreshToken,omitempty"`
	IDToken      *idTokenConfig     `json:"idToken,omitempty"`
	Logout       *oidcLogoutConfig  `json:"logout,omitempty"`
	HybridFlow   *hybridFlowConfig  `json:"hybridFlow,omitempty"`
	// ClientAuthentication is WSO2's ClientAuthenticationConfiguration; left out of a PUT,
	// the client's settings stay.
	ClientAuthentication *clientAuthConfig `json:"clientAuthentication,omitempty"`
}

// clientAuthConfig is WSO2's ClientAuthenticationConfiguration plus the client's public keys
// for private_key_jwt (jwksUri or jwks: Keyflow's members, RFC 7591 §2's jwks_uri and jwks;
// WSO2 keeps them as the application's certificate).
type clientAuthConfig struct {
	// TokenEndpointAuthMethod is RFC 7591's token_endpoint_auth_method: client_secret_basic,
	// client_secret_post, client_secret_jwt, private_key_jwt, none (public clients) or empty
	// (both secret methods).
	TokenEndpointAuthMethod     string `json:"tokenEndpointAuthMethod,omitempty"`
	TokenEndpointAuthSigningAlg string `json:"tokenEndpointAuthSigningAlg,omitempty"`
	// TokenEndpointAllowReusePvtKeyJwt must be false: an assertion is accepted once (RFC 7523
	// §3 item 7).
	TokenEndpointAllowReusePvtKeyJwt bool            `json:"tokenEndpointAllowReusePvtKeyJwt"`
	JWKSURI                          string          `json:"jwksUri,omitempty"`
	JWKS                             json.RawMessage `json:"jwks,omitempty"`
}

type pkceConfig struct {
	Mandatory                      bool `json:"mandatory"`
	SupportPlainTransformAlgorithm bool `json:"supportPlainTransformAlgorithm"`
}

type accessTokenConfig struct {
	Type                                  string `json:"type,omitempty"`
	UserAccessTokenExpiryInSeconds        int64  `json:"userAccessTokenExpiryInSeconds,omitempty"`
	ApplicationAccessTokenExpiryInSeconds int64  `json:"applicationAccessTokenExpiryInSeconds,omitempty"`
}

type expiryConfig struct {
	ExpiryInSeconds int64 `json:"expiryInSeconds,omitempty"`
}

type idTokenConfig struct {
	ExpiryInSeconds          int64  `json:"expiryInSeconds,omitempty"`
	IDTokenSignedResponseAlg string `json:"idTokenSignedResponseAlg,omitempty"`
}

type oidcLogoutConfig struct {
	BackChannelLogoutURL  string `json:"backChannelLogoutUrl,omitempty"`
	FrontChannelLogoutURL string `json:"frontChannelLogoutUrl,omitempty"`
}

type hybridFlowConfig struct {
	Enable       bool   `json:"enable"`
	ResponseType string `json:"responseType,omitempty"`
}

// URLChecker refuses URLs whose target the outbound address policy does not allow.
type URLChecker interface {
	// CheckURL returns an error saying why raw may not be called, nil when it may (so far as
	// can be known before resolving its host).
	CheckURL(raw string) error
}

// newClient turns the configuration into op's client input. cur is the client being
// replaced (nil on creation): its id and signing algorithm stay. out, when not nil, checks
// the URLs Keyflow will call (see checkOutbound).
func (o *oidcConfig) newClient(orgID, name string, cur *store.OAuth2Client, out URLChecker) (op.NewClient, error) {
	nc, err := o.buildClient(orgID, name, cur)
	if err != nil {
		return op.NewClient{}, err
	}
	if err := checkOutbound(out, nc, cur); err != nil {
		return op.NewClient{}, err
	}
	return nc, nil
}

// checkOutbound refuses a client naming a URL Keyflow will call (the jwks_uri it fetches to
// verify private_key_jwt assertions, the back-channel logout URI it posts logout tokens to)
// whose target out does not allow, so that the mistake shows when it is saved rather than at
// the first login or logout. URLs the replaced client cur already had are not checked again:
// a stricter policy does not block unrelated edits (the call itself is still refused).
func checkOutbound(out URLChecker, nc op.NewClient, cur *store.OAuth2Client) error {
	if out == nil {
		return nil
	}
	var hadJWKSURI, hadLogoutURI string
	if cur != nil {
		hadJWKSURI, hadLogoutURI = cur.JWKSURI, cur.BackchannelLogoutURI
	}
	for _, u := range []struct{ field, url, had string }{
		{"clientAuthentication.jwksUri", nc.JWKSURI, hadJWKSURI},
		{"logout.backChannelLogoutUrl", nc.BackchannelLogoutURI, hadLogoutURI},
	} {
		if u.url == "" || u.url == u.had {
			continue
		}
		err := out.CheckURL(u.url)
		var refused *egress.Error
		switch {
		case errors.As(err, &refused):
			return badRequest("%s is not allowed: %s (the server's outbound address policy refuses it).", u.field, refused.Reason())
		case err != nil:
			return badRequest("%s is not a valid URL.", u.field)
		}
	}
	return nil
}

// buildClient is newClient without the outbound check.
func (o *oidcConfig) buildClient(orgID, name string, cur *store.OAuth2Client) (op.NewClient, error) {
	if len(o.GrantTypes) == 0 {
		return op.NewClient{}, badRequest("grantTypes must name at least one grant type.")
	}
	if id := o.ClientID; id != "" && (!utf8.ValidString(id) || utf8.RuneCountInString(id) > 255 ||
		strings.TrimSpace(id) != id || strings.ContainsFunc(id, unicode.IsControl)) {
		return op.NewClient{}, badRequest("clientId must be at most 255 characters, without spaces around or control characters.")
	}
	nc := op.NewClient{OrgID: orgID, Name: name, ClientID: o.ClientID, Public: o.PublicClient,
		GrantTypes: slices.Clone(o.GrantTypes), RedirectURIs: slices.Clone(o.CallbackURLs)}
	if cur != nil {
		if o.ClientID != "" && o.ClientID != cur.ClientID {
			return op.NewClient{}, badRequest("clientId cannot be changed.")
		}
		nc.ClientID, nc.SigningAlg = cur.ClientID, cur.SigningAlg
		// Settings WSO2's configuration does not carry stay as they are.
		nc.Scopes, nc.Audiences, nc.SkipConsent = cur.Scopes, cur.Audiences, cur.SkipConsent
		nc.IDTokenSigningAlg = cur.IDTokenSigningAlg
		nc.BackchannelLogoutSessionRequired = cur.BackchannelLogoutSessionRequired
		nc.FrontchannelLogoutSessionRequired = cur.FrontchannelLogoutSessionRequired
		nc.JWTBearerIssuers = cur.JWTBearerIssuers
		if o.ClientAuthentication == nil && !o.PublicClient && !cur.Public {
			nc.TokenEndpointAuthMethod, nc.TokenEndpointAuthSigningAlg = cur.TokenEndpointAuthMethod, cur.TokenEndpointAuthSigningAlg
			nc.JWKS, nc.JWKSURI = cur.JWKS, cur.JWKSURI
		}
	}
	if ca := o.ClientAuthentication; ca != nil {
		if ca.TokenEndpointAllowReusePvtKeyJwt {
			return op.NewClient{}, badRequest("tokenEndpointAllowReusePvtKeyJwt must be false: a client assertion is accepted once (RFC 7523 §3).")
		}
		nc.TokenEndpointAuthMethod, nc.TokenEndpointAuthSigningAlg = ca.TokenEndpointAuthMethod, ca.TokenEndpointAuthSigningAlg
		nc.JWKSURI = ca.JWKSURI
		if len(ca.JWKS) > 0 && string(ca.JWKS) != "null" {
			nc.JWKS = slices.Clone([]byte(ca.JWKS))
		}
		if nc.Public && nc.TokenEndpointAuthMethod == "" {
			nc.TokenEndpointAuthMethod = op.AuthNone
		}
	}
	for _, r := range nc.RedirectURIs {
		if !strings.HasPrefix(r, "regexp=") {
			nc.PostLogoutRedirectURIs = append(nc.PostLogoutRedirectURIs, r)
		}
	}
	if o.PKCE != nil {
		nc.PKCERequired, nc.PKCEAllowPlain = o.PKCE.Mandatory, o.PKCE.SupportPlainTransformAlgorithm
	}
	if at := o.AccessToken; at != nil {
		switch at.Type {
		case "", tokenTypeJWT:
			nc.TokenFormat = store.TokenFormatJWT
		case tokenTypeDefault:
			nc.TokenFormat = store.TokenFormatOpaque
		default:
			return op.NewClient{}, badRequest("accessToken.type must be JWT or Default.")
		}
		u, a := at.UserAccessTokenExpiryInSeconds, at.ApplicationAccessTokenExpiryInSeconds
		if u < 0 || a < 0 || (u != 0 && a != 0 && u != a) {
			return op.NewClient{}, badRequest("Access token expiry times must be positive, and the user and application ones equal (Keyflow has one lifetime).")
		}
		nc.AccessTokenLifetime = time.Duration(max(u, a)) * time.Second
	}
	if rt := o.RefreshToken; rt != nil {
		if rt.ExpiryInSeconds < 0 {
			return op.NewClient{}, badRequest("refreshToken.expiryInSeconds must be positive.")
		}
		nc.RefreshTokenLifetime = time.Duration(rt.ExpiryInSeconds) * time.Second
	}
	if it := o.IDToken; it != nil {
		if it.ExpiryInSeconds < 0 {
			return op.NewClient{}, badRequest("idToken.expiryInSeconds must be positive.")
		}
		nc.IDTokenLifetime = time.Duration(it.ExpiryInSeconds) * time.Second
		if it.IDTokenSignedResponseAlg != "" {
			nc.IDTokenSigningAlg = it.IDTokenSignedResponseAlg
		}
	}
	if l := o.Logout; l != nil {
		nc.BackchannelLogoutURI, nc.FrontchannelLogoutURI = l.BackChannelLogoutURL, l.FrontChannelLogoutURL
	}
	if hf := o.HybridFlow; hf != nil && hf.Enable {
		// Listing response types replaces the ones derived from the grants, so list those too.
		if slices.Contains(nc.GrantTypes, op.GrantAuthorizationCode) {
			nc.ResponseTypes = append(nc.ResponseTypes, "code")
		}
		if slices.Contains(nc.GrantTypes, op.GrantImplicit) {
			nc.ResponseTypes = append(nc.ResponseTypes, "token", "id_token", "id_token token")
		}
		for _, rt := range strings.Split(hf.ResponseType, ",") {
			if rt = strings.TrimSpace(rt); rt != "" {
				nc.ResponseTypes = append(nc.ResponseTypes, rt)
			}
		}
	}
	return nc, nil
}

// viewOIDC is the configuration of client c as WSO2 returns it (without the secret).
func viewOIDC(c store.OAuth2Client) oidcConfig {
	o := oidcConfig{ClientID: c.ClientID, State: "ACTIVE", GrantTypes: c.GrantTypes, CallbackURLs: c.RedirectURIs,
		PublicClient: c.Public}
	if o.CallbackURLs == nil {
		o.CallbackURLs = []string{}
	}
	o.PKCE = &pkceConfig{c.PKCERequired, c.PKCEAllowPlain}
	typ := tokenTypeJWT
	if c.TokenFormat == store.TokenFormatOpaque {
		typ = tokenTypeDefault
	}
	life := int64(c.AccessTokenLifetime / time.Second)
	o.AccessToken = &accessTokenConfig{typ, life, life}
	o.RefreshToken = &expiryConfig{int64(c.RefreshTokenLifetime / time.Second)}
	o.IDToken = &idTokenConfig{int64(c.IDTokenLifetime / time.Second), c.IDTokenSigningAlg}
	o.Logout = &oidcLogoutConfig{c.BackchannelLogoutURI, c.FrontchannelLogoutURI}
	var hybrid []string
	for _, rt := range c.ResponseTypes {
		if strings.Contains(rt, "code") && rt != "code" {
			hybrid = append(hybrid, rt)
		}
	}
	o.HybridFlow = &hybridFlowConfig{len(hybrid) > 0, strings.Join(hybrid, ",")}
	o.ClientAuthentication = &clientAuthConfig{TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg, JWKSURI: c.JWKSURI, JWKS: c.JWKS}
	return o
}

// getOIDC returns the OIDC configuration; the first read after a secret was generated
// carries clientSecret, once, as WSO2's Console expects after creating an application.
func (h *Handler) getOIDC(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	if a.ClientID == "" {
		h.fail(c, errInboundNone, nil)
		return
	}
	ctx := c.Request.Context()
	var out oidcConfig
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		client, err := tx.OAuth2Client(ctx, a.ClientID)
		if err != nil {
			return err
		}
		out = viewOIDC(client)
		clientID, sealed, err := tx.TakeApplicationPendingSecret(ctx, a.ID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && clientID != client.ClientID) {
			return nil
		}
		if err != nil {
			return err
		}
		out.ClientSecret, err = h.sealer.open(a.ID, clientID, sealed)
		return err
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// putOIDC creates or replaces the application's OAuth2 client. A replaced confidential
// client keeps its secret (see keepOrReplaceSecret); a new one (or a public client made
// confidential) gets a secret, shown once by the next GET, unless the caller chose it
// (clientSecret, on creation only).
func (h *Handler) putOIDC(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	var b oidcConfig
	if !h.decode(c, &b) {
		return
	}
	ctx := c.Request.Context()
	cl := bearer.Get(c)
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if a.ClientID == "" {
			if b.ClientSecret != "" {
				if err := checkClientSecret(&b); err != nil {
					return err
				}
			}
			nc, err := b.newClient(cl.Org.ID, a.Name, nil, h.cfg.Outbound)
			if err != nil {
				return err
			}
			nc.Actor = cl.Actor()
			client, secret, err := h.createClient(ctx, tx, nc, b.ClientSecret)
			if err != nil {
				return err
			}
			if _, err := tx.UpdateApplication(ctx, a.ID, store.ApplicationUpdate{ClientID: &client.ClientID, Actor: cl.Actor()}); err != nil {
				return err
			}
			if secret != "" {
				return h.keepSecret(ctx, tx, a.ID, client.ClientID, secret)
			}
			return nil
		}
		cur, err := tx.OAuth2Client(ctx, a.ClientID)
		if err != nil {
			return err
		}
		nc, err := b.newClient(cl.Org.ID, a.Name, &cur, h.cfg.Outbound)
		if err != nil {
			return err
		}
		if b.ClientSecret != "" {
			// The Console sends back what it read; a secret may be repeated, not changed.
			p, err := h.clients(tx)
			if err != nil {
				return err
			}
			if _, err := p.AuthenticateClient(ctx, op.ClientCredentials{ClientID: cur.ClientID, Secret: b.ClientSecret,
				Method: op.AuthSecretPost}); err != nil {
				return badRequest("clientSecret cannot be changed here; use regenerate-secret.")
			}
		}
		// op validates the configuration and, for a confidential client, makes a secret and
		// its hash; the capture keeps what op would store instead of inserting it.
		capt := &capture{Store: tx}
		p, err := h.clients(capt)
		if err != nil {
			return err
		}
		_, generated, err := p.CreateClient(ctx, nc)
		if err != nil {
			return err
		}
		if capt.got == nil {
			return errors.New("apps: op did not store the client")
		}
		next := *capt.got
		next.Actor = cl.Actor()
		newSecret := op.KeepOrReplaceSecret(cur, &next, generated)
		if _, err := tx.UpdateOAuth2Client(ctx, next); err != nil {
			return err
		}
		if newSecret != "" {
			return h.keepSecret(ctx, tx, a.ID, cur.ClientID, newSecret)
		}
		return nil
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.Status(http.StatusOK)
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

// keepSecret stores the new secret of an application's client, sealed, for the next read.
func (h *Handler) keepSecret(ctx context.Context, tx *store.Tx, appID, clientID, secret string) error {
	sealed, err := h.sealer.seal(appID, clientID, secret)
	if err != nil {
		return err
	}
	return tx.PutApplicationPendingSecret(ctx, appID, clientID, sealed, h.cfg.Now().Add(h.cfg.PendingSecretTTL))
}

// sealer encrypts pending client secrets with AES-256-GCM under a key derived from the
// client secret pepper (HKDF-SHA256), bound to the application and client.
type sealer struct{ aead cipher.AEAD }

func newSealer(pepper []byte) (sealer, error) {
	key, err := hkdf.Key(sha256.New, pepper, nil, "keyflow apps pending client secret", 32)
	if err != nil {
		return sealer{}, fmt.Errorf("apps: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, fmt.Errorf("apps: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, fmt.Errorf("apps: %w", err)
	}
	return sealer{aead: aead}, nil
}

func sealAAD(appID, clientID string) []byte { return []byte(appID + "\x00" + clientID) }

func (s sealer) seal(appID, clientID, secret string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("apps: %w", err)
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), sealAAD(appID, clientID)), nil
}

func (s sealer) open(appID, clientID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("apps: pending secret too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], sealAAD(appID, clientID))
	if err != nil {
		return "", fmt.Errorf("apps: pending secret does not open: %w", err)
	}
	return string(out), nil
}
