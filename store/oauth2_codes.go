package store

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// OAuth2Grant is one completed authorization: what the user granted to a
// client and the authentication facts its ID tokens report. Codes, refresh
// tokens and access tokens issued from it carry its id, so that replaying a
// code or a rotated refresh token can revoke all of them at once.
type OAuth2Grant struct {
	ID       string
	ClientID string
	Subject  string
	Scope    string // space-separated
	// Claims are the OpenID Connect claims (mapped and filtered by scope by
	// the caller) for ID tokens and userinfo. Values must be JSON-encodable.
	Claims    map[string]any
	ACR       string
	AMR       []string
	AuthTime  time.Time
	SessionID string
	Nonce     string
	CreatedAt time.Time // set by the database
	// ExpiresAt bounds everything issued from the grant; the row is deleted
	// after it by DeleteExpiredOAuth2Tokens.
	ExpiresAt time.Time
	RevokedAt time.Time // zero unless revoked
}

// OAuth2Code is an authorization code, found by the SHA-256 of its value.
type OAuth2Code struct {
	Hash                []byte // SHA-256 of the code, 32 bytes
	GrantID             string
	ClientID            string
	RedirectURI         string // as sent in the authorization request, '' when omitted
	CodeChallenge       string
	CodeChallengeMethod string // '', "S256" or "plain"
	IssuedAt            time.Time
	ExpiresAt           time.Time
	UsedAt              time.Time // zero until exchanged
}

// OAuth2GrantJTI records a JWT access token issued from a grant.
type OAuth2GrantJTI struct {
	JTI       string
	ExpiresAt time.Time
}

// OAuth2Issued is what one issuing step hands out from a grant: opaque
// tokens (stored by hash; their GrantID is set by the store) and the jtis
// of JWT access tokens.
type OAuth2Issued struct {
	Tokens []OAuth2Token
	JTIs   []OAuth2GrantJTI
}

// NewOAuth2Grant is the input of CreateOAuth2Grant.
type NewOAuth2Grant struct {
	Grant OAuth2Grant
	// Code, when not nil, is the authorization code issued with it (its
	// GrantID and ClientID are set by the store).
	Code *OAuth2Code
	// Issued are tokens handed out directly by the authorization endpoint
	// (implicit and hybrid flows).
	Issued OAuth2Issued
}

// CreateOAuth2Grant stores a grant with its code and tokens, in one
// transaction. An unknown client returns ErrNotFound, a taken id or hash
// ErrConflict.
func (q *queries) CreateOAuth2Grant(ctx context.Context, ng NewOAuth2Grant) error {
	g := ng.Grant
	switch {
	case g.ID == "" || len(g.ID) > 64 || !utf8.ValidString(g.ID):
		return errors.New("store: create oauth2 grant: id empty, invalid or longer than 64 bytes")
	case g.Subject == "":
		return errors.New("store: create oauth2 grant: empty subject")
	case g.AuthTime.IsZero() || g.ExpiresAt.IsZero():
		return errors.New("store: create oauth2 grant: auth time and expiry are required")
	}
	if ng.Code != nil && len(ng.Code.Hash) != 32 {
		return errors.New("store: create oauth2 grant: code hash must be 32 bytes")
	}
	claims := g.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return q.atomic(ctx, func(q *queries) error {
		_, err := q.db.Exec(ctx, `
			INSERT INTO oauth2_grants (grant_id, client_id, subject, scope, claims, acr, amr, auth_time, session_id, nonce, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			g.ID, g.ClientID, g.Subject, g.Scope, claims, g.ACR, oauth2List(g.AMR), g.AuthTime, g.SessionID, g.Nonce, g.ExpiresAt)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create oauth2 grant: client %s: %w", g.ClientID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create oauth2 grant", err)
		}
		if c := ng.Code; c != nil {
			_, err := q.db.Exec(ctx, `
				INSERT INTO oauth2_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, issued_at, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				c.Hash, g.ID, g.ClientID, c.RedirectURI, c.CodeChallenge, c.CodeChallengeMethod, c.IssuedAt, c.ExpiresAt)
			if err != nil {
				return mapErr("store: create oauth2 code", err)
			}
		}
		return q.recordIssued(ctx, g.ID, ng.Issued)
	})
}

