package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// UseOAuth2AssertionJTI records that a client's assertion with jti was
// used, until expiresAt (RFC 7523 §3: an assertion is single use). A jti the
// client already used returns ErrConflict; an unknown client ErrNotFound.
// Records of expired assertions go with DeleteExpiredOAuth2Tokens; one still
// present is a replay too (the caller refuses expired assertions first).
func (q *queries) UseOAuth2AssertionJTI(ctx context.Context, clientID, jti string, expiresAt time.Time) error {
	if jti == "" || len(jti) > 255 || !utf8.ValidString(jti) {
		return fmt.Errorf("store: use oauth2 assertion jti: empty, invalid or longer than 255 bytes")
	}
	tag, err := q.db.Exec(ctx, `
		INSERT INTO oauth2_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, expiresAt)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: use oauth2 assertion jti: client %s: %w", clientID, ErrNotFound)
	}
	if err != nil {
		return mapErr("store: use oauth2 assertion jti", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: use oauth2 assertion jti: %w", ErrConflict)
	}
	return nil
}

// OrganizationByID returns the organization with the given id, or
// ErrNotFound.
func (q *queries) OrganizationByID(ctx context.Context, id string) (Organization, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Organization{}, fmt.Errorf("store: organization by id: %w", ErrNotFound)
	}
	org, err := scanOrganization(q.db.QueryRow(ctx,
		`SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
	if err != nil {
		return Organization{}, mapErr("store: organization by id", err)
	}
	return org, nil
}

// AddOAuth2GrantIssued records more tokens issued from a grant (a token
// exchange derives them from one of its access tokens), so that revoking
// the grant revokes them too. The grant row is locked first: a grant that
// is revoked returns ErrConflict, an unknown one ErrNotFound.
func (q *queries) AddOAuth2GrantIssued(ctx context.Context, grantID string, issued OAuth2Issued) error {
	return q.atomic(ctx, func(q *queries) error {
		var revoked *time.Time
		err := q.db.QueryRow(ctx, `SELECT revoked_at FROM oauth2_grants WHERE grant_id = $1 FOR UPDATE`, grantID).
			Scan(&revoked)
		if err != nil {
			return mapErr("store: add oauth2 grant tokens", err)
		}
		if revoked != nil {
			return fmt.Errorf("store: add oauth2 grant tokens: grant revoked: %w", ErrConflict)
		}
		return q.recordIssued(ctx, grantID, issued)
	})
}
