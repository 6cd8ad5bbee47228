package workers

import (
	"context"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

// Users is what the script directory needs from the store.
type Users interface {
	UserRoleNames(ctx context.Context, userID, audienceID string) ([]string, error)
	UserGroupNames(ctx context.Context, userID string) ([]string, error)
	UserClaims(ctx context.Context, userID string) (map[string]string, error)
	SetUserClaims(ctx context.Context, userID string, claims map[string]string) error
}

// directory answers the login scripts' user questions (hasRole, isMemberOfAnyOfGroups,
// localClaims) from the store. Federated users without a local account have no local roles,
// groups or claims, as in WSO2.
type directory struct{ users Users }

var _ scripting.Directory = directory{}

func local(u *connectors.User) bool {
	return u != nil && u.ID != "" && (u.IdP == "" || u.IdP == connectors.LocalIdP)
}

func (d directory) UserRoles(ctx context.Context, u *connectors.User) ([]string, error) {
	if !local(u) {
		return nil, nil
	}
	return d.users.UserRoleNames(ctx, u.ID, "")
}

func (d directory) UserGroups(ctx context.Context, u *connectors.User) ([]string, error) {
	if !local(u) {
		return nil, nil
	}
	return d.users.UserGroupNames(ctx, u.ID)
}

func (d directory) ApplicationRoles(ctx context.Context, appID string, u *connectors.User) ([]string, error) {
	if !local(u) {
		return nil, nil
	}
	return d.users.UserRoleNames(ctx, u.ID, appID)
}

func (d directory) ReadClaims(ctx context.Context, u *connectors.User, uris []string) (map[string]string, error) {
	if !local(u) {
		return map[string]string{}, nil
	}
	all, err := d.users.UserClaims(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(uris))
	for _, uri := range uris {
		if v, ok := all[uri]; ok {
			out[uri] = v
		}
	}
	return out, nil
}

func (d directory) WriteClaims(ctx context.Context, u *connectors.User, claims map[string]string) error {
	if !local(u) {
		return nil
	}
	return d.users.SetUserClaims(ctx, u.ID, claims)
}