// recordIssued stores tokens issued from grantID.
func (q *queries) recordIssued(ctx context.Context, grantID string, is OAuth2Issued) error {
	for _, t := range is.Tokens {
		t.GrantID = grantID
		if err := q.CreateOAuth2Token(ctx, t); err != nil {
			return err
		}
	}
	for _, j := range is.JTIs {
		if j.JTI == "" || len(j.JTI) > 255 {
			return errors.New("store: record oauth2 jti: empty or longer than 255 bytes")
		}
		if _, err := q.db.Exec(ctx, `INSERT INTO oauth2_grant_jtis (jti, grant_id, expires_at) VALUES ($1, $2, $3)`,
			j.JTI, grantID, j.ExpiresAt); err != nil {
			return mapErr("store: record oauth2 jti", err)
		}
	}
	return nil
}

const oauth2GrantColumns = `g.grant_id, g.client_id, g.subject, g.scope, g.claims, g.acr, g.amr, g.auth_time,
	g.session_id, g.nonce, g.created_at, g.expires_at, g.revoked_at`

func scanOAuth2Grant(dest ...any) (*OAuth2Grant, []any) {
	g := &OAuth2Grant{}
	return g, append(dest, &g.ID, &g.ClientID, &g.Subject, &g.Scope, &g.Claims, &g.ACR, &g.AMR, &g.AuthTime,
		&g.SessionID, &g.Nonce, &g.CreatedAt, &g.ExpiresAt, new(*time.Time))
}

func finishOAuth2Grant(g *OAuth2Grant, dest []any) {
	g.AuthTime, g.CreatedAt, g.ExpiresAt = g.AuthTime.UTC(), g.CreatedAt.UTC(), g.ExpiresAt.UTC()
	if r := *dest[len(dest)-1].(**time.Time); r != nil {
		g.RevokedAt = r.UTC()
	}
}

// OAuth2Grant returns a grant (revoked and expired ones included), or
// ErrNotFound.
func (q *queries) OAuth2Grant(ctx context.Context, id string) (OAuth2Grant, error) {
	g, dest := scanOAuth2Grant()
	err := q.db.QueryRow(ctx, `SELECT `+oauth2GrantColumns+` FROM oauth2_grants g WHERE g.grant_id = $1`, id).Scan(dest...)
	if err != nil {
		return OAuth2Grant{}, mapErr("store: oauth2 grant", err)
	}
	finishOAuth2Grant(g, dest)
	return *g, nil
}

// OAuth2GrantByJTI returns the grant a JWT access token was issued from, or
// ErrNotFound (client_credentials tokens have none).
func (q *queries) OAuth2GrantByJTI(ctx context.Context, jti string) (OAuth2Grant, error) {
	g, dest := scanOAuth2Grant()
	err := q.db.QueryRow(ctx, `
		SELECT `+oauth2GrantColumns+` FROM oauth2_grant_jtis j JOIN oauth2_grants g ON g.grant_id = j.grant_id
		WHERE j.jti = $1`, jti).Scan(dest...)
	if err != nil {
		return OAuth2Grant{}, mapErr("store: oauth2 grant by jti", err)
	}
	finishOAuth2Grant(g, dest)
	return *g, nil
}

// OAuth2CodeByHash returns a code with its grant (used, expired and revoked
// ones included: the caller decides), or ErrNotFound.
func (q *queries) OAuth2CodeByHash(ctx context.Context, hash []byte) (OAuth2Code, OAuth2Grant, error) {
	var (
		c    OAuth2Code
		used *time.Time
	)
	g, dest := scanOAuth2Grant(&c.Hash, &c.GrantID, &c.ClientID, &c.RedirectURI, &c.CodeChallenge,
		&c.CodeChallengeMethod, &c.IssuedAt, &c.ExpiresAt, &used)
	err := q.db.QueryRow(ctx, `
		SELECT c.code_hash, c.grant_id, c.client_id, c.redirect_uri, c.code_challenge, c.code_challenge_method,
			c.issued_at, c.expires_at, c.used_at, `+oauth2GrantColumns+`
		FROM oauth2_codes c JOIN oauth2_grants g ON g.grant_id = c.grant_id
		WHERE c.code_hash = $1`, hash).Scan(dest...)
	if err != nil {
		return OAuth2Code{}, OAuth2Grant{}, mapErr("store: oauth2 code", err)
	}
	finishOAuth2Grant(g, dest)
	c.IssuedAt, c.ExpiresAt = c.IssuedAt.UTC(), c.ExpiresAt.UTC()
	if used != nil {
		c.UsedAt = used.UTC()
	}
	return c, *g, nil
}

