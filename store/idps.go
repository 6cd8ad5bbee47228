package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Identity providers (WSO2's IdPs, the Console's "connections"): the external IdPs users
// federate from. The store keeps WSO2's IdentityProviderPOSTRequest shape; secret connector
// properties come to it sealed (IdPProperty.Sealed) and it never sees them in clear.

// Audit actions of identity providers. Events never carry sealed property values.
const (
	AuditIdentityProviderCreate = "identity_provider.create"
	AuditIdentityProviderUpdate = "identity_provider.update"
	AuditIdentityProviderDelete = "identity_provider.delete"
)

// MaxIdentityProviderJSON bounds each JSON member of an identity provider (bytes).
const MaxIdentityProviderJSON = 256 << 10

// IdPProperty is a key-value property of a federated authenticator or provisioning
// connector. A secret property has Sealed (ciphertext, opened by the API layer with the key
// KeyID) and an empty Value.
type IdPProperty struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Sealed []byte `json:"sealed,omitempty"`
	KeyID  string `json:"keyId,omitempty"`
}

// IdPConnector is a federated authenticator (WSO2 FederatedAuthenticator) or an outbound
// provisioning connector (OutboundConnector) of an identity provider.
type IdPConnector struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Enabled    bool          `json:"isEnabled"`
	Default    bool          `json:"isDefault,omitempty"`
	Blocking   bool          `json:"blockingEnabled,omitempty"`
	Rules      bool          `json:"rulesEnabled,omitempty"`
	Properties []IdPProperty `json:"properties"`
}

// IdPConnectors is a set of connectors with the default one's id.
type IdPConnectors struct {
	DefaultID string         `json:"defaultId"`
	Items     []IdPConnector `json:"items"`
}

