package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The root organization: the super tenant, in WSO2's words. Its handle is the
// tenant domain that appears in URLs (/t/carbon.super/...).
const (
	RootOrganizationHandle = "carbon.super"
	RootOrganizationName   = "Super"
)

// Organization statuses.
const (
	OrganizationActive   = "ACTIVE"
	OrganizationDisabled = "DISABLED"
)

// Organization is a tenant (a root organization, ParentID empty) or a
// sub-organization of one.
type Organization struct {
	ID        string
	ParentID  string // empty for a root organization
	Handle    string // unique; a root organization's tenant domain
	Name      string
	Status    string // OrganizationActive or OrganizationDisabled
	CreatedAt time.Time
	UpdatedAt time.Time
}

const orgColumns = `id, coalesce(parent_id::text, ''), handle, name, status, created_at, updated_at`

func scanOrganization(row pgx.Row) (Organization, error) {
	var o Organization
	err := row.Scan(&o.ID, &o.ParentID, &o.Handle, &o.Name, &o.Status, &o.CreatedAt, &o.UpdatedAt)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// EnsureRootOrganization returns the root organization (handle
// RootOrganizationHandle), creating it, with an audit event, if it does not
// exist. Concurrent calls are safe and all return the same organization.
func (q *queries) EnsureRootOrganization(ctx context.Context) (Organization, error) {
	var org Organization
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		org, err = scanOrganization(q.db.QueryRow(ctx, `
			INSERT INTO organizations (handle, name) VALUES ($1, $2)
			ON CONFLICT (handle) DO NOTHING
			RETURNING `+orgColumns,
			RootOrganizationHandle, RootOrganizationName))
		switch {
		case err == nil:
			return q.audit(ctx, auditEvent{
				orgID: org.ID, action: AuditOrganizationCreate,
				targetType: "organization", targetID: org.ID,
				after: map[string]string{"id": org.ID, "handle": org.Handle, "name": org.Name},
			})
		case !errors.Is(err, pgx.ErrNoRows):
			return mapErr("store: create root organization", err)
		}
		// It exists (maybe inserted concurrently: at READ COMMITTED this new
		// statement sees it; in a SERIALIZABLE Tx the insert fails instead
		// and Tx retries).
		org, err = scanOrganization(q.db.QueryRow(ctx,
			`SELECT `+orgColumns+` FROM organizations WHERE handle = $1`, RootOrganizationHandle))
		if err != nil {
			return mapErr("store: root organization", err)
		}
		if org.ParentID != "" {
			return fmt.Errorf("store: organization %q exists but is not a root organization", RootOrganizationHandle)
		}
		return nil
	})
	if err != nil {
		return Organization{}, err
	}
	return org, nil
}
