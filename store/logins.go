package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// FailedLoginAttemptsBeforeSuccessClaim is WSO2's identity claim counting
// failed password logins since the last reset. RecordLoginFailure increments
// it; unlike the lock counter it is not reset by a successful login (in WSO2
// the login-attempts script template resets it after step-up), so it is kept
// as an ordinary claim the script can read and write.
const FailedLoginAttemptsBeforeSuccessClaim = "http://wso2.org/claims/identity/failedLoginAttemptsBeforeSuccess"

// LockReasonMaxAttempts is the lock_reason of an account locked by
// RecordLoginFailure (WSO2's MAX_ATTEMPTS_EXCEEDED).
const LockReasonMaxAttempts = "MAX_ATTEMPTS_EXCEEDED"

// Audit actions of login bookkeeping. Counter changes are not audited (one
// per failed login; the login itself is audited by the flow); lock changes are.
const (
	AuditUserLock   = "user.lock"
	AuditUserUnlock = "user.unlock"
)

// LockPolicy says when consecutive failed logins lock an account.
type LockPolicy struct {
	// MaxFailures locks the account when the consecutive failure count
	// reaches it; 0 never locks.
	MaxFailures int
	// Duration is how long a lock lasts; 0 locks until an administrator
	// unlocks.
	Duration time.Duration
}

// LoginFailure is what RecordLoginFailure did.
type LoginFailure struct {
	User User // the user after the update
	// BeforeSuccess is the value of FailedLoginAttemptsBeforeSuccessClaim
	// after the call (unchanged when the user was locked).
	BeforeSuccess int
	// Locked is true when this failure locked the account.
	Locked bool
}

// LockedAt reports whether u is locked at now: locked, and either until an
// administrator unlocks or until a time not yet reached.
func (u User) LockedAt(now time.Time) bool {
	return u.Locked && (u.LockedUntil.IsZero() || now.Before(u.LockedUntil))
}

// RecordLoginFailure counts a failed password login of the user at now: it
// increments the consecutive-failure counter (restarting from zero when an
// earlier timed lock has expired) and FailedLoginAttemptsBeforeSuccessClaim,
// and locks the account per p when the counter reaches p.MaxFailures. A user
// locked at now is left unchanged (failures while locked do not count, as in
// WSO2). It returns ErrNotFound for an unknown user.
func (q *queries) RecordLoginFailure(ctx context.Context, userID string, p LockPolicy, now time.Time) (LoginFailure, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return LoginFailure{}, fmt.Errorf("store: record login failure: user %q: %w", userID, ErrNotFound)
	}
	if p.MaxFailures < 0 || p.Duration < 0 {
		return LoginFailure{}, fmt.Errorf("store: record login failure: negative lock policy %+v", p)
	}
	var res LoginFailure
	err := q.atomic(ctx, func(q *queries) error {
		u, err := scanUser(q.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, userID))
		if err != nil {
			return mapErr("store: record login failure", err)
		}
		if u.LockedAt(now) {
			res.User = u
			err := q.db.QueryRow(ctx, `
				SELECT coalesce((SELECT CASE WHEN value ~ '^[0-9]{1,9}$' THEN value::integer ELSE 0 END
				                 FROM user_claims WHERE user_id = $1 AND claim_uri = $2), 0)`,
				userID, FailedLoginAttemptsBeforeSuccessClaim).Scan(&res.BeforeSuccess)
			return mapErr("store: record login failure claim", err)
		}
		attempts := u.FailedLoginAttempts
		if u.Locked {
			attempts = 0 // an expired timed lock: start counting afresh
		}
		attempts++
		lock := p.MaxFailures > 0 && attempts >= p.MaxFailures
		var until *time.Time
		var reason *string
		if lock {
			r := LockReasonMaxAttempts
			reason = &r
			if p.Duration > 0 {
				t := now.Add(p.Duration)
				until = &t
			}
		}
		res.User, err = scanUser(q.db.QueryRow(ctx, `
			UPDATE users SET failed_login_attempts = $2, locked = $3, locked_until = $4, lock_reason = $5
			WHERE id = $1
			RETURNING `+userColumns, userID, attempts, lock, until, reason))
		if err != nil {
			return mapErr("store: record login failure", err)
		}
		// The claim is text (WSO2 claims are strings); a non-numeric value
		// someone wrote restarts the count rather than failing the login.
		if err := q.db.QueryRow(ctx, `
			INSERT INTO user_claims (user_id, claim_uri, value) VALUES ($1, $2, '1')
			ON CONFLICT (user_id, claim_uri) DO UPDATE SET value = (CASE
				WHEN user_claims.value ~ '^[0-9]{1,9}$' THEN user_claims.value::integer + 1 ELSE 1 END)::text
			RETURNING value::integer`, userID, FailedLoginAttemptsBeforeSuccessClaim).Scan(&res.BeforeSuccess); err != nil {
			return mapErr("store: record login failure claim", err)
		}
		if !lock {
			return nil
		}
		res.Locked = true
		after := map[string]any{"locked": true, "reason": LockReasonMaxAttempts, "failedLoginAttempts": attempts}
		if until != nil {
			after["lockedUntil"] = until.UTC()
		}
		return q.audit(ctx, auditEvent{orgID: u.OrgID, action: AuditUserLock,
			targetType: "user", targetID: u.ID, after: after})
	})
	if err != nil {
		return LoginFailure{}, err
	}
	return res, nil
}

