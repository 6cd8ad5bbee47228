package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Consent is the set of scopes a subject granted an OAuth2 client.
type Consent struct {
	OrgID string
	// Subject is the token subject; UserID the local user ("" for a federated subject).
	Subject  string
	UserID   string
	ClientID string
	// Scopes are sorted and distinct.
	Scopes    []string
	GrantedAt time.Time
	UpdatedAt time.Time
}

const consentColumns = `org_id, subject, coalesce(user_id::text, ''), client_id, scopes, granted_at, updated_at`

func scanConsent(row pgx.Row) (Consent, error) {
	var c Consent
	err := row.Scan(&c.OrgID, &c.Subject, &c.UserID, &c.ClientID, &c.Scopes, &c.GrantedAt, &c.UpdatedAt)
	return c, err
}

// Consent returns what subject granted clientID in organization orgID, or ErrNotFound.
func (q *queries) Consent(ctx context.Context, orgID, subject, clientID string) (Consent, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return Consent{}, fmt.Errorf("store: consent: organization %q: %w", orgID, ErrNotFound)
	}
	c, err := scanConsent(q.db.QueryRow(ctx, `SELECT `+consentColumns+` FROM oauth2_consents
		WHERE org_id = $1 AND subject = $2 AND client_id = $3`, orgID, subject, clientID))
	if err != nil {
		return Consent{}, mapErr("store: consent", err)
	}
	return c, nil
}

// GrantConsent adds c.Scopes to what c.Subject granted c.ClientID (the union with an earlier
// grant) at now and returns the grant. An unknown client or user is ErrNotFound.
func (q *queries) GrantConsent(ctx context.Context, c Consent, now time.Time) (Consent, error) {
	if c.OrgID == "" || c.Subject == "" || c.ClientID == "" {
		return Consent{}, fmt.Errorf("store: grant consent: organization, subject and client are required")
	}
	scopes := slices.Clone(c.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	if scopes == nil {
		scopes = []string{}
	}
	out, err := scanConsent(q.db.QueryRow(ctx, `
		INSERT INTO oauth2_consents (org_id, subject, user_id, client_id, scopes, granted_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (org_id, subject, client_id) DO UPDATE
			SET scopes = ARRAY(SELECT DISTINCT s FROM unnest(oauth2_consents.scopes || excluded.scopes) AS s ORDER BY s),
			    user_id = coalesce(excluded.user_id, oauth2_consents.user_id),
			    updated_at = excluded.updated_at
		RETURNING `+consentColumns,
		c.OrgID, c.Subject, nullIfEmpty(c.UserID), c.ClientID, scopes, now))
	if isForeignKeyViolation(err) {
		return Consent{}, fmt.Errorf("store: grant consent: client, user or organization: %w", ErrNotFound)
	}
	if err != nil {
		return Consent{}, mapErr("store: grant consent", err)
	}
	return out, nil
}

// SubjectConsents lists the grants of subject in organization orgID, by client id.
func (q *queries) SubjectConsents(ctx context.Context, orgID, subject string) ([]Consent, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `SELECT `+consentColumns+` FROM oauth2_consents
		WHERE org_id = $1 AND subject = $2 ORDER BY client_id`, orgID, subject)
	if err != nil {
		return nil, mapErr("store: consents", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Consent, error) { return scanConsent(r) })
	if err != nil {
		return nil, mapErr("store: consents", err)
	}
	return out, nil
}

// RevokeConsent deletes what subject granted clientID; a missing grant is ErrNotFound. The
// next authorization request of the client asks again.
func (q *queries) RevokeConsent(ctx context.Context, orgID, subject, clientID string) error {
	if _, err := uuid.Parse(orgID); err != nil {
		return fmt.Errorf("store: revoke consent: organization %q: %w", orgID, ErrNotFound)
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM oauth2_consents WHERE org_id = $1 AND subject = $2 AND client_id = $3`,
		orgID, subject, clientID)
	if err != nil {
		return mapErr("store: revoke consent", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: revoke consent of %s: %w", clientID, ErrNotFound)
	}
	return nil
}

// BrowserInteraction is a page of the browser flow waiting for its answer (a consent page, an
// account chooser): Data is the front-end's own JSON, CSRFHash the SHA-256 of the token the
// browser must present with the answer.
type BrowserInteraction struct {
	ID        string
	Kind      string
	CSRFHash  []byte
	Data      json.RawMessage
	ExpiresAt time.Time
}

// CreateBrowserInteraction stores i and returns its new id.
func (q *queries) CreateBrowserInteraction(ctx context.Context, i BrowserInteraction) (string, error) {
	if i.Kind == "" || len(i.CSRFHash) != 32 || len(i.Data) == 0 || i.ExpiresAt.IsZero() {
		return "", fmt.Errorf("store: create browser interaction: kind, CSRF hash, data and expiry are required")
	}
	var id string
	err := q.db.QueryRow(ctx, `INSERT INTO browser_interactions (kind, csrf_hash, data, expires_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, i.Kind, i.CSRFHash, i.Data, i.ExpiresAt).Scan(&id)
	if err != nil {
		return "", mapErr("store: create browser interaction", err)
	}
	return id, nil
}

// TakeBrowserInteraction deletes and returns interaction id of kind if it has not expired at
// now: an interaction is answered once. Anything else is ErrNotFound. Expired rows are removed
// on the way.
func (q *queries) TakeBrowserInteraction(ctx context.Context, id, kind string, now time.Time) (BrowserInteraction, error) {
	if _, err := uuid.Parse(id); err != nil {
		return BrowserInteraction{}, fmt.Errorf("store: browser interaction %q: %w", id, ErrNotFound)
	}
	var i BrowserInteraction
	err := q.db.QueryRow(ctx, `DELETE FROM browser_interactions WHERE id = $1 AND kind = $2
		RETURNING id, kind, csrf_hash, data, expires_at`, id, kind).
		Scan(&i.ID, &i.Kind, &i.CSRFHash, &i.Data, &i.ExpiresAt)
	if err != nil {
		return BrowserInteraction{}, mapErr("store: browser interaction", err)
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM browser_interactions WHERE expires_at <= $1`, now); err != nil {
		return BrowserInteraction{}, mapErr("store: browser interaction cleanup", err)
	}
	if !i.ExpiresAt.After(now) {
		return BrowserInteraction{}, fmt.Errorf("store: browser interaction %s expired: %w", id, ErrNotFound)
	}
	return i, nil
}
