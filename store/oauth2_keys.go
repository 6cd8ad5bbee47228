package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SigningKeyState is where a JWT signing key is in its rotation chain.
type SigningKeyState string

// Signing key states. Each algorithm has at most one key in each state.
const (
	// SigningKeyNext is published in the JWKS but does not sign yet, so that
	// verifiers caching the JWKS know it before it signs anything.
	SigningKeyNext SigningKeyState = "next"
	// SigningKeyCurrent signs.
	SigningKeyCurrent SigningKeyState = "current"
	// SigningKeyPrevious no longer signs but is still published, so that
	// tokens it signed keep verifying until they expire.
	SigningKeyPrevious SigningKeyState = "previous"
)

// Audit actions for signing keys. Events name the key id and algorithm, never
// key material.
const (
	AuditOAuth2SigningKeysCreate = "oauth2.signing_keys.create"
	AuditOAuth2SigningKeysRotate = "oauth2.signing_keys.rotate"
)

// SigningKey is a stored JWT signing key. The store never sees a private key
// in the clear: PrivateKey is sealed by the caller with the key-encryption key
// KEKID names.
type SigningKey struct {
	KID         string
	Alg         string // JOSE algorithm: ES256, RS256 or EdDSA
	State       SigningKeyState
	PublicJWK   []byte // JSON
	PrivateKey  []byte // sealed
	KEKID       string
	CreatedAt   time.Time
	ActivatedAt time.Time // zero until the key first became current
	RetiredAt   time.Time // zero until the key stopped being current
}

// NewSigningKey is a key to store; its state is decided by the operation.
type NewSigningKey struct {
	KID        string
	Alg        string
	PublicJWK  []byte // JSON
	PrivateKey []byte // sealed
	KEKID      string
}

const signingKeyColumns = `kid, alg, state, public_jwk, private_key, kek_id, created_at, activated_at, retired_at`

func scanSigningKey(row pgx.Row) (SigningKey, error) {
	var (
		k                     SigningKey
		activated, retired    *time.Time
		publicJWK, privateKey []byte
	)
	if err := row.Scan(&k.KID, &k.Alg, &k.State, &publicJWK, &privateKey, &k.KEKID, &k.CreatedAt, &activated, &retired); err != nil {
		return SigningKey{}, err
	}
	k.PublicJWK, k.PrivateKey = publicJWK, privateKey
	k.CreatedAt = k.CreatedAt.UTC()
	if activated != nil {
		k.ActivatedAt = activated.UTC()
	}
	if retired != nil {
		k.RetiredAt = retired.UTC()
	}
	return k, nil
}

// OAuth2SigningKeys returns every stored signing key, ordered by algorithm
// and then next, current, previous.
func (q *queries) OAuth2SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := q.db.Query(ctx, `
		SELECT `+signingKeyColumns+` FROM oauth2_signing_keys
		ORDER BY alg, CASE state WHEN 'next' THEN 0 WHEN 'current' THEN 1 ELSE 2 END`)
	if err != nil {
		return nil, mapErr("store: oauth2 signing keys", err)
	}
	defer rows.Close()
	var keys []SigningKey
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, mapErr("store: oauth2 signing keys", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("store: oauth2 signing keys", err)
	}
	return keys, nil
}

