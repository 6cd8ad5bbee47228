package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditSAMLServiceProviderCreate is recorded when a SAML service provider is registered.
const AuditSAMLServiceProviderCreate = "saml.service_provider.create"

// AuditSAMLServiceProviderDelete is recorded when a SAML service provider is removed.
const AuditSAMLServiceProviderDelete = "saml.service_provider.delete"

// SAMLServiceProvider is the SAML inbound configuration of an application: the service
// provider's entity id, endpoints, keys and what the IdP puts in its responses.
type SAMLServiceProvider struct {
	ID            string
	OrgID         string
	ApplicationID string
	EntityID      string
	// ACS are the assertion consumer services in metadata order.
	ACS []SAMLEndpoint
	// SLOURL and SLOResponseURL are the single logout service: the IdP sends LogoutRequests to
	// SLOURL and LogoutResponses to SLOResponseURL (SLOURL when empty), over SLOBinding.
	SLOURL         string
	SLOResponseURL string
	// SLOBinding is SAMLBindingPOST (also when empty), SAMLBindingRedirect (both through the
	// browser) or SAMLBindingSOAP (back channel: the IdP posts LogoutRequests to SLOURL itself).
	SLOBinding string
	// SigningCertificates are PEM certificates the SP signs its requests with.
	SigningCertificates []string
	// EncryptionCertificate is the PEM certificate assertions are encrypted to.
	EncryptionCertificate string
	// NameIDFormat is the format of the Subject's NameID (urn:oasis:names:tc:SAML:…); empty
	// means the IdP's default.
	NameIDFormat  string
	SignResponse  bool
	SignAssertion bool
	// SignatureAlgorithm and DigestAlgorithm are XML-DSig URIs; empty means RSA-SHA256 and SHA-256.
	SignatureAlgorithm string
	DigestAlgorithm    string
	// AllowSHA1 permits SHA-1 signatures and digests (both ways).
	AllowSHA1        bool
	EncryptAssertion bool
	// EncryptionAlgorithm (block cipher) and KeyTransportAlgorithm are XML-Enc URIs; empty
	// means AES-256-GCM and RSA-OAEP.
	EncryptionAlgorithm   string
	KeyTransportAlgorithm string
	// RequireSignedRequests refuses unsigned AuthnRequests.
	RequireSignedRequests bool
	// AttributeMapping maps local claim URIs (http://wso2.org/claims/emailaddress) to SAML
	// attribute names.
	AttributeMapping map[string]string
	// Audiences are added to the SP's entity id in the AudienceRestriction.
	Audiences []string
	// IdPInitiated allows unsolicited responses (IdP-initiated SSO).
	IdPInitiated bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SAMLEndpoint is an indexed endpoint of SAML metadata (an AssertionConsumerService).
type SAMLEndpoint struct {
	URL     string `json:"url"`
	Binding string `json:"binding"`
	Index   int    `json:"index"`
	Default bool   `json:"default,omitempty"`
}

// NewSAMLServiceProvider is the input of CreateSAMLServiceProvider. ID, OrgID (taken from
// the application), CreatedAt and UpdatedAt are ignored.
type NewSAMLServiceProvider struct {
	SAMLServiceProvider
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

// Bindings of a service provider's single logout service.
const (
	SAMLBindingPOST     = "POST"
	SAMLBindingRedirect = "REDIRECT"
	// SAMLBindingSOAP is back-channel single logout (saml-bindings §3.2): LogoutRequests go
	// from the IdP to the SP in a SOAP envelope, not through the browser.
	SAMLBindingSOAP = "SOAP"
)

const samlSPColumns = `id, org_id, application_id, entity_id, acs, slo_url, slo_response_url, slo_binding,
	signing_certificates, encryption_certificate, name_id_format, sign_response, sign_assertion,
	signature_algorithm, digest_algorithm, allow_sha1, encrypt_assertion, encryption_algorithm,
	key_transport_algorithm, require_signed_requests, attribute_mapping, audiences, idp_initiated,
	created_at, updated_at`

func scanSAMLServiceProvider(row pgx.Row) (SAMLServiceProvider, error) {
	var (
		sp        SAMLServiceProvider
		acs, attr []byte
	)
	if err := row.Scan(&sp.ID, &sp.OrgID, &sp.ApplicationID, &sp.EntityID, &acs, &sp.SLOURL,
		&sp.SLOResponseURL, &sp.SLOBinding, &sp.SigningCertificates, &sp.EncryptionCertificate, &sp.NameIDFormat,
		&sp.SignResponse, &sp.SignAssertion, &sp.SignatureAlgorithm, &sp.DigestAlgorithm,
		&sp.AllowSHA1, &sp.EncryptAssertion, &sp.EncryptionAlgorithm, &sp.KeyTransportAlgorithm,
		&sp.RequireSignedRequests, &attr, &sp.Audiences, &sp.IdPInitiated,
		&sp.CreatedAt, &sp.UpdatedAt); err != nil {
		return SAMLServiceProvider{}, err
	}
	if err := json.Unmarshal(acs, &sp.ACS); err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("decode acs of saml service provider %s: %w", sp.ID, err)
	}
	if err := json.Unmarshal(attr, &sp.AttributeMapping); err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("decode attribute_mapping of saml service provider %s: %w", sp.ID, err)
	}
	sp.CreatedAt, sp.UpdatedAt = sp.CreatedAt.UTC(), sp.UpdatedAt.UTC()
	return sp, nil
}

