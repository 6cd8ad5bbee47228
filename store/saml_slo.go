package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// SAMLLogout is a SAML single logout in progress: the IdP propagates the logout to the
// session's service providers one after the other through the browser. State is the SAML
// front-end's own JSON; the store does not look inside. PendingRequestID is the ID of the
// LogoutRequest waiting for its LogoutResponse ("" between steps).
type SAMLLogout struct {
	ID               string
	OrgID            string
	State            json.RawMessage
	PendingRequestID string
	ExpiresAt        time.Time
}

// SaveSAMLLogout creates the logout (ID empty: a new id is returned) or replaces the state,
// pending request id and expiry of an existing one. A pending request id already used by another
// logout is ErrConflict; an unknown id ErrNotFound.
func (q *queries) SaveSAMLLogout(ctx context.Context, l SAMLLogout) (SAMLLogout, error) {
	if _, err := uuid.Parse(l.OrgID); err != nil || len(l.State) == 0 || l.ExpiresAt.IsZero() {
		return SAMLLogout{}, errors.New("store: save saml logout: organization, state and expiry are required")
	}
	if len(l.PendingRequestID) > 256 || !utf8.ValidString(l.PendingRequestID) {
		return SAMLLogout{}, errors.New("store: save saml logout: request id too long or not UTF-8")
	}
	if l.ID == "" {
		if _, err := q.db.Exec(ctx, `DELETE FROM saml_logouts WHERE ctid IN (
			SELECT ctid FROM saml_logouts WHERE expires_at < now() LIMIT 100)`); err != nil {
			return SAMLLogout{}, mapErr("store: sweep saml logouts", err)
		}
		err := q.db.QueryRow(ctx, `
			INSERT INTO saml_logouts (org_id, state, pending_request_id, expires_at)
			VALUES ($1, $2, $3, $4) RETURNING id`,
			l.OrgID, []byte(l.State), nullIfEmpty(l.PendingRequestID), l.ExpiresAt).Scan(&l.ID)
		if isForeignKeyViolation(err) {
			return SAMLLogout{}, fmt.Errorf("store: save saml logout: organization %s: %w", l.OrgID, ErrNotFound)
		}
		return l, mapErr("store: save saml logout", err)
	}
	if _, err := uuid.Parse(l.ID); err != nil {
		return SAMLLogout{}, fmt.Errorf("store: save saml logout %q: %w", l.ID, ErrNotFound)
	}
	tag, err := q.db.Exec(ctx, `
		UPDATE saml_logouts SET state = $3, pending_request_id = $4, expires_at = $5
		WHERE id = $1 AND org_id = $2`,
		l.ID, l.OrgID, []byte(l.State), nullIfEmpty(l.PendingRequestID), l.ExpiresAt)
	if err != nil {
		return SAMLLogout{}, mapErr("store: save saml logout", err)
	}
	if tag.RowsAffected() == 0 {
		return SAMLLogout{}, fmt.Errorf("store: save saml logout %s: %w", l.ID, ErrNotFound)
	}
	return l, nil
}

// TakeSAMLLogoutByRequest returns the live logout (not expired at now) waiting for the answer
// to LogoutRequest requestID and clears its pending request id, so that a second answer to
// the same request finds nothing (ErrNotFound).
func (q *queries) TakeSAMLLogoutByRequest(ctx context.Context, requestID string, now time.Time) (SAMLLogout, error) {
	if requestID == "" || len(requestID) > 256 || !utf8.ValidString(requestID) {
		return SAMLLogout{}, fmt.Errorf("store: saml logout of request %q: %w", requestID, ErrNotFound)
	}
	var l SAMLLogout
	err := q.db.QueryRow(ctx, `
		UPDATE saml_logouts SET pending_request_id = NULL
		WHERE pending_request_id = $1 AND expires_at > $2
		RETURNING id, org_id, state, expires_at`, requestID, now).Scan(&l.ID, &l.OrgID, &l.State, &l.ExpiresAt)
	if err != nil {
		return SAMLLogout{}, mapErr("store: saml logout by request", err)
	}
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, nil
}

