package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Audit actions of credential changes. Using a TOTP code is not audited (it
// happens on every login; the login is audited by the flow); spending a
// backup code is, because the set shrinks and users should see when.
const (
	AuditTOTPEnroll        = "credential.totp.enroll"
	AuditTOTPConfirm       = "credential.totp.confirm"
	AuditTOTPDelete        = "credential.totp.delete"
	AuditBackupCodesCreate = "credential.backup_codes.create"
	AuditBackupCodeUse     = "credential.backup_code.use"
)

// TOTPCredential is a user's TOTP secret, encrypted by the caller
// (connectors/totp) before it reaches the store: the store never sees it in
// clear.
type TOTPCredential struct {
	UserID           string
	SecretCiphertext []byte
	KeyID            string    // names the encryption key, for rotation
	ConfirmedAt      time.Time // zero while the enrolment is not confirmed
	LastUsedStep     int64     // RFC 6238 time step of the last accepted code; 0 if none
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Confirmed reports whether the user proved possession of the secret.
func (c TOTPCredential) Confirmed() bool { return !c.ConfirmedAt.IsZero() }

// userOrg returns the organization of a user, or ErrNotFound; credential
// operations use it both to check the user exists and to audit.
func (q *queries) userOrg(ctx context.Context, what, userID string) (string, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return "", fmt.Errorf("%s: user %q: %w", what, userID, ErrNotFound)
	}
	var orgID string
	if err := q.db.QueryRow(ctx, `SELECT org_id FROM users WHERE id = $1`, userID).Scan(&orgID); err != nil {
		return "", mapErr(what, err)
	}
	return orgID, nil
}

// PutTOTPSecret stores a new, unconfirmed TOTP secret (already encrypted)
// for the user, replacing any credential the user had. It returns
// ErrNotFound for an unknown user.
func (q *queries) PutTOTPSecret(ctx context.Context, userID string, ciphertext []byte, keyID string, actor Actor) error {
	const what = "store: put totp secret"
	if len(ciphertext) == 0 {
		return fmt.Errorf("%s: empty ciphertext", what)
	}
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, userID)
		if err != nil {
			return err
		}
		if _, err := q.db.Exec(ctx, `
			INSERT INTO totp_credentials (user_id, secret_ciphertext, key_id) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET secret_ciphertext = EXCLUDED.secret_ciphertext,
				key_id = EXCLUDED.key_id, confirmed_at = NULL, last_used_step = NULL, created_at = now()`,
			userID, ciphertext, keyID); err != nil {
			return mapErr(what, err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditTOTPEnroll,
			targetType: "user", targetID: userID, after: map[string]any{"totp": "pending", "keyId": keyID}})
	})
}

// TOTPCredential returns the user's TOTP credential, or ErrNotFound when the
// user has none.
func (q *queries) TOTPCredential(ctx context.Context, userID string) (TOTPCredential, error) {
	const what = "store: totp credential"
	if _, err := uuid.Parse(userID); err != nil {
		return TOTPCredential{}, fmt.Errorf("%s: user %q: %w", what, userID, ErrNotFound)
	}
	var (
		c         TOTPCredential
		confirmed *time.Time
		step      *int64
	)
	err := q.db.QueryRow(ctx, `
		SELECT user_id, secret_ciphertext, key_id, confirmed_at, last_used_step, created_at, updated_at
		FROM totp_credentials WHERE user_id = $1`, userID).
		Scan(&c.UserID, &c.SecretCiphertext, &c.KeyID, &confirmed, &step, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return TOTPCredential{}, mapErr(what, err)
	}
	if confirmed != nil {
		c.ConfirmedAt = confirmed.UTC()
	}
	if step != nil {
		c.LastUsedStep = *step
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// ConfirmTOTP marks the user's pending TOTP credential confirmed, recording
// step (the time step of the code that proved possession) as used. The
// credential must still hold ciphertext, the secret the code was checked
// against: a secret replaced meanwhile by another enrolment is not
// confirmed. It returns ErrNotFound when there is no such pending credential.
func (q *queries) ConfirmTOTP(ctx context.Context, userID string, ciphertext []byte, step int64, actor Actor) error {
	const what = "store: confirm totp"
	if step < 0 {
		return fmt.Errorf("%s: negative time step", what)
	}
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, userID)
		if err != nil {
			return err
		}
		tag, err := q.db.Exec(ctx, `
			UPDATE totp_credentials SET confirmed_at = now(), last_used_step = $2
			WHERE user_id = $1 AND confirmed_at IS NULL AND secret_ciphertext = $3`, userID, step, ciphertext)
		if err != nil {
			return mapErr(what, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%s: no pending credential: %w", what, ErrNotFound)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditTOTPConfirm,
			targetType: "user", targetID: userID, after: map[string]any{"totp": "confirmed"}})
	})
}