// Validate checks what the store can check of a service provider: an entity id, at least one
// ACS with a URL and distinct indexes, and an encryption certificate when assertions are
// encrypted. Certificates and URLs are checked by the SAML front-end.
func (sp SAMLServiceProvider) Validate() error {
	if sp.EntityID == "" || len(sp.EntityID) > 1024 || !utf8.ValidString(sp.EntityID) {
		return errors.New("entity id is empty, too long or not UTF-8")
	}
	if len(sp.ACS) == 0 {
		return errors.New("no assertion consumer service")
	}
	seen := map[int]bool{}
	for _, e := range sp.ACS {
		if e.URL == "" || e.Binding == "" {
			return errors.New("assertion consumer service without url or binding")
		}
		if seen[e.Index] {
			return fmt.Errorf("assertion consumer service index %d used twice", e.Index)
		}
		seen[e.Index] = true
	}
	if sp.EncryptAssertion && sp.EncryptionCertificate == "" {
		return errors.New("assertion encryption needs an encryption certificate")
	}
	return nil
}

// CreateSAMLServiceProvider registers the SAML configuration of an application, in the
// application's organization, and records an audit event. An entity id taken in the
// organization, or an application that already has one, returns ErrConflict; an unknown
// application ErrNotFound; an invalid configuration a plain error.
func (q *queries) CreateSAMLServiceProvider(ctx context.Context, nsp NewSAMLServiceProvider) (SAMLServiceProvider, error) {
	sp := nsp.SAMLServiceProvider
	if _, err := uuid.Parse(sp.ApplicationID); err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("store: create saml service provider: application %q: %w", sp.ApplicationID, ErrNotFound)
	}
	if err := sp.Validate(); err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("store: create saml service provider: %w", err)
	}
	acs, err := json.Marshal(sp.ACS)
	if err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("store: create saml service provider: encode acs: %w", err)
	}
	if sp.AttributeMapping == nil {
		sp.AttributeMapping = map[string]string{}
	}
	attr, err := json.Marshal(sp.AttributeMapping)
	if err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("store: create saml service provider: encode attribute mapping: %w", err)
	}
	certs := sp.SigningCertificates
	if certs == nil {
		certs = []string{}
	}
	auds := sp.Audiences
	if auds == nil {
		auds = []string{}
	}
	sloBinding := sp.SLOBinding
	switch sloBinding {
	case "":
		sloBinding = SAMLBindingPOST
	case SAMLBindingPOST, SAMLBindingRedirect, SAMLBindingSOAP:
	default:
		return SAMLServiceProvider{}, fmt.Errorf("store: create saml service provider: single logout binding %q: want %s, %s or %s",
			sloBinding, SAMLBindingPOST, SAMLBindingRedirect, SAMLBindingSOAP)
	}
	var out SAMLServiceProvider
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanSAMLServiceProvider(q.db.QueryRow(ctx, `
			INSERT INTO saml_service_providers (org_id, application_id, entity_id, acs, slo_url,
				slo_response_url, signing_certificates, encryption_certificate, name_id_format,
				sign_response, sign_assertion, signature_algorithm, digest_algorithm, allow_sha1,
				encrypt_assertion, encryption_algorithm, key_transport_algorithm,
				require_signed_requests, attribute_mapping, audiences, idp_initiated, slo_binding)
			SELECT a.org_id, a.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
				$16, $17, $18, $19, $20, $21
			FROM applications a WHERE a.id = $1
			RETURNING `+samlSPColumns,
			sp.ApplicationID, sp.EntityID, acs, sp.SLOURL, sp.SLOResponseURL, certs,
			sp.EncryptionCertificate, sp.NameIDFormat, sp.SignResponse, sp.SignAssertion,
			sp.SignatureAlgorithm, sp.DigestAlgorithm, sp.AllowSHA1, sp.EncryptAssertion,
			sp.EncryptionAlgorithm, sp.KeyTransportAlgorithm, sp.RequireSignedRequests, attr,
			auds, sp.IdPInitiated, sloBinding))
		if err != nil {
			return mapErr(fmt.Sprintf("store: create saml service provider for application %s", sp.ApplicationID), err)
		}
		return q.audit(ctx, auditEvent{
			orgID: out.OrgID, actor: nsp.Actor, action: AuditSAMLServiceProviderCreate,
			targetType: "saml_service_provider", targetID: out.ID,
			after: map[string]any{"applicationId": out.ApplicationID, "entityId": out.EntityID},
		})
	})
	if err != nil {
		return SAMLServiceProvider{}, err
	}
	return out, nil
}