// TakeSAMLLogout returns the live logout id of organization orgID (not expired at now) and
// clears its pending request id: the browser came back without the answer, which will no
// longer be accepted. Unknown or expired is ErrNotFound. The previously pending request id
// is returned in PendingRequestID.
func (q *queries) TakeSAMLLogout(ctx context.Context, id, orgID string, now time.Time) (SAMLLogout, error) {
	if _, err := uuid.Parse(id); err != nil || uuid.Validate(orgID) != nil {
		return SAMLLogout{}, fmt.Errorf("store: saml logout %q: %w", id, ErrNotFound)
	}
	var l SAMLLogout
	err := q.db.QueryRow(ctx, `
		UPDATE saml_logouts n SET pending_request_id = NULL
		FROM (SELECT id, pending_request_id FROM saml_logouts WHERE id = $1 FOR UPDATE) o
		WHERE n.id = o.id AND n.org_id = $2 AND n.expires_at > $3
		RETURNING n.id, n.org_id, n.state, coalesce(o.pending_request_id, ''), n.expires_at`, id, orgID, now).
		Scan(&l.ID, &l.OrgID, &l.State, &l.PendingRequestID, &l.ExpiresAt)
	if err != nil {
		return SAMLLogout{}, mapErr("store: saml logout", err)
	}
	l.ExpiresAt = l.ExpiresAt.UTC()
	return l, nil
}

// DeleteSAMLLogout removes a finished logout; an unknown id is not an error.
func (q *queries) DeleteSAMLLogout(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return nil
	}
	_, err := q.db.Exec(ctx, `DELETE FROM saml_logouts WHERE id = $1`, id)
	return mapErr("store: delete saml logout", err)
}

// SAMLArtifact is a message issued with the HTTP-Artifact binding: Handle is the artifact's
// 20-byte message handle, SPEntityID the service provider that may resolve it and Message the
// Response, sealed by the caller (the store never sees it in the clear).
type SAMLArtifact struct {
	Handle     []byte
	OrgID      string
	SPEntityID string
	Message    []byte
	ExpiresAt  time.Time
}

// CreateSAMLArtifact stores an artifact's message; a handle in use is ErrConflict. Each call
// also sweeps a few expired artifacts.
func (q *queries) CreateSAMLArtifact(ctx context.Context, a SAMLArtifact) error {
	if len(a.Handle) != 20 || a.SPEntityID == "" || len(a.Message) == 0 || a.ExpiresAt.IsZero() {
		return errors.New("store: create saml artifact: handle, service provider, message and expiry are required")
	}
	if _, err := uuid.Parse(a.OrgID); err != nil {
		return fmt.Errorf("store: create saml artifact: organization %q: %w", a.OrgID, ErrNotFound)
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM saml_artifacts WHERE ctid IN (
		SELECT ctid FROM saml_artifacts WHERE expires_at < now() LIMIT 100)`); err != nil {
		return mapErr("store: sweep saml artifacts", err)
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO saml_artifacts (handle, org_id, sp_entity_id, message, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, a.Handle, a.OrgID, a.SPEntityID, a.Message, a.ExpiresAt)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: create saml artifact: organization %s: %w", a.OrgID, ErrNotFound)
	}
	return mapErr("store: create saml artifact", err)
}

// TakeSAMLArtifact removes and returns the live artifact (not expired at now) with the given
// handle, of organization orgID, issued to spEntityID. Anything else — unknown, used, expired,
// or issued to another service provider — is ErrNotFound and leaves the artifact in place.
func (q *queries) TakeSAMLArtifact(ctx context.Context, handle []byte, orgID, spEntityID string, now time.Time) (SAMLArtifact, error) {
	if _, err := uuid.Parse(orgID); err != nil || len(handle) != 20 {
		return SAMLArtifact{}, fmt.Errorf("store: saml artifact: %w", ErrNotFound)
	}
	a := SAMLArtifact{Handle: handle, OrgID: orgID, SPEntityID: spEntityID}
	err := q.db.QueryRow(ctx, `
		DELETE FROM saml_artifacts
		WHERE handle = $1 AND org_id = $2 AND sp_entity_id = $3 AND expires_at > $4
		RETURNING message, expires_at`, handle, orgID, spEntityID, now).Scan(&a.Message, &a.ExpiresAt)
	if err != nil {
		return SAMLArtifact{}, mapErr("store: saml artifact", err)
	}
	a.ExpiresAt = a.ExpiresAt.UTC()
	return a, nil
}
