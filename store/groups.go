package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxGroupNameLength caps group names (the schema enforces it too).
const MaxGroupNameLength = 255

// Group is a group of an organization. Its members, users and other groups
// of the organization (nested groups, RFC 7643 §4.2), are read separately
// (MembersOfGroups, MemberGroupsOfGroups).
type Group struct {
	ID        string
	OrgID     string
	Domain    string // user store domain, upper-case
	Name      string // as given; unique per organization and domain ignoring case
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Member is a user in a group.
type Member struct {
	UserID   string
	Username string
}

// NewGroup is the input of CreateGroup.
type NewGroup struct {
	OrgID   string
	Domain  string // empty means DefaultDomain
	Name    string
	Members []string // user ids of the organization; duplicates are ignored
	// MemberGroups are ids of groups of the organization to nest in the new
	// group; duplicates are ignored.
	MemberGroups []string
	Actor        Actor
}

const groupColumns = `id, org_id, user_store_domain, name, created_at, updated_at`

func scanGroup(row pgx.Row) (Group, error) {
	var g Group
	err := row.Scan(&g.ID, &g.OrgID, &g.Domain, &g.Name, &g.CreatedAt, &g.UpdatedAt)
	g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
	return g, err
}

// CreateGroup creates a group with its members and records an audit event.
// ErrConflict: the name is taken (ignoring case) in the organization and
// domain; ErrNotFound: the organization or a member (user or group) does not
// exist in the organization.
func (q *queries) CreateGroup(ctx context.Context, ng NewGroup) (Group, error) {
	ng.Domain = normalizeDomain(ng.Domain)
	if !isUUID(ng.OrgID) {
		return Group{}, fmt.Errorf("store: create group: organization %q: %w", ng.OrgID, ErrNotFound)
	}
	if err := validateGroup(ng.Name, ng.Domain); err != nil {
		return Group{}, fmt.Errorf("store: create group: %w", err)
	}
	var g Group
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		g, err = scanGroup(q.db.QueryRow(ctx, `
			INSERT INTO groups (org_id, user_store_domain, name, name_key) VALUES ($1, $2, $3, $4)
			RETURNING `+groupColumns, ng.OrgID, ng.Domain, ng.Name, nameKey(ng.Name)))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create group: organization %s: %w", ng.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create group", err)
		}
		if err := q.setMembers(ctx, g, ng.Members); err != nil {
			return err
		}
		if err := q.setMemberGroups(ctx, g, ng.MemberGroups); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: g.OrgID, actor: ng.Actor, action: AuditGroupCreate,
			targetType: "group", targetID: g.ID,
			after: map[string]any{"id": g.ID, "domain": g.Domain, "name": g.Name, "members": len(ng.Members),
				"memberGroups": len(ng.MemberGroups)}})
	})
	if err != nil {
		return Group{}, err
	}
	return g, nil
}

// setMembers makes members the group's exact member set.
func (q *queries) setMembers(ctx context.Context, g Group, members []string) error {
	// Never nil: a nil slice is NULL, and "NOT x = ANY(NULL)" keeps every row.
	ids := append([]string{}, members...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if !isUUID(id) {
			return fmt.Errorf("store: group member %q: %w", id, ErrNotFound)
		}
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND NOT user_id = ANY($2::uuid[])`, g.ID, ids); err != nil {
		return mapErr("store: set group members", err)
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO group_members (org_id, group_id, user_id)
		SELECT $1, $2, x.id FROM unnest($3::uuid[]) AS x(id)
		ON CONFLICT (group_id, user_id) DO NOTHING`, g.OrgID, g.ID, ids)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: group member: %w", ErrNotFound)
	}
	return mapErr("store: set group members", err)
}

// GroupByID returns a group of an organization, or ErrNotFound.
func (q *queries) GroupByID(ctx context.Context, orgID, id string) (Group, error) {
	if !isUUID(orgID) || !isUUID(id) {
		return Group{}, fmt.Errorf("store: group %q: %w", id, ErrNotFound)
	}
	g, err := scanGroup(q.db.QueryRow(ctx,
		`SELECT `+groupColumns+` FROM groups WHERE id = $1 AND org_id = $2`, id, orgID))
	if err != nil {
		return Group{}, mapErr("store: group by id", err)
	}
	return g, nil
}

// ListGroups is ListUsers for groups (GroupField* fields; no claims).
func (q *queries) ListGroups(ctx context.Context, lq ListQuery) ([]Group, int, error) {
	if !isUUID(lq.OrgID) {
		return nil, 0, nil
	}
	countSQL, pageSQL, countArgs, pageArgs, err := listSQL(lq, "groups", "g", groupColumns, groupColumnsByField, false)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list groups: %w", err)
	}
	var total int
	if err := q.db.QueryRow(ctx, countSQL, countArgs...).Scan(&total); err != nil {
		return nil, 0, mapErr("store: count groups", err)
	}
	if lq.Limit == 0 || total <= lq.Offset {
		return []Group{}, total, nil
	}
	rows, err := q.db.Query(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, mapErr("store: list groups", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, 0, mapErr("store: list groups", err)
	}
	return groups, total, nil
}

