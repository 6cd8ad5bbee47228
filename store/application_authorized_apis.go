package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Audit actions of an application's authorized APIs.
const (
	AuditAuthorizedAPICreate = "application.authorized_api.create"
	AuditAuthorizedAPIUpdate = "application.authorized_api.update"
	AuditAuthorizedAPIDelete = "application.authorized_api.delete"
)

// Policies of an authorized API (WSO2's policyIdentifier).
const (
	// PolicyRBAC: a user obtains a scope only through a role whose permissions include it.
	PolicyRBAC = "RBAC"
	// PolicyNone: every user of the application obtains the authorized scopes.
	PolicyNone = "NO POLICY"
)

// AuthorizedAPI is an API resource an application is authorized for, with the scopes it may
// obtain (sorted by name).
type AuthorizedAPI struct {
	APIResourceID string
	Identifier    string
	Name          string
	Type          string
	Policy        string
	Scopes        []APIScope
}

// AuthorizedAPIs returns the API resources application applicationID is authorized for,
// ordered by identifier.
func (q *queries) AuthorizedAPIs(ctx context.Context, applicationID string) ([]AuthorizedAPI, error) {
	if !isUUID(applicationID) {
		return []AuthorizedAPI{}, nil
	}
	rows, err := q.db.Query(ctx, `
		SELECT r.id::text, r.identifier, r.name, r.type, a.policy,
			coalesce(s.id::text, ''), coalesce(s.name, ''), coalesce(s.display_name, ''), coalesce(s.description, '')
		FROM application_authorized_apis a
		JOIN api_resources r ON r.id = a.api_resource_id
		LEFT JOIN application_authorized_scopes aas ON aas.application_id = a.application_id AND aas.api_resource_id = r.id
		LEFT JOIN api_resource_scopes s ON s.id = aas.scope_id
		WHERE a.application_id = $1
		ORDER BY r.identifier COLLATE "C", r.id, s.name COLLATE "C"`, applicationID)
	if err != nil {
		return nil, mapErr("store: authorized apis", err)
	}
	defer rows.Close()
	out := []AuthorizedAPI{}
	for rows.Next() {
		var a AuthorizedAPI
		var s APIScope
		if err := rows.Scan(&a.APIResourceID, &a.Identifier, &a.Name, &a.Type, &a.Policy,
			&s.ID, &s.Name, &s.DisplayName, &s.Description); err != nil {
			return nil, mapErr("store: authorized apis", err)
		}
		if n := len(out); n == 0 || out[n-1].APIResourceID != a.APIResourceID {
			a.Scopes = []APIScope{}
			out = append(out, a)
		}
		if s.ID != "" {
			last := &out[len(out)-1]
			last.Scopes = append(last.Scopes, s)
		}
	}
	return out, mapErr("store: authorized apis", rows.Err())
}

// AuthorizeAPI authorizes application applicationID for API resource apiID under policy with
// the scopes named (which must be the resource's) and records an audit event. The application
// and the resource must belong to organization orgID (else ErrNotFound, as for an unknown
// scope name); an existing authorization returns ErrConflict.
func (q *queries) AuthorizeAPI(ctx context.Context, orgID, applicationID, apiID, policy string, scopes []string, actor Actor) error {
	if policy != PolicyRBAC && policy != PolicyNone {
		return fmt.Errorf("store: authorize api: policy %q is not RBAC or NO POLICY", policy)
	}
	return q.atomic(ctx, func(q *queries) error {
		if err := q.checkApplicationOrg(ctx, orgID, applicationID); err != nil {
			return err
		}
		r, err := q.APIResource(ctx, orgID, apiID)
		if err != nil {
			return err
		}
		if _, err := q.db.Exec(ctx, `INSERT INTO application_authorized_apis (application_id, api_resource_id, policy)
			VALUES ($1, $2, $3)`, applicationID, apiID, policy); err != nil {
			return mapErr("store: authorize api", err)
		}
		ids, err := scopeIDs(r, scopes)
		if err != nil {
			return err
		}
		if err := q.addAuthorizedScopes(ctx, applicationID, apiID, ids); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditAuthorizedAPICreate,
			targetType: "application", targetID: applicationID,
			after: map[string]any{"apiResource": apiID, "identifier": r.Identifier, "policy": policy, "scopes": scopes}})
	})
}

