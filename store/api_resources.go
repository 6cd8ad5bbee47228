package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Audit actions of the API resource management API.
const (
	AuditAPIResourceCreate = "api_resource.create"
	AuditAPIResourceUpdate = "api_resource.update"
	AuditAPIResourceDelete = "api_resource.delete"
)

// Types of API resource (WSO2's): BUSINESS resources are an organization's own APIs; SYSTEM
// ones are the server's management APIs.
const (
	APIResourceBusiness = "BUSINESS"
	APIResourceSystem   = "SYSTEM"
)

// Bounds of API resource fields (characters).
const (
	MaxAPIResourceDescription = 1024
	MaxAPIResourceScopes      = 1000
)

// APIScope is a scope of an API resource. Its name is unique in the organization.
type APIScope struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

// APIResource is an organization's API: Identifier is the audience of the tokens issued for it.
type APIResource struct {
	ID                    string
	OrgID                 string
	Identifier            string
	Name                  string
	Description           string
	RequiresAuthorization bool
	Type                  string // APIResourceBusiness or APIResourceSystem
	// Scopes, sorted by name; filled by APIResource, not by APIResources.
	Scopes []APIScope
}

// ValidateAPIScope checks a scope as the table does.
func ValidateAPIScope(s APIScope) error {
	if !permissionPattern.MatchString(s.Name) {
		return fmt.Errorf("scope name %q: 1 to 255 letters, digits or _:./-", s.Name)
	}
	if err := validateName("scope displayName", s.DisplayName, 255); err != nil {
		return err
	}
	if !utf8.ValidString(s.Description) || utf8.RuneCountInString(s.Description) > MaxAPIResourceDescription {
		return fmt.Errorf("scope description invalid or longer than %d characters", MaxAPIResourceDescription)
	}
	return nil
}

// ValidateAPIResource checks r (its type included) as CreateAPIResource does.
func ValidateAPIResource(r APIResource) error {
	if err := validateName("identifier", r.Identifier, 255); err != nil {
		return err
	}
	if err := validateName("name", r.Name, 255); err != nil {
		return err
	}
	if !utf8.ValidString(r.Description) || utf8.RuneCountInString(r.Description) > MaxAPIResourceDescription {
		return fmt.Errorf("description invalid or longer than %d characters", MaxAPIResourceDescription)
	}
	if r.Type != APIResourceBusiness && r.Type != APIResourceSystem {
		return fmt.Errorf("type %q is not BUSINESS or SYSTEM", r.Type)
	}
	if len(r.Scopes) > MaxAPIResourceScopes {
		return fmt.Errorf("more than %d scopes", MaxAPIResourceScopes)
	}
	for _, s := range r.Scopes {
		if err := ValidateAPIScope(s); err != nil {
			return err
		}
	}
	return nil
}

const apiResourceColumns = `id::text, org_id::text, identifier, name, description, requires_authorization, type`

func scanAPIResource(row pgx.Row) (APIResource, error) {
	var r APIResource
	err := row.Scan(&r.ID, &r.OrgID, &r.Identifier, &r.Name, &r.Description, &r.RequiresAuthorization, &r.Type)
	return r, err
}

// apiResourceAudit is what the audit trail keeps of an API resource.
func apiResourceAudit(r APIResource) map[string]any {
	names := make([]string, len(r.Scopes))
	for i, s := range r.Scopes {
		names[i] = s.Name
	}
	return map[string]any{"identifier": r.Identifier, "name": r.Name, "description": r.Description,
		"requiresAuthorization": r.RequiresAuthorization, "type": r.Type, "scopes": names}
}

