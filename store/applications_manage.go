package store

import (
	"bytes"
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

// Audit actions of the application management API.
const (
	AuditApplicationUpdate  = "application.update"
	AuditApplicationDelete  = "application.delete"
	AuditOAuth2ClientUpdate = "oauth2.client.update"
	AuditOAuth2ClientDelete = "oauth2.client.delete"
)

// MaxApplicationDescription is the longest application description (characters).
const MaxApplicationDescription = 1024

// ManagedApplication is an application as the management API shows it: the login settings
// plus its description and the entity id of its SAML service provider.
type ManagedApplication struct {
	Application
	Description string
	// Issuer is the entity id of the application's SAML service provider; '' when it has none.
	Issuer string
}

const managedApplicationColumns = `a.id, a.org_id, a.name, coalesce(a.oauth2_client_id, ''), a.auth_sequence,
	a.api_based_authentication, a.created_at, a.updated_at, a.description, coalesce(s.entity_id, '')`

const managedApplicationFrom = ` FROM applications a LEFT JOIN saml_service_providers s ON s.application_id = a.id`

func scanManagedApplication(row pgx.Row) (ManagedApplication, error) {
	var (
		m   ManagedApplication
		seq []byte
	)
	if err := row.Scan(&m.ID, &m.OrgID, &m.Name, &m.ClientID, &seq, &m.APIBasedAuthentication,
		&m.CreatedAt, &m.UpdatedAt, &m.Description, &m.Issuer); err != nil {
		return ManagedApplication{}, err
	}
	if err := json.Unmarshal(seq, &m.Sequence); err != nil {
		return ManagedApplication{}, fmt.Errorf("decode auth_sequence of application %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, nil
}

// ManagedApplication returns the application with the given id, or ErrNotFound.
func (q *queries) ManagedApplication(ctx context.Context, id string) (ManagedApplication, error) {
	if _, err := uuid.Parse(id); err != nil {
		return ManagedApplication{}, fmt.Errorf("store: application %q: %w", id, ErrNotFound)
	}
	m, err := scanManagedApplication(q.db.QueryRow(ctx, `SELECT `+managedApplicationColumns+managedApplicationFrom+`
		WHERE a.id = $1`, id))
	if err != nil {
		return ManagedApplication{}, mapErr("store: application", err)
	}
	return m, nil
}

// Attributes of ApplicationFilter (WSO2's application list filter).
const (
	AppFilterName     = "name"
	AppFilterClientID = "clientId"
	AppFilterIssuer   = "issuer"
)

// ApplicationFilter is one condition of an application listing; values are compared case
// sensitively.
type ApplicationFilter struct {
	Attribute string   // AppFilterName, AppFilterClientID or AppFilterIssuer
	Operator  FilterOp // FilterEq, FilterSw, FilterEw or FilterCo
	Value     string
}

// ApplicationQuery selects a page of an organization's applications, ordered by name (byte order).
type ApplicationQuery struct {
	OrgID string
	// Filter is nil for all applications.
	Filter *ApplicationFilter
	Offset int
	// Limit is the page size; at least 1.
	Limit int
}

// ManagedApplications returns a page of applications and how many match in all.
func (q *queries) ManagedApplications(ctx context.Context, aq ApplicationQuery) ([]ManagedApplication, int, error) {
	if _, err := uuid.Parse(aq.OrgID); err != nil {
		return nil, 0, fmt.Errorf("store: applications: organization %q: %w", aq.OrgID, ErrNotFound)
	}
	if aq.Offset < 0 || aq.Limit < 1 {
		return nil, 0, errors.New("store: applications: negative offset or limit below 1")
	}
	where := ` WHERE a.org_id = $1`
	args := []any{aq.OrgID}
	if f := aq.Filter; f != nil {
		var col string
		switch f.Attribute {
		case AppFilterName:
			col = "a.name"
		case AppFilterClientID:
			col = "coalesce(a.oauth2_client_id, '')"
		case AppFilterIssuer:
			col = "coalesce(s.entity_id, '')"
		default:
			return nil, 0, fmt.Errorf("store: applications: unknown filter attribute %q", f.Attribute)
		}
		if !utf8.ValidString(f.Value) {
			return nil, 0, errors.New("store: applications: filter value is not UTF-8")
		}
		like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Value)
		switch f.Operator {
		case FilterEq:
			where += ` AND ` + col + ` = $2`
			args = append(args, f.Value)
		case FilterSw:
			where += ` AND ` + col + ` LIKE $2`
			args = append(args, like+"%")
		case FilterEw:
			where += ` AND ` + col + ` LIKE $2`
			args = append(args, "%"+like)
		case FilterCo:
			where += ` AND ` + col + ` LIKE $2`
			args = append(args, "%"+like+"%")
		default:
			return nil, 0, fmt.Errorf("store: applications: unknown filter operator %q", f.Operator)
		}
	}
	var total int
	if err := q.db.QueryRow(ctx, `SELECT count(*)`+managedApplicationFrom+where, args...).Scan(&total); err != nil {
		return nil, 0, mapErr("store: count applications", err)
	}
	n := len(args)
	rows, err := q.db.Query(ctx, `SELECT `+managedApplicationColumns+managedApplicationFrom+where+
		fmt.Sprintf(` ORDER BY a.name COLLATE "C", a.id OFFSET $%d LIMIT $%d`, n+1, n+2), append(args, aq.Offset, aq.Limit)...)
	if err != nil {
		return nil, 0, mapErr("store: applications", err)
	}
	defer rows.Close()
	var out []ManagedApplication
	for rows.Next() {
		m, err := scanManagedApplication(rows)
		if err != nil {
			return nil, 0, mapErr("store: applications", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, mapErr("store: applications", err)
	}
	return out, total, nil
}

// ApplicationUpdate changes the fields of an application that are not nil.
type ApplicationUpdate struct {
	Name        *string
	Description *string
	Sequence    *AuthenticationSequence
	// APIBasedAuthentication: WSO2 advancedConfigurations.enableAPIBasedAuthentication.
	APIBasedAuthentication *bool
	// ClientID links an OAuth2 client ('' unlinks it).
	ClientID *string
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

// UpdateApplication applies u and records an audit event with the values before and after.
// An unknown application (or OAuth2 client) returns ErrNotFound, a taken name or client
// ErrConflict, an invalid value a plain error.
func (q *queries) UpdateApplication(ctx context.Context, id string, u ApplicationUpdate) (ManagedApplication, error) {
	if _, err := uuid.Parse(id); err != nil {
		return ManagedApplication{}, fmt.Errorf("store: update application %q: %w", id, ErrNotFound)
	}
	if u.Name != nil {
		if err := validateName("application name", *u.Name, 255); err != nil {
			return ManagedApplication{}, fmt.Errorf("store: update application: %w", err)
		}
	}
	if u.Description != nil && (!utf8.ValidString(*u.Description) || utf8.RuneCountInString(*u.Description) > MaxApplicationDescription) {
		return ManagedApplication{}, fmt.Errorf("store: update application: description invalid or longer than %d characters", MaxApplicationDescription)
	}
	var seq []byte
	if u.Sequence != nil {
		if err := u.Sequence.Validate(); err != nil {
			return ManagedApplication{}, fmt.Errorf("store: update application: %w", err)
		}
		var err error
		if seq, err = json.Marshal(u.Sequence.normalized()); err != nil {
			return ManagedApplication{}, fmt.Errorf("store: update application: encode sequence: %w", err)
		}
	}
	var clientID *string
	if u.ClientID != nil {
		clientID = nullIfEmpty(*u.ClientID)
	}
	var out ManagedApplication
	err := q.atomic(ctx, func(q *queries) error {
		before, err := scanManagedApplication(q.db.QueryRow(ctx, `SELECT `+managedApplicationColumns+managedApplicationFrom+`
			WHERE a.id = $1 FOR UPDATE OF a`, id))
		if err != nil {
			return mapErr("store: update application", err)
		}
		_, err = q.db.Exec(ctx, `
			UPDATE applications SET name = coalesce($2, name), description = coalesce($3, description),
				auth_sequence = coalesce($4::jsonb, auth_sequence),
				api_based_authentication = coalesce($5, api_based_authentication),
				oauth2_client_id = CASE WHEN $6 THEN $7 ELSE oauth2_client_id END
			WHERE id = $1`,
			id, u.Name, u.Description, seq, u.APIBasedAuthentication, u.ClientID != nil, clientID)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: update application %s: client: %w", id, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: update application", err)
		}
		if out, err = scanManagedApplication(q.db.QueryRow(ctx, `SELECT `+managedApplicationColumns+managedApplicationFrom+`
			WHERE a.id = $1`, id)); err != nil {
			return mapErr("store: update application", err)
		}
		return q.audit(ctx, auditEvent{
			orgID: out.OrgID, actor: u.Actor, action: AuditApplicationUpdate,
			targetType: "application", targetID: out.ID,
			before: applicationAudit(before), after: applicationAudit(out),
		})
	})
	if err != nil {
		return ManagedApplication{}, err
	}
	return out, nil
}

func applicationAudit(m ManagedApplication) map[string]any {
	return map[string]any{
		"name": m.Name, "description": m.Description, "clientId": m.ClientID,
		"authenticationSequence": m.Sequence, "enableAPIBasedAuthentication": m.APIBasedAuthentication,
	}
}

// DeleteApplication removes an application with its OAuth2 client (and so the client's
// tokens and codes) and its SAML and WS-Federation configurations, recording audit events.
// The client's deletion is announced on OAuth2ClientsChannel. An unknown id returns
// ErrNotFound.
func (q *queries) DeleteApplication(ctx context.Context, id string, actor Actor) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("store: delete application %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		before, err := scanManagedApplication(q.db.QueryRow(ctx, `SELECT `+managedApplicationColumns+managedApplicationFrom+`
			WHERE a.id = $1 FOR UPDATE OF a`, id))
		if err != nil {
			return mapErr("store: delete application", err)
		}
		if _, err := q.db.Exec(ctx, `DELETE FROM applications WHERE id = $1`, id); err != nil {
			return mapErr("store: delete application", err)
		}
		if err := q.audit(ctx, auditEvent{orgID: before.OrgID, actor: actor, action: AuditApplicationDelete,
			targetType: "application", targetID: id, before: applicationAudit(before)}); err != nil {
			return err
		}
		if before.ClientID == "" {
			return nil
		}
		if _, err := q.db.Exec(ctx, `DELETE FROM oauth2_clients WHERE client_id = $1`, before.ClientID); err != nil {
			return mapErr("store: delete application client", err)
		}
		if err := q.notifyOAuth2Client(ctx, before.ClientID); err != nil {
			return err
		}
		return q.audit(ctx, auditEvent{orgID: before.OrgID, actor: actor, action: AuditOAuth2ClientDelete,
			targetType: "oauth2_client", targetID: before.ClientID})
	})
}

// UpdateOAuth2Client replaces the settings of an existing client (all fields but ClientID,
// OrgID and the timestamps, including the client authentication settings of migration 00013:
// method, assertion algorithm, JWKS or its URI, sealed secret and JWT bearer issuers) and
// records an audit event (without the secret hash). The change is announced on
// OAuth2ClientsChannel (ListenOAuth2Clients). An unknown client returns ErrNotFound, a
// structurally invalid client a plain error.
func (q *queries) UpdateOAuth2Client(ctx context.Context, nc NewOAuth2Client) (OAuth2Client, error) {
	c := nc.OAuth2Client
	if c.IDTokenLifetime == 0 {
		c.IDTokenLifetime = DefaultIDTokenLifetime
	}
	if c.RefreshTokenLifetime == 0 {
		c.RefreshTokenLifetime = DefaultRefreshTokenLifetime
	}
	if err := validateOAuth2Client(c); err != nil {
		return OAuth2Client{}, fmt.Errorf("store: update oauth2 client: %w", err)
	}
	var out OAuth2Client
	err := q.atomic(ctx, func(q *queries) error {
		before, err := scanOAuth2Client(q.db.QueryRow(ctx, `
			SELECT `+oauth2ClientColumns+` FROM oauth2_clients WHERE client_id = $1 FOR UPDATE`, c.ClientID))
		if err != nil {
			return mapErr("store: update oauth2 client", err)
		}
		out, err = scanOAuth2Client(q.db.QueryRow(ctx, `
			UPDATE oauth2_clients SET name = $2, secret_hash = $3, public = $4, grant_types = $5,
				redirect_uris = $6, scopes = $7, audiences = $8, token_format = $9,
				access_token_lifetime_seconds = $10, signing_alg = $11, response_types = $12,
				pkce_required = $13, pkce_allow_plain = $14, id_token_signing_alg = $15,
				id_token_lifetime_seconds = $16, refresh_token_lifetime_seconds = $17, skip_consent = $18,
				post_logout_redirect_uris = $19, backchannel_logout_uri = $20,
				backchannel_logout_session_required = $21, frontchannel_logout_uri = $22,
				frontchannel_logout_session_required = $23, token_endpoint_auth_method = $24,
				token_endpoint_auth_signing_alg = $25, jwks = $26, jwks_uri = $27, secret_sealed = $28,
				jwt_bearer_issuers = $29
			WHERE client_id = $1
			RETURNING `+oauth2ClientColumns,
			c.ClientID, c.Name, nullIfEmpty(c.SecretHash), c.Public, oauth2List(c.GrantTypes), oauth2List(c.RedirectURIs),
			oauth2List(c.Scopes), oauth2List(c.Audiences), c.TokenFormat, int64(c.AccessTokenLifetime/time.Second), c.SigningAlg,
			oauth2List(c.ResponseTypes), c.PKCERequired, c.PKCEAllowPlain, c.IDTokenSigningAlg,
			int64(c.IDTokenLifetime/time.Second), int64(c.RefreshTokenLifetime/time.Second), c.SkipConsent,
			oauth2List(c.PostLogoutRedirectURIs), c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, c.TokenEndpointAuthMethod,
			c.TokenEndpointAuthSigningAlg, jsonbOrNull(c.JWKS), c.JWKSURI, c.SecretSealed, jwtBearerIssuers(c.JWTBearerIssuers)))
		if err != nil {
			return mapErr("store: update oauth2 client", err)
		}
		if err := q.notifyOAuth2Client(ctx, out.ClientID); err != nil {
			return err
		}
		after := oauth2ClientAudit(out)
		// Whether the secret was replaced (regenerated), never the secret or its hash.
		after["secretChanged"] = before.SecretHash != out.SecretHash || !bytes.Equal(before.SecretSealed, out.SecretSealed)
		return q.audit(ctx, auditEvent{
			orgID: out.OrgID, actor: nc.Actor, action: AuditOAuth2ClientUpdate,
			targetType: "oauth2_client", targetID: out.ClientID,
			before: oauth2ClientAudit(before), after: after,
		})
	})
	if err != nil {
		return OAuth2Client{}, err
	}
	return out, nil
}

// oauth2ClientAudit is what the audit trail keeps of a client: never the secret hash.
func oauth2ClientAudit(c OAuth2Client) map[string]any {
	return map[string]any{
		"clientId": c.ClientID, "name": c.Name, "public": c.Public, "grantTypes": c.GrantTypes,
		"redirectUris": c.RedirectURIs, "scopes": c.Scopes, "audiences": c.Audiences,
		"tokenFormat": c.TokenFormat, "accessTokenLifetimeSeconds": int64(c.AccessTokenLifetime / time.Second),
		"signingAlg": c.SigningAlg, "responseTypes": c.ResponseTypes, "pkceRequired": c.PKCERequired,
		"pkceAllowPlain": c.PKCEAllowPlain, "idTokenSigningAlg": c.IDTokenSigningAlg,
		"idTokenLifetimeSeconds":      int64(c.IDTokenLifetime / time.Second),
		"refreshTokenLifetimeSeconds": int64(c.RefreshTokenLifetime / time.Second),
		"skipConsent":                 c.SkipConsent, "postLogoutRedirectUris": c.PostLogoutRedirectURIs,
		"backchannelLogoutUri": c.BackchannelLogoutURI, "frontchannelLogoutUri": c.FrontchannelLogoutURI,
		"backchannelLogoutSessionRequired":  c.BackchannelLogoutSessionRequired,
		"frontchannelLogoutSessionRequired": c.FrontchannelLogoutSessionRequired,
		"tokenEndpointAuthMethod":           c.TokenEndpointAuthMethod,
		"tokenEndpointAuthSigningAlg":       c.TokenEndpointAuthSigningAlg,
		"jwksUri":                           c.JWKSURI, "hasJwks": len(c.JWKS) > 0,
		"jwtBearerIssuers": c.JWTBearerIssuers,
	}
}

// PutApplicationPendingSecret keeps the sealed secret of an application's new client until
// TakeApplicationPendingSecret or expiresAt, replacing one kept before. An unknown
// application or client returns ErrNotFound.
func (q *queries) PutApplicationPendingSecret(ctx context.Context, applicationID, clientID string, sealed []byte, expiresAt time.Time) error {
	if _, err := uuid.Parse(applicationID); err != nil {
		return fmt.Errorf("store: put pending secret: application %q: %w", applicationID, ErrNotFound)
	}
	if len(sealed) == 0 {
		return errors.New("store: put pending secret: empty")
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO application_pending_secrets (application_id, client_id, sealed, expires_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (application_id) DO UPDATE SET client_id = EXCLUDED.client_id,
			sealed = EXCLUDED.sealed, expires_at = EXCLUDED.expires_at`,
		applicationID, clientID, sealed, expiresAt)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("store: put pending secret: application %s or client: %w", applicationID, ErrNotFound)
	}
	return mapErr("store: put pending secret", err)
}

// TakeApplicationPendingSecret removes and returns the pending secret of an application
// (whose client it belongs to and the sealed value); none, or an expired one, returns
// ErrNotFound.
func (q *queries) TakeApplicationPendingSecret(ctx context.Context, applicationID string) (clientID string, sealed []byte, err error) {
	if _, err := uuid.Parse(applicationID); err != nil {
		return "", nil, fmt.Errorf("store: take pending secret: %w", ErrNotFound)
	}
	var live bool
	err = q.db.QueryRow(ctx, `
		DELETE FROM application_pending_secrets WHERE application_id = $1
		RETURNING client_id, sealed, expires_at > now()`, applicationID).Scan(&clientID, &sealed, &live)
	if err != nil {
		return "", nil, mapErr("store: take pending secret", err)
	}
	if !live {
		return "", nil, fmt.Errorf("store: take pending secret: expired: %w", ErrNotFound)
	}
	return clientID, sealed, nil
}
