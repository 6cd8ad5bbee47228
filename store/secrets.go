package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Audit actions of secrets (the value is never recorded).
const (
	AuditSecretCreate = "secret.create"
	AuditSecretUpdate = "secret.update"
	AuditSecretDelete = "secret.delete"
)

// Secret is a named secret of an organization. The store keeps the value sealed: Ciphertext
// and KeyID are whatever the caller's sealing produced.
type Secret struct {
	ID          string
	OrgID       string
	Type        string
	Name        string
	Description string
	Ciphertext  []byte
	KeyID       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const secretColumns = `id, org_id, type, name, description, ciphertext, key_id, created_at, updated_at`

func scanSecret(row pgx.Row) (Secret, error) {
	var s Secret
	err := row.Scan(&s.ID, &s.OrgID, &s.Type, &s.Name, &s.Description, &s.Ciphertext, &s.KeyID, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

// CreateSecret stores a new secret; a taken name is ErrConflict.
func (q *queries) CreateSecret(ctx context.Context, s Secret, actor Actor) (Secret, error) {
	if _, err := uuid.Parse(s.OrgID); err != nil {
		return Secret{}, fmt.Errorf("store: create secret: organization %q: %w", s.OrgID, ErrNotFound)
	}
	var out Secret
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanSecret(q.db.QueryRow(ctx, `
			INSERT INTO secrets (org_id, type, name, description, ciphertext, key_id)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+secretColumns,
			s.OrgID, s.Type, s.Name, s.Description, s.Ciphertext, s.KeyID))
		if err != nil {
			return mapErr("store: create secret", err)
		}
		return q.audit(ctx, auditEvent{orgID: out.OrgID, actor: actor, action: AuditSecretCreate,
			targetType: "secret", targetID: out.ID, after: map[string]any{"type": out.Type, "name": out.Name}})
	})
	return out, err
}

// SecretByName returns a secret or ErrNotFound.
func (q *queries) SecretByName(ctx context.Context, orgID, typ, name string) (Secret, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return Secret{}, fmt.Errorf("store: secret: %w", ErrNotFound)
	}
	s, err := scanSecret(q.db.QueryRow(ctx, `SELECT `+secretColumns+` FROM secrets
		WHERE org_id = $1 AND type = $2 AND name = $3`, orgID, typ, name))
	if err != nil {
		return Secret{}, mapErr("store: secret", err)
	}
	return s, nil
}

// Secrets lists an organization's secrets of a type by name.
func (q *queries) Secrets(ctx context.Context, orgID, typ string) ([]Secret, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `SELECT `+secretColumns+` FROM secrets WHERE org_id = $1 AND type = $2 ORDER BY name`, orgID, typ)
	if err != nil {
		return nil, mapErr("store: secrets", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Secret, error) { return scanSecret(r) })
	return out, mapErr("store: secrets", err)
}

// UpdateSecret replaces a secret's value (when ciphertext is not nil) and description.
func (q *queries) UpdateSecret(ctx context.Context, orgID, typ, name, description string, ciphertext []byte, keyID string, actor Actor) (Secret, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return Secret{}, fmt.Errorf("store: update secret: %w", ErrNotFound)
	}
	var out Secret
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanSecret(q.db.QueryRow(ctx, `
			UPDATE secrets SET description = $4,
				ciphertext = coalesce($5, ciphertext), key_id = CASE WHEN $5::bytea IS NULL THEN key_id ELSE $6 END
			WHERE org_id = $1 AND type = $2 AND name = $3 RETURNING `+secretColumns,
			orgID, typ, name, description, ciphertext, keyID))
		if err != nil {
			return mapErr("store: update secret", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditSecretUpdate,
			targetType: "secret", targetID: out.ID, after: map[string]any{"name": name, "valueChanged": ciphertext != nil}})
	})
	return out, err
}

// DeleteSecret removes a secret; ErrNotFound when there is none.
func (q *queries) DeleteSecret(ctx context.Context, orgID, typ, name string, actor Actor) error {
	if _, err := uuid.Parse(orgID); err != nil {
		return fmt.Errorf("store: delete secret: %w", ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var id string
		err := q.db.QueryRow(ctx, `DELETE FROM secrets WHERE org_id = $1 AND type = $2 AND name = $3 RETURNING id`,
			orgID, typ, name).Scan(&id)
		if err != nil {
			return mapErr("store: delete secret", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditSecretDelete,
			targetType: "secret", targetID: id, before: map[string]any{"type": typ, "name": name}})
	})
}
