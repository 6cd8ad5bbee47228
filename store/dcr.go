package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// AuditDCRRegister is recorded when a client registers through Dynamic Client Registration
// (RFC 7591), next to the application and client creation events of the same transaction.
const AuditDCRRegister = "oauth2.dcr.register"

// DCRRegistration links a dynamically registered OAuth2 client to its application and to
// the hash of its registration access token (RFC 7592 §1.1).
type DCRRegistration struct {
	ClientID      string
	ApplicationID string
	// TokenHash is the keyed hash of the registration access token (32 bytes), computed by
	// the caller; the token itself is never stored.
	TokenHash []byte
	CreatedAt time.Time
}

// NewDCRRegistration is the input of CreateDCRRegistration.
type NewDCRRegistration struct {
	DCRRegistration
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

// CreateDCRRegistration records a registration and an audit event (without the token hash).
// An unknown client or application returns ErrNotFound, a client or application registered
// already ErrConflict.
func (q *queries) CreateDCRRegistration(ctx context.Context, nr NewDCRRegistration) (DCRRegistration, error) {
	r := nr.DCRRegistration
	if _, err := uuid.Parse(r.ApplicationID); err != nil {
		return DCRRegistration{}, fmt.Errorf("store: create dcr registration: application %q: %w", r.ApplicationID, ErrNotFound)
	}
	if len(r.TokenHash) != 32 {
		return DCRRegistration{}, fmt.Errorf("store: create dcr registration: token hash of %d bytes, want 32", len(r.TokenHash))
	}
	var out DCRRegistration
	err := q.atomic(ctx, func(q *queries) error {
		var orgID string
		err := q.db.QueryRow(ctx, `
			WITH r AS (
				INSERT INTO dcr_registrations (client_id, application_id, token_hash) VALUES ($1, $2, $3)
				RETURNING client_id, application_id, token_hash, created_at)
			SELECT r.client_id, r.application_id, r.token_hash, r.created_at, c.org_id
			FROM r JOIN oauth2_clients c ON c.client_id = r.client_id`,
			r.ClientID, r.ApplicationID, r.TokenHash).Scan(&out.ClientID, &out.ApplicationID, &out.TokenHash, &out.CreatedAt, &orgID)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create dcr registration: client %q or application %s: %w", r.ClientID, r.ApplicationID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create dcr registration", err)
		}
		out.CreatedAt = out.CreatedAt.UTC()
		return q.audit(ctx, auditEvent{
			orgID: orgID, actor: nr.Actor, action: AuditDCRRegister,
			targetType: "oauth2_client", targetID: out.ClientID,
			after: map[string]any{"clientId": out.ClientID, "applicationId": out.ApplicationID},
		})
	})
	if err != nil {
		return DCRRegistration{}, err
	}
	return out, nil
}

// DCRRegistration returns the registration of a client, or ErrNotFound when the client was
// not registered dynamically (or does not exist).
func (q *queries) DCRRegistration(ctx context.Context, clientID string) (DCRRegistration, error) {
	if clientID == "" || !utf8.ValidString(clientID) {
		return DCRRegistration{}, fmt.Errorf("store: dcr registration: %w", ErrNotFound)
	}
	var r DCRRegistration
	err := q.db.QueryRow(ctx, `
		SELECT client_id, application_id, token_hash, created_at FROM dcr_registrations WHERE client_id = $1`,
		clientID).Scan(&r.ClientID, &r.ApplicationID, &r.TokenHash, &r.CreatedAt)
	if err != nil {
		return DCRRegistration{}, mapErr("store: dcr registration", err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}
