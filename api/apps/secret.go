package apps

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/api/oauth2/op"
	"github.com/keyflow/keyflow/store"
)

// Bounds of a client secret chosen by the caller (WSO2 lets the creator of an application
// set it, which is how clients move from another server keeping their credentials). The
// minimum keeps guessable secrets out; WSO2's own generated secrets are 28 or more
// characters.
const (
	MinClientSecretLength = 24
	MaxClientSecretLength = 255
)

// checkClientSecret refuses a chosen secret Keyflow cannot keep: too short or long, not
// printable ASCII (RFC 6749 Appendix A.2: VSCHAR), or for a client that does not
// authenticate with a secret it verifies by hash.
func checkClientSecret(o *oidcConfig) error {
	s := o.ClientSecret
	if len(s) < MinClientSecretLength || len(s) > MaxClientSecretLength || !utf8.ValidString(s) {
		return badRequest("clientSecret must be %d to %d characters.", MinClientSecretLength, MaxClientSecretLength)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return badRequest("clientSecret must be printable ASCII characters (RFC 6749 Appendix A.2).")
		}
	}
	if o.PublicClient {
		return badRequest("A public client has no clientSecret.")
	}
	if ca := o.ClientAuthentication; ca != nil {
		switch ca.TokenEndpointAuthMethod {
		case op.AuthSecretJWT, op.AuthPrivateKeyJWT, op.AuthNone:
			return badRequest("clientSecret can be chosen only for client_secret_basic and client_secret_post clients.")
		}
	}
	return nil
}

// secretHash is the stored form of a client secret exactly as package op computes and
// verifies it (HMAC-SHA256 keyed by the secret pepper: "hmac-sha256$<pepper id>$<mac>"), for
// a secret op did not generate. TestClientSuppliedSecret checks that op accepts it.
// TODO(#5): use an op function hashing a given secret once op has one.
func secretHash(pepper []byte, secret string) string {
	id := sha256.Sum256(pepper)
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	return "hmac-sha256$" + hex.EncodeToString(id[:4]) + "$" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// createClient creates the OAuth2 client nc in tx. With secret set, the client gets that
// secret (checked by checkClientSecret) instead of a generated one; otherwise a generated
// secret is returned (empty for clients without one).
func (h *Handler) createClient(ctx context.Context, tx *store.Tx, nc op.NewClient, secret string) (store.OAuth2Client, string, error) {
	if secret == "" {
		p, err := h.clients(tx)
		if err != nil {
			return store.OAuth2Client{}, "", err
		}
		return p.CreateClient(ctx, nc)
	}
	capt := &capture{Store: tx}
	p, err := h.clients(capt)
	if err != nil {
		return store.OAuth2Client{}, "", err
	}
	if _, _, err := p.CreateClient(ctx, nc); err != nil {
		return store.OAuth2Client{}, "", err
	}
	if capt.got == nil || capt.got.Public || capt.got.SecretHash == "" {
		return store.OAuth2Client{}, "", errors.New("apps: op did not make a confidential client")
	}
	next := *capt.got
	next.SecretHash, next.SecretSealed = secretHash(h.cfg.SecretPepper, secret), nil
	client, err := tx.CreateOAuth2Client(ctx, next)
	if err != nil {
		return store.OAuth2Client{}, "", err
	}
	return client, "", nil
}

// freshSecret has op make a new secret for client c (with its hash, and its sealed form
// for client_secret_jwt) without storing anything.
func (h *Handler) freshSecret(ctx context.Context, c store.OAuth2Client) (secret, hash string, sealed []byte, err error) {
	method := c.TokenEndpointAuthMethod
	if method != op.AuthSecretJWT {
		method = "" // a secret is the same for both secret methods
	}
	capt := &capture{}
	p, err := h.clients(capt)
	if err != nil {
		return "", "", nil, err
	}
	_, secret, err = p.CreateClient(ctx, op.NewClient{OrgID: c.OrgID, Name: c.Name, ClientID: c.ClientID,
		GrantTypes: []string{op.GrantClientCredentials}, TokenEndpointAuthMethod: method})
	if err != nil {
		return "", "", nil, err
	}
	if capt.got == nil || secret == "" {
		return "", "", nil, errors.New("apps: op made no secret")
	}
	return secret, capt.got.SecretHash, capt.got.SecretSealed, nil
}

// regenerateSecret is WSO2's POST …/inbound-protocols/oidc/regenerate-secret: the client
// gets a new secret, returned once in the response (OpenIDConnectConfiguration). The old
// secret stops working; unlike WSO2, the client's tokens and codes are not revoked.
func (h *Handler) regenerateSecret(c *gin.Context) {
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
		cur, err := tx.OAuth2Client(ctx, a.ClientID)
		if err != nil {
			return err
		}
		if cur.Public || cur.SecretHash == "" {
			return badRequest("The client does not authenticate with a secret.")
		}
		secret, hash, sealed, err := h.freshSecret(ctx, cur)
		if err != nil {
			return err
		}
		next := cur
		next.SecretHash, next.SecretSealed = hash, sealed
		updated, err := tx.UpdateOAuth2Client(ctx, store.NewOAuth2Client{OAuth2Client: next, Actor: bearer.Get(c).Actor()})
		if err != nil {
			return err
		}
		// A secret still waiting to be shown is the old one: drop it.
		if _, _, err := tx.TakeApplicationPendingSecret(ctx, a.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		out = viewOIDC(updated)
		out.ClientSecret = secret
		return nil
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