// CreateOAuth2SigningKeys stores the first keys of an algorithm: current and
// next. When the algorithm already has a current key (another process got
// there first) it stores nothing and returns false; callers then reload.
func (q *queries) CreateOAuth2SigningKeys(ctx context.Context, current, next NewSigningKey) (created bool, err error) {
	if err := validateNewSigningKey(current); err != nil {
		return false, fmt.Errorf("store: create oauth2 signing keys: %w", err)
	}
	if err := validateNewSigningKey(next); err != nil {
		return false, fmt.Errorf("store: create oauth2 signing keys: %w", err)
	}
	if current.Alg != next.Alg {
		return false, fmt.Errorf("store: create oauth2 signing keys: algorithms %s and %s differ", current.Alg, next.Alg)
	}
	err = q.atomic(ctx, func(q *queries) error {
		tag, err := q.db.Exec(ctx, `
			INSERT INTO oauth2_signing_keys (kid, alg, state, public_jwk, private_key, kek_id, activated_at)
			VALUES ($1, $2, 'current', $3, $4, $5, now())
			ON CONFLICT (alg) WHERE state = 'current' DO NOTHING`,
			current.KID, current.Alg, current.PublicJWK, current.PrivateKey, current.KEKID)
		if err != nil {
			return mapErr("store: create oauth2 signing keys", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if err := insertNextSigningKey(ctx, q, next); err != nil {
			return err
		}
		created = true
		return q.audit(ctx, auditEvent{
			action: AuditOAuth2SigningKeysCreate, targetType: "oauth2_signing_key", targetID: current.KID,
			after: map[string]any{"alg": current.Alg, "current": current.KID, "next": next.KID},
		})
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// RotateOAuth2SigningKeys advances the rotation chain of alg in one
// transaction: the previous key is deleted, current becomes previous, next
// becomes current and newNext is stored as next. currentKID is the current
// key the caller saw: if another process rotated in the meantime, nothing
// changes and the error wraps ErrConflict. ErrNotFound means alg has no
// current or no next key (CreateOAuth2SigningKeys was never run for it).
func (q *queries) RotateOAuth2SigningKeys(ctx context.Context, alg, currentKID string, newNext NewSigningKey) error {
	if err := validateNewSigningKey(newNext); err != nil {
		return fmt.Errorf("store: rotate oauth2 signing keys: %w", err)
	}
	if newNext.Alg != alg {
		return fmt.Errorf("store: rotate oauth2 signing keys: new key is %s, not %s", newNext.Alg, alg)
	}
	return q.atomic(ctx, func(q *queries) error {
		// The row lock makes concurrent rotations queue; the loser re-checks
		// state = 'current' after the winner commits and finds no row.
		var kid string
		err := q.db.QueryRow(ctx, `
			SELECT kid FROM oauth2_signing_keys WHERE alg = $1 AND state = 'current' FOR UPDATE`, alg).Scan(&kid)
		if err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("store: rotate oauth2 signing keys: %s has no current key (rotated concurrently?): %w", alg, ErrConflict)
			}
			return mapErr("store: rotate oauth2 signing keys", err)
		}
		if kid != currentKID {
			return fmt.Errorf("store: rotate oauth2 signing keys: %s was rotated concurrently: %w", alg, ErrConflict)
		}
		var dropped *string
		if err := q.db.QueryRow(ctx, `
			WITH d AS (DELETE FROM oauth2_signing_keys WHERE alg = $1 AND state = 'previous' RETURNING kid)
			SELECT (SELECT kid FROM d)`, alg).Scan(&dropped); err != nil {
			return mapErr("store: rotate oauth2 signing keys: drop previous", err)
		}
		if _, err := q.db.Exec(ctx, `
			UPDATE oauth2_signing_keys SET state = 'previous', retired_at = now()
			WHERE alg = $1 AND state = 'current'`, alg); err != nil {
			return mapErr("store: rotate oauth2 signing keys: retire current", err)
		}
		var promoted string
		if err := q.db.QueryRow(ctx, `
			UPDATE oauth2_signing_keys SET state = 'current', activated_at = now()
			WHERE alg = $1 AND state = 'next' RETURNING kid`, alg).Scan(&promoted); err != nil {
			return mapErr("store: rotate oauth2 signing keys: promote next", err)
		}
		if err := insertNextSigningKey(ctx, q, newNext); err != nil {
			return err
		}
		before := map[string]any{"alg": alg, "current": kid, "next": promoted}
		if dropped != nil {
			before["previous"] = *dropped
		}
		return q.audit(ctx, auditEvent{
			action: AuditOAuth2SigningKeysRotate, targetType: "oauth2_signing_key", targetID: promoted,
			before: before,
			after:  map[string]any{"alg": alg, "previous": kid, "current": promoted, "next": newNext.KID},
		})
	})
}

func insertNextSigningKey(ctx context.Context, q *queries, k NewSigningKey) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO oauth2_signing_keys (kid, alg, state, public_jwk, private_key, kek_id)
		VALUES ($1, $2, 'next', $3, $4, $5)`,
		k.KID, k.Alg, k.PublicJWK, k.PrivateKey, k.KEKID)
	return mapErr("store: insert next oauth2 signing key", err)
}

func validateNewSigningKey(k NewSigningKey) error {
	switch {
	case k.KID == "" || len(k.KID) > 64:
		return fmt.Errorf("signing key id %q: empty or longer than 64 bytes", k.KID)
	case k.Alg != "ES256" && k.Alg != "RS256" && k.Alg != "EdDSA":
		return fmt.Errorf("signing key %s: unsupported algorithm %q", k.KID, k.Alg)
	case !json.Valid(k.PublicJWK):
		return fmt.Errorf("signing key %s: public JWK is not JSON", k.KID)
	case len(k.PrivateKey) == 0 || k.KEKID == "":
		return fmt.Errorf("signing key %s: sealed private key or KEK id missing", k.KID)
	}
	return nil
}
