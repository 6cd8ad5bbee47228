package op

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keyflow/keyflow/store"
)

// APIScopeReader reads the API resources (WSO2 IS 7) a client's application is authorized
// for and the permissions a user holds for it (*store.Store). It is an optional capability of
// Config.Store, probed at run time: without it a client obtains only its own scopes and the
// OpenID Connect ones.
type APIScopeReader interface {
	// ClientAPIScopes returns the scopes the application of OAuth2 client clientID is
	// authorized for, with their API resource's identifier and the authorization's policy.
	ClientAPIScopes(ctx context.Context, clientID string) ([]store.ClientAPIScope, error)
	// UserClientPermissions returns the permissions (scope names) of the user's roles whose
	// audience is the organization or the application of clientID.
	UserClientPermissions(ctx context.Context, userID, clientID string) ([]string, error)
}

// internalScopePrefix marks the server's own API scopes (internal_user_mgt_view…): they come
// from the client's registered scopes and the caller's permissions, never from API resources.
const internalScopePrefix = "internal_"

// mayBeAPIScope reports whether s could only be granted through an API resource: it is
// neither an OpenID Connect scope, nor an internal scope, nor one of the client's own.
func mayBeAPIScope(c store.OAuth2Client, s string) bool {
	return !slices.Contains(oidcScopes(), s) && !strings.HasPrefix(s, internalScopePrefix) && !slices.Contains(c.Scopes, s)
}

// clientAPIScopes returns the API-resource scopes of c's application when one of scopes may
// be one (so that requests for OIDC scopes alone cost no query); nil otherwise.
func (p *Provider) clientAPIScopes(ctx context.Context, c store.OAuth2Client, scopes []string) ([]store.ClientAPIScope, error) {
	r, ok := p.store.(APIScopeReader)
	if !ok || !slices.ContainsFunc(scopes, func(s string) bool { return mayBeAPIScope(c, s) }) {
		return nil, nil
	}
	out, err := r.ClientAPIScopes(ctx, c.ClientID)
	if err != nil {
		return nil, ToError(fmt.Errorf("op: api scopes of %s: %w", c.ClientID, err))
	}
	return out, nil
}

// allowedScopes are the scopes of requested (space-separated) that c may be granted before
// any user is considered: its own, plus those its application is authorized for (API
// resources). An empty request leaves the client's own (RFC 6749 §3.3's default).
func (p *Provider) allowedScopes(ctx context.Context, c store.OAuth2Client, requested string) ([]string, error) {
	api, err := p.clientAPIScopes(ctx, c, scopeList(requested))
	if err != nil || len(api) == 0 {
		return c.Scopes, err
	}
	out := slices.Clone(c.Scopes)
	for _, s := range api {
		out = append(out, s.Name)
	}
	return out, nil
}

// userScopes narrows scopes granted to c for user subject: an API-resource scope stays when
// c's application is still authorized for it and, under the RBAC policy, one of the user's
// roles (organization audience, or this application's) has it as a permission (WSO2 IS 7's
// role-based scope validation). Scopes not granted are dropped silently: the token's scope
// says what was granted (RFC 6749 §3.3). Other scopes are kept.
func (p *Provider) userScopes(ctx context.Context, c store.OAuth2Client, subject string, scopes []string) ([]string, error) {
	api, err := p.clientAPIScopes(ctx, c, scopes)
	if err != nil {
		return nil, err
	}
	var perms []string
	havePerms := false
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !mayBeAPIScope(c, s) {
			out = append(out, s)
			continue
		}
		i := slices.IndexFunc(api, func(a store.ClientAPIScope) bool { return a.Name == s })
		if i < 0 {
			continue
		}
		if api[i].Policy == store.PolicyRBAC {
			if !havePerms {
				if perms, err = p.store.(APIScopeReader).UserClientPermissions(ctx, subject, c.ClientID); err != nil {
					return nil, ToError(fmt.Errorf("op: permissions of %s: %w", subject, err))
				}
				havePerms = true
			}
			if !slices.Contains(perms, s) {
				continue
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// userScope is userScopes on a space-separated scope.
func (p *Provider) userScope(ctx context.Context, c store.OAuth2Client, subject, scope string) (string, error) {
	out, err := p.userScopes(ctx, c, subject, scopeList(scope))
	return strings.Join(out, " "), err
}

// withAPIAudiences adds to aud the identifiers of the API resources whose scopes scope grants
// (an access token is meant for them too: RFC 9068 §3, WSO2 IS 7's audiences).
func (p *Provider) withAPIAudiences(ctx context.Context, c store.OAuth2Client, aud []string, scope string) ([]string, error) {
	scopes := scopeList(scope)
	api, err := p.clientAPIScopes(ctx, c, scopes)
	if err != nil || len(api) == 0 {
		return aud, err
	}
	out := slices.Clone(aud)
	for _, a := range api {
		if slices.Contains(scopes, a.Name) && !slices.Contains(out, a.Identifier) {
			out = append(out, a.Identifier)
		}
	}
	return out, nil
}