// IdentityProvider is one stored identity provider. Certificate, Claims, Roles, Groups and
// JIT are WSO2's JSON members as the API validated them (never secret).
type IdentityProvider struct {
	ID                  string
	OrgID               string
	Name                string
	Description         string
	Image               string
	TemplateID          string
	Enabled             bool
	Primary             bool
	FederationHub       bool
	HomeRealmIdentifier string
	Alias               string
	IdPIssuerName       string
	Certificate         json.RawMessage
	Claims              json.RawMessage
	Roles               json.RawMessage
	Groups              json.RawMessage
	Authenticators      IdPConnectors
	JIT                 json.RawMessage
	OutboundConnectors  IdPConnectors
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

type idpProvisioning struct {
	JIT                json.RawMessage `json:"jit,omitempty"`
	OutboundConnectors IdPConnectors   `json:"outboundConnectors"`
}

const idpColumns = `id, org_id, name, description, image, template_id, is_enabled, is_primary, is_federation_hub,
	home_realm_identifier, alias, idp_issuer_name, certificate, claims, roles, groups, federated_authenticators,
	provisioning, created_at, updated_at`

func scanIdentityProvider(row pgx.Row) (IdentityProvider, error) {
	var (
		p            IdentityProvider
		auth, prov   []byte
		cert, claims []byte
		roles, grps  []byte
	)
	if err := row.Scan(&p.ID, &p.OrgID, &p.Name, &p.Description, &p.Image, &p.TemplateID, &p.Enabled, &p.Primary,
		&p.FederationHub, &p.HomeRealmIdentifier, &p.Alias, &p.IdPIssuerName, &cert, &claims, &roles, &grps,
		&auth, &prov, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return IdentityProvider{}, err
	}
	p.Certificate, p.Claims, p.Roles, p.Groups = cert, claims, roles, grps
	if err := json.Unmarshal(auth, &p.Authenticators); err != nil {
		return IdentityProvider{}, fmt.Errorf("decode authenticators of identity provider %s: %w", p.ID, err)
	}
	var pr idpProvisioning
	if err := json.Unmarshal(prov, &pr); err != nil {
		return IdentityProvider{}, fmt.Errorf("decode provisioning of identity provider %s: %w", p.ID, err)
	}
	p.JIT, p.OutboundConnectors = pr.JIT, pr.OutboundConnectors
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// idpRow is an identity provider's JSON columns, encoded and checked.
type idpRow struct{ cert, claims, roles, groups, auth, prov []byte }

func encodeIdentityProvider(p IdentityProvider) (idpRow, error) {
	if err := validateName("identity provider name", p.Name, 255); err != nil {
		return idpRow{}, err
	}
	for _, s := range []string{p.Description, p.Image, p.TemplateID, p.HomeRealmIdentifier, p.Alias, p.IdPIssuerName} {
		if !utf8.ValidString(s) {
			return idpRow{}, errors.New("identity provider text is not valid UTF-8")
		}
	}
	switch {
	case utf8.RuneCountInString(p.Description) > 1024:
		return idpRow{}, errors.New("identity provider description is longer than 1024 characters")
	case utf8.RuneCountInString(p.Image) > 2048 || utf8.RuneCountInString(p.Alias) > 2048 ||
		utf8.RuneCountInString(p.IdPIssuerName) > 2048:
		return idpRow{}, errors.New("identity provider image, alias or idpIssuerName is longer than 2048 characters")
	case utf8.RuneCountInString(p.HomeRealmIdentifier) > 255 || utf8.RuneCountInString(p.TemplateID) > 255:
		return idpRow{}, errors.New("identity provider homeRealmIdentifier or templateId is longer than 255 characters")
	}
	raw := func(m json.RawMessage, empty string) ([]byte, error) {
		if len(m) == 0 {
			return []byte(empty), nil
		}
		if !json.Valid(m) {
			return nil, errors.New("identity provider member is not valid JSON")
		}
		return m, nil
	}
	var (
		r   idpRow
		err error
	)
	if r.cert, err = raw(p.Certificate, "{}"); err != nil {
		return idpRow{}, err
	}
	if r.claims, err = raw(p.Claims, "{}"); err != nil {
		return idpRow{}, err
	}
	if r.roles, err = raw(p.Roles, "{}"); err != nil {
		return idpRow{}, err
	}
	if r.groups, err = raw(p.Groups, "[]"); err != nil {
		return idpRow{}, err
	}
	if p.Authenticators.Items == nil {
		p.Authenticators.Items = []IdPConnector{}
	}
	if p.OutboundConnectors.Items == nil {
		p.OutboundConnectors.Items = []IdPConnector{}
	}
	if r.auth, err = json.Marshal(p.Authenticators); err != nil {
		return idpRow{}, err
	}
	if r.prov, err = json.Marshal(idpProvisioning{JIT: p.JIT, OutboundConnectors: p.OutboundConnectors}); err != nil {
		return idpRow{}, err
	}
	for _, b := range [][]byte{r.cert, r.claims, r.roles, r.groups, r.auth, r.prov} {
		if len(b) > MaxIdentityProviderJSON {
			return idpRow{}, fmt.Errorf("an identity provider member is larger than %d bytes", MaxIdentityProviderJSON)
		}
	}
	return r, nil
}

// identityProviderAudit is what the audit trail keeps of an identity provider: everything but
// sealed values (a secret property shows as {"key": k, "secret": true}).
func identityProviderAudit(p IdentityProvider) map[string]any {
	conns := func(cs IdPConnectors) map[string]any {
		items := make([]map[string]any, len(cs.Items))
		for i, c := range cs.Items {
			props := make([]map[string]any, len(c.Properties))
			for j, pr := range c.Properties {
				if len(pr.Sealed) > 0 {
					props[j] = map[string]any{"key": pr.Key, "secret": true}
				} else {
					props[j] = map[string]any{"key": pr.Key, "value": pr.Value}
				}
			}
			items[i] = map[string]any{"id": c.ID, "name": c.Name, "isEnabled": c.Enabled, "properties": props}
		}
		return map[string]any{"defaultId": cs.DefaultID, "items": items}
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "description": p.Description, "image": p.Image, "isEnabled": p.Enabled,
		"isPrimary": p.Primary, "isFederationHub": p.FederationHub, "homeRealmIdentifier": p.HomeRealmIdentifier,
		"alias": p.Alias, "idpIssuerName": p.IdPIssuerName, "certificate": p.Certificate, "claims": p.Claims,
		"roles": p.Roles, "groups": p.Groups, "federatedAuthenticators": conns(p.Authenticators),
		"jit": p.JIT, "outboundConnectors": conns(p.OutboundConnectors),
	}
}

// CreateIdentityProvider stores a new identity provider; p.ID is used when set (a UUID), so
// that values sealed for the row can be bound to its id. ErrConflict: the organization has one
// of that name (or the id is taken); ErrNotFound: no such organization; invalid input: a plain
// error.
func (q *queries) CreateIdentityProvider(ctx context.Context, p IdentityProvider, actor Actor) (IdentityProvider, error) {
	if !isUUID(p.OrgID) {
		return IdentityProvider{}, fmt.Errorf("store: create identity provider: organization %q: %w", p.OrgID, ErrNotFound)
	}
	if p.ID == "" {
		p.ID = uuid.NewString()
	} else if !isUUID(p.ID) {
		return IdentityProvider{}, fmt.Errorf("store: create identity provider: id %q is not a UUID", p.ID)
	}
	r, err := encodeIdentityProvider(p)
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("store: create identity provider: %w", err)
	}
	var out IdentityProvider
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanIdentityProvider(q.db.QueryRow(ctx, `
			INSERT INTO identity_providers (id, org_id, name, description, image, template_id, is_enabled, is_primary,
				is_federation_hub, home_realm_identifier, alias, idp_issuer_name, certificate, claims, roles, groups,
				federated_authenticators, provisioning)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			RETURNING `+idpColumns,
			p.ID, p.OrgID, p.Name, p.Description, p.Image, p.TemplateID, p.Enabled, p.Primary, p.FederationHub,
			p.HomeRealmIdentifier, p.Alias, p.IdPIssuerName, r.cert, r.claims, r.roles, r.groups, r.auth, r.prov))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create identity provider: organization %s: %w", p.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create identity provider", err)
		}
		return q.audit(ctx, auditEvent{orgID: p.OrgID, actor: actor, action: AuditIdentityProviderCreate,
			targetType: "identity_provider", targetID: out.ID, after: identityProviderAudit(out)})
	})
	if err != nil {
		return IdentityProvider{}, err
	}
	return out, nil
}

