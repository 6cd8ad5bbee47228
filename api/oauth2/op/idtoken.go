package op

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"maps"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// idToken signs an ID token (OpenID Connect Core §2) for grant g with the
// client's ID token algorithm. nonce is echoed when not empty; at_hash and
// c_hash are added when accessToken and code are not empty (Core §3.3.2.11).
// The grant's user claims (mapped and filtered by scope when the grant was
// made) are included, as WSO2 does; the registered claims are set last so
// that no user claim can replace them.
func (p *Provider) idToken(ctx context.Context, c store.OAuth2Client, g store.OAuth2Grant, nonce, accessToken, code string) (string, error) {
	alg := c.IDTokenSigningAlg
	if alg == "" {
		alg = c.SigningAlg
	}
	now := p.now().Truncate(time.Second)
	claims := maps.Clone(g.Claims)
	if claims == nil {
		claims = map[string]any{}
	}
	claims["iss"] = p.issuer
	claims["sub"] = g.Subject
	claims["aud"] = c.ClientID
	claims["azp"] = c.ClientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(c.IDTokenLifetime).Unix()
	claims["auth_time"] = g.AuthTime.Unix()
	for k, v := range map[string]string{"nonce": nonce, "acr": g.ACR, "sid": g.SessionID} {
		if v != "" {
			claims[k] = v
		} else {
			delete(claims, k)
		}
	}
	if len(g.AMR) > 0 {
		claims["amr"] = g.AMR
	} else {
		delete(claims, "amr")
	}
	delete(claims, "at_hash")
	delete(claims, "c_hash")
	if accessToken != "" {
		claims["at_hash"] = halfHash(alg, accessToken)
	}
	if code != "" {
		claims["c_hash"] = halfHash(alg, code)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", ErrServer(err)
	}
	tok, err := p.keys.Sign(ctx, alg, jwtkeys.TypeJWT, payload)
	if err != nil {
		return "", ErrServer(err)
	}
	return tok, nil
}

// halfHash is at_hash / c_hash: the base64url of the left half of the hash
// of the value, with the hash function of the JWS algorithm (Core
// §3.1.3.6); Ed25519 signs with SHA-512, so EdDSA uses it (as go-oidc and
// the OpenID Foundation's conformance suite do).
func halfHash(alg, value string) string {
	var h hash.Hash
	if alg == jwtkeys.EdDSA {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
