package store

import (
	"context"
	"time"
)

// ephemeralTables hold short-lived rows that are useless once expires_at has passed: pushed
// authorization requests, SAML logout progress and artifacts, consent and account-chooser
// interactions. Their readers ignore expired rows; DeleteExpiredEphemera reclaims them.
var ephemeralTables = []string{"oauth2_pushed_requests", "saml_logouts", "saml_artifacts", "browser_interactions"}

// DeleteExpiredEphemera deletes the rows of every ephemeral table that expired before before,
// returning how many.
func (q *queries) DeleteExpiredEphemera(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	for _, table := range ephemeralTables {
		// table is one of the constants above, never input.
		tag, err := q.db.Exec(ctx, `DELETE FROM `+table+` WHERE expires_at < $1`, before)
		if err != nil {
			return n, mapErr("store: delete expired "+table, err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