// SAMLServiceProviderByEntityID returns the service provider of an organization with the
// given entity id, or ErrNotFound.
func (q *queries) SAMLServiceProviderByEntityID(ctx context.Context, orgID, entityID string) (SAMLServiceProvider, error) {
	if _, err := uuid.Parse(orgID); err != nil || entityID == "" || !utf8.ValidString(entityID) {
		return SAMLServiceProvider{}, fmt.Errorf("store: saml service provider by entity id: %w", ErrNotFound)
	}
	sp, err := scanSAMLServiceProvider(q.db.QueryRow(ctx, `
		SELECT `+samlSPColumns+` FROM saml_service_providers WHERE org_id = $1 AND entity_id = $2`,
		orgID, entityID))
	if err != nil {
		return SAMLServiceProvider{}, mapErr("store: saml service provider by entity id", err)
	}
	return sp, nil
}

// SAMLServiceProviderByApplication returns the service provider of an application, or
// ErrNotFound.
func (q *queries) SAMLServiceProviderByApplication(ctx context.Context, applicationID string) (SAMLServiceProvider, error) {
	if _, err := uuid.Parse(applicationID); err != nil {
		return SAMLServiceProvider{}, fmt.Errorf("store: saml service provider of application %q: %w", applicationID, ErrNotFound)
	}
	sp, err := scanSAMLServiceProvider(q.db.QueryRow(ctx, `
		SELECT `+samlSPColumns+` FROM saml_service_providers WHERE application_id = $1`, applicationID))
	if err != nil {
		return SAMLServiceProvider{}, mapErr("store: saml service provider of application", err)
	}
	return sp, nil
}

// DeleteSAMLServiceProvider removes a service provider and records an audit event; an
// unknown id returns ErrNotFound.
func (q *queries) DeleteSAMLServiceProvider(ctx context.Context, id string, actor Actor) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("store: delete saml service provider %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var orgID, entityID string
		err := q.db.QueryRow(ctx, `
			DELETE FROM saml_service_providers WHERE id = $1 RETURNING org_id, entity_id`, id).Scan(&orgID, &entityID)
		if err != nil {
			return mapErr("store: delete saml service provider", err)
		}
		return q.audit(ctx, auditEvent{
			orgID: orgID, actor: actor, action: AuditSAMLServiceProviderDelete,
			targetType: "saml_service_provider", targetID: id,
			before: map[string]any{"entityId": entityID},
		})
	})
}

