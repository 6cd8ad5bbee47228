package store

import (
	"context"
	"fmt"
	"time"
)

// Audit actions of roles.
const AuditRoleCreate = "role.create"

// Role is a role of an organization (WSO2 roles v2). Only roles whose
// audience is the organization itself are created here so far.
type Role struct {
	ID           string
	OrgID        string
	Name         string
	AudienceType string // ORGANIZATION or APPLICATION
	AudienceID   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewRole is the input of CreateRole.
type NewRole struct {
	OrgID  string
	Name   string
	Users  []string // user ids assigned the role directly
	Groups []string // group ids whose members hold the role
	Actor  Actor
}

// CreateRole creates an organization-audience role with its assignments
// and records an audit event. ErrConflict: the name is taken (ignoring
// case); ErrNotFound: the organization, a user or a group does not exist.
func (q *queries) CreateRole(ctx context.Context, nr NewRole) (Role, error) {
	if !isUUID(nr.OrgID) {
		return Role{}, fmt.Errorf("store: create role: organization %q: %w", nr.OrgID, ErrNotFound)
	}
	if err := validateName("role name", nr.Name, MaxGroupNameLength); err != nil {
		return Role{}, fmt.Errorf("store: create role: %w", err)
	}
	for _, id := range append(append([]string{}, nr.Users...), nr.Groups...) {
		if !isUUID(id) {
			return Role{}, fmt.Errorf("store: create role: assignee %q: %w", id, ErrNotFound)
		}
	}
	var r Role
	err := q.atomic(ctx, func(q *queries) error {
		err := q.db.QueryRow(ctx, `
			INSERT INTO roles (org_id, name, name_key, audience_type, audience_id) VALUES ($1, $2, $3, 'ORGANIZATION', $1)
			RETURNING id, org_id, name, audience_type, audience_id, created_at, updated_at`,
			nr.OrgID, nr.Name, nameKey(nr.Name)).Scan(&r.ID, &r.OrgID, &r.Name, &r.AudienceType, &r.AudienceID, &r.CreatedAt, &r.UpdatedAt)
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
		return q.audit(ctx, auditEvent{orgID: r.OrgID, actor: nr.Actor, action: AuditRoleCreate, targetType: "role", targetID: r.ID,
			after: map[string]any{"id": r.ID, "name": r.Name, "users": len(nr.Users), "groups": len(nr.Groups)}})
	})
	if err != nil {
		return Role{}, err
	}
	return r, nil
}
