package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Audit actions of passkey changes. Using a passkey is not audited (the login
// is, by the flow), as with TOTP codes.
const (
	AuditWebAuthnRegister = "credential.webauthn.register"
	AuditWebAuthnRename   = "credential.webauthn.rename"
	AuditWebAuthnDelete   = "credential.webauthn.delete"
)

// WebAuthnCredential is a user's passkey: the WebAuthn credential record
// (WebAuthn Level 3 §4) of connectors/fido. The store keeps it as given and
// knows nothing of WebAuthn beyond the sign-count rule of UseWebAuthnCredential.
type WebAuthnCredential struct {
	ID                []byte // credential id chosen by the authenticator
	UserID            string
	RPID              string // relying party the credential is scoped to
	PublicKey         []byte // COSE_Key
	AttestationType   string
	AttestationFormat string
	SignCount         uint32
	AAGUID            []byte   // 16 bytes; nil when the authenticator sent none
	Transports        []string // "internal", "hybrid", "usb", …
	UserPresent       bool
	UserVerified      bool // uvInitialized: latched once true
	BackupEligible    bool
	BackupState       bool
	Name              string
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero if never used
	UpdatedAt         time.Time
}

// WebAuthnUse is what an accepted assertion changes on its credential.
type WebAuthnUse struct {
	// SignCount is the assertion's signature counter.
	SignCount uint32
	// UserVerified is the credential's new uvInitialized value; it is only ever
	// set, never cleared.
	UserVerified bool
	// BackupState is the assertion's BS flag.
	BackupState bool
	// At is the time of use.
	At time.Time
}

const webauthnColumns = `id, user_id, rp_id, public_key, attestation_type, attestation_format, sign_count,
	aaguid, transports, user_present, user_verified, backup_eligible, backup_state, name, created_at,
	last_used_at, updated_at`

func scanWebAuthn(row pgx.Row) (WebAuthnCredential, error) {
	var (
		c        WebAuthnCredential
		count    int64
		aaguid   *uuid.UUID
		lastUsed *time.Time
	)
	if err := row.Scan(&c.ID, &c.UserID, &c.RPID, &c.PublicKey, &c.AttestationType, &c.AttestationFormat, &count,
		&aaguid, &c.Transports, &c.UserPresent, &c.UserVerified, &c.BackupEligible, &c.BackupState, &c.Name,
		&c.CreatedAt, &lastUsed, &c.UpdatedAt); err != nil {
		return WebAuthnCredential{}, err
	}
	c.SignCount = uint32(count)
	if aaguid != nil {
		c.AAGUID = aaguid[:]
	}
	if lastUsed != nil {
		c.LastUsedAt = lastUsed.UTC()
	}
	if c.Transports == nil {
		c.Transports = []string{}
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// credentialRef names a credential in audit events without its full id.
func credentialRef(id []byte) string {
	h := hex.EncodeToString(id)
	if len(h) > 16 {
		h = h[:16]
	}
	return h
}

// AddWebAuthnCredential stores a newly registered passkey (ID, UserID, RPID
// and PublicKey are required; CreatedAt, LastUsedAt and UpdatedAt are set by
// the database). It returns ErrNotFound for an unknown user and ErrConflict
// when the credential id is already registered (to anyone).
func (q *queries) AddWebAuthnCredential(ctx context.Context, c WebAuthnCredential, actor Actor) error {
	const what = "store: add webauthn credential"
	switch {
	case len(c.ID) == 0 || len(c.PublicKey) == 0 || c.RPID == "":
		return fmt.Errorf("%s: id, public key and rp id are required", what)
	case len(c.AAGUID) != 0 && len(c.AAGUID) != 16:
		return fmt.Errorf("%s: aaguid of %d bytes, want 16", what, len(c.AAGUID))
	case c.BackupState && !c.BackupEligible:
		return fmt.Errorf("%s: backup state without backup eligibility", what)
	}
	var aaguid *uuid.UUID
	if id, err := uuid.FromBytes(c.AAGUID); err == nil && id != uuid.Nil {
		aaguid = &id
	}
	transports := c.Transports
	if transports == nil {
		transports = []string{}
	}
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, c.UserID)
		if err != nil {
			return err
		}
		if _, err := q.db.Exec(ctx, `
			INSERT INTO webauthn_credentials (id, user_id, rp_id, public_key, attestation_type, attestation_format,
				sign_count, aaguid, transports, user_present, user_verified, backup_eligible, backup_state, name)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			c.ID, c.UserID, c.RPID, c.PublicKey, c.AttestationType, c.AttestationFormat, int64(c.SignCount),
			aaguid, transports, c.UserPresent, c.UserVerified, c.BackupEligible, c.BackupState,
			strings.TrimSpace(c.Name)); err != nil {
			return mapErr(what, err)
		}
		after := map[string]any{"credential": credentialRef(c.ID), "rpId": c.RPID, "name": strings.TrimSpace(c.Name),
			"backupEligible": c.BackupEligible}
		if aaguid != nil {
			after["aaguid"] = aaguid.String()
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditWebAuthnRegister,
			targetType: "user", targetID: c.UserID, after: after})
	})
}

// WebAuthnCredentials returns the user's passkeys for a relying party, oldest
// first; none (not an error) for an unknown user.
func (q *queries) WebAuthnCredentials(ctx context.Context, rpID, userID string) ([]WebAuthnCredential, error) {
	const what = "store: webauthn credentials"
	if !isUUID(userID) {
		return []WebAuthnCredential{}, nil
	}
	rows, err := q.db.Query(ctx, `SELECT `+webauthnColumns+` FROM webauthn_credentials
		WHERE user_id = $1 AND rp_id = $2 ORDER BY created_at, id`, userID, rpID)
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebAuthnCredential, error) { return scanWebAuthn(r) })
	if err != nil {
		return nil, mapErr(what, err)
	}
	return out, nil
}

// WebAuthnCredential returns the passkey with the credential id for a relying
// party, or ErrNotFound.
func (q *queries) WebAuthnCredential(ctx context.Context, rpID string, id []byte) (WebAuthnCredential, error) {
	c, err := scanWebAuthn(q.db.QueryRow(ctx, `SELECT `+webauthnColumns+` FROM webauthn_credentials
		WHERE id = $1 AND rp_id = $2`, id, rpID))
	if err != nil {
		return WebAuthnCredential{}, mapErr("store: webauthn credential", err)
	}
	return c, nil
}

// UseWebAuthnCredential records an accepted assertion of the passkey. It
// reports false, writing nothing, when the signature counter does not advance
// (WebAuthn §7.2 step 21: a counter at or below the stored one signals a
// cloned authenticator or a replayed assertion) or there is no such
// credential. A counter of 0 is accepted only while the stored one is 0
// (authenticators that keep no counter). The compare-and-set in one statement
// makes the check hold under concurrent submissions.
func (q *queries) UseWebAuthnCredential(ctx context.Context, rpID string, id []byte, use WebAuthnUse) (bool, error) {
	at := use.At
	if at.IsZero() {
		at = time.Now()
	}
	tag, err := q.db.Exec(ctx, `
		UPDATE webauthn_credentials SET sign_count = $3, user_verified = user_verified OR $4,
			backup_state = backup_eligible AND $5, last_used_at = $6
		WHERE id = $1 AND rp_id = $2 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))`,
		id, rpID, int64(use.SignCount), use.UserVerified, use.BackupState, at)
	if err != nil {
		return false, mapErr("store: use webauthn credential", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RenameWebAuthnCredential sets the label of one of the user's passkeys. It
// returns ErrNotFound when the user has no such credential.
func (q *queries) RenameWebAuthnCredential(ctx context.Context, userID string, id []byte, name string, actor Actor) error {
	const what = "store: rename webauthn credential"
	name = strings.TrimSpace(name)
	if len([]rune(name)) > 255 {
		return fmt.Errorf("%s: name longer than 255 characters", what)
	}
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, userID)
		if err != nil {
			return err
		}
		tag, err := q.db.Exec(ctx, `UPDATE webauthn_credentials SET name = $3 WHERE user_id = $1 AND id = $2`,
			userID, id, name)
		if err != nil {
			return mapErr(what, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditWebAuthnRename,
			targetType: "user", targetID: userID, after: map[string]any{"credential": credentialRef(id), "name": name}})
	})
}

// DeleteWebAuthnCredential removes one of the user's passkeys. It returns
// ErrNotFound when the user has no such credential.
func (q *queries) DeleteWebAuthnCredential(ctx context.Context, userID string, id []byte, actor Actor) error {
	const what = "store: delete webauthn credential"
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, userID)
		if err != nil {
			return err
		}
		var rpID, name string
		err = q.db.QueryRow(ctx, `DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2 RETURNING rp_id, name`,
			userID, id).Scan(&rpID, &name)
		if err != nil {
			return mapErr(what, err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditWebAuthnDelete,
			targetType: "user", targetID: userID,
			before: map[string]any{"credential": credentialRef(id), "rpId": rpID, "name": name}})
	})
}
