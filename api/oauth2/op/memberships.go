package op

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keyflow/keyflow/store"
)

// The scopes asking for a user's groups and roles, as WSO2 IS 7's OIDC scopes of the same
// names: with them the ID token and userinfo carry a "groups" and a "roles" claim.
const (
	ScopeGroups = "groups"
	ScopeRoles  = "roles"
)

// MembershipReader reads what the groups and roles claims say about a user (*store.Store).
// It is an optional capability of Config.Store, probed at run time: a store without it gives
// tokens no groups or roles claims (beyond what the claim dialect maps from local claims).
type MembershipReader interface {
	// TokenMemberships returns the user's groups (direct and nested, domain-qualified) and
	// its roles whose audience is the application of OAuth2 client clientID (held directly
	// or through groups). A subject that is not a local user has none.
	TokenMemberships(ctx context.Context, userID, clientID string) (store.TokenMemberships, error)
}

// grantClaims are the user claims a new grant holds: the local claims mapped by the
// organization's OIDC dialect and filtered by scopes (claimMapper.userClaims), plus, when the
// groups or roles scope is granted, the user's groups and the application's roles it holds,
// read now (refreshes and userinfo reuse them, narrowed by scope like the other claims).
func (p *Provider) grantClaims(ctx context.Context, c store.OAuth2Client, subject string, local map[string]string, scopes []string) (map[string]any, error) {
	out := p.claims.forOrg(ctx, c.OrgID).userClaims(local, scopes)
	wantGroups, wantRoles := slices.Contains(scopes, ScopeGroups), slices.Contains(scopes, ScopeRoles)
	// A dialect may map groups or roles to a local claim (WSO2's maps them to
	// http://wso2.org/claims/groups and …/roles, multi-valued, comma-separated): those values
	// become arrays, the claims' type in WSO2's tokens.
	for _, name := range []string{ScopeGroups, ScopeRoles} {
		if s, ok := out[name].(string); ok {
			if vs := splitMultiValue(s); len(vs) > 0 {
				out[name] = vs
			} else {
				delete(out, name)
			}
		}
	}
	r, ok := p.store.(MembershipReader)
	if !ok || !(wantGroups || wantRoles) {
		return out, nil
	}
	m, err := r.TokenMemberships(ctx, subject, c.ClientID)
	if err != nil {
		return nil, ToError(fmt.Errorf("op: groups and roles of %s: %w", subject, err))
	}
	// A local user's memberships come from the directory; a federated user keeps what its
	// mapped local claims say.
	if wantGroups && len(m.Groups) > 0 {
		out[ScopeGroups] = m.Groups
	}
	if wantRoles && len(m.Roles) > 0 {
		out[ScopeRoles] = m.Roles
	}
	return out, nil
}

// grantTokenSpec is the access token of grant g for scope: its subject, and the groups and
// roles claims of the grant when scope still grants them (a JWT access token carries them as
// the ID token does; an opaque one leaves them to userinfo).
func grantTokenSpec(g store.OAuth2Grant, scope string) tokenSpec {
	spec := tokenSpec{subject: g.Subject, scope: scope}
	scopes := scopeList(scope)
	if slices.Contains(scopes, ScopeGroups) {
		spec.groups = stringList(g.Claims[ScopeGroups])
	}
	if slices.Contains(scopes, ScopeRoles) {
		spec.roles = stringList(g.Claims[ScopeRoles])
	}
	return spec
}

// stringList reads a list claim as made ([]string) or as read back from the store ([]any).
func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// splitMultiValue splits a multi-valued local claim (WSO2 separates values by commas).
func splitMultiValue(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