// CreateAPIResource stores r (ID is assigned; an empty Type means BUSINESS) with its scopes and
// records an audit event. A taken identifier or scope name returns ErrConflict, an invalid
// value a plain error.
func (q *queries) CreateAPIResource(ctx context.Context, r APIResource, actor Actor) (APIResource, error) {
	if r.Type == "" {
		r.Type = APIResourceBusiness
	}
	if err := ValidateAPIResource(r); err != nil {
		return APIResource{}, fmt.Errorf("store: create api resource: %w", err)
	}
	if !isUUID(r.OrgID) {
		return APIResource{}, fmt.Errorf("store: create api resource: organization %q: %w", r.OrgID, ErrNotFound)
	}
	var out APIResource
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanAPIResource(q.db.QueryRow(ctx, `
			INSERT INTO api_resources (org_id, identifier, name, description, requires_authorization, type)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+apiResourceColumns,
			r.OrgID, r.Identifier, r.Name, r.Description, r.RequiresAuthorization, r.Type))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create api resource: organization: %w", ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create api resource", err)
		}
		if err := q.addAPIScopes(ctx, out, r.Scopes); err != nil {
			return err
		}
		if out.Scopes, err = q.apiScopes(ctx, out.ID); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: out.OrgID, actor: actor, action: AuditAPIResourceCreate,
			targetType: "api_resource", targetID: out.ID, after: apiResourceAudit(out)})
	})
	if err != nil {
		return APIResource{}, err
	}
	return out, nil
}

func (q *queries) addAPIScopes(ctx context.Context, r APIResource, scopes []APIScope) error {
	for _, s := range scopes {
		if _, err := q.db.Exec(ctx, `INSERT INTO api_resource_scopes (org_id, api_resource_id, name, display_name, description)
			VALUES ($1, $2, $3, $4, $5)`, r.OrgID, r.ID, s.Name, s.DisplayName, s.Description); err != nil {
			return mapErr("store: api resource scope "+s.Name, err)
		}
	}
	return nil
}

func (q *queries) apiScopes(ctx context.Context, resourceID string) ([]APIScope, error) {
	rows, err := q.db.Query(ctx, `SELECT id::text, name, display_name, description FROM api_resource_scopes
		WHERE api_resource_id = $1 ORDER BY name COLLATE "C"`, resourceID)
	if err != nil {
		return nil, mapErr("store: api resource scopes", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIScope, error) {
		var s APIScope
		err := row.Scan(&s.ID, &s.Name, &s.DisplayName, &s.Description)
		return s, err
	})
	if err != nil {
		return nil, mapErr("store: api resource scopes", err)
	}
	return out, nil
}

// APIResource returns the API resource id of organization orgID with its scopes, or ErrNotFound.
func (q *queries) APIResource(ctx context.Context, orgID, id string) (APIResource, error) {
	if !isUUID(orgID) || !isUUID(id) {
		return APIResource{}, fmt.Errorf("store: api resource %q: %w", id, ErrNotFound)
	}
	r, err := scanAPIResource(q.db.QueryRow(ctx, `SELECT `+apiResourceColumns+` FROM api_resources
		WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return APIResource{}, mapErr("store: api resource", err)
	}
	if r.Scopes, err = q.apiScopes(ctx, r.ID); err != nil {
		return APIResource{}, err
	}
	return r, nil
}

// Attributes of an APIResourceQuery filter (WSO2's: equality only).
const (
	APIResourceFilterName       = "name"
	APIResourceFilterIdentifier = "identifier"
)

// APIResourceQuery selects a page of an organization's API resources, ordered by id (the
// cursor of WSO2's before/after paging).
type APIResourceQuery struct {
	OrgID string
	// FilterAttribute is '' for all, or APIResourceFilterName / APIResourceFilterIdentifier
	// compared for equality with FilterValue.
	FilterAttribute, FilterValue string
	// After and Before are ids (at most one): the page after or before it.
	After, Before string
	// Limit is the page size; at least 1.
	Limit int
}

// APIResources returns a page of API resources (without scopes), whether there are more in
// the paging direction, and how many match in all.
func (q *queries) APIResources(ctx context.Context, aq APIResourceQuery) (page []APIResource, more bool, total int, err error) {
	if !isUUID(aq.OrgID) {
		return nil, false, 0, fmt.Errorf("store: api resources: organization %q: %w", aq.OrgID, ErrNotFound)
	}
	if aq.Limit < 1 || aq.After != "" && aq.Before != "" {
		return nil, false, 0, errors.New("store: api resources: limit below 1, or both after and before")
	}
	where := ` WHERE org_id = $1`
	args := []any{aq.OrgID}
	switch aq.FilterAttribute {
	case "":
	case APIResourceFilterName:
		where += ` AND name = $2`
		args = append(args, aq.FilterValue)
	case APIResourceFilterIdentifier:
		where += ` AND identifier = $2`
		args = append(args, aq.FilterValue)
	default:
		return nil, false, 0, fmt.Errorf("store: api resources: unknown filter attribute %q", aq.FilterAttribute)
	}
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM api_resources`+where, args...).Scan(&total); err != nil {
		return nil, false, 0, mapErr("store: count api resources", err)
	}
	order := ` ORDER BY id`
	switch {
	case aq.After != "":
		if !isUUID(aq.After) {
			return nil, false, 0, fmt.Errorf("store: api resources: cursor %q: %w", aq.After, ErrNotFound)
		}
		args = append(args, aq.After)
		where += fmt.Sprintf(` AND id > $%d`, len(args))
	case aq.Before != "":
		if !isUUID(aq.Before) {
			return nil, false, 0, fmt.Errorf("store: api resources: cursor %q: %w", aq.Before, ErrNotFound)
		}
		args = append(args, aq.Before)
		where += fmt.Sprintf(` AND id < $%d`, len(args))
		order = ` ORDER BY id DESC`
	}
	args = append(args, aq.Limit+1)
	rows, err := q.db.Query(ctx, `SELECT `+apiResourceColumns+` FROM api_resources`+where+order+
		fmt.Sprintf(` LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, false, 0, mapErr("store: api resources", err)
	}
	page, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIResource, error) { return scanAPIResource(row) })
	if err != nil {
		return nil, false, 0, mapErr("store: api resources", err)
	}
	if more = len(page) > aq.Limit; more {
		page = page[:aq.Limit]
	}
	if aq.Before != "" {
		slices.Reverse(page)
	}
	return page, more, total, nil
}

// APIResourceUpdate changes an API resource: the fields that are not nil, then its scopes —
// Scopes, when not nil, replaces them all; otherwise RemoveScopes (names) are removed and
// AddScopes added.
type APIResourceUpdate struct {
	Name, Description *string
	AddScopes         []APIScope
	RemoveScopes      []string
	Scopes            *[]APIScope
	Actor             Actor
}

