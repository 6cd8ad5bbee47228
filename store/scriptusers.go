package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// Queries behind the login scripts' user functions (getUniqueUserWithClaimValues,
// resolveMultiAttributeLoginIdentifier, updateUserPassword, getAssociatedLocalUser,
// doAssociationWithLocalUser), adapted to scripting's interfaces in workers/.

// MaxUsersByClaims bounds UsersByClaims' answer: scripts only ever want one user or a few.
const MaxUsersByClaims = 100

// UsersByClaims returns the users of an organization that have every given claim value
// (exact match), ordered by username, at most MaxUsersByClaims. No claims returns none.
func (q *queries) UsersByClaims(ctx context.Context, orgID string, claims map[string]string) ([]User, error) {
	if !isUUID(orgID) || len(claims) == 0 {
		return nil, nil
	}
	uris, values := []string{}, []string{}
	for _, uri := range slices.Sorted(maps.Keys(claims)) {
		if !utf8.ValidString(uri) || !utf8.ValidString(claims[uri]) {
			return nil, nil // nothing stored is invalid UTF-8
		}
		uris, values = append(uris, uri), append(values, claims[uri])
	}
	rows, err := q.db.Query(ctx, `
		SELECT `+userColumns+` FROM users u
		WHERE u.org_id = $1 AND (
			SELECT count(*) FROM user_claims c JOIN unnest($2::text[], $3::text[]) AS w(uri, value)
				ON c.claim_uri = w.uri AND c.value = w.value
			WHERE c.user_id = u.id) = $4
		ORDER BY u.username_key, u.user_store_domain
		LIMIT $5`, orgID, uris, values, len(uris), MaxUsersByClaims)
	if err != nil {
		return nil, mapErr("store: users by claims", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr("store: users by claims", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("store: users by claims", err)
	}
	return out, nil
}

// SetUserPasswordHash replaces a user's password hash (already hashed) and records an audit
// event without the hash. ErrNotFound: no such user.
func (q *queries) SetUserPasswordHash(ctx context.Context, userID, hash string, actor Actor) error {
	if !isUUID(userID) {
		return fmt.Errorf("store: set password: user %q: %w", userID, ErrNotFound)
	}
	if hash == "" {
		return fmt.Errorf("store: set password: empty hash")
	}
	return q.atomic(ctx, func(q *queries) error {
		var orgID string
		err := q.db.QueryRow(ctx, `
			UPDATE users SET password_hash = $2, password_updated_at = now() WHERE id = $1
			RETURNING org_id`, userID, hash).Scan(&orgID)
		if err != nil {
			return mapErr(fmt.Sprintf("store: set password: user %s", userID), err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditUserUpdate,
			targetType: "user", targetID: userID, after: map[string]any{"passwordChanged": true}})
	})
}

// AssociateFederatedUser links the identity subject at IdP idp to local user userID of the
// organization. Linking the same identity to the same user again is a no-op; to another user it
// returns ErrConflict. ErrNotFound: no such user in the organization.
func (q *queries) AssociateFederatedUser(ctx context.Context, orgID, idp, subject, userID string) error {
	if !isUUID(orgID) || !isUUID(userID) {
		return fmt.Errorf("store: associate federated user: user %q: %w", userID, ErrNotFound)
	}
	if idp == "" || subject == "" || !utf8.ValidString(idp) || !utf8.ValidString(subject) {
		return fmt.Errorf("store: associate federated user: idp and subject are required")
	}
	var linked string
	err := q.db.QueryRow(ctx, `
		INSERT INTO federated_associations (org_id, idp, subject, user_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, idp, subject) DO UPDATE SET idp = EXCLUDED.idp
		RETURNING user_id`, orgID, idp, subject, userID).Scan(&linked)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: associate federated user: user %s: %w", userID, ErrNotFound)
	}
	if err != nil {
		return mapErr("store: associate federated user", err)
	}
	if linked != userID {
		return fmt.Errorf("store: associate federated user: the identity is linked to another user: %w", ErrConflict)
	}
	return nil
}

// AssociatedUser returns the local user linked to identity subject at IdP idp, or ErrNotFound.
func (q *queries) AssociatedUser(ctx context.Context, orgID, idp, subject string) (User, error) {
	if !isUUID(orgID) || !utf8.ValidString(idp) || !utf8.ValidString(subject) {
		return User{}, fmt.Errorf("store: associated user: %w", ErrNotFound)
	}
	u, err := scanUser(q.db.QueryRow(ctx, `
		SELECT `+userColumns+` FROM users
		WHERE id = (SELECT user_id FROM federated_associations WHERE org_id = $1 AND idp = $2 AND subject = $3)`,
		orgID, idp, subject))
	if err != nil {
		return User{}, mapErr("store: associated user", err)
	}
	return u, nil
}

// DeleteFederatedAssociation removes the link of identity subject at IdP idp. ErrNotFound: there
// is none.
func (q *queries) DeleteFederatedAssociation(ctx context.Context, orgID, idp, subject string) error {
	if !isUUID(orgID) || !utf8.ValidString(idp) || !utf8.ValidString(subject) {
		return fmt.Errorf("store: delete federated association: %w", ErrNotFound)
	}
	tag, err := q.db.Exec(ctx, `DELETE FROM federated_associations WHERE org_id = $1 AND idp = $2 AND subject = $3`,
		orgID, idp, subject)
	if err != nil {
		return mapErr("store: delete federated association", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete federated association: %w", ErrNotFound)
	}
	return nil
}