// IdentityProvider returns an organization's identity provider, or ErrNotFound.
func (q *queries) IdentityProvider(ctx context.Context, orgID, id string) (IdentityProvider, error) {
	if !isUUID(orgID) || !isUUID(id) {
		return IdentityProvider{}, fmt.Errorf("store: identity provider %q: %w", id, ErrNotFound)
	}
	p, err := scanIdentityProvider(q.db.QueryRow(ctx, `SELECT `+idpColumns+` FROM identity_providers
		WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return IdentityProvider{}, mapErr("store: identity provider", err)
	}
	return p, nil
}

// IdentityProviderByName returns an organization's identity provider by name (exact), or
// ErrNotFound.
func (q *queries) IdentityProviderByName(ctx context.Context, orgID, name string) (IdentityProvider, error) {
	if !isUUID(orgID) || !utf8.ValidString(name) {
		return IdentityProvider{}, fmt.Errorf("store: identity provider %q: %w", name, ErrNotFound)
	}
	p, err := scanIdentityProvider(q.db.QueryRow(ctx, `SELECT `+idpColumns+` FROM identity_providers
		WHERE org_id = $1 AND name = $2`, orgID, name))
	if err != nil {
		return IdentityProvider{}, mapErr("store: identity provider", err)
	}
	return p, nil
}

// IdentityProviderQuery selects a page of an organization's identity providers, ordered by
// name (byte order). Conditions are and-ed.
type IdentityProviderQuery struct {
	OrgID string
	// Name compares the name (case sensitively) with FilterEq, FilterSw, FilterEw or FilterCo.
	Name *ApplicationFilter
	// Enabled, when set, selects enabled or disabled providers.
	Enabled *bool
	Offset  int
	// Limit is the page size; at least 1.
	Limit int
}

// IdentityProviders returns a page of identity providers and how many match in all.
func (q *queries) IdentityProviders(ctx context.Context, iq IdentityProviderQuery) ([]IdentityProvider, int, error) {
	if !isUUID(iq.OrgID) {
		return nil, 0, fmt.Errorf("store: identity providers: organization %q: %w", iq.OrgID, ErrNotFound)
	}
	if iq.Offset < 0 || iq.Limit < 1 {
		return nil, 0, errors.New("store: identity providers: negative offset or limit below 1")
	}
	where := ` WHERE org_id = $1`
	args := []any{iq.OrgID}
	if f := iq.Name; f != nil {
		if !utf8.ValidString(f.Value) {
			return nil, 0, errors.New("store: identity providers: filter value is not UTF-8")
		}
		like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Value)
		args = append(args, nil)
		n := fmt.Sprintf("$%d", len(args))
		switch f.Operator {
		case FilterEq:
			where += ` AND name = ` + n
			args[len(args)-1] = f.Value
		case FilterSw:
			where += ` AND name LIKE ` + n
			args[len(args)-1] = like + "%"
		case FilterEw:
			where += ` AND name LIKE ` + n
			args[len(args)-1] = "%" + like
		case FilterCo:
			where += ` AND name LIKE ` + n
			args[len(args)-1] = "%" + like + "%"
		default:
			return nil, 0, fmt.Errorf("store: identity providers: unknown filter operator %q", f.Operator)
		}
	}
	if iq.Enabled != nil {
		args = append(args, *iq.Enabled)
		where += fmt.Sprintf(` AND is_enabled = $%d`, len(args))
	}
	var total int
	if err := q.db.QueryRow(ctx, `SELECT count(*) FROM identity_providers`+where, args...).Scan(&total); err != nil {
		return nil, 0, mapErr("store: count identity providers", err)
	}
	n := len(args)
	rows, err := q.db.Query(ctx, `SELECT `+idpColumns+` FROM identity_providers`+where+
		fmt.Sprintf(` ORDER BY name COLLATE "C", id OFFSET $%d LIMIT $%d`, n+1, n+2), append(args, iq.Offset, iq.Limit)...)
	if err != nil {
		return nil, 0, mapErr("store: identity providers", err)
	}
	defer rows.Close()
	out := []IdentityProvider{}
	for rows.Next() {
		p, err := scanIdentityProvider(rows)
		if err != nil {
			return nil, 0, mapErr("store: identity providers", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr("store: identity providers", err)
	}
	return out, total, nil
}

// UpdateIdentityProvider replaces every field of an existing identity provider but its id,
// organization and timestamps, recording an audit event with the values before and after.
// ErrNotFound: no such provider; ErrConflict: the name is taken.
func (q *queries) UpdateIdentityProvider(ctx context.Context, p IdentityProvider, actor Actor) (IdentityProvider, error) {
	if !isUUID(p.OrgID) || !isUUID(p.ID) {
		return IdentityProvider{}, fmt.Errorf("store: update identity provider %q: %w", p.ID, ErrNotFound)
	}
	r, err := encodeIdentityProvider(p)
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("store: update identity provider: %w", err)
	}
	var out IdentityProvider
	err = q.atomic(ctx, func(q *queries) error {
		before, err := scanIdentityProvider(q.db.QueryRow(ctx, `SELECT `+idpColumns+` FROM identity_providers
			WHERE org_id = $1 AND id = $2 FOR UPDATE`, p.OrgID, p.ID))
		if err != nil {
			return mapErr("store: update identity provider", err)
		}
		if out, err = scanIdentityProvider(q.db.QueryRow(ctx, `
			UPDATE identity_providers SET name = $3, description = $4, image = $5, template_id = $6, is_enabled = $7,
				is_primary = $8, is_federation_hub = $9, home_realm_identifier = $10, alias = $11, idp_issuer_name = $12,
				certificate = $13, claims = $14, roles = $15, groups = $16, federated_authenticators = $17,
				provisioning = $18
			WHERE org_id = $1 AND id = $2
			RETURNING `+idpColumns,
			p.OrgID, p.ID, p.Name, p.Description, p.Image, p.TemplateID, p.Enabled, p.Primary, p.FederationHub,
			p.HomeRealmIdentifier, p.Alias, p.IdPIssuerName, r.cert, r.claims, r.roles, r.groups, r.auth, r.prov)); err != nil {
			return mapErr("store: update identity provider", err)
		}
		return q.audit(ctx, auditEvent{orgID: p.OrgID, actor: actor, action: AuditIdentityProviderUpdate,
			targetType: "identity_provider", targetID: p.ID,
			before: identityProviderAudit(before), after: identityProviderAudit(out)})
	})
	if err != nil {
		return IdentityProvider{}, err
	}
	return out, nil
}

// DeleteIdentityProvider deletes an identity provider. ErrNotFound: no such provider.
func (q *queries) DeleteIdentityProvider(ctx context.Context, orgID, id string, actor Actor) error {
	if !isUUID(orgID) || !isUUID(id) {
		return fmt.Errorf("store: delete identity provider %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		before, err := scanIdentityProvider(q.db.QueryRow(ctx, `DELETE FROM identity_providers
			WHERE org_id = $1 AND id = $2 RETURNING `+idpColumns, orgID, id))
		if err != nil {
			return mapErr("store: delete identity provider", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditIdentityProviderDelete,
			targetType: "identity_provider", targetID: id, before: identityProviderAudit(before)})
	})
}
