package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Claims (WSO2's claim metadata): an organization's local claims
// (http://wso2.org/claims/…) and the claim dialects whose external claims
// each map to one local claim. Migration 00021 gives every organization
// WSO2's defaults: the local claims Keyflow uses and the OIDC and SCIM 2.0
// dialects.

// LocalDialect is the URI of the local claim dialect.
const LocalDialect = "http://wso2.org/claims"

// Audit actions of the claim metadata.
const (
	AuditClaimDialectCreate  = "claim_dialect.create"
	AuditClaimDialectUpdate  = "claim_dialect.update"
	AuditClaimDialectDelete  = "claim_dialect.delete"
	AuditLocalClaimCreate    = "local_claim.create"
	AuditLocalClaimUpdate    = "local_claim.update"
	AuditLocalClaimDelete    = "local_claim.delete"
	AuditExternalClaimCreate = "external_claim.create"
	AuditExternalClaimUpdate = "external_claim.update"
	AuditExternalClaimDelete = "external_claim.delete"
)

const (
	maxClaimURI               = 255
	maxClaimText              = 1024
	externalClaimsMappedLocal = "external_claims_mapped_local_fkey"
)

// AttributeMapping maps a claim to an attribute of a user store (WSO2's AttributeMapping).
type AttributeMapping struct {
	MappedAttribute string `json:"mappedAttribute"`
	UserStore       string `json:"userstore"`
}

// ClaimProperty is an additional property of a local claim.
type ClaimProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LocalClaim is a claim of the local dialect.
type LocalClaim struct {
	OrgID              string             `json:"-"`
	URI                string             `json:"claimURI"`
	DisplayName        string             `json:"displayName"`
	Description        string             `json:"description"`
	DisplayOrder       int                `json:"displayOrder"`
	ReadOnly           bool               `json:"readOnly"`
	Required           bool               `json:"required"`
	SupportedByDefault bool               `json:"supportedByDefault"`
	RegEx              string             `json:"regEx"`
	AttributeMappings  []AttributeMapping `json:"attributeMapping"`
	Properties         []ClaimProperty    `json:"properties"`
	CreatedAt          time.Time          `json:"-"`
	UpdatedAt          time.Time          `json:"-"`
}

// ExternalClaim is a claim of another dialect, mapped to a local claim.
type ExternalClaim struct {
	OrgID          string `json:"-"`
	DialectURI     string `json:"claimDialectURI"`
	URI            string `json:"claimURI"`
	MappedLocalURI string `json:"mappedLocalClaimURI"`
}

func validateClaimURI(what, uri string) error {
	if uri == "" || !utf8.ValidString(uri) || utf8.RuneCountInString(uri) > maxClaimURI {
		return fmt.Errorf("%s must be 1 to %d characters of valid UTF-8", what, maxClaimURI)
	}
	return nil
}

func validateLocalClaim(c LocalClaim) error {
	if err := validateClaimURI("claim URI", c.URI); err != nil {
		return err
	}
	if err := validateName("display name", c.DisplayName, maxClaimURI); err != nil {
		return err
	}
	for _, s := range []string{c.Description, c.RegEx} {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxClaimText {
			return fmt.Errorf("description and regEx must be at most %d characters of valid UTF-8", maxClaimText)
		}
	}
	return nil
}

// ClaimDialects returns the URIs of an organization's dialects, the local one included, sorted.
func (q *queries) ClaimDialects(ctx context.Context, orgID string) ([]string, error) {
	if !isUUID(orgID) {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `SELECT uri FROM claim_dialects WHERE org_id = $1 ORDER BY uri COLLATE "C"`, orgID)
	if err != nil {
		return nil, mapErr("store: claim dialects", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, mapErr("store: claim dialects", err)
}

// HasClaimDialect reports ErrNotFound when the organization has no dialect uri.
func (q *queries) HasClaimDialect(ctx context.Context, orgID, uri string) error {
	if !isUUID(orgID) || !utf8.ValidString(uri) {
		return fmt.Errorf("store: claim dialect: %w", ErrNotFound)
	}
	var one int
	err := q.db.QueryRow(ctx, `SELECT 1 FROM claim_dialects WHERE org_id = $1 AND uri = $2`, orgID, uri).Scan(&one)
	return mapErr(fmt.Sprintf("store: claim dialect %q", uri), err)
}

// CreateClaimDialect adds a dialect. ErrConflict: it exists; ErrNotFound: no such organization.
func (q *queries) CreateClaimDialect(ctx context.Context, orgID, uri string, actor Actor) error {
	if !isUUID(orgID) {
		return fmt.Errorf("store: create claim dialect: organization %q: %w", orgID, ErrNotFound)
	}
	if err := validateClaimURI("dialect URI", uri); err != nil {
		return fmt.Errorf("store: create claim dialect: %w", err)
	}
	return q.atomic(ctx, func(q *queries) error {
		_, err := q.db.Exec(ctx, `INSERT INTO claim_dialects (org_id, uri) VALUES ($1, $2)`, orgID, uri)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create claim dialect: organization %s: %w", orgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create claim dialect", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditClaimDialectCreate,
			targetType: "claim_dialect", targetID: uri, after: map[string]string{"dialectURI": uri}})
	})
}

// RenameClaimDialect changes a dialect's URI; its external claims move with it. The local
// dialect cannot be renamed (a plain error). ErrNotFound: no such dialect; ErrConflict: the new
// URI is taken.
func (q *queries) RenameClaimDialect(ctx context.Context, orgID, uri, newURI string, actor Actor) error {
	if uri == LocalDialect || newURI == LocalDialect {
		return errors.New("store: rename claim dialect: the local dialect cannot be renamed")
	}
	if !isUUID(orgID) || !utf8.ValidString(uri) {
		return fmt.Errorf("store: rename claim dialect %q: %w", uri, ErrNotFound)
	}
	if err := validateClaimURI("dialect URI", newURI); err != nil {
		return fmt.Errorf("store: rename claim dialect: %w", err)
	}
	return q.atomic(ctx, func(q *queries) error {
		tag, err := q.db.Exec(ctx, `UPDATE claim_dialects SET uri = $3 WHERE org_id = $1 AND uri = $2`, orgID, uri, newURI)
		if err != nil {
			return mapErr("store: rename claim dialect", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: rename claim dialect %q: %w", uri, ErrNotFound)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditClaimDialectUpdate,
			targetType: "claim_dialect", targetID: newURI,
			before: map[string]string{"dialectURI": uri}, after: map[string]string{"dialectURI": newURI}})
	})
}

// DeleteClaimDialect deletes a dialect with its external claims; the local dialect cannot be
// deleted (a plain error). ErrNotFound: no such dialect.
func (q *queries) DeleteClaimDialect(ctx context.Context, orgID, uri string, actor Actor) error {
	if uri == LocalDialect {
		return errors.New("store: delete claim dialect: the local dialect cannot be deleted")
	}
	if !isUUID(orgID) || !utf8.ValidString(uri) {
		return fmt.Errorf("store: delete claim dialect %q: %w", uri, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		claims, err := q.ExternalClaims(ctx, orgID, uri)
		if err != nil {
			return err
		}
		tag, err := q.db.Exec(ctx, `DELETE FROM claim_dialects WHERE org_id = $1 AND uri = $2`, orgID, uri)
		if err != nil {
			return mapErr("store: delete claim dialect", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: delete claim dialect %q: %w", uri, ErrNotFound)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditClaimDialectDelete,
			targetType: "claim_dialect", targetID: uri,
			before: map[string]any{"dialectURI": uri, "claims": claims}})
	})
}

const localClaimColumns = `org_id, uri, display_name, description, display_order, read_only, required,
	supported_by_default, reg_ex, attribute_mappings, properties, created_at, updated_at`

func scanLocalClaim(row pgx.Row) (LocalClaim, error) {
	var (
		c             LocalClaim
		mappings, prs []byte
	)
	if err := row.Scan(&c.OrgID, &c.URI, &c.DisplayName, &c.Description, &c.DisplayOrder, &c.ReadOnly, &c.Required,
		&c.SupportedByDefault, &c.RegEx, &mappings, &prs, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return LocalClaim{}, err
	}
	if err := json.Unmarshal(mappings, &c.AttributeMappings); err != nil {
		return LocalClaim{}, fmt.Errorf("decode attribute mappings of %s: %w", c.URI, err)
	}
	if err := json.Unmarshal(prs, &c.Properties); err != nil {
		return LocalClaim{}, fmt.Errorf("decode properties of %s: %w", c.URI, err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

func collectLocalClaims(rows pgx.Rows) ([]LocalClaim, error) {
	defer rows.Close()
	out := []LocalClaim{}
	for rows.Next() {
		c, err := scanLocalClaim(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// LocalClaims returns an organization's local claims by display order and URI.
func (q *queries) LocalClaims(ctx context.Context, orgID string) ([]LocalClaim, error) {
	if !isUUID(orgID) {
		return []LocalClaim{}, nil
	}
	rows, err := q.db.Query(ctx, `SELECT `+localClaimColumns+` FROM local_claims WHERE org_id = $1
		ORDER BY display_order, uri COLLATE "C"`, orgID)
	if err != nil {
		return nil, mapErr("store: local claims", err)
	}
	out, err := collectLocalClaims(rows)
	return out, mapErr("store: local claims", err)
}

// LocalClaim returns one local claim, or ErrNotFound.
func (q *queries) LocalClaim(ctx context.Context, orgID, uri string) (LocalClaim, error) {
	if !isUUID(orgID) || !utf8.ValidString(uri) {
		return LocalClaim{}, fmt.Errorf("store: local claim %q: %w", uri, ErrNotFound)
	}
	c, err := scanLocalClaim(q.db.QueryRow(ctx, `SELECT `+localClaimColumns+` FROM local_claims
		WHERE org_id = $1 AND uri = $2`, orgID, uri))
	if err != nil {
		return LocalClaim{}, mapErr(fmt.Sprintf("store: local claim %q", uri), err)
	}
	return c, nil
}

func localClaimJSON(c LocalClaim) (mappings, props []byte, err error) {
	if c.AttributeMappings == nil {
		c.AttributeMappings = []AttributeMapping{}
	}
	if c.Properties == nil {
		c.Properties = []ClaimProperty{}
	}
	if mappings, err = json.Marshal(c.AttributeMappings); err != nil {
		return nil, nil, err
	}
	props, err = json.Marshal(c.Properties)
	return mappings, props, err
}

// CreateLocalClaim adds a local claim. ErrConflict: the URI exists; ErrNotFound: no such
// organization; invalid input: a plain error.
func (q *queries) CreateLocalClaim(ctx context.Context, c LocalClaim, actor Actor) (LocalClaim, error) {
	if !isUUID(c.OrgID) {
		return LocalClaim{}, fmt.Errorf("store: create local claim: organization %q: %w", c.OrgID, ErrNotFound)
	}
	if err := validateLocalClaim(c); err != nil {
		return LocalClaim{}, fmt.Errorf("store: create local claim: %w", err)
	}
	mappings, props, err := localClaimJSON(c)
	if err != nil {
		return LocalClaim{}, fmt.Errorf("store: create local claim: %w", err)
	}
	var out LocalClaim
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanLocalClaim(q.db.QueryRow(ctx, `
			INSERT INTO local_claims (org_id, uri, display_name, description, display_order, read_only, required,
				supported_by_default, reg_ex, attribute_mappings, properties)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			RETURNING `+localClaimColumns,
			c.OrgID, c.URI, c.DisplayName, c.Description, c.DisplayOrder, c.ReadOnly, c.Required,
			c.SupportedByDefault, c.RegEx, mappings, props))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create local claim: organization %s: %w", c.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create local claim", err)
		}
		return q.audit(ctx, auditEvent{orgID: c.OrgID, actor: actor, action: AuditLocalClaimCreate,
			targetType: "local_claim", targetID: c.URI, after: out})
	})
	if err != nil {
		return LocalClaim{}, err
	}
	return out, nil
}

// UpdateLocalClaim replaces every field of an existing local claim but its URI.
// ErrNotFound: no such claim.
func (q *queries) UpdateLocalClaim(ctx context.Context, c LocalClaim, actor Actor) (LocalClaim, error) {
	if !isUUID(c.OrgID) {
		return LocalClaim{}, fmt.Errorf("store: update local claim %q: %w", c.URI, ErrNotFound)
	}
	if err := validateLocalClaim(c); err != nil {
		return LocalClaim{}, fmt.Errorf("store: update local claim: %w", err)
	}
	mappings, props, err := localClaimJSON(c)
	if err != nil {
		return LocalClaim{}, fmt.Errorf("store: update local claim: %w", err)
	}
	var out LocalClaim
	err = q.atomic(ctx, func(q *queries) error {
		before, err := scanLocalClaim(q.db.QueryRow(ctx, `SELECT `+localClaimColumns+` FROM local_claims
			WHERE org_id = $1 AND uri = $2 FOR UPDATE`, c.OrgID, c.URI))
		if err != nil {
			return mapErr(fmt.Sprintf("store: update local claim %q", c.URI), err)
		}
		if out, err = scanLocalClaim(q.db.QueryRow(ctx, `
			UPDATE local_claims SET display_name = $3, description = $4, display_order = $5, read_only = $6,
				required = $7, supported_by_default = $8, reg_ex = $9, attribute_mappings = $10, properties = $11
			WHERE org_id = $1 AND uri = $2
			RETURNING `+localClaimColumns,
			c.OrgID, c.URI, c.DisplayName, c.Description, c.DisplayOrder, c.ReadOnly, c.Required,
			c.SupportedByDefault, c.RegEx, mappings, props)); err != nil {
			return mapErr("store: update local claim", err)
		}
		return q.audit(ctx, auditEvent{orgID: c.OrgID, actor: actor, action: AuditLocalClaimUpdate,
			targetType: "local_claim", targetID: c.URI, before: before, after: out})
	})
	if err != nil {
		return LocalClaim{}, err
	}
	return out, nil
}

// DeleteLocalClaim deletes a local claim. ErrNotFound: no such claim; ErrConflict: external
// claims map to it.
func (q *queries) DeleteLocalClaim(ctx context.Context, orgID, uri string, actor Actor) error {
	if !isUUID(orgID) || !utf8.ValidString(uri) {
		return fmt.Errorf("store: delete local claim %q: %w", uri, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		before, err := scanLocalClaim(q.db.QueryRow(ctx, `DELETE FROM local_claims WHERE org_id = $1 AND uri = $2
			RETURNING `+localClaimColumns, orgID, uri))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: delete local claim %q: external claims map to it: %w", uri, ErrConflict)
		}
		if err != nil {
			return mapErr(fmt.Sprintf("store: delete local claim %q", uri), err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditLocalClaimDelete,
			targetType: "local_claim", targetID: uri, before: before})
	})
}

const externalClaimColumns = `org_id, dialect_uri, uri, mapped_local_uri`

func scanExternalClaim(row pgx.Row) (ExternalClaim, error) {
	var e ExternalClaim
	err := row.Scan(&e.OrgID, &e.DialectURI, &e.URI, &e.MappedLocalURI)
	return e, err
}

// ExternalClaims returns the claims of a dialect by URI. ErrNotFound: no such dialect.
func (q *queries) ExternalClaims(ctx context.Context, orgID, dialect string) ([]ExternalClaim, error) {
	if err := q.HasClaimDialect(ctx, orgID, dialect); err != nil {
		return nil, err
	}
	rows, err := q.db.Query(ctx, `SELECT `+externalClaimColumns+` FROM external_claims
		WHERE org_id = $1 AND dialect_uri = $2 ORDER BY uri COLLATE "C"`, orgID, dialect)
	if err != nil {
		return nil, mapErr("store: external claims", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ExternalClaim, error) { return scanExternalClaim(r) })
	if err != nil {
		return nil, mapErr("store: external claims", err)
	}
	if out == nil {
		out = []ExternalClaim{}
	}
	return out, nil
}

// ExternalClaim returns one external claim, or ErrNotFound.
func (q *queries) ExternalClaim(ctx context.Context, orgID, dialect, uri string) (ExternalClaim, error) {
	if !isUUID(orgID) || !utf8.ValidString(dialect) || !utf8.ValidString(uri) {
		return ExternalClaim{}, fmt.Errorf("store: external claim %q: %w", uri, ErrNotFound)
	}
	e, err := scanExternalClaim(q.db.QueryRow(ctx, `SELECT `+externalClaimColumns+` FROM external_claims
		WHERE org_id = $1 AND dialect_uri = $2 AND uri = $3`, orgID, dialect, uri))
	if err != nil {
		return ExternalClaim{}, mapErr(fmt.Sprintf("store: external claim %q", uri), err)
	}
	return e, nil
}

// errUnknownLocalClaim is wrapped (with ErrNotFound) when an external claim names a local
// claim that does not exist.
var errUnknownLocalClaim = errors.New("mapped local claim does not exist")

// IsUnknownLocalClaim reports whether err says an external claim named a missing local claim.
func IsUnknownLocalClaim(err error) bool { return errors.Is(err, errUnknownLocalClaim) }

func externalClaimWriteErr(what string, e ExternalClaim, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeForeignKeyViolation {
		if pgErr.ConstraintName == externalClaimsMappedLocal {
			return fmt.Errorf("%s: %q: %w (%w)", what, e.MappedLocalURI, ErrNotFound, errUnknownLocalClaim)
		}
		return fmt.Errorf("%s: dialect %q: %w", what, e.DialectURI, ErrNotFound)
	}
	return mapErr(what, err)
}

// CreateExternalClaim adds a claim to a dialect. ErrNotFound: no such dialect, or no such
// local claim (IsUnknownLocalClaim); ErrConflict: the claim exists in the dialect; a plain
// error: the local dialect or invalid input.
func (q *queries) CreateExternalClaim(ctx context.Context, e ExternalClaim, actor Actor) (ExternalClaim, error) {
	if e.DialectURI == LocalDialect {
		return ExternalClaim{}, errors.New("store: create external claim: the local dialect has no external claims")
	}
	if !isUUID(e.OrgID) || !utf8.ValidString(e.DialectURI) || !utf8.ValidString(e.MappedLocalURI) {
		return ExternalClaim{}, fmt.Errorf("store: create external claim: %w", ErrNotFound)
	}
	if err := validateClaimURI("claim URI", e.URI); err != nil {
		return ExternalClaim{}, fmt.Errorf("store: create external claim: %w", err)
	}
	var out ExternalClaim
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanExternalClaim(q.db.QueryRow(ctx, `
			INSERT INTO external_claims (org_id, dialect_uri, uri, mapped_local_uri) VALUES ($1, $2, $3, $4)
			RETURNING `+externalClaimColumns, e.OrgID, e.DialectURI, e.URI, e.MappedLocalURI))
		if err != nil {
			return externalClaimWriteErr("store: create external claim", e, err)
		}
		return q.audit(ctx, auditEvent{orgID: e.OrgID, actor: actor, action: AuditExternalClaimCreate,
			targetType: "external_claim", targetID: e.DialectURI + " " + e.URI, after: out})
	})
	if err != nil {
		return ExternalClaim{}, err
	}
	return out, nil
}

