package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit actions of roles.
const AuditRoleCreate = "role.create"

// Role is a role of an organization (WSO2 roles v2). Its audience is the organization itself
// (its permissions apply to the organization's APIs) or one of its applications (a role the
// application reads from the user's roles claim).
type Role struct {
	ID           string
	OrgID        string
	Name         string
	AudienceType string // ORGANIZATION or APPLICATION
	AudienceID   string
	// Permissions are the API scopes the role grants (filled by RoleByID, ListRoles, CreateRole
	// and ReplaceRole).
	Permissions []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewRole is the input of CreateRole.
type NewRole struct {
	OrgID  string
	Name   string
	Users  []string // user ids assigned the role directly
	Groups []string // group ids whose members hold the role
	// Permissions are the API scopes the role grants.
	Permissions []string
	// AudienceType is RoleAudienceOrganization (also when empty) or RoleAudienceApplication,
	// with AudienceID the application's id.
	AudienceType string
	AudienceID   string
	Actor        Actor
}

// Role audiences.
const (
	RoleAudienceOrganization = "ORGANIZATION"
	RoleAudienceApplication  = "APPLICATION"
)

// CreateRole creates a role with its assignments and records an audit event. ErrConflict: the
// name is taken in its audience (ignoring case); ErrNotFound: the organization, the audience
// application (of the organization), a user or a group does not exist.
func (q *queries) CreateRole(ctx context.Context, nr NewRole) (Role, error) {
	if !isUUID(nr.OrgID) {
		return Role{}, fmt.Errorf("store: create role: organization %q: %w", nr.OrgID, ErrNotFound)
	}
	switch nr.AudienceType {
	case "", RoleAudienceOrganization:
	case RoleAudienceApplication:
		if !isUUID(nr.AudienceID) {
			return Role{}, fmt.Errorf("store: create role: audience application %q: %w", nr.AudienceID, ErrNotFound)
		}
	default:
		return Role{}, fmt.Errorf("store: create role: audience type %q: want %s or %s", nr.AudienceType,
			RoleAudienceOrganization, RoleAudienceApplication)
	}
	if err := validateName("role name", nr.Name, MaxGroupNameLength); err != nil {
		return Role{}, fmt.Errorf("store: create role: %w", err)
	}
	for _, id := range append(append([]string{}, nr.Users...), nr.Groups...) {
		if !isUUID(id) {
			return Role{}, fmt.Errorf("store: create role: assignee %q: %w", id, ErrNotFound)
		}
	}
	perms, err := normalizePermissions(nr.Permissions)
	if err != nil {
		return Role{}, fmt.Errorf("store: create role: %w", err)
	}
	var r Role
	err = q.atomic(ctx, func(q *queries) error {
		audType, audID := RoleAudienceOrganization, nr.OrgID
		if nr.AudienceType == RoleAudienceApplication {
			var ok bool
			if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM applications WHERE id = $1 AND org_id = $2)`,
				nr.AudienceID, nr.OrgID).Scan(&ok); err != nil {
				return mapErr("store: create role: audience", err)
			}
			if !ok {
				return fmt.Errorf("store: create role: audience application %s: %w", nr.AudienceID, ErrNotFound)
			}
			audType, audID = RoleAudienceApplication, nr.AudienceID
		}
		err := q.db.QueryRow(ctx, `
			INSERT INTO roles (org_id, name, name_key, audience_type, audience_id) VALUES ($1, $2, $3, $4, $5)
			RETURNING id, org_id, name, audience_type, audience_id, created_at, updated_at`,
			nr.OrgID, nr.Name, nameKey(nr.Name), audType, audID).Scan(&r.ID, &r.OrgID, &r.Name, &r.AudienceType, &r.AudienceID, &r.CreatedAt, &r.UpdatedAt)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create role: organization %s: %w", nr.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create role", err)
		}
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		for _, a := range []struct {
			column string
			ids    []string
		}{{"user_id", nr.Users}, {"group_id", nr.Groups}} {
			if len(a.ids) == 0 {
				continue
			}
			// column is one of two constants, never input.
			_, err := q.db.Exec(ctx, `
				INSERT INTO role_assignments (org_id, role_id, `+a.column+`)
				SELECT $1, $2, x.id FROM unnest($3::uuid[]) AS x(id) ON CONFLICT DO NOTHING`, r.OrgID, r.ID, a.ids)
			if isForeignKeyViolation(err) {
				return fmt.Errorf("store: create role: assignee: %w", ErrNotFound)
			}
			if err != nil {
				return mapErr("store: create role assignment", err)
			}
		}
		if err := q.setRolePermissions(ctx, r.ID, perms); err != nil {
			return err
		}
		r.Permissions = perms
		return q.audit(ctx, auditEvent{orgID: r.OrgID, actor: nr.Actor, action: AuditRoleCreate, targetType: "role", targetID: r.ID,
			after: map[string]any{"id": r.ID, "name": r.Name, "audienceType": r.AudienceType, "audienceId": r.AudienceID,
				"users": len(nr.Users), "groups": len(nr.Groups), "permissions": perms}})
	})
	if err != nil {
		return Role{}, err
	}
	return r, nil
}

// Audit actions of role changes.
const (
	AuditRoleUpdate = "role.update"
	AuditRoleDelete = "role.delete"
)

// Fields of roles that a Filter or a sort can name.
const (
	RoleFieldID       = "id"       // text
	RoleFieldName     = "name"     // text
	RoleFieldCreated  = "created"  // time
	RoleFieldModified = "modified" // time
	RoleFieldUserID   = "user.id"  // text: matches when any directly assigned user does
	RoleFieldGroupID  = "group.id" // text: matches when any assigned group does
)

var roleColumnsByField = map[string]column{
	RoleFieldID:       {expr: "r.id::text", kind: kindText},
	RoleFieldName:     {expr: "r.name", kind: kindText, key: "r.name_key"},
	RoleFieldCreated:  {expr: "r.created_at", kind: kindTime},
	RoleFieldModified: {expr: "r.updated_at", kind: kindTime},
	RoleFieldUserID:   {expr: "ra.user_id::text", kind: kindText, exists: "SELECT 1 FROM role_assignments ra WHERE ra.role_id = r.id AND ra.user_id IS NOT NULL"},
	RoleFieldGroupID:  {expr: "ra.group_id::text", kind: kindText, exists: "SELECT 1 FROM role_assignments ra WHERE ra.role_id = r.id AND ra.group_id IS NOT NULL"},
}

const roleColumns = `id, org_id, name, audience_type, audience_id, created_at, updated_at`

func scanRole(row pgx.Row) (Role, error) {
	var r Role
	err := row.Scan(&r.ID, &r.OrgID, &r.Name, &r.AudienceType, &r.AudienceID, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// RoleByID returns a role of an organization, or ErrNotFound.
func (q *queries) RoleByID(ctx context.Context, orgID, id string) (Role, error) {
	if !isUUID(orgID) || !isUUID(id) {
		return Role{}, fmt.Errorf("store: role %q: %w", id, ErrNotFound)
	}
	r, err := scanRole(q.db.QueryRow(ctx, `SELECT `+roleColumns+` FROM roles WHERE id = $1 AND org_id = $2`, id, orgID))
	if err != nil {
		return Role{}, mapErr("store: role by id", err)
	}
	roles := []Role{r}
	if err := q.fillPermissions(ctx, roles); err != nil {
		return Role{}, err
	}
	return roles[0], nil
}

// fillPermissions sets the Permissions of roles (never nil).
func (q *queries) fillPermissions(ctx context.Context, roles []Role) error {
	ids := make([]string, len(roles))
	for i, r := range roles {
		ids[i] = r.ID
	}
	perms, err := q.PermissionsOfRoles(ctx, ids)
	if err != nil {
		return err
	}
	for i := range roles {
		roles[i].Permissions = append([]string{}, perms[roles[i].ID]...)
	}
	return nil
}

// ListRoles is ListUsers for roles (RoleField* fields).
func (q *queries) ListRoles(ctx context.Context, lq ListQuery) ([]Role, int, error) {
	if !isUUID(lq.OrgID) {
		return nil, 0, nil
	}
	countSQL, pageSQL, countArgs, pageArgs, err := listSQL(lq, "roles", "r", roleColumns, roleColumnsByField, false)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list roles: %w", err)
	}
	var total int
	if err := q.db.QueryRow(ctx, countSQL, countArgs...).Scan(&total); err != nil {
		return nil, 0, mapErr("store: count roles", err)
	}
	if lq.Limit == 0 || total <= lq.Offset {
		return []Role{}, total, nil
	}
	rows, err := q.db.Query(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, mapErr("store: list roles", err)
	}
	roles, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Role, error) { return scanRole(r) })
	if err != nil {
		return nil, 0, mapErr("store: list roles", err)
	}
	if err := q.fillPermissions(ctx, roles); err != nil {
		return nil, 0, err
	}
	return roles, total, nil
}

// RoleAssignees are the users and groups a role is assigned to directly.
type RoleAssignees struct {
	Users  []Member
	Groups []Group
}

// AssigneesOfRoles returns, per role id, its direct assignees sorted by name.
func (q *queries) AssigneesOfRoles(ctx context.Context, roleIDs []string) (map[string]RoleAssignees, error) {
	rows, err := q.db.Query(ctx, `
		SELECT ra.role_id::text, u.id::text, u.username, g.id::text, coalesce(g.org_id::text, ''), coalesce(g.user_store_domain, ''), g.name
		FROM role_assignments ra
		LEFT JOIN users u ON u.id = ra.user_id
		LEFT JOIN groups g ON g.id = ra.group_id
		WHERE ra.role_id = ANY($1::uuid[])
		ORDER BY 1, coalesce(u.username_key, g.name_key), ra.id`, validUUIDs(roleIDs))
	if err != nil {
		return nil, mapErr("store: assignees of roles", err)
	}
	defer rows.Close()
	out := map[string]RoleAssignees{}
	for rows.Next() {
		var rid, orgID, domain string
		var uid, uname, gid, gname *string
		if err := rows.Scan(&rid, &uid, &uname, &gid, &orgID, &domain, &gname); err != nil {
			return nil, mapErr("store: assignees of roles", err)
		}
		a := out[rid]
		if uid != nil {
			a.Users = append(a.Users, Member{UserID: *uid, Username: *uname})
		}
		if gid != nil {
			a.Groups = append(a.Groups, Group{ID: *gid, OrgID: orgID, Domain: domain, Name: *gname})
		}
		out[rid] = a
	}
	return out, mapErr("store: assignees of roles", rows.Err())
}

// RoleReplace is the input of ReplaceRole.
type RoleReplace struct {
	OrgID  string
	ID     string
	Name   string
	Users  []string // the new direct user assignees
	Groups []string // the new group assignees
	// Permissions are the role's new permissions.
	Permissions []string
	Actor       Actor
}

// ReplaceRole renames a role and sets its assignees, all or nothing,
// touching its modification time, and records an audit event.
// ErrNotFound: no such role, or an assignee is not in the organization;
// ErrConflict: the name is taken.
func (q *queries) ReplaceRole(ctx context.Context, rr RoleReplace) (Role, error) {
	if !isUUID(rr.OrgID) || !isUUID(rr.ID) {
		return Role{}, fmt.Errorf("store: replace role %q: %w", rr.ID, ErrNotFound)
	}
	if err := validateName("role name", rr.Name, MaxGroupNameLength); err != nil {
		return Role{}, fmt.Errorf("store: replace role: %w", err)
	}
	for _, id := range append(append([]string{}, rr.Users...), rr.Groups...) {
		if !isUUID(id) {
			return Role{}, fmt.Errorf("store: replace role: assignee %q: %w", id, ErrNotFound)
		}
	}
	perms, err := normalizePermissions(rr.Permissions)
	if err != nil {
		return Role{}, fmt.Errorf("store: replace role: %w", err)
	}
	var r Role
	err = q.atomic(ctx, func(q *queries) error {
		before, err := scanRole(q.db.QueryRow(ctx, `SELECT `+roleColumns+` FROM roles WHERE id = $1 AND org_id = $2 FOR UPDATE`, rr.ID, rr.OrgID))
		if err != nil {
			return mapErr("store: replace role", err)
		}
		r, err = scanRole(q.db.QueryRow(ctx, `UPDATE roles SET name = $3, name_key = $4 WHERE id = $1 AND org_id = $2 RETURNING `+roleColumns,
			rr.ID, rr.OrgID, rr.Name, nameKey(rr.Name)))
		if err != nil {
			return mapErr("store: replace role", err)
		}
		// Never nil: a nil slice is NULL, and "NOT x = ANY(NULL)" keeps every row.
		users, groups := append([]string{}, rr.Users...), append([]string{}, rr.Groups...)
		if _, err := q.db.Exec(ctx, `
			DELETE FROM role_assignments WHERE role_id = $1
			AND ((user_id IS NOT NULL AND NOT user_id = ANY($2::uuid[])) OR (group_id IS NOT NULL AND NOT group_id = ANY($3::uuid[])))`,
			r.ID, users, groups); err != nil {
			return mapErr("store: replace role assignments", err)
		}
		for _, a := range []struct {
			column string
			ids    []string
		}{{"user_id", users}, {"group_id", groups}} {
			if len(a.ids) == 0 {
				continue
			}
			// column is one of two constants, never input.
			_, err := q.db.Exec(ctx, `
				INSERT INTO role_assignments (org_id, role_id, `+a.column+`)
				SELECT $1, $2, x.id FROM unnest($3::uuid[]) AS x(id) ON CONFLICT DO NOTHING`, r.OrgID, r.ID, a.ids)
			if isForeignKeyViolation(err) {
				return fmt.Errorf("store: replace role: assignee: %w", ErrNotFound)
			}
			if err != nil {
				return mapErr("store: replace role assignments", err)
			}
		}
		old, err := q.PermissionsOfRoles(ctx, []string{r.ID})
		if err != nil {
			return err
		}
		if err := q.setRolePermissions(ctx, r.ID, perms); err != nil {
			return err
		}
		r.Permissions = perms
		return q.audit(ctx, auditEvent{orgID: r.OrgID, actor: rr.Actor, action: AuditRoleUpdate, targetType: "role", targetID: r.ID,
			before: map[string]any{"name": before.Name, "permissions": append([]string{}, old[r.ID]...)},
			after:  map[string]any{"name": r.Name, "users": len(users), "groups": len(groups), "permissions": perms}})
	})
	if err != nil {
		return Role{}, err
	}
	return r, nil
}

// DeleteRole deletes a role with its assignments and records an audit
// event. ErrNotFound: no such role.
func (q *queries) DeleteRole(ctx context.Context, orgID, id string, actor Actor) error {
	if !isUUID(orgID) || !isUUID(id) {
		return fmt.Errorf("store: delete role %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var name string
		if err := q.db.QueryRow(ctx, `DELETE FROM roles WHERE id = $1 AND org_id = $2 RETURNING name`, id, orgID).Scan(&name); err != nil {
			return mapErr("store: delete role", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditRoleDelete, targetType: "role", targetID: id,
			before: map[string]any{"id": id, "name": name}})
	})
}
