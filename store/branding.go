package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Branding preference types (WSO2's ORG and APP).
const (
	BrandingTypeOrg = "ORG"
	BrandingTypeApp = "APP"
)

// BrandingPreference is WSO2's branding preference of an organization (Type ORG, Name its
// handle) or of an application (Type APP, Name and ApplicationID the application id), for one
// locale. Preference is the JSON as received; the store does not look inside.
type BrandingPreference struct {
	OrgID         string
	Type          string
	Name          string
	Locale        string
	ApplicationID string
	Preference    json.RawMessage
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

const brandingColumns = `org_id, type, name, locale, coalesce(application_id::text, ''), preference, created_at, updated_at`

func scanBranding(row pgx.Row) (BrandingPreference, error) {
	var b BrandingPreference
	err := row.Scan(&b.OrgID, &b.Type, &b.Name, &b.Locale, &b.ApplicationID, &b.Preference, &b.CreatedAt, &b.UpdatedAt)
	return b, err
}

func checkBranding(b BrandingPreference) error {
	switch {
	case b.OrgID == "" || b.Name == "" || b.Locale == "" || len(b.Preference) == 0:
		return fmt.Errorf("store: branding preference: organization, name, locale and preference are required")
	case b.Type != BrandingTypeOrg && b.Type != BrandingTypeApp:
		return fmt.Errorf("store: branding preference: type %q", b.Type)
	case (b.Type == BrandingTypeApp) != (b.ApplicationID != ""):
		return fmt.Errorf("store: branding preference: an application id goes with type APP only")
	}
	return nil
}

// CreateBrandingPreference stores b; an existing preference of the same organization, type,
// name and locale is ErrConflict, an unknown organization or application ErrNotFound.
func (q *queries) CreateBrandingPreference(ctx context.Context, b BrandingPreference) (BrandingPreference, error) {
	if err := checkBranding(b); err != nil {
		return BrandingPreference{}, err
	}
	out, err := scanBranding(q.db.QueryRow(ctx, `
		INSERT INTO branding_preferences (org_id, type, name, locale, application_id, preference)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+brandingColumns,
		b.OrgID, b.Type, b.Name, b.Locale, nullIfEmpty(b.ApplicationID), b.Preference))
	if isForeignKeyViolation(err) {
		return BrandingPreference{}, fmt.Errorf("store: create branding preference: organization or application: %w", ErrNotFound)
	}
	if err != nil {
		return BrandingPreference{}, mapErr("store: create branding preference", err)
	}
	return out, nil
}

// UpdateBrandingPreference replaces the preference JSON of an existing preference (ErrNotFound
// if none).
func (q *queries) UpdateBrandingPreference(ctx context.Context, b BrandingPreference) (BrandingPreference, error) {
	if err := checkBranding(b); err != nil {
		return BrandingPreference{}, err
	}
	out, err := scanBranding(q.db.QueryRow(ctx, `
		UPDATE branding_preferences SET preference = $5, updated_at = now()
		WHERE org_id = $1 AND type = $2 AND name = $3 AND locale = $4 RETURNING `+brandingColumns,
		b.OrgID, b.Type, b.Name, b.Locale, b.Preference))
	if err != nil {
		return BrandingPreference{}, mapErr("store: update branding preference", err)
	}
	return out, nil
}

// BrandingPreference returns one preference, or ErrNotFound.
func (q *queries) BrandingPreference(ctx context.Context, orgID, typ, name, locale string) (BrandingPreference, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return BrandingPreference{}, fmt.Errorf("store: branding preference: organization %q: %w", orgID, ErrNotFound)
	}
	b, err := scanBranding(q.db.QueryRow(ctx, `SELECT `+brandingColumns+` FROM branding_preferences
		WHERE org_id = $1 AND type = $2 AND name = $3 AND locale = $4`, orgID, typ, name, locale))
	if err != nil {
		return BrandingPreference{}, mapErr("store: branding preference", err)
	}
	return b, nil
}

// DeleteBrandingPreference deletes one preference; a missing one is ErrNotFound.
func (q *queries) DeleteBrandingPreference(ctx context.Context, orgID, typ, name, locale string) error {
	if _, err := uuid.Parse(orgID); err != nil {
		return fmt.Errorf("store: delete branding preference: organization %q: %w", orgID, ErrNotFound)
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM branding_preferences
		WHERE org_id = $1 AND type = $2 AND name = $3 AND locale = $4`, orgID, typ, name, locale)
	if err != nil {
		return mapErr("store: delete branding preference", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete branding preference %s %s: %w", typ, name, ErrNotFound)
	}
	return nil
}

// BrandingPreferences returns, for the login pages, the organization's preference and (when
// applicationID is set) the application's, in locale: either may be missing (zero value, no
// error).
func (q *queries) BrandingPreferences(ctx context.Context, orgID, applicationID, locale string) (org, app BrandingPreference, err error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return org, app, nil
	}
	if _, err := uuid.Parse(applicationID); err != nil {
		applicationID = ""
	}
	rows, err := q.db.Query(ctx, `SELECT `+brandingColumns+` FROM branding_preferences
		WHERE org_id = $1 AND locale = $2 AND (type = 'ORG' OR (type = 'APP' AND application_id = $3))`,
		orgID, locale, nullIfEmpty(applicationID))
	if err != nil {
		return org, app, mapErr("store: branding preferences", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BrandingPreference, error) { return scanBranding(r) })
	if err != nil {
		return org, app, mapErr("store: branding preferences", err)
	}
	for _, b := range all {
		if b.Type == BrandingTypeOrg {
			org = b
		} else {
			app = b
		}
	}
	return org, app, nil
}
