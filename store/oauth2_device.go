package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Statuses of OAuth2DeviceCode.
const (
	DeviceCodePending  = "pending"
	DeviceCodeApproved = "approved"
	DeviceCodeDenied   = "denied"
	DeviceCodeRedeemed = "redeemed"
)

// OAuth2DeviceCode is a device authorization request (RFC 8628), found by
// the SHA-256 of its device code or by its user code.
type OAuth2DeviceCode struct {
	Hash     []byte // SHA-256 of the device code, 32 bytes
	UserCode string // normalised by the caller
	ClientID string
	Scope    string
	Status   string // DeviceCode*
	GrantID  string // set at approval
	// Interval is the minimum time between polls.
	Interval     time.Duration
	LastPolledAt time.Time // zero before the first poll
	CreatedAt    time.Time // set by the database
	ExpiresAt    time.Time
}

const deviceCodeColumns = `device_code_hash, user_code, client_id, scope, status, coalesce(grant_id, ''),
	interval_seconds, last_polled_at, created_at, expires_at`

func scanDeviceCode(row interface{ Scan(...any) error }) (OAuth2DeviceCode, error) {
	var (
		d        OAuth2DeviceCode
		interval int64
		polled   *time.Time
	)
	err := row.Scan(&d.Hash, &d.UserCode, &d.ClientID, &d.Scope, &d.Status, &d.GrantID, &interval, &polled,
		&d.CreatedAt, &d.ExpiresAt)
	d.Interval = time.Duration(interval) * time.Second
	if polled != nil {
		d.LastPolledAt = polled.UTC()
	}
	d.CreatedAt, d.ExpiresAt = d.CreatedAt.UTC(), d.ExpiresAt.UTC()
	return d, err
}

// CreateOAuth2DeviceCode stores a pending device authorization request. A
// taken user code or hash returns ErrConflict (draw another), an unknown
// client ErrNotFound.
func (q *queries) CreateOAuth2DeviceCode(ctx context.Context, d OAuth2DeviceCode) error {
	switch {
	case len(d.Hash) != 32:
		return errors.New("store: create oauth2 device code: hash must be 32 bytes")
	case d.UserCode == "" || len(d.UserCode) > 32:
		return errors.New("store: create oauth2 device code: user code empty or longer than 32 bytes")
	case d.Interval < time.Second || d.ExpiresAt.IsZero():
		return errors.New("store: create oauth2 device code: interval and expiry are required")
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO oauth2_device_codes (device_code_hash, user_code, client_id, scope, interval_seconds, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		d.Hash, d.UserCode, d.ClientID, d.Scope, int64(d.Interval/time.Second), d.ExpiresAt)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: create oauth2 device code: client %s: %w", d.ClientID, ErrNotFound)
	}
	return mapErr("store: create oauth2 device code", err)
}

// OAuth2DeviceCodeByUserCode returns the request with the user code (any
// status, expired included), or ErrNotFound.
func (q *queries) OAuth2DeviceCodeByUserCode(ctx context.Context, userCode string) (OAuth2DeviceCode, error) {
	d, err := scanDeviceCode(q.db.QueryRow(ctx,
		`SELECT `+deviceCodeColumns+` FROM oauth2_device_codes WHERE user_code = $1`, userCode))
	if err != nil {
		return OAuth2DeviceCode{}, mapErr("store: oauth2 device code", err)
	}
	return d, nil
}

