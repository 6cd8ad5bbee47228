package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
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

// AuditEvent is one recorded audit event as read back. Before and After are the JSON the
// change recorded (nil when absent).
type AuditEvent struct {
	ID            int64
	At            time.Time
	OrgID         string
	Actor         Actor
	Action        string
	TargetType    string
	TargetID      string
	Before        json.RawMessage
	After         json.RawMessage
	CorrelationID string
}

// AuditRecord is a change recorded by RecordAudit.
type AuditRecord struct {
	OrgID      string
	Actor      Actor
	Action     string
	TargetType string
	TargetID   string
	// Before and After are marshalled to JSON; they must never contain secrets.
	Before, After any
}

// RecordAudit records an event for a change made outside the store's own operations (say a
// key rotation requested by an administrator). In a Tx it is part of the transaction.
func (q *queries) RecordAudit(ctx context.Context, r AuditRecord) error {
	if r.Action == "" {
		return errors.New("store: audit: empty action")
	}
	if r.OrgID != "" && !isUUID(r.OrgID) {
		return fmt.Errorf("store: audit: organization %q: %w", r.OrgID, ErrNotFound)
	}
	return q.audit(ctx, auditEvent{orgID: r.OrgID, actor: r.Actor, action: r.Action, targetType: r.TargetType,
		targetID: r.TargetID, before: r.Before, after: r.After})
}

// AuditQuery selects a page of an organization's audit events, newest first.
type AuditQuery struct {
	OrgID string
	// Action, when set, selects events of that action exactly, or of every action under it
	// when it ends in "." (e.g. "identity_provider.").
	Action string
	// Since, when set, selects events at or after it.
	Since time.Time
	// TargetType and TargetID, when set, select events about that target.
	TargetType, TargetID string
	Offset               int
	// Limit is the page size; at least 1.
	Limit int
}

// AuditEvents returns a page of audit events and how many match in all.
func (q *queries) AuditEvents(ctx context.Context, aq AuditQuery) ([]AuditEvent, int, error) {
	if !isUUID(aq.OrgID) {
		return nil, 0, fmt.Errorf("store: audit events: organization %q: %w", aq.OrgID, ErrNotFound)
	}
	if aq.Offset < 0 || aq.Limit < 1 {
		return nil, 0, errors.New("store: audit events: negative offset or limit below 1")
	}
	for _, s := range []string{aq.Action, aq.TargetType, aq.TargetID} {
		if !utf8.ValidString(s) {
			return nil, 0, errors.New("store: audit events: a condition is not UTF-8")
		}
	}
	where := ` WHERE org_id = $1`
	args := []any{aq.OrgID}
	add := func(cond string, v any) {
		args = append(args, v)
		where += fmt.Sprintf(" AND "+cond, len(args))
	}
	switch {
	case strings.HasSuffix(aq.Action, "."):
		add(`action LIKE $%d`, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(aq.Action)+"%")
	case aq.Action != "":
		add(`action = $%d`, aq.Action)
	}
	if !aq.Since.IsZero() {
		add(`at >= $%d`, aq.Since)
	}
	if aq.TargetType != "" {
		add(`target_type = $%d`, aq.TargetType)
	}
	if aq.TargetID != "" {
		add(`target_id = $%d`, aq.TargetID)
	}
	var total int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM audit_events`+where, args...).Scan(&total); err != nil {
		return nil, 0, mapErr("store: count audit events", err)
	}
	n := len(args)
	rows, err := q.db.Query(ctx, `
		SELECT id, at, coalesce(org_id::text, ''), actor_type, actor_id, action, target_type, target_id,
			before, after, correlation_id
		FROM audit_events`+where+fmt.Sprintf(` ORDER BY at DESC, id DESC OFFSET $%d LIMIT $%d`, n+1, n+2),
		append(args, aq.Offset, aq.Limit)...)
	if err != nil {
		return nil, 0, mapErr("store: audit events", err)
	}
	defer rows.Close()
	out := []AuditEvent{}
	for rows.Next() {
		var (
			e             AuditEvent
			before, after []byte
		)
		if err := rows.Scan(&e.ID, &e.At, &e.OrgID, &e.Actor.Type, &e.Actor.ID, &e.Action, &e.TargetType,
			&e.TargetID, &before, &after, &e.CorrelationID); err != nil {
			return nil, 0, mapErr("store: audit events", err)
		}
		e.At = e.At.UTC()
		if before != nil {
			e.Before = before
		}
		if after != nil {
			e.After = after
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr("store: audit events", err)
	}
	return out, total, nil
}