// UpdateAuthorizedAPIScopes adds and removes (by name) scopes of an application's authorized
// API and records an audit event. An unknown authorization or scope name returns ErrNotFound.
func (q *queries) UpdateAuthorizedAPIScopes(ctx context.Context, orgID, applicationID, apiID string, add, remove []string, actor Actor) error {
	return q.atomic(ctx, func(q *queries) error {
		if err := q.checkApplicationOrg(ctx, orgID, applicationID); err != nil {
			return err
		}
		r, err := q.APIResource(ctx, orgID, apiID)
		if err != nil {
			return err
		}
		var exists bool
		if err := q.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM application_authorized_apis
			WHERE application_id = $1 AND api_resource_id = $2)`, applicationID, apiID).Scan(&exists); err != nil {
			return mapErr("store: update authorized api", err)
		}
		if !exists {
			return fmt.Errorf("store: update authorized api: %w", ErrNotFound)
		}
		removeIDs, err := scopeIDs(r, remove)
		if err != nil {
			return err
		}
		if _, err := q.db.Exec(ctx, `DELETE FROM application_authorized_scopes WHERE application_id = $1
			AND scope_id = ANY($2::uuid[])`, applicationID, removeIDs); err != nil {
			return mapErr("store: update authorized api", err)
		}
		addIDs, err := scopeIDs(r, add)
		if err != nil {
			return err
		}
		if err := q.addAuthorizedScopes(ctx, applicationID, apiID, addIDs); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditAuthorizedAPIUpdate,
			targetType: "application", targetID: applicationID,
			after: map[string]any{"apiResource": apiID, "addedScopes": add, "removedScopes": remove}})
	})
}

// DeauthorizeAPI removes an application's authorization for an API resource with its scopes
// and records an audit event. An unknown authorization returns ErrNotFound.
func (q *queries) DeauthorizeAPI(ctx context.Context, orgID, applicationID, apiID string, actor Actor) error {
	if !isUUID(applicationID) || !isUUID(apiID) {
		return fmt.Errorf("store: deauthorize api: %w", ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		if err := q.checkApplicationOrg(ctx, orgID, applicationID); err != nil {
			return err
		}
		var policy string
		err := q.db.QueryRow(ctx, `DELETE FROM application_authorized_apis WHERE application_id = $1 AND api_resource_id = $2
			RETURNING policy`, applicationID, apiID).Scan(&policy)
		if err != nil {
			return mapErr("store: deauthorize api", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditAuthorizedAPIDelete,
			targetType: "application", targetID: applicationID,
			before: map[string]any{"apiResource": apiID, "policy": policy}})
	})
}

func (q *queries) checkApplicationOrg(ctx context.Context, orgID, applicationID string) error {
	if !isUUID(orgID) || !isUUID(applicationID) {
		return fmt.Errorf("store: application %q: %w", applicationID, ErrNotFound)
	}
	var one int
	err := q.db.QueryRow(ctx, `SELECT 1 FROM applications WHERE id = $1 AND org_id = $2`, applicationID, orgID).Scan(&one)
	return mapErr("store: application", err)
}

func (q *queries) addAuthorizedScopes(ctx context.Context, applicationID, apiID string, scopeIDs []string) error {
	_, err := q.db.Exec(ctx, `INSERT INTO application_authorized_scopes (application_id, api_resource_id, scope_id)
		SELECT $1, $2, s FROM unnest($3::uuid[]) AS x(s) ON CONFLICT DO NOTHING`, applicationID, apiID, scopeIDs)
	return mapErr("store: authorized scopes", err)
}

// scopeIDs maps scope names of r to their ids (never nil); an unknown name is ErrNotFound.
func scopeIDs(r APIResource, names []string) ([]string, error) {
	out := []string{}
	for _, n := range names {
		i := slices.IndexFunc(r.Scopes, func(s APIScope) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("store: scope %q of api resource %s: %w", n, r.Identifier, ErrNotFound)
		}
		out = append(out, r.Scopes[i].ID)
	}
	return out, nil
}

// ClientAPIScope is a scope an OAuth2 client's application is authorized for.
type ClientAPIScope struct {
	Name string
	// Identifier is the API resource's: the audience of a token granting the scope.
	Identifier string
	Policy     string // PolicyRBAC or PolicyNone
}

// ClientAPIScopes returns the scopes the application of OAuth2 client clientID is authorized
// for, sorted by name. A client of no application has none.
func (q *queries) ClientAPIScopes(ctx context.Context, clientID string) ([]ClientAPIScope, error) {
	rows, err := q.db.Query(ctx, `
		SELECT s.name, r.identifier, a.policy
		FROM applications app
		JOIN application_authorized_apis a ON a.application_id = app.id
		JOIN api_resources r ON r.id = a.api_resource_id
		JOIN application_authorized_scopes aas ON aas.application_id = app.id AND aas.api_resource_id = r.id
		JOIN api_resource_scopes s ON s.id = aas.scope_id
		WHERE app.oauth2_client_id = $1
		ORDER BY s.name COLLATE "C"`, clientID)
	if err != nil {
		return nil, mapErr("store: client api scopes", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ClientAPIScope, error) {
		var s ClientAPIScope
		err := row.Scan(&s.Name, &s.Identifier, &s.Policy)
		return s, err
	})
	return out, mapErr("store: client api scopes", err)
}

// UserClientPermissions returns the permissions a user holds for the application of OAuth2
// client clientID: those of its organization-audience roles and of its roles whose audience is
// that application, held directly or through groups (nested included), sorted without
// duplicates. An unknown user has none.
func (q *queries) UserClientPermissions(ctx context.Context, userID, clientID string) ([]string, error) {
	if !isUUID(userID) {
		return []string{}, nil
	}
	rows, err := q.db.Query(ctx, userGroupsCTE("gm.user_id = $1")+`
		SELECT DISTINCT rp.permission
		FROM role_assignments ra
		JOIN roles r ON r.id = ra.role_id
		JOIN role_permissions rp ON rp.role_id = r.id
		WHERE (ra.user_id = $1 OR ra.group_id IN (SELECT ug.group_id FROM user_groups ug))
			AND (r.audience_type = 'ORGANIZATION' OR r.audience_type = 'APPLICATION' AND r.audience_id IN
				(SELECT app.id FROM applications app WHERE app.oauth2_client_id = $2))
		ORDER BY 1`, userID, clientID)
	if err != nil {
		return nil, mapErr("store: user client permissions", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapErr("store: user client permissions", err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}