// RedeemOAuth2Code marks the code used and records what its exchange issued,
// in one transaction. It returns ErrConflict when the code was already used
// or its grant revoked (a replay: the caller revokes the grant), ErrNotFound
// when there is no such code. Expiry and bindings are the caller's to check
// first.
func (q *queries) RedeemOAuth2Code(ctx context.Context, hash []byte, issued OAuth2Issued) error {
	return q.atomic(ctx, func(q *queries) error {
		var grantID string
		err := q.db.QueryRow(ctx, `
			UPDATE oauth2_codes c SET used_at = now()
			FROM oauth2_grants g
			WHERE c.code_hash = $1 AND g.grant_id = c.grant_id AND c.used_at IS NULL AND g.revoked_at IS NULL
			RETURNING c.grant_id`, hash).Scan(&grantID)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM oauth2_codes WHERE code_hash = $1)`, hash).Scan(&exists); err != nil {
				return mapErr("store: redeem oauth2 code", err)
			}
			if exists {
				return fmt.Errorf("store: redeem oauth2 code: already used or grant revoked: %w", ErrConflict)
			}
			return fmt.Errorf("store: redeem oauth2 code: %w", ErrNotFound)
		}
		if err != nil {
			return mapErr("store: redeem oauth2 code", err)
		}
		return q.recordIssued(ctx, grantID, issued)
	})
}

// RotateOAuth2RefreshToken revokes the refresh token hashing to oldHash and
// records what replaced it, in one transaction. It returns ErrConflict when
// that token was already revoked (rotated before: a replay) or its grant
// revoked, ErrNotFound when there is no such refresh token.
func (q *queries) RotateOAuth2RefreshToken(ctx context.Context, oldHash []byte, issued OAuth2Issued) error {
	return q.atomic(ctx, func(q *queries) error {
		var grantID string
		err := q.db.QueryRow(ctx, `
			UPDATE oauth2_tokens t SET revoked_at = now()
			FROM oauth2_grants g
			WHERE t.token_hash = $1 AND t.kind = 'refresh_token' AND g.grant_id = t.grant_id
				AND t.revoked_at IS NULL AND g.revoked_at IS NULL
			RETURNING t.grant_id`, oldHash).Scan(&grantID)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := q.db.QueryRow(ctx, `
				SELECT EXISTS (SELECT 1 FROM oauth2_tokens WHERE token_hash = $1 AND kind = 'refresh_token' AND grant_id IS NOT NULL)`,
				oldHash).Scan(&exists); err != nil {
				return mapErr("store: rotate oauth2 refresh token", err)
			}
			if exists {
				return fmt.Errorf("store: rotate oauth2 refresh token: already rotated or grant revoked: %w", ErrConflict)
			}
			return fmt.Errorf("store: rotate oauth2 refresh token: %w", ErrNotFound)
		}
		if err != nil {
			return mapErr("store: rotate oauth2 refresh token", err)
		}
		return q.recordIssued(ctx, grantID, issued)
	})
}

// RevokeOAuth2Grant revokes a grant and everything issued from it: its
// opaque tokens are marked revoked and its unexpired JWT access tokens are
// added to the revoked-JWT list, which it returns so that the caller can
// update its in-memory copy at once. Revoking twice is not an error; an
// unknown grant returns ErrNotFound.
func (q *queries) RevokeOAuth2Grant(ctx context.Context, grantID string) ([]RevokedJTI, error) {
	var out []RevokedJTI
	err := q.atomic(ctx, func(q *queries) error {
		tag, err := q.db.Exec(ctx, `UPDATE oauth2_grants SET revoked_at = coalesce(revoked_at, now()) WHERE grant_id = $1`, grantID)
		if err != nil {
			return mapErr("store: revoke oauth2 grant", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: revoke oauth2 grant: %w", ErrNotFound)
		}
		if _, err := q.db.Exec(ctx, `
			UPDATE oauth2_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE grant_id = $1`, grantID); err != nil {
			return mapErr("store: revoke oauth2 grant tokens", err)
		}
		rows, err := q.db.Query(ctx, `
			INSERT INTO oauth2_revoked_jtis (jti, client_id, expires_at)
			SELECT j.jti, g.client_id, j.expires_at
			FROM oauth2_grant_jtis j JOIN oauth2_grants g ON g.grant_id = j.grant_id
			WHERE j.grant_id = $1 AND j.expires_at > now()
			ON CONFLICT (jti) DO UPDATE SET jti = EXCLUDED.jti
			RETURNING jti, client_id, expires_at, revoked_at`, grantID)
		if err != nil {
			return mapErr("store: revoke oauth2 grant jtis", err)
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RevokedJTI, error) {
			var r RevokedJTI
			err := row.Scan(&r.JTI, &r.ClientID, &r.ExpiresAt, &r.RevokedAt)
			r.ExpiresAt, r.RevokedAt = r.ExpiresAt.UTC(), r.RevokedAt.UTC()
			return r, err
		})
		return mapErr("store: revoke oauth2 grant jtis", err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