// UpdateExternalClaim maps an existing external claim to another local claim. ErrNotFound: no
// such claim, or no such local claim (IsUnknownLocalClaim).
func (q *queries) UpdateExternalClaim(ctx context.Context, e ExternalClaim, actor Actor) (ExternalClaim, error) {
	if !isUUID(e.OrgID) || !utf8.ValidString(e.DialectURI) || !utf8.ValidString(e.URI) || !utf8.ValidString(e.MappedLocalURI) {
		return ExternalClaim{}, fmt.Errorf("store: update external claim: %w", ErrNotFound)
	}
	var out ExternalClaim
	err := q.atomic(ctx, func(q *queries) error {
		before, err := scanExternalClaim(q.db.QueryRow(ctx, `SELECT `+externalClaimColumns+` FROM external_claims
			WHERE org_id = $1 AND dialect_uri = $2 AND uri = $3 FOR UPDATE`, e.OrgID, e.DialectURI, e.URI))
		if err != nil {
			return mapErr(fmt.Sprintf("store: update external claim %q", e.URI), err)
		}
		out, err = scanExternalClaim(q.db.QueryRow(ctx, `
			UPDATE external_claims SET mapped_local_uri = $4 WHERE org_id = $1 AND dialect_uri = $2 AND uri = $3
			RETURNING `+externalClaimColumns, e.OrgID, e.DialectURI, e.URI, e.MappedLocalURI))
		if err != nil {
			return externalClaimWriteErr("store: update external claim", e, err)
		}
		return q.audit(ctx, auditEvent{orgID: e.OrgID, actor: actor, action: AuditExternalClaimUpdate,
			targetType: "external_claim", targetID: e.DialectURI + " " + e.URI, before: before, after: out})
	})
	if err != nil {
		return ExternalClaim{}, err
	}
	return out, nil
}

// DeleteExternalClaim deletes an external claim. ErrNotFound: no such claim.
func (q *queries) DeleteExternalClaim(ctx context.Context, orgID, dialect, uri string, actor Actor) error {
	if !isUUID(orgID) || !utf8.ValidString(dialect) || !utf8.ValidString(uri) {
		return fmt.Errorf("store: delete external claim %q: %w", uri, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		before, err := scanExternalClaim(q.db.QueryRow(ctx, `DELETE FROM external_claims
			WHERE org_id = $1 AND dialect_uri = $2 AND uri = $3 RETURNING `+externalClaimColumns, orgID, dialect, uri))
		if err != nil {
			return mapErr(fmt.Sprintf("store: delete external claim %q", uri), err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditExternalClaimDelete,
			targetType: "external_claim", targetID: dialect + " " + uri, before: before})
	})
}
