package op

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// MaxRequestObjectBytes caps a request object (request parameter).
const MaxRequestObjectBytes = 32 << 10

// RequestObjectSigningAlgorithms lists the algorithms accepted for request
// objects (request_object_signing_alg_values_supported): the asymmetric
// ones with keys of the client's jwks or jwks_uri, HMAC only for
// client_secret_jwt clients (whose secret the server can use). "none" is
// never accepted, and encrypted request objects are not supported.
func RequestObjectSigningAlgorithms() []string { return AssertionSigningAlgorithms() }

// requestObjectClaims are the registered claims of a request object (RFC
// 9101 §4, §10.2).
type requestObjectClaims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ClientID  string           `json:"client_id"`
}

// resolveRequest replaces a request object or a pushed request_uri by the
// parameters they carry.
func (p *Provider) resolveRequest(ctx context.Context, c store.OAuth2Client, params AuthorizeParams) (AuthorizeParams, *Error) {
	switch {
	case params.Request != "" && params.RequestURI != "":
		return AuthorizeParams{}, ErrInvalidRequest("request and request_uri are exclusive (RFC 9101 §5)")
	case params.RequestURI != "":
		return p.pushedParams(ctx, c, params.RequestURI)
	}
	return p.requestObject(ctx, c, params)
}

// pushedParams takes the pushed request named by uri for client c, once.
func (p *Provider) pushedParams(ctx context.Context, c store.OAuth2Client, uri string) (AuthorizeParams, *Error) {
	id, ok := strings.CutPrefix(uri, RequestURIPrefix)
	if !ok {
		return AuthorizeParams{}, ErrRequestURINotSupported("only request_uri values of the pushed authorization request endpoint are supported")
	}
	hash := sha256.Sum256([]byte(id))
	r, err := p.store.TakeOAuth2PushedRequest(ctx, hash[:], p.now())
	if errors.Is(err, store.ErrNotFound) {
		return AuthorizeParams{}, ErrInvalidRequestURI("request_uri is unknown, expired or already used").WithCause(err)
	}
	if err != nil {
		return AuthorizeParams{}, ToError(fmt.Errorf("op: pushed request: %w", err))
	}
	if r.ClientID != c.ClientID {
		return AuthorizeParams{}, ErrInvalidRequestURI("request_uri is unknown, expired or already used").
			WithCause(fmt.Errorf("pushed by client %s", r.ClientID))
	}
	return authorizeParamsFrom(r.Params), nil
}

// requestObject verifies the request object of params (RFC 9101 §6): a
// JWS signed by the client, iss the client id, aud this issuer, exp
// present and near. Its parameters replace those sent beside it (OpenID
// Connect Core §6.1); client_id must be the same in both.
func (p *Provider) requestObject(ctx context.Context, c store.OAuth2Client, params AuthorizeParams) (AuthorizeParams, *Error) {
	raw := params.Request
	if len(raw) > MaxRequestObjectBytes {
		return AuthorizeParams{}, ErrInvalidRequestObject("request object larger than %d bytes", MaxRequestObjectBytes)
	}
	if strings.Count(raw, ".") == 4 {
		return AuthorizeParams{}, ErrInvalidRequestObject("encrypted request objects are not supported")
	}
	tok, err := jwt.ParseSigned(raw, slices.Concat(asymmetricAlgs, hmacAlgs))
	if err != nil {
		return AuthorizeParams{}, ErrInvalidRequestObject("request object is not a JWS with a supported algorithm").WithCause(err)
	}
	var payload json.RawMessage
	if err := p.verifyRequestObject(ctx, c, tok, &payload); err != nil {
		return AuthorizeParams{}, ErrInvalidRequestObject("request object signature is not the client's").WithCause(err)
	}
	var cl requestObjectClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return AuthorizeParams{}, ErrInvalidRequestObject("malformed request object claims").WithCause(err)
	}
	if e := p.checkRequestObject(cl, c.ClientID); e != nil {
		return AuthorizeParams{}, e
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return AuthorizeParams{}, ErrInvalidRequestObject("malformed request object claims").WithCause(err)
	}
	merged := params.values()
	delete(merged, "request")
	for name := range params.fields() {
		v, ok := claims[name]
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			merged[name] = v
		case json.Number:
			merged[name] = v.String()
		default:
			return AuthorizeParams{}, ErrInvalidRequestObject("request object parameter %q must be a string", name)
		}
	}
	if merged["request"] != "" || merged["request_uri"] != "" {
		return AuthorizeParams{}, ErrInvalidRequestObject("a request object cannot hold request or request_uri")
	}
	if merged["client_id"] != c.ClientID {
		return AuthorizeParams{}, ErrInvalidRequestObject("client_id differs from the request object's")
	}
	out := authorizeParamsFrom(merged)
	out.Repeated = params.Repeated
	return out, nil
}

