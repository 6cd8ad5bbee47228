package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// Actor types: who made a change, as recorded in the audit trail.
const (
	ActorSystem      = "system"      // Keyflow itself: bootstrap, scheduled work
	ActorUser        = "user"        // an end user or administrator, ID = user id
	ActorApplication = "application" // an OAuth2 client acting for itself, ID = client id
)

// Audit actions recorded by the store.
const (
	AuditOrganizationCreate = "organization.create"
	AuditUserCreate         = "user.create"
)

// Actor is who makes a change. The zero value means ActorSystem.
type Actor struct {
	Type string
	ID   string
}

func (a Actor) orDefault() Actor {
	if a.Type == "" {
		return Actor{Type: ActorSystem, ID: a.ID}
	}
	return a
}

// auditEvent is one audit_events row. before and after are marshalled to
// JSON; they must never contain secrets (password hashes, keys, tokens).
type auditEvent struct {
	orgID      string
	actor      Actor
	action     string
	targetType string
	targetID   string
	before     any
	after      any
}

// audit records e. It runs in the caller's transaction, so the event exists
// exactly when the change does.
func (q *queries) audit(ctx context.Context, e auditEvent) error {
	before, err := jsonOrNil(e.before)
	if err != nil {
		return fmt.Errorf("store: audit %s: %w", e.action, err)
	}
	after, err := jsonOrNil(e.after)
	if err != nil {
		return fmt.Errorf("store: audit %s: %w", e.action, err)
	}
	actor := e.actor.orDefault()
	_, err = q.db.Exec(ctx, `
		INSERT INTO audit_events (org_id, actor_type, actor_id, action, target_type, target_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)`,
		nullIfEmpty(e.orgID), actor.Type, actor.ID, e.action, e.targetType, e.targetID, before, after)
	return mapErr("store: audit "+e.action, err)
}

func jsonOrNil(v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