// UpdateAPIResource applies u to the API resource id of organization orgID and records an
// audit event. A removed scope is taken away from the applications authorized for it and from
// the roles holding it as a permission (WSO2 deletes a scope with its uses). An unknown
// resource, or a removed scope it does not have, returns ErrNotFound; an added scope whose name
// is taken in the organization ErrConflict; an invalid value a plain error.
func (q *queries) UpdateAPIResource(ctx context.Context, orgID, id string, u APIResourceUpdate) (APIResource, error) {
	if u.Name != nil {
		if err := validateName("name", *u.Name, 255); err != nil {
			return APIResource{}, fmt.Errorf("store: update api resource: %w", err)
		}
	}
	if u.Description != nil && (!utf8.ValidString(*u.Description) || utf8.RuneCountInString(*u.Description) > MaxAPIResourceDescription) {
		return APIResource{}, fmt.Errorf("store: update api resource: description invalid or longer than %d characters", MaxAPIResourceDescription)
	}
	add := u.AddScopes
	if u.Scopes != nil {
		add = *u.Scopes
	}
	for _, s := range add {
		if err := ValidateAPIScope(s); err != nil {
			return APIResource{}, fmt.Errorf("store: update api resource: %w", err)
		}
	}
	var out APIResource
	err := q.atomic(ctx, func(q *queries) error {
		before, err := q.APIResource(ctx, orgID, id)
		if err != nil {
			return err
		}
		if _, err := q.db.Exec(ctx, `SELECT 1 FROM api_resources WHERE id = $1 FOR UPDATE`, id); err != nil {
			return mapErr("store: update api resource", err)
		}
		remove := u.RemoveScopes
		if u.Scopes != nil {
			remove = nil
			for _, s := range before.Scopes {
				remove = append(remove, s.Name)
			}
		}
		for _, name := range remove {
			if err := q.removeAPIScope(ctx, before, name); err != nil {
				return err
			}
		}
		if _, err := q.db.Exec(ctx, `UPDATE api_resources SET name = coalesce($2, name),
			description = coalesce($3, description) WHERE id = $1`, id, u.Name, u.Description); err != nil {
			return mapErr("store: update api resource", err)
		}
		if len(add)+len(before.Scopes)-len(remove) > MaxAPIResourceScopes {
			return fmt.Errorf("store: update api resource: more than %d scopes", MaxAPIResourceScopes)
		}
		if err := q.addAPIScopes(ctx, before, add); err != nil {
			return err
		}
		if out, err = q.APIResource(ctx, orgID, id); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: out.OrgID, actor: u.Actor, action: AuditAPIResourceUpdate,
			targetType: "api_resource", targetID: out.ID, before: apiResourceAudit(before), after: apiResourceAudit(out)})
	})
	if err != nil {
		return APIResource{}, err
	}
	return out, nil
}

// removeAPIScope deletes scope name of r (its application authorizations cascade) and the
// role permissions naming it in r's organization.
func (q *queries) removeAPIScope(ctx context.Context, r APIResource, name string) error {
	tag, err := q.db.Exec(ctx, `DELETE FROM api_resource_scopes WHERE api_resource_id = $1 AND name = $2`, r.ID, name)
	if err != nil {
		return mapErr("store: remove api scope", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: remove api scope %q: %w", name, ErrNotFound)
	}
	_, err = q.db.Exec(ctx, `DELETE FROM role_permissions rp USING roles ro
		WHERE rp.role_id = ro.id AND ro.org_id = $1 AND rp.permission = $2`, r.OrgID, name)
	return mapErr("store: remove api scope from roles", err)
}

// DeleteAPIResource removes the API resource id of organization orgID with its scopes, and —
// as WSO2 does — its authorizations to applications and the role permissions naming its
// scopes, recording an audit event that lists them. An unknown resource returns ErrNotFound.
func (q *queries) DeleteAPIResource(ctx context.Context, orgID, id string, actor Actor) error {
	return q.atomic(ctx, func(q *queries) error {
		before, err := q.APIResource(ctx, orgID, id)
		if err != nil {
			return err
		}
		rows, err := q.db.Query(ctx, `SELECT application_id::text FROM application_authorized_apis
			WHERE api_resource_id = $1 ORDER BY 1`, id)
		if err != nil {
			return mapErr("store: delete api resource", err)
		}
		apps, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return mapErr("store: delete api resource", err)
		}
		for _, s := range before.Scopes {
			if err := q.removeAPIScope(ctx, before, s.Name); err != nil {
				return err
			}
		}
		if _, err := q.db.Exec(ctx, `DELETE FROM api_resources WHERE id = $1`, id); err != nil {
			return mapErr("store: delete api resource", err)
		}
		b := apiResourceAudit(before)
		b["authorizedApplications"] = apps
		return q.audit(ctx, auditEvent{orgID: before.OrgID, actor: actor, action: AuditAPIResourceDelete,
			targetType: "api_resource", targetID: id, before: b})
	})
}
