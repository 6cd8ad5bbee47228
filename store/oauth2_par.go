package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxPushedRequestParamsBytes caps the JSON of a pushed request's parameters.
const MaxPushedRequestParamsBytes = 64 << 10

// OAuth2PushedRequest is a pushed authorization request (RFC 9126), found
// by the SHA-256 of the random part of its request_uri.
type OAuth2PushedRequest struct {
	Hash     []byte // SHA-256, 32 bytes
	ClientID string
	// Params are the validated authorization parameters by name.
	Params    map[string]string
	CreatedAt time.Time // set by the database
	ExpiresAt time.Time
}

// CreateOAuth2PushedRequest stores a pushed authorization request. An
// unknown client returns ErrNotFound, a taken hash ErrConflict.
func (q *queries) CreateOAuth2PushedRequest(ctx context.Context, r OAuth2PushedRequest) error {
	if len(r.Hash) != 32 || r.ExpiresAt.IsZero() {
		return errors.New("store: create oauth2 pushed request: hash must be 32 bytes and expiry set")
	}
	params := r.Params
	if params == nil {
		params = map[string]string{}
	}
	b, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("store: create oauth2 pushed request: %w", err)
	}
	if len(b) > MaxPushedRequestParamsBytes {
		return fmt.Errorf("store: create oauth2 pushed request: parameters larger than %d bytes", MaxPushedRequestParamsBytes)
	}
	_, err = q.db.Exec(ctx, `
		INSERT INTO oauth2_pushed_requests (request_hash, client_id, params, expires_at) VALUES ($1, $2, $3, $4)`,
		r.Hash, r.ClientID, b, r.ExpiresAt)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: create oauth2 pushed request: client %s: %w", r.ClientID, ErrNotFound)
	}
	return mapErr("store: create oauth2 pushed request", err)
}

// TakeOAuth2PushedRequest deletes the pushed request with hash and returns
// it: a request_uri is used once (RFC 9126 §4). ErrNotFound when there is
// none or it expired by now (an expired one is deleted too).
func (q *queries) TakeOAuth2PushedRequest(ctx context.Context, hash []byte, now time.Time) (OAuth2PushedRequest, error) {
	r := OAuth2PushedRequest{Hash: hash}
	var raw []byte
	err := q.db.QueryRow(ctx, `
		DELETE FROM oauth2_pushed_requests WHERE request_hash = $1
		RETURNING client_id, params, created_at, expires_at`, hash).Scan(&r.ClientID, &raw, &r.CreatedAt, &r.ExpiresAt)
	if err != nil {
		return OAuth2PushedRequest{}, mapErr("store: take oauth2 pushed request", err)
	}
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	if !now.Before(r.ExpiresAt) {
		return OAuth2PushedRequest{}, fmt.Errorf("store: take oauth2 pushed request: expired: %w", ErrNotFound)
	}
	if err := json.Unmarshal(raw, &r.Params); err != nil {
		return OAuth2PushedRequest{}, fmt.Errorf("store: take oauth2 pushed request: params: %w", err)
	}
	return r, nil
}

// DeleteExpiredOAuth2PushedRequests deletes the pushed requests that
// expired before the cutoff and returns how many.
func (q *queries) DeleteExpiredOAuth2PushedRequests(ctx context.Context, before time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM oauth2_pushed_requests WHERE expires_at < $1`, before)
	if err != nil {
		return 0, mapErr("store: delete expired oauth2 pushed requests", err)
	}
	return tag.RowsAffected(), nil
}