// RecordLoginSuccess records now as the user's last login (idle-account
// detection reads it), resets the consecutive-failure counter of a user who
// just logged in and clears a timed lock that has expired. It never clears a
// lock still in force (the caller must not have let the user in). The user
// row is not written when there is nothing to reset. It returns ErrNotFound
// for an unknown user.
func (q *queries) RecordLoginSuccess(ctx context.Context, userID string, now time.Time) error {
	if _, err := uuid.Parse(userID); err != nil {
		return fmt.Errorf("store: record login success: user %q: %w", userID, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var (
			orgID     string
			wasLocked bool
		)
		tag, err := q.db.Exec(ctx, `
			INSERT INTO user_last_logins (user_id, last_login_at)
			SELECT id, $2 FROM users WHERE id = $1
			ON CONFLICT (user_id) DO UPDATE SET last_login_at = greatest(user_last_logins.last_login_at, EXCLUDED.last_login_at)`,
			userID, now)
		if err != nil {
			return mapErr("store: record last login", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: record login success: user %s: %w", userID, ErrNotFound)
		}
		err = q.db.QueryRow(ctx, `
			WITH old AS (SELECT id, locked FROM users WHERE id = $1 FOR UPDATE)
			UPDATE users u SET failed_login_attempts = 0, locked = false, locked_until = NULL, lock_reason = NULL
			FROM old
			WHERE u.id = old.id
			  AND NOT (u.locked AND (u.locked_until IS NULL OR u.locked_until > $2))
			  AND (u.failed_login_attempts <> 0 OR u.locked)
			RETURNING u.org_id, old.locked`, userID, now).Scan(&orgID, &wasLocked)
		if err != nil {
			err = mapErr("store: record login success", err)
			if !errors.Is(err, ErrNotFound) {
				return err
			}
			// Nothing to reset, or no such user: tell them apart.
			var exists bool
			if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID).Scan(&exists); err != nil {
				return mapErr("store: record login success", err)
			}
			if !exists {
				return fmt.Errorf("store: record login success: user %s: %w", userID, ErrNotFound)
			}
			return nil
		}
		if !wasLocked {
			return nil
		}
		return q.audit(ctx, auditEvent{orgID: orgID, action: AuditUserUnlock, targetType: "user", targetID: userID,
			before: map[string]any{"locked": true}, after: map[string]any{"locked": false, "reason": "lock expired"}})
	})
}
