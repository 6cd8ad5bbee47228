package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Kinds of OAuth2Token.
const (
	TokenKindAccess  = "access_token"
	TokenKindRefresh = "refresh_token"
)

// OAuth2Token is an opaque token, found by the SHA-256 of its value (the
// value itself is never stored). Issuing and revoking tokens is not audited
// per token: it is the hot path, and tokens are not configuration.
type OAuth2Token struct {
	Hash      []byte // SHA-256 of the token value, 32 bytes
	Kind      string // TokenKindAccess or TokenKindRefresh
	TokenID   string // public id (logs, audit), like a JWT's jti
	ClientID  string
	Subject   string
	Scope     string // space-separated
	Audiences []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero unless revoked
	// GrantID is the grant the token was issued from (see OAuth2Grant); empty
	// for client_credentials tokens.
	GrantID string
}

// RevokedJTI is a revoked JWT, remembered until it would have expired.
type RevokedJTI struct {
	JTI       string
	ClientID  string
	ExpiresAt time.Time
	RevokedAt time.Time // set by the database
}

// CreateOAuth2Token stores an opaque token. An unknown client returns
// ErrNotFound, a hash collision ErrConflict.
func (q *queries) CreateOAuth2Token(ctx context.Context, t OAuth2Token) error {
	if err := validateOAuth2Token(t); err != nil {
		return err
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO oauth2_tokens (token_hash, kind, token_id, client_id, subject, scope, audiences, issued_at, expires_at, grant_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.Hash, t.Kind, t.TokenID, t.ClientID, t.Subject, t.Scope, oauth2List(t.Audiences), t.IssuedAt, t.ExpiresAt, nullIfEmpty(t.GrantID))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: create oauth2 token: client %s or grant: %w", t.ClientID, ErrNotFound)
	}
	return mapErr("store: create oauth2 token", err)
}

func validateOAuth2Token(t OAuth2Token) error {
	switch {
	case len(t.Hash) != 32:
		return fmt.Errorf("store: create oauth2 token: hash must be 32 bytes")
	case t.Kind != TokenKindAccess && t.Kind != TokenKindRefresh:
		return fmt.Errorf("store: create oauth2 token: unknown kind %q", t.Kind)
	case !t.ExpiresAt.After(t.IssuedAt):
		return fmt.Errorf("store: create oauth2 token: expires before it is issued")
	}
	return nil
}

// OAuth2TokenByHash returns the opaque token whose value hashes to hash,
// revoked and expired ones included (the caller decides), or ErrNotFound.
func (q *queries) OAuth2TokenByHash(ctx context.Context, hash []byte) (OAuth2Token, error) {
	var (
		t       OAuth2Token
		revoked *time.Time
		grantID *string
	)
	err := q.db.QueryRow(ctx, `
		SELECT token_hash, kind, token_id, client_id, subject, scope, audiences, issued_at, expires_at, revoked_at, grant_id
		FROM oauth2_tokens WHERE token_hash = $1`, hash).
		Scan(&t.Hash, &t.Kind, &t.TokenID, &t.ClientID, &t.Subject, &t.Scope, &t.Audiences, &t.IssuedAt, &t.ExpiresAt, &revoked, &grantID)
	if grantID != nil {
		t.GrantID = *grantID
	}
	if err != nil {
		return OAuth2Token{}, mapErr("store: oauth2 token", err)
	}
	t.IssuedAt, t.ExpiresAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC()
	if revoked != nil {
		t.RevokedAt = revoked.UTC()
	}
	return t, nil
}

// RevokeOAuth2Token marks the opaque token revoked (idempotent: a second
// call keeps the first time). ErrNotFound when there is no such token.
func (q *queries) RevokeOAuth2Token(ctx context.Context, hash []byte) error {
	tag, err := q.db.Exec(ctx, `
		UPDATE oauth2_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_hash = $1`, hash)
	if err != nil {
		return mapErr("store: revoke oauth2 token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: revoke oauth2 token: %w", ErrNotFound)
	}
	return nil
}

