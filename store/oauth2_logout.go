package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RevokeOAuth2SessionGrants revokes the unrevoked grants made in SSO session sessionID (the
// OIDC sid) and everything issued from them, as RevokeOAuth2Grant does, in one transaction,
// and returns the revoked JWT ids. Grants whose scope includes offline_access are kept: their
// refresh tokens outlive the browser session on purpose (Back-Channel Logout 1.0 §2.7).
func (q *queries) RevokeOAuth2SessionGrants(ctx context.Context, sessionID string) ([]RevokedJTI, error) {
	if sessionID == "" {
		return nil, nil // '' means "no session", shared by unrelated grants
	}
	var out []RevokedJTI
	err := q.atomic(ctx, func(q *queries) error {
		rows, err := q.db.Query(ctx, `
			UPDATE oauth2_grants SET revoked_at = now()
			WHERE session_id = $1 AND revoked_at IS NULL
				AND NOT ('offline_access' = ANY(string_to_array(scope, ' ')))
			RETURNING grant_id`, sessionID)
		if err != nil {
			return mapErr("store: revoke session grants", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return mapErr("store: revoke session grants", err)
		}
		for _, id := range ids {
			jtis, err := q.RevokeOAuth2Grant(ctx, id)
			if err != nil {
				return fmt.Errorf("store: revoke session grants: %w", err)
			}
			out = append(out, jtis...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