// MembersOfGroups returns, per group id, its members sorted by username.
func (q *queries) MembersOfGroups(ctx context.Context, groupIDs []string) (map[string][]Member, error) {
	rows, err := q.db.Query(ctx, `
		SELECT gm.group_id::text, u.id::text, u.username
		FROM group_members gm JOIN users u ON u.id = gm.user_id
		WHERE gm.group_id = ANY($1::uuid[])
		ORDER BY 1, u.username_key, 2`, validUUIDs(groupIDs))
	if err != nil {
		return nil, mapErr("store: members of groups", err)
	}
	defer rows.Close()
	out := map[string][]Member{}
	for rows.Next() {
		var gid string
		var m Member
		if err := rows.Scan(&gid, &m.UserID, &m.Username); err != nil {
			return nil, mapErr("store: members of groups", err)
		}
		out[gid] = append(out[gid], m)
	}
	return out, mapErr("store: members of groups", rows.Err())
}

// GroupsOfUsers returns, per user id, the groups the user is a direct
// member of, sorted by name. MembershipsOfUsers adds the groups held through
// nesting.
func (q *queries) GroupsOfUsers(ctx context.Context, userIDs []string) (map[string][]Group, error) {
	rows, err := q.db.Query(ctx, `
		SELECT gm.user_id::text, g.id, g.org_id, g.user_store_domain, g.name, g.created_at, g.updated_at
		FROM group_members gm JOIN groups g ON g.id = gm.group_id
		WHERE gm.user_id = ANY($1::uuid[])
		ORDER BY 1, g.name_key, g.id`, validUUIDs(userIDs))
	if err != nil {
		return nil, mapErr("store: groups of users", err)
	}
	defer rows.Close()
	out := map[string][]Group{}
	for rows.Next() {
		var uid string
		var g Group
		if err := rows.Scan(&uid, &g.ID, &g.OrgID, &g.Domain, &g.Name, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return nil, mapErr("store: groups of users", err)
		}
		g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
		out[uid] = append(out[uid], g)
	}
	return out, mapErr("store: groups of users", rows.Err())
}

// GroupReplace is the input of ReplaceGroup.
type GroupReplace struct {
	OrgID   string
	ID      string
	Name    string
	Members []string // the new member set (user ids)
	// MemberGroups is the new set of member groups (group ids): a PUT of a
	// SCIM Group replaces both.
	MemberGroups []string
	Actor        Actor
}

// ReplaceGroup renames a group and sets its members (users and groups), all
// or nothing, touching its modification time, and records an audit event.
// ErrNotFound: no such group, or a member is not a user or group of the
// organization; ErrConflict: the name is taken; *GroupCycleError: a member
// group contains this group.
func (q *queries) ReplaceGroup(ctx context.Context, r GroupReplace) (Group, error) {
	if !isUUID(r.OrgID) || !isUUID(r.ID) {
		return Group{}, fmt.Errorf("store: replace group %q: %w", r.ID, ErrNotFound)
	}
	if err := validateGroup(r.Name, DefaultDomain); err != nil {
		return Group{}, fmt.Errorf("store: replace group: %w", err)
	}
	var g Group
	err := q.atomic(ctx, func(q *queries) error {
		before, err := scanGroup(q.db.QueryRow(ctx,
			`SELECT `+groupColumns+` FROM groups WHERE id = $1 AND org_id = $2 FOR UPDATE`, r.ID, r.OrgID))
		if err != nil {
			return mapErr("store: replace group", err)
		}
		g, err = scanGroup(q.db.QueryRow(ctx, `
			UPDATE groups SET name = $3, name_key = $4 WHERE id = $1 AND org_id = $2
			RETURNING `+groupColumns, r.ID, r.OrgID, r.Name, nameKey(r.Name)))
		if err != nil {
			return mapErr("store: replace group", err)
		}
		if err := q.setMembers(ctx, g, r.Members); err != nil {
			return err
		}
		if err := q.setMemberGroups(ctx, g, r.MemberGroups); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: g.OrgID, actor: r.Actor, action: AuditGroupUpdate,
			targetType: "group", targetID: g.ID,
			before: map[string]any{"name": before.Name},
			after:  map[string]any{"name": g.Name, "members": len(r.Members), "memberGroups": len(r.MemberGroups)}})
	})
	if err != nil {
		return Group{}, err
	}
	return g, nil
}

// DeleteGroup deletes a group (memberships, its nesting in other groups and
// theirs in it, and role assignments go with it; members of its member
// groups thus lose the groups and roles they held through it) and records an audit event. ErrNotFound: no such group.
func (q *queries) DeleteGroup(ctx context.Context, orgID, id string, actor Actor) error {
	if !isUUID(orgID) || !isUUID(id) {
		return fmt.Errorf("store: delete group %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var name string
		if err := q.db.QueryRow(ctx, `DELETE FROM groups WHERE id = $1 AND org_id = $2 RETURNING name`, id, orgID).Scan(&name); err != nil {
			return mapErr("store: delete group", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditGroupDelete,
			targetType: "group", targetID: id, before: map[string]any{"id": id, "name": name}})
	})
}

func validateGroup(name, domain string) error {
	if err := validateName("group name", name, MaxGroupNameLength); err != nil {
		return err
	}
	return validateName("user store domain", domain, MaxDomainLength)
}
