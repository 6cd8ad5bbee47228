package op

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/keyflow/keyflow/store"
)

// RequestURIPrefix starts the request_uri of a pushed authorization
// request (RFC 9126 §2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// Pushed request lifetimes.
const (
	// DefaultPushedRequestLifetime: RFC 9126 §2.2 suggests 5 to 600 s; the
	// browser goes to the authorization endpoint right away.
	DefaultPushedRequestLifetime = 90 * time.Second
	// MaxPushedRequestLifetime bounds Config.PushedRequestLifetime.
	MaxPushedRequestLifetime = 10 * time.Minute
)

// PushedAuthorization is the pushed authorization response (RFC 9126 §2.2).
type PushedAuthorization struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// PushAuthorization answers a pushed authorization request (RFC 9126 §2):
// it authenticates the client as the token endpoint does, validates the
// authorization parameters of form (or its request object) as
// ValidateAuthorizeRequest would, and stores them for one use within
// Config.PushedRequestLifetime. Errors are *Error for a JSON response
// (RFC 9126 §2.3).
func (p *Provider) PushAuthorization(ctx context.Context, cc ClientCredentials, form url.Values) (PushedAuthorization, error) {
	c, err := p.AuthenticateClient(ctx, cc)
	if err != nil {
		return PushedAuthorization{}, err
	}
	params := ParseAuthorizeParams(form)
	switch {
	case params.RequestURI != "":
		return PushedAuthorization{}, ErrInvalidRequest("request_uri cannot be pushed (RFC 9126 §2.1)")
	case params.ClientID != "" && params.ClientID != c.ClientID:
		return PushedAuthorization{}, ErrInvalidRequest("client_id is not the authenticated client")
	}
	params.ClientID = c.ClientID
	if params.Request != "" {
		var e *Error
		if params, e = p.requestObject(ctx, c, params); e != nil {
			return PushedAuthorization{}, e
		}
	}
	if _, err := p.validateParams(ctx, c, params); err != nil {
		// A *RedirectError unwraps to its *Error: sent as JSON here.
		return PushedAuthorization{}, ToError(err)
	}
	id := randomString(32)
	hash := sha256.Sum256([]byte(id))
	now := p.now()
	err = p.store.CreateOAuth2PushedRequest(ctx, store.OAuth2PushedRequest{
		Hash: hash[:], ClientID: c.ClientID, Params: params.values(), ExpiresAt: now.Add(p.parLifetime),
	})
	if errors.Is(err, store.ErrNotFound) {
		return PushedAuthorization{}, ErrInvalidClient("client authentication failed").WithCause(err)
	}
	if err != nil {
		return PushedAuthorization{}, ToError(fmt.Errorf("op: store pushed request: %w", err))
	}
	return PushedAuthorization{RequestURI: RequestURIPrefix + id, ExpiresIn: int64(p.parLifetime / time.Second)}, nil
}

// RequirePushedAuthorizationRequests reports Config.RequirePushedAuthorizationRequests
// (require_pushed_authorization_requests).
func (p *Provider) RequirePushedAuthorizationRequests() bool { return p.requirePAR }