// PollOAuth2DeviceCode records a poll at now and returns the request as it
// was before it. When the previous poll was less than the interval before
// now, the interval grows by five seconds and slowDown is set (RFC 8628
// §3.5). ErrNotFound when there is no such device code.
func (q *queries) PollOAuth2DeviceCode(ctx context.Context, hash []byte, now time.Time) (d OAuth2DeviceCode, slowDown bool, err error) {
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		d, err = scanDeviceCode(q.db.QueryRow(ctx,
			`SELECT `+deviceCodeColumns+` FROM oauth2_device_codes WHERE device_code_hash = $1 FOR UPDATE`, hash))
		if err != nil {
			return mapErr("store: poll oauth2 device code", err)
		}
		interval := d.Interval
		if !d.LastPolledAt.IsZero() && now.Before(d.LastPolledAt.Add(d.Interval)) {
			slowDown = true
			interval += 5 * time.Second
		}
		_, err = q.db.Exec(ctx, `
			UPDATE oauth2_device_codes SET last_polled_at = $2, interval_seconds = $3 WHERE device_code_hash = $1`,
			hash, now, int64(interval/time.Second))
		return mapErr("store: poll oauth2 device code", err)
	})
	return d, slowDown, err
}

// ApproveOAuth2DeviceCode stores the grant the user gave and marks the
// pending request with userCode approved, in one transaction. A request
// that is no longer pending, or expired by now, returns ErrConflict; an
// unknown user code ErrNotFound.
func (q *queries) ApproveOAuth2DeviceCode(ctx context.Context, userCode string, now time.Time, ng NewOAuth2Grant) error {
	return q.atomic(ctx, func(q *queries) error {
		if err := q.lockPendingDeviceCode(ctx, userCode, now); err != nil {
			return err
		}
		if err := q.CreateOAuth2Grant(ctx, ng); err != nil {
			return err
		}
		_, err := q.db.Exec(ctx, `UPDATE oauth2_device_codes SET status = 'approved', grant_id = $2 WHERE user_code = $1`,
			userCode, ng.Grant.ID)
		return mapErr("store: approve oauth2 device code", err)
	})
}

// DenyOAuth2DeviceCode marks the pending request with userCode denied;
// errors as ApproveOAuth2DeviceCode.
func (q *queries) DenyOAuth2DeviceCode(ctx context.Context, userCode string, now time.Time) error {
	return q.atomic(ctx, func(q *queries) error {
		if err := q.lockPendingDeviceCode(ctx, userCode, now); err != nil {
			return err
		}
		_, err := q.db.Exec(ctx, `UPDATE oauth2_device_codes SET status = 'denied' WHERE user_code = $1`, userCode)
		return mapErr("store: deny oauth2 device code", err)
	})
}

func (q *queries) lockPendingDeviceCode(ctx context.Context, userCode string, now time.Time) error {
	var (
		status  string
		expires time.Time
	)
	err := q.db.QueryRow(ctx, `SELECT status, expires_at FROM oauth2_device_codes WHERE user_code = $1 FOR UPDATE`,
		userCode).Scan(&status, &expires)
	if err != nil {
		return mapErr("store: oauth2 device code", err)
	}
	if status != DeviceCodePending || !now.Before(expires) {
		return fmt.Errorf("store: oauth2 device code is %s (expires %s): %w", status, expires.UTC(), ErrConflict)
	}
	return nil
}

// RedeemOAuth2DeviceCode marks an approved request redeemed and stores
// what was issued from its grant. A request not approved (pending, denied,
// or redeemed already) returns ErrConflict, an unknown one ErrNotFound.
func (q *queries) RedeemOAuth2DeviceCode(ctx context.Context, hash []byte, issued OAuth2Issued) error {
	return q.atomic(ctx, func(q *queries) error {
		var status, grantID string
		err := q.db.QueryRow(ctx, `SELECT status, coalesce(grant_id, '') FROM oauth2_device_codes
			WHERE device_code_hash = $1 FOR UPDATE`, hash).Scan(&status, &grantID)
		if err != nil {
			return mapErr("store: redeem oauth2 device code", err)
		}
		if status != DeviceCodeApproved {
			return fmt.Errorf("store: redeem oauth2 device code: status %s: %w", status, ErrConflict)
		}
		if _, err := q.db.Exec(ctx, `UPDATE oauth2_device_codes SET status = 'redeemed' WHERE device_code_hash = $1`,
			hash); err != nil {
			return mapErr("store: redeem oauth2 device code", err)
		}
		return q.recordIssued(ctx, grantID, issued)
	})
}
