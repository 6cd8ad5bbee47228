package store

import (
	"context"
)

// TokenMemberships are what a user's tokens for one application say about its groups and
// roles: the "groups" and "roles" claims of WSO2 IS 7's ID tokens and userinfo.
type TokenMemberships struct {
	// Groups are the names of the user's groups, direct and through nested groups, qualified
	// with their user-store domain when it is not PRIMARY ("EMPLOYEES/eng"), sorted.
	Groups []string
	// Roles are the names of the roles the user holds (directly, through a group or through
	// nested groups) whose audience is the application, sorted without duplicates.
	// Organization-audience roles are not included: WSO2 puts them in an application's tokens
	// only when the application is configured for the organization audience and the role is
	// associated with it, and Keyflow has no such association yet.
	Roles []string
}

// TokenMemberships returns the groups and roles of a user for the application whose OAuth2
// client is clientID, in one query. An unknown user (or a subject that is no local user id,
// such as a federated one) has none; so has a client that belongs to no application, for roles.
func (q *queries) TokenMemberships(ctx context.Context, userID, clientID string) (TokenMemberships, error) {
	out := TokenMemberships{Groups: []string{}, Roles: []string{}}
	if !isUUID(userID) {
		return out, nil
	}
	// Sorted by code point, whatever the database's collation.
	rows, err := q.db.Query(ctx, userGroupsCTE("gm.user_id = $1")+`
		SELECT kind, name FROM (
			SELECT 'g' AS kind, CASE WHEN g.user_store_domain = 'PRIMARY' THEN g.name ELSE g.user_store_domain || '/' || g.name END AS name
			FROM user_groups ug JOIN groups g ON g.id = ug.group_id
			UNION
			SELECT 'r', r.name
			FROM applications app
			JOIN roles r ON r.audience_type = 'APPLICATION' AND r.audience_id = app.id
			JOIN role_assignments ra ON ra.role_id = r.id
			WHERE app.oauth2_client_id = $2
				AND (ra.user_id = $1 OR ra.group_id IN (SELECT ug.group_id FROM user_groups ug))
		) x
		ORDER BY kind, name COLLATE "C"`, userID, clientID)
	if err != nil {
		return TokenMemberships{}, mapErr("store: token memberships", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, name string
		if err := rows.Scan(&kind, &name); err != nil {
			return TokenMemberships{}, mapErr("store: token memberships", err)
		}
		if kind == "g" {
			out.Groups = append(out.Groups, name)
		} else {
			out.Roles = append(out.Roles, name)
		}
	}
	if err := rows.Err(); err != nil {
		return TokenMemberships{}, mapErr("store: token memberships", err)
	}
	return out, nil
}
