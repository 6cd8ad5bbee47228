package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Nested groups: a group may be a member of other groups of its organization
// (table group_member_groups, migration 00025). A user is a member of its
// direct groups and, transitively, of every group containing one of them; it
// holds the roles assigned to any of these groups. Writes refuse cycles, so
// the graph stays a DAG, though every walk below also stops on a cycle
// (recursive UNION drops rows already seen).

// GroupCycleError is returned by CreateGroup and ReplaceGroup when a member
// group would contain the group itself, directly or through other groups.
type GroupCycleError struct {
	GroupID       string // the group being written
	MemberGroupID string // the member group that contains it (or is it)
}

func (e *GroupCycleError) Error() string {
	if e.GroupID == e.MemberGroupID {
		return fmt.Sprintf("store: group %s cannot be a member of itself", e.GroupID)
	}
	return fmt.Sprintf("store: group %s cannot contain group %s, which contains it", e.GroupID, e.MemberGroupID)
}

// userGroupsCTE is a recursive common table expression
// user_groups(user_id, group_id, direct) naming, for the users selected by
// cond (a condition on gm, group_members), their direct groups (direct) and
// every group containing one of those, walked upwards on
// group_member_groups_member_group_id_idx. A group held both ways appears
// twice, once per value of direct.
func userGroupsCTE(cond string) string {
	return `WITH RECURSIVE user_groups(user_id, group_id, direct) AS (
		SELECT gm.user_id, gm.group_id, true FROM group_members gm WHERE ` + cond + `
		UNION
		SELECT ug.user_id, gg.group_id, false
		FROM user_groups ug JOIN group_member_groups gg ON gg.member_group_id = ug.group_id
	) `
}

// setMemberGroups makes members the exact set of groups nested in g,
// refusing cycles. Concurrent writers of one organization's nesting are
// serialised by an advisory lock, so two transactions cannot each add one
// half of a cycle (under SERIALIZABLE, PostgreSQL would catch it anyway).
func (q *queries) setMemberGroups(ctx context.Context, g Group, members []string) error {
	// Never nil: a nil slice is NULL, and "NOT x = ANY(NULL)" keeps every row.
	ids := append([]string{}, members...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if !isUUID(id) {
			return fmt.Errorf("store: member group %q: %w", id, ErrNotFound)
		}
		if id == g.ID {
			return &GroupCycleError{GroupID: g.ID, MemberGroupID: id}
		}
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM group_member_groups WHERE group_id = $1 AND NOT member_group_id = ANY($2::uuid[])`,
		g.ID, ids); err != nil {
		return mapErr("store: set member groups", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := q.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('keyflow.group_member_groups:' || $1::text, 0))`,
		g.OrgID); err != nil {
		return mapErr("store: set member groups: lock", err)
	}
	// g may not be below any new member: walk down from each member, keeping
	// the member it started from.
	var culprit string
	err := q.db.QueryRow(ctx, `
		WITH RECURSIVE below(root, id) AS (
			SELECT x.id, x.id FROM unnest($2::uuid[]) AS x(id)
			UNION
			SELECT b.root, gg.member_group_id FROM below b JOIN group_member_groups gg ON gg.group_id = b.id
		)
		SELECT root::text FROM below WHERE id = $1 ORDER BY 1 LIMIT 1`, g.ID, ids).Scan(&culprit)
	switch {
	case err == nil:
		return &GroupCycleError{GroupID: g.ID, MemberGroupID: culprit}
	case !errors.Is(err, pgx.ErrNoRows):
		return mapErr("store: set member groups: cycle check", err)
	}
	_, err = q.db.Exec(ctx, `
		INSERT INTO group_member_groups (org_id, group_id, member_group_id)
		SELECT $1, $2, x.id FROM unnest($3::uuid[]) AS x(id)
		ON CONFLICT (group_id, member_group_id) DO NOTHING`, g.OrgID, g.ID, ids)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: member group: %w", ErrNotFound)
	}
	return mapErr("store: set member groups", err)
}

// MemberGroupsOfGroups returns, per group id, the groups nested directly in
// it, sorted by name.
func (q *queries) MemberGroupsOfGroups(ctx context.Context, groupIDs []string) (map[string][]Group, error) {
	rows, err := q.db.Query(ctx, `
		SELECT gg.group_id::text, g.id, g.org_id, g.user_store_domain, g.name, g.created_at, g.updated_at
		FROM group_member_groups gg JOIN groups g ON g.id = gg.member_group_id
		WHERE gg.group_id = ANY($1::uuid[])
		ORDER BY 1, g.name_key, g.id`, validUUIDs(groupIDs))
	if err != nil {
		return nil, mapErr("store: member groups of groups", err)
	}
	defer rows.Close()
	out := map[string][]Group{}
	for rows.Next() {
		var parent string
		var g Group
		if err := rows.Scan(&parent, &g.ID, &g.OrgID, &g.Domain, &g.Name, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return nil, mapErr("store: member groups of groups", err)
		}
		g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
		out[parent] = append(out[parent], g)
	}
	return out, mapErr("store: member groups of groups", rows.Err())
}

// MissingGroups returns those of ids that are not groups of the organization
// (for checking member groups before a write).
func (q *queries) MissingGroups(ctx context.Context, orgID string, ids []string) ([]string, error) {
	return q.missing(ctx, "groups", orgID, ids)
}

// Membership is a group a user belongs to: directly, or only through nested
// groups (RFC 7643 §4.1.2's "direct" and "indirect").
type Membership struct {
	Group
	Direct bool // the user is a member of the group itself (maybe also indirectly)
}

// MembershipsOfUsers returns, per user id, every group the user belongs to,
// directly or through nested groups, sorted by name.
func (q *queries) MembershipsOfUsers(ctx context.Context, userIDs []string) (map[string][]Membership, error) {
	rows, err := q.db.Query(ctx, userGroupsCTE("gm.user_id = ANY($1::uuid[])")+`
		SELECT ug.user_id::text, bool_or(ug.direct), g.id, g.org_id, g.user_store_domain, g.name, g.created_at, g.updated_at
		FROM user_groups ug JOIN groups g ON g.id = ug.group_id
		GROUP BY ug.user_id, g.id
		ORDER BY 1, g.name_key, g.id`, validUUIDs(userIDs))
	if err != nil {
		return nil, mapErr("store: memberships of users", err)
	}
	defer rows.Close()
	out := map[string][]Membership{}
	for rows.Next() {
		var uid string
		var m Membership
		if err := rows.Scan(&uid, &m.Direct, &m.ID, &m.OrgID, &m.Domain, &m.Name, &m.CreatedAt, &m.UpdatedAt); err != nil {
			return nil, mapErr("store: memberships of users", err)
		}
		m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
		out[uid] = append(out[uid], m)
	}
	return out, mapErr("store: memberships of users", rows.Err())
}
