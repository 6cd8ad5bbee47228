package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
)

// permissionPattern is what a role permission (an API scope name) may look like; the table
// checks the same.
var permissionPattern = regexp.MustCompile(`^[A-Za-z0-9_:./-]{1,255}$`)

// MaxRolePermissions bounds the permissions of one role.
const MaxRolePermissions = 1000

// normalizePermissions checks perms and returns them sorted without duplicates (never nil).
func normalizePermissions(perms []string) ([]string, error) {
	if len(perms) > MaxRolePermissions {
		return nil, fmt.Errorf("more than %d permissions", MaxRolePermissions)
	}
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		if !permissionPattern.MatchString(p) {
			return nil, fmt.Errorf("permission %q is not a scope name", p)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// setRolePermissions makes perms (normalized) the permissions of role id.
func (q *queries) setRolePermissions(ctx context.Context, roleID string, perms []string) error {
	if _, err := q.db.Exec(ctx, `DELETE FROM role_permissions WHERE role_id = $1 AND NOT permission = ANY($2::text[])`,
		roleID, perms); err != nil {
		return mapErr("store: role permissions", err)
	}
	if len(perms) == 0 {
		return nil
	}
	_, err := q.db.Exec(ctx, `INSERT INTO role_permissions (role_id, permission)
		SELECT $1, p FROM unnest($2::text[]) AS x(p) ON CONFLICT DO NOTHING`, roleID, perms)
	return mapErr("store: role permissions", err)
}

// PermissionsOfRoles returns, per role id, its permissions sorted.
func (q *queries) PermissionsOfRoles(ctx context.Context, roleIDs []string) (map[string][]string, error) {
	rows, err := q.db.Query(ctx, `SELECT role_id::text, permission FROM role_permissions
		WHERE role_id = ANY($1::uuid[]) ORDER BY 1, 2`, validUUIDs(roleIDs))
	if err != nil {
		return nil, mapErr("store: permissions of roles", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, mapErr("store: permissions of roles", err)
		}
		out[id] = append(out[id], p)
	}
	return out, mapErr("store: permissions of roles", rows.Err())
}

// UserPermissions returns the permissions a user holds through its organization-audience roles,
// assigned directly or through a group (nested groups included), sorted without duplicates. An
// unknown user has none.
func (q *queries) UserPermissions(ctx context.Context, userID string) ([]string, error) {
	if !isUUID(userID) {
		return []string{}, nil
	}
	rows, err := q.db.Query(ctx, userGroupsCTE("gm.user_id = $1")+`
		SELECT DISTINCT rp.permission
		FROM role_assignments ra
		JOIN roles r ON r.id = ra.role_id AND r.audience_type = 'ORGANIZATION'
		JOIN role_permissions rp ON rp.role_id = r.id
		WHERE ra.user_id = $1 OR ra.group_id IN (SELECT ug.group_id FROM user_groups ug)
		ORDER BY 1`, userID)
	if err != nil {
		return nil, mapErr("store: user permissions", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, mapErr("store: user permissions", err)
		}
		out = append(out, p)
	}
	return out, mapErr("store: user permissions", rows.Err())
}