// SAMLSigningKey is a tenant's SAML signing key. PrivateKey is sealed by the caller with the
// key-encryption key KEKID names; the store never sees it in the clear.
type SAMLSigningKey struct {
	OrgID       string
	Certificate []byte // DER
	PrivateKey  []byte // sealed
	KEKID       string
	CreatedAt   time.Time
}

// SAMLSigningKey returns the signing key of an organization, or ErrNotFound.
func (q *queries) SAMLSigningKey(ctx context.Context, orgID string) (SAMLSigningKey, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return SAMLSigningKey{}, fmt.Errorf("store: saml signing key of %q: %w", orgID, ErrNotFound)
	}
	k := SAMLSigningKey{OrgID: orgID}
	err := q.db.QueryRow(ctx, `
		SELECT certificate, private_key, kek_id, created_at FROM saml_signing_keys WHERE org_id = $1`,
		orgID).Scan(&k.Certificate, &k.PrivateKey, &k.KEKID, &k.CreatedAt)
	if err != nil {
		return SAMLSigningKey{}, mapErr("store: saml signing key", err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, nil
}

// CreateSAMLSigningKey stores the signing key of an organization unless it has one already
// (another process got there first): then it stores nothing and returns false, and callers
// reload. An unknown organization returns ErrNotFound.
func (q *queries) CreateSAMLSigningKey(ctx context.Context, k SAMLSigningKey) (created bool, err error) {
	if _, err := uuid.Parse(k.OrgID); err != nil {
		return false, fmt.Errorf("store: create saml signing key: organization %q: %w", k.OrgID, ErrNotFound)
	}
	if len(k.Certificate) == 0 || len(k.PrivateKey) == 0 || k.KEKID == "" {
		return false, errors.New("store: create saml signing key: certificate, sealed key or KEK id missing")
	}
	tag, err := q.db.Exec(ctx, `
		INSERT INTO saml_signing_keys (org_id, certificate, private_key, kek_id)
		VALUES ($1, $2, $3, $4) ON CONFLICT (org_id) DO NOTHING`,
		k.OrgID, k.Certificate, k.PrivateKey, k.KEKID)
	if isForeignKeyViolation(err) {
		return false, fmt.Errorf("store: create saml signing key: organization %s: %w", k.OrgID, ErrNotFound)
	}
	if err != nil {
		return false, mapErr("store: create saml signing key", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ConsumeSAMLRequestID records that the request id of issuer has been seen, until expiresAt.
// A second call with the same issuer and id before then returns ErrConflict (a replay). Each
// call also sweeps a few expired ids.
func (q *queries) ConsumeSAMLRequestID(ctx context.Context, issuer, requestID string, expiresAt time.Time) error {
	if requestID == "" || !utf8.ValidString(issuer+requestID) || len(issuer)+len(requestID) > 4096 {
		return errors.New("store: consume saml request id: empty, too long or not UTF-8")
	}
	if _, err := q.db.Exec(ctx, `
		DELETE FROM saml_request_ids WHERE ctid IN (
			SELECT ctid FROM saml_request_ids WHERE expires_at < now() LIMIT 100)`); err != nil {
		return mapErr("store: sweep saml request ids", err)
	}
	// An expired row with the same key is taken over: the id may be reused once the first
	// request could no longer be accepted anyway.
	tag, err := q.db.Exec(ctx, `
		INSERT INTO saml_request_ids (issuer, request_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (issuer, request_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE saml_request_ids.expires_at < now()`, issuer, requestID, expiresAt)
	if err != nil {
		return mapErr("store: consume saml request id", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: saml request id already used: %w", ErrConflict)
	}
	return nil
}