// RevokeOAuth2JTI records a revoked JWT until expiresAt. Revoking one twice
// is not an error.
func (q *queries) RevokeOAuth2JTI(ctx context.Context, r RevokedJTI) error {
	if r.JTI == "" || len(r.JTI) > 255 || !utf8.ValidString(r.JTI) {
		return fmt.Errorf("store: revoke oauth2 jti: empty, invalid or longer than 255 bytes")
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO oauth2_revoked_jtis (jti, client_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (jti) DO NOTHING`, r.JTI, r.ClientID, r.ExpiresAt)
	return mapErr("store: revoke oauth2 jti", err)
}

// RevokedOAuth2JTIs returns the revoked JWTs recorded after since (by the
// database's clock) that have not expired yet, oldest first. A zero since
// returns all of them. Callers polling incrementally should pass the latest
// RevokedAt they saw minus a margin: a revocation whose statement started
// before another's but committed after it carries the earlier time.
func (q *queries) RevokedOAuth2JTIs(ctx context.Context, since time.Time) ([]RevokedJTI, error) {
	rows, err := q.db.Query(ctx, `
		SELECT jti, client_id, expires_at, revoked_at FROM oauth2_revoked_jtis
		WHERE revoked_at > $1 AND expires_at > now()
		ORDER BY revoked_at`, since)
	if err != nil {
		return nil, mapErr("store: revoked oauth2 jtis", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RevokedJTI, error) {
		var r RevokedJTI
		err := row.Scan(&r.JTI, &r.ClientID, &r.ExpiresAt, &r.RevokedAt)
		r.ExpiresAt, r.RevokedAt = r.ExpiresAt.UTC(), r.RevokedAt.UTC()
		return r, err
	})
	if err != nil {
		return nil, mapErr("store: revoked oauth2 jtis", err)
	}
	return out, nil
}

// DeleteExpiredOAuth2Tokens deletes opaque tokens, revoked-JWT records,
// grants, authorization codes, used client-assertion jtis and device codes
// that expired before before, returning how many rows went. Run it
// periodically; nothing else removes them.
func (q *queries) DeleteExpiredOAuth2Tokens(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := q.atomic(ctx, func(q *queries) error {
		t1, err := q.db.Exec(ctx, `DELETE FROM oauth2_tokens WHERE expires_at < $1`, before)
		if err != nil {
			return mapErr("store: delete expired oauth2 tokens", err)
		}
		t2, err := q.db.Exec(ctx, `DELETE FROM oauth2_revoked_jtis WHERE expires_at < $1`, before)
		if err != nil {
			return mapErr("store: delete expired oauth2 jtis", err)
		}
		// Deleting a grant deletes its codes, tokens and jti records.
		t3, err := q.db.Exec(ctx, `DELETE FROM oauth2_grants WHERE expires_at < $1`, before)
		if err != nil {
			return mapErr("store: delete expired oauth2 grants", err)
		}
		t4, err := q.db.Exec(ctx, `DELETE FROM oauth2_codes WHERE expires_at < $1`, before)
		if err != nil {
			return mapErr("store: delete expired oauth2 codes", err)
		}
		t5, err := q.db.Exec(ctx, `DELETE FROM oauth2_assertion_jtis WHERE expires_at < $1`, before)
		if err != nil {
			return mapErr("store: delete expired oauth2 assertion jtis", err)
		}
		t6, err := q.db.Exec(ctx, `DELETE FROM oauth2_device_codes WHERE expires_at < $1`, before)
		if err != nil {
			return mapErr("store: delete expired oauth2 device codes", err)
		}
		n = t1.RowsAffected() + t2.RowsAffected() + t3.RowsAffected() + t4.RowsAffected() + t5.RowsAffected() +
			t6.RowsAffected()
		return nil
	})
	return n, err
}
