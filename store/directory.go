package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// The directory queries answer the login scripts' questions about a user: role and group names,
// and local claim reads and writes (scripting.Directory, adapted in workers/).

// UserRoleNames returns the names of the roles held by the user directly or through a group,
// nested groups included (a role of a group applies to the members of its member groups).
// audienceID limits them to one audience (an application's id); empty means the organization's
// roles.
func (q *queries) UserRoleNames(ctx context.Context, userID, audienceID string) ([]string, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return nil, fmt.Errorf("store: user roles: user %q: %w", userID, ErrNotFound)
	}
	audienceFilter := `r.audience_type = 'ORGANIZATION'`
	args := []any{userID}
	if audienceID != "" {
		if _, err := uuid.Parse(audienceID); err != nil {
			return nil, nil // no application has this id, so it has no roles
		}
		audienceFilter = `r.audience_type = 'APPLICATION' AND r.audience_id = $2`
		args = append(args, audienceID)
	}
	return q.names(ctx, "store: user roles", userGroupsCTE("gm.user_id = $1")+`
		SELECT DISTINCT r.name
		FROM roles r
		JOIN role_assignments a ON a.role_id = r.id AND a.org_id = r.org_id
		WHERE (a.user_id = $1 OR a.group_id IN (SELECT ug.group_id FROM user_groups ug)) AND `+audienceFilter+`
		ORDER BY r.name`, args...)
}

// UserGroupNames returns the names of the user's groups, direct and through nested groups,
// qualified with their user-store domain when it is not PRIMARY ("EMPLOYEES/engineering"), as
// WSO2 reports them.
func (q *queries) UserGroupNames(ctx context.Context, userID string) ([]string, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return nil, fmt.Errorf("store: user groups: user %q: %w", userID, ErrNotFound)
	}
	return q.names(ctx, "store: user groups", userGroupsCTE("gm.user_id = $1")+`
		SELECT DISTINCT CASE WHEN g.user_store_domain = 'PRIMARY' THEN g.name ELSE g.user_store_domain || '/' || g.name END
		FROM groups g JOIN user_groups ug ON ug.group_id = g.id
		ORDER BY 1`, userID)
}

// SetUserClaims writes claim values of a user in one statement (insert or replace each); an
// empty value removes the claim.
func (q *queries) SetUserClaims(ctx context.Context, userID string, claims map[string]string) error {
	if _, err := uuid.Parse(userID); err != nil {
		return fmt.Errorf("store: set user claims: user %q: %w", userID, ErrNotFound)
	}
	if len(claims) == 0 {
		return nil
	}
	uris := make([]string, 0, len(claims))
	values := make([]string, 0, len(claims))
	for uri, v := range claims {
		uris = append(uris, uri)
		values = append(values, v)
	}
	return q.atomic(ctx, func(q *queries) error {
		var exists bool
		if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 FOR UPDATE)`, userID).Scan(&exists); err != nil {
			return mapErr("store: set user claims", err)
		}
		if !exists {
			return fmt.Errorf("store: set user claims: user %s: %w", userID, ErrNotFound)
		}
		if _, err := q.db.Exec(ctx, `
			DELETE FROM user_claims c USING unnest($2::text[], $3::text[]) AS n(uri, value)
			WHERE c.user_id = $1 AND c.claim_uri = n.uri AND n.value = ''`, userID, uris, values); err != nil {
			return mapErr("store: set user claims", err)
		}
		if _, err := q.db.Exec(ctx, `
			INSERT INTO user_claims (user_id, claim_uri, value)
			SELECT $1, n.uri, n.value FROM unnest($2::text[], $3::text[]) AS n(uri, value) WHERE n.value <> ''
			ON CONFLICT (user_id, claim_uri) DO UPDATE SET value = EXCLUDED.value`, userID, uris, values); err != nil {
			return mapErr("store: set user claims", err)
		}
		return nil
	})
}

func (q *queries) names(ctx context.Context, what, sql string, args ...any) ([]string, error) {
	rows, err := q.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, mapErr(what, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(what, err)
	}
	return out, nil
}