// UseTOTPStep records that a code of time step was accepted for the user's
// confirmed credential. It reports false, writing nothing, when that step or
// a later one was already used (or there is no confirmed credential): the
// compare-and-set in one statement makes a code single-use even under
// concurrent submissions.
func (q *queries) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return false, nil
	}
	tag, err := q.db.Exec(ctx, `
		UPDATE totp_credentials SET last_used_step = $2
		WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)`,
		userID, step)
	if err != nil {
		return false, mapErr("store: use totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteTOTPCredential removes the user's TOTP credential. It returns
// ErrNotFound when there is none.
func (q *queries) DeleteTOTPCredential(ctx context.Context, userID string, actor Actor) error {
	const what = "store: delete totp credential"
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, userID)
		if err != nil {
			return err
		}
		tag, err := q.db.Exec(ctx, `DELETE FROM totp_credentials WHERE user_id = $1`, userID)
		if err != nil {
			return mapErr(what, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditTOTPDelete,
			targetType: "user", targetID: userID, before: map[string]any{"totp": true}})
	})
}

// ReplaceBackupCodes replaces the user's backup codes with the given hashes
// (32 bytes each, computed by connectors/backupcodes), all or nothing. It
// returns ErrNotFound for an unknown user and ErrConflict for duplicate hashes.
func (q *queries) ReplaceBackupCodes(ctx context.Context, userID string, hashes [][]byte, actor Actor) error {
	const what = "store: replace backup codes"
	for _, h := range hashes {
		if len(h) != 32 {
			return fmt.Errorf("%s: hash of %d bytes, want 32", what, len(h))
		}
	}
	return q.atomic(ctx, func(q *queries) error {
		orgID, err := q.userOrg(ctx, what, userID)
		if err != nil {
			return err
		}
		if _, err := q.db.Exec(ctx, `DELETE FROM backup_codes WHERE user_id = $1`, userID); err != nil {
			return mapErr(what, err)
		}
		if len(hashes) > 0 {
			if _, err := q.db.Exec(ctx, `
				INSERT INTO backup_codes (user_id, code_hash) SELECT $1, h FROM unnest($2::bytea[]) AS h`,
				userID, hashes); err != nil {
				return mapErr(what, err)
			}
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditBackupCodesCreate,
			targetType: "user", targetID: userID, after: map[string]any{"backupCodes": len(hashes)}})
	})
}

// UseBackupCode spends the user's unused backup code with the given hash. It
// reports false, writing nothing, when there is no such unused code; a code is
// spent at most once even under concurrent submissions.
func (q *queries) UseBackupCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	const what = "store: use backup code"
	if _, err := uuid.Parse(userID); err != nil {
		return false, nil
	}
	used := false
	err := q.atomic(ctx, func(q *queries) error {
		var orgID string
		var left int
		err := q.db.QueryRow(ctx, `
			WITH spent AS (
				UPDATE backup_codes SET used_at = now()
				WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
				RETURNING id)
			SELECT u.org_id, (SELECT count(*) FROM backup_codes b
			                  WHERE b.user_id = $1 AND b.used_at IS NULL) - 1
			FROM spent, users u WHERE u.id = $1`, userID, hash).Scan(&orgID, &left)
		if err != nil {
			if err = mapErr(what, err); errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		}
		used = true
		return q.audit(ctx, auditEvent{orgID: orgID, action: AuditBackupCodeUse,
			targetType: "user", targetID: userID, after: map[string]any{"backupCodesLeft": left}})
	})
	return used, err
}

// UnusedBackupCodes counts the user's unused backup codes (0 for an unknown user).
func (q *queries) UnusedBackupCodes(ctx context.Context, userID string) (int, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return 0, nil
	}
	var n int
	err := q.db.QueryRow(ctx, `SELECT count(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, mapErr("store: unused backup codes", err)
}
