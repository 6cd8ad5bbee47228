package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Audit actions recorded by the user and group operations of this file and
// groups.go.
const (
	AuditUserUpdate  = "user.update"
	AuditUserDelete  = "user.delete"
	AuditGroupCreate = "group.create"
	AuditGroupUpdate = "group.update"
	AuditGroupDelete = "group.delete"
)

// UserByID returns a user of an organization, or ErrNotFound (also for a
// user of another organization, so ids cannot be probed across tenants).
func (q *queries) UserByID(ctx context.Context, orgID, id string) (User, error) {
	if !isUUID(orgID) || !isUUID(id) {
		return User{}, fmt.Errorf("store: user %q: %w", id, ErrNotFound)
	}
	u, err := scanUser(q.db.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE id = $1 AND org_id = $2`, id, orgID))
	if err != nil {
		return User{}, mapErr("store: user by id", err)
	}
	return u, nil
}

// ListUsers returns a page of an organization's users matching lq.Filter
// and how many match in all. A filter or sort the store cannot run (unknown
// field, wrong value type) is a plain error; callers validate first.
func (q *queries) ListUsers(ctx context.Context, lq ListQuery) ([]User, int, error) {
	if !isUUID(lq.OrgID) {
		return nil, 0, nil
	}
	countSQL, pageSQL, countArgs, pageArgs, err := listSQL(lq, "users", "u", userColumns, userColumnsByField, true)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list users: %w", err)
	}
	var total int
	if err := q.db.QueryRow(ctx, countSQL, countArgs...).Scan(&total); err != nil {
		return nil, 0, mapErr("store: count users", err)
	}
	if lq.Limit == 0 || total <= lq.Offset {
		return []User{}, total, nil
	}
	rows, err := q.db.Query(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, mapErr("store: list users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, 0, mapErr("store: list users", err)
	}
	return users, total, nil
}

// ClaimsOfUsers returns the claims of each of the given users that exists
// (users without claims map to an empty map).
func (q *queries) ClaimsOfUsers(ctx context.Context, userIDs []string) (map[string]map[string]string, error) {
	ids := validUUIDs(userIDs)
	out := make(map[string]map[string]string, len(ids))
	rows, err := q.db.Query(ctx, `
		SELECT u.id::text, c.claim_uri, c.value
		FROM users u LEFT JOIN user_claims c ON c.user_id = u.id
		WHERE u.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, mapErr("store: claims of users", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id         string
			uri, value *string
		)
		if err := rows.Scan(&id, &uri, &value); err != nil {
			return nil, mapErr("store: claims of users", err)
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		if uri != nil {
			out[id][*uri] = *value
		}
	}
	return out, mapErr("store: claims of users", rows.Err())
}

// UserReplace is the input of ReplaceUser: the new state of the fields it
// sets.
type UserReplace struct {
	OrgID    string
	ID       string
	Username string
	// PasswordHash, when not empty, replaces the password hash (already
	// hashed); empty keeps the current one.
	PasswordHash string
	Disabled     bool
	// Claims is the new set of claims among ClaimScope: those of ClaimScope
	// missing from it (or empty) are deleted, claims outside ClaimScope are
	// left alone (other components own them).
	Claims     map[string]string
	ClaimScope []string
	Actor      Actor
}

// ReplaceUser sets a user's username, disabled flag, password (optionally)
// and claims, all or nothing, and records an audit event. ErrNotFound: no
// such user in the organization; ErrConflict: the new username is taken.
func (q *queries) ReplaceUser(ctx context.Context, r UserReplace) (User, error) {
	if !isUUID(r.OrgID) || !isUUID(r.ID) {
		return User{}, fmt.Errorf("store: replace user %q: %w", r.ID, ErrNotFound)
	}
	if err := validateName("username", r.Username, MaxUsernameLength); err != nil {
		return User{}, fmt.Errorf("store: replace user: %w", err)
	}
	if err := validateClaims(r.Claims); err != nil {
		return User{}, fmt.Errorf("store: replace user: %w", err)
	}
	scope := make(map[string]bool, len(r.ClaimScope))
	for _, uri := range r.ClaimScope {
		scope[uri] = true
	}
	// Never nil: a nil slice is NULL, and "NOT x = ANY(NULL)" keeps every row.
	uris, values := []string{}, []string{}
	for _, uri := range slices.Sorted(maps.Keys(r.Claims)) {
		if !scope[uri] {
			return User{}, fmt.Errorf("store: replace user: claim %s is outside ClaimScope", uri)
		}
		if r.Claims[uri] != "" {
			uris, values = append(uris, uri), append(values, r.Claims[uri])
		}
	}
	var u User
	err := q.atomic(ctx, func(q *queries) error {
		before, err := scanUser(q.db.QueryRow(ctx,
			`SELECT `+userColumns+` FROM users WHERE id = $1 AND org_id = $2 FOR UPDATE`, r.ID, r.OrgID))
		if err != nil {
			return mapErr("store: replace user", err)
		}
		u, err = scanUser(q.db.QueryRow(ctx, `
			UPDATE users SET username = $3, username_key = $4, disabled = $5,
				password_hash = coalesce($6, password_hash),
				password_updated_at = CASE WHEN $6::text IS NULL THEN password_updated_at ELSE now() END
			WHERE id = $1 AND org_id = $2
			RETURNING `+userColumns,
			r.ID, r.OrgID, r.Username, nameKey(r.Username), r.Disabled, nullIfEmpty(r.PasswordHash)))
		if err != nil {
			return mapErr("store: replace user", err)
		}
		if _, err := q.db.Exec(ctx, `
			DELETE FROM user_claims WHERE user_id = $1 AND claim_uri = ANY($2::text[]) AND NOT claim_uri = ANY($3::text[])`,
			r.ID, r.ClaimScope, uris); err != nil {
			return mapErr("store: replace user claims", err)
		}
		if len(uris) > 0 {
			if _, err := q.db.Exec(ctx, `
				INSERT INTO user_claims (user_id, claim_uri, value)
				SELECT $1, c.uri, c.value FROM unnest($2::text[], $3::text[]) AS c(uri, value)
				ON CONFLICT (user_id, claim_uri) DO UPDATE SET value = EXCLUDED.value`,
				r.ID, uris, values); err != nil {
				return mapErr("store: replace user claims", err)
			}
		}
		return q.audit(ctx, auditEvent{
			orgID: u.OrgID, actor: r.Actor, action: AuditUserUpdate, targetType: "user", targetID: u.ID,
			before: map[string]any{"username": before.Username, "disabled": before.Disabled},
			after: map[string]any{"username": u.Username, "disabled": u.Disabled,
				"passwordChanged": r.PasswordHash != "", "claims": uris},
		})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// DeleteUser deletes a user of an organization (its claims, memberships and
// role assignments go with it) and records an audit event. ErrNotFound: no
// such user.
func (q *queries) DeleteUser(ctx context.Context, orgID, id string, actor Actor) error {
	if !isUUID(orgID) || !isUUID(id) {
		return fmt.Errorf("store: delete user %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var username string
		err := q.db.QueryRow(ctx, `DELETE FROM users WHERE id = $1 AND org_id = $2 RETURNING username`, id, orgID).Scan(&username)
		if err != nil {
			return mapErr("store: delete user", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditUserDelete,
			targetType: "user", targetID: id, before: map[string]any{"id": id, "username": username}})
	})
}

// MissingUsers returns those of ids that are not users of the organization
// (for checking group members before a write).
func (q *queries) MissingUsers(ctx context.Context, orgID string, ids []string) ([]string, error) {
	return q.missing(ctx, "users", orgID, ids)
}

// missing returns those of ids that are not rows of table (users or groups) in
// the organization: ids that are not UUIDs, then unknown ones.
func (q *queries) missing(ctx context.Context, table, orgID string, ids []string) ([]string, error) {
	var missing []string
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if isUUID(id) {
			valid = append(valid, id)
		} else {
			missing = append(missing, id)
		}
	}
	if len(valid) == 0 {
		return missing, nil
	}
	// table is one of two constants, never input.
	rows, err := q.db.Query(ctx, `
		SELECT x.id FROM unnest($2::uuid[]) AS x(id)
		WHERE NOT EXISTS (SELECT 1 FROM `+table+` t WHERE t.id = x.id AND t.org_id = $1)`, orgIDOrNil(orgID), valid)
	if err != nil {
		return nil, mapErr("store: missing "+table, err)
	}
	more, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapErr("store: missing "+table, err)
	}
	return append(missing, more...), nil
}

// UserHasRole reports whether a user holds an organization-audience role of the given name
// (case folded), assigned directly or through a group, nested groups included. (An
// application's role of the same name is not the organization's: an "admin" role of an
// application makes no administrator.)
func (q *queries) UserHasRole(ctx context.Context, userID, roleName string) (bool, error) {
	if !isUUID(userID) {
		return false, nil
	}
	var ok bool
	err := q.db.QueryRow(ctx, userGroupsCTE("gm.user_id = $1")+`
		SELECT EXISTS (
			SELECT 1 FROM role_assignments ra JOIN roles r ON r.id = ra.role_id
			WHERE r.name_key = $2 AND r.audience_type = 'ORGANIZATION' AND (ra.user_id = $1 OR ra.group_id IN (
				SELECT ug.group_id FROM user_groups ug)))`,
		userID, nameKey(roleName)).Scan(&ok)
	return ok, mapErr("store: user has role", err)
}

// RoleRef names a role held by a user.
type RoleRef struct {
	ID   string
	Name string
}

// RolesOfUsers returns, per user id, the roles each holds directly or
// through a group (nested groups included), sorted by name.
func (q *queries) RolesOfUsers(ctx context.Context, userIDs []string) (map[string][]RoleRef, error) {
	rows, err := q.db.Query(ctx, userGroupsCTE("gm.user_id = ANY($1::uuid[])")+`
		SELECT DISTINCT x.user_id::text, r.id::text, r.name
		FROM (
			SELECT ra.user_id, ra.role_id FROM role_assignments ra WHERE ra.user_id = ANY($1::uuid[])
			UNION
			SELECT ug.user_id, ra.role_id FROM user_groups ug JOIN role_assignments ra ON ra.group_id = ug.group_id
		) x JOIN roles r ON r.id = x.role_id
		ORDER BY 1, 3`, validUUIDs(userIDs))
	if err != nil {
		return nil, mapErr("store: roles of users", err)
	}
	defer rows.Close()
	out := map[string][]RoleRef{}
	for rows.Next() {
		var uid string
		var r RoleRef
		if err := rows.Scan(&uid, &r.ID, &r.Name); err != nil {
			return nil, mapErr("store: roles of users", err)
		}
		out[uid] = append(out[uid], r)
	}
	return out, mapErr("store: roles of users", rows.Err())
}

func validateClaims(claims map[string]string) error {
	return validateNewUser(NewUser{Username: "x", Domain: DefaultDomain, Status: UserActive, Claims: claims})
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

func validUUIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if isUUID(id) {
			out = append(out, id)
		}
	}
	return out
}

func orgIDOrNil(id string) *string {
	if !isUUID(id) {
		return nil
	}
	return &id
}