// verifyRequestObject checks tok's signature with the client's keys, or
// with its secret for HMAC when it is a client_secret_jwt client.
func (p *Provider) verifyRequestObject(ctx context.Context, c store.OAuth2Client, tok *jwt.JSONWebToken, dest any) error {
	alg := jose.SignatureAlgorithm(tok.Headers[0].Algorithm)
	if slices.Contains(hmacAlgs, alg) {
		if len(c.SecretSealed) == 0 {
			return fmt.Errorf("algorithm %s needs a client_secret_jwt client", alg)
		}
		secret, err := p.sealer.open(c.ClientID, c.SecretSealed)
		if err != nil {
			return err
		}
		return tok.Claims(secret, dest)
	}
	return p.verifyWithClientKeys(ctx, c, tok, dest)
}

// checkRequestObject applies RFC 9101 §4 and §6.3 to verified claims.
func (p *Provider) checkRequestObject(cl requestObjectClaims, clientID string) *Error {
	now := p.now()
	switch {
	case cl.Issuer != clientID:
		return ErrInvalidRequestObject("request object iss must be the client_id")
	case !cl.Audience.Contains(p.issuer):
		return ErrInvalidRequestObject("request object aud must be the issuer")
	case cl.ClientID != "" && cl.ClientID != clientID:
		return ErrInvalidRequestObject("client_id differs from the request object's")
	case cl.Expiry == nil:
		return ErrInvalidRequestObject("request object has no exp")
	case !now.Before(cl.Expiry.Time().Add(AssertionLeeway)):
		return ErrInvalidRequestObject("request object expired")
	case cl.Expiry.Time().After(now.Add(MaxAssertionLifetime)):
		return ErrInvalidRequestObject("request object exp more than %v ahead", MaxAssertionLifetime)
	case cl.NotBefore != nil && now.Add(AssertionLeeway).Before(cl.NotBefore.Time()):
		return ErrInvalidRequestObject("request object not yet valid (nbf)")
	case cl.IssuedAt != nil && now.Add(AssertionLeeway).Before(cl.IssuedAt.Time()):
		return ErrInvalidRequestObject("request object issued in the future (iat)")
	}
	return nil
}

// hintSubject verifies an id_token_hint (OpenID Connect Core §3.1.2.1):
// an ID token signed by this provider's keys with this issuer, expired or
// not, and returns its sub.
func (p *Provider) hintSubject(ctx context.Context, hint string) (string, error) {
	payload, err := p.keys.Verify(ctx, hint, jwtkeys.TypeJWT)
	if err != nil {
		return "", err
	}
	var cl struct {
		Issuer  string `json:"iss"`
		Subject string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return "", fmt.Errorf("id_token_hint claims: %w", err)
	}
	if cl.Issuer != p.issuer || cl.Subject == "" {
		return "", errors.New("id_token_hint: wrong iss or no sub")
	}
	return cl.Subject, nil
}
