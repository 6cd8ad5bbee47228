package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditWSFedRelyingPartyCreate is recorded when a WS-Federation relying party is registered.
const AuditWSFedRelyingPartyCreate = "wsfed.relying_party.create"

// AuditWSFedRelyingPartyDelete is recorded when a WS-Federation relying party is removed.
const AuditWSFedRelyingPartyDelete = "wsfed.relying_party.delete"

// Token types of WS-Federation relying parties (WS-Trust TokenType URIs).
const (
	WSFedTokenSAML11 = "urn:oasis:names:tc:SAML:1.0:assertion"
	WSFedTokenSAML20 = "urn:oasis:names:tc:SAML:2.0:assertion"
)

// WSFedRelyingParty is the WS-Federation passive (WSO2's Passive STS) inbound configuration of
// an application: its realm, where tokens may be posted and what they carry.
type WSFedRelyingParty struct {
	ID            string
	OrgID         string
	ApplicationID string
	// Realm is the wtrealm that names the relying party, and the token's audience.
	Realm string
	// ReplyURLs are where tokens may be posted: a request's wreply must equal one of them.
	ReplyURLs []string
	// DefaultReplyURL answers requests without wreply; empty means ReplyURLs[0].
	DefaultReplyURL string
	// LogoutReplyURL is where sign-out may also send the browser ('' for none).
	LogoutReplyURL string
	// TokenType is WSFedTokenSAML11 (the default, as ADFS and WSO2) or WSFedTokenSAML20.
	TokenType string
	// ClaimMapping maps local claim URIs (http://wso2.org/claims/emailaddress) to claim type
	// URIs (http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress).
	ClaimMapping map[string]string
	// NameIDFormat is the subject's NameIdentifier format; empty means unspecified.
	NameIDFormat string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewWSFedRelyingParty is the input of CreateWSFedRelyingParty. ID, OrgID (taken from the
// application), CreatedAt and UpdatedAt are ignored.
type NewWSFedRelyingParty struct {
	WSFedRelyingParty
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

// DefaultReply is the reply URL of a request without wreply.
func (rp WSFedRelyingParty) DefaultReply() string {
	if rp.DefaultReplyURL != "" {
		return rp.DefaultReplyURL
	}
	if len(rp.ReplyURLs) > 0 {
		return rp.ReplyURLs[0]
	}
	return ""
}

// Validate checks a relying party: a realm, absolute http(s) reply URLs without fragment, a
// default reply among them, a known token type.
func (rp WSFedRelyingParty) Validate() error {
	if rp.Realm == "" || len(rp.Realm) > 1024 || !utf8.ValidString(rp.Realm) {
		return errors.New("realm is empty, too long or not UTF-8")
	}
	if len(rp.ReplyURLs) == 0 {
		return errors.New("no reply URL")
	}
	for _, u := range rp.ReplyURLs {
		if err := checkReplyURL(u); err != nil {
			return err
		}
	}
	if rp.LogoutReplyURL != "" {
		if err := checkReplyURL(rp.LogoutReplyURL); err != nil {
			return err
		}
	}
	if rp.DefaultReplyURL != "" && !slices.Contains(rp.ReplyURLs, rp.DefaultReplyURL) {
		return errors.New("default reply URL is not one of the reply URLs")
	}
	switch rp.TokenType {
	case "", WSFedTokenSAML11, WSFedTokenSAML20:
	default:
		return fmt.Errorf("unknown token type %q", rp.TokenType)
	}
	return nil
}

func checkReplyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || len(s) > 2048 {
		return fmt.Errorf("reply URL %q must be an absolute http(s) URL without fragment", s)
	}
	return nil
}

const wsfedRPColumns = `id, org_id, application_id, realm, reply_urls, default_reply_url, logout_reply_url,
	token_type, claim_mapping, name_id_format, created_at, updated_at`

func scanWSFedRelyingParty(row pgx.Row) (WSFedRelyingParty, error) {
	var (
		rp      WSFedRelyingParty
		mapping []byte
	)
	if err := row.Scan(&rp.ID, &rp.OrgID, &rp.ApplicationID, &rp.Realm, &rp.ReplyURLs, &rp.DefaultReplyURL,
		&rp.LogoutReplyURL, &rp.TokenType, &mapping, &rp.NameIDFormat, &rp.CreatedAt, &rp.UpdatedAt); err != nil {
		return WSFedRelyingParty{}, err
	}
	if err := json.Unmarshal(mapping, &rp.ClaimMapping); err != nil {
		return WSFedRelyingParty{}, fmt.Errorf("decode claim_mapping of wsfed relying party %s: %w", rp.ID, err)
	}
	rp.CreatedAt, rp.UpdatedAt = rp.CreatedAt.UTC(), rp.UpdatedAt.UTC()
	return rp, nil
}

// CreateWSFedRelyingParty registers the WS-Federation configuration of an application, in the
// application's organization, and records an audit event. A realm taken in the organization,
// or an application that already has one, returns ErrConflict; an unknown application
// ErrNotFound; an invalid configuration a plain error.
func (q *queries) CreateWSFedRelyingParty(ctx context.Context, nrp NewWSFedRelyingParty) (WSFedRelyingParty, error) {
	rp := nrp.WSFedRelyingParty
	if _, err := uuid.Parse(rp.ApplicationID); err != nil {
		return WSFedRelyingParty{}, fmt.Errorf("store: create wsfed relying party: application %q: %w", rp.ApplicationID, ErrNotFound)
	}
	if err := rp.Validate(); err != nil {
		return WSFedRelyingParty{}, fmt.Errorf("store: create wsfed relying party: %w", err)
	}
	if rp.TokenType == "" {
		rp.TokenType = WSFedTokenSAML11
	}
	if rp.ClaimMapping == nil {
		rp.ClaimMapping = map[string]string{}
	}
	mapping, err := json.Marshal(rp.ClaimMapping)
	if err != nil {
		return WSFedRelyingParty{}, fmt.Errorf("store: create wsfed relying party: encode claim mapping: %w", err)
	}
	var out WSFedRelyingParty
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanWSFedRelyingParty(q.db.QueryRow(ctx, `
			INSERT INTO wsfed_relying_parties (org_id, application_id, realm, reply_urls, default_reply_url,
				logout_reply_url, token_type, claim_mapping, name_id_format)
			SELECT a.org_id, a.id, $2, $3, $4, $5, $6, $7, $8
			FROM applications a WHERE a.id = $1
			RETURNING `+wsfedRPColumns,
			rp.ApplicationID, rp.Realm, rp.ReplyURLs, rp.DefaultReplyURL, rp.LogoutReplyURL, rp.TokenType,
			mapping, rp.NameIDFormat))
		if err != nil {
			return mapErr(fmt.Sprintf("store: create wsfed relying party for application %s", rp.ApplicationID), err)
		}
		return q.audit(ctx, auditEvent{
			orgID: out.OrgID, actor: nrp.Actor, action: AuditWSFedRelyingPartyCreate,
			targetType: "wsfed_relying_party", targetID: out.ID,
			after: map[string]any{"applicationId": out.ApplicationID, "realm": out.Realm},
		})
	})
	if err != nil {
		return WSFedRelyingParty{}, err
	}
	return out, nil
}

// WSFedRelyingPartyByRealm returns the relying party of an organization with the given realm,
// or ErrNotFound.
func (q *queries) WSFedRelyingPartyByRealm(ctx context.Context, orgID, realm string) (WSFedRelyingParty, error) {
	if _, err := uuid.Parse(orgID); err != nil || realm == "" || len(realm) > 1024 || !utf8.ValidString(realm) {
		return WSFedRelyingParty{}, fmt.Errorf("store: wsfed relying party by realm: %w", ErrNotFound)
	}
	rp, err := scanWSFedRelyingParty(q.db.QueryRow(ctx, `
		SELECT `+wsfedRPColumns+` FROM wsfed_relying_parties WHERE org_id = $1 AND realm = $2`, orgID, realm))
	if err != nil {
		return WSFedRelyingParty{}, mapErr("store: wsfed relying party by realm", err)
	}
	return rp, nil
}

// WSFedRelyingPartyByApplication returns the relying party of an application, or ErrNotFound.
func (q *queries) WSFedRelyingPartyByApplication(ctx context.Context, applicationID string) (WSFedRelyingParty, error) {
	if _, err := uuid.Parse(applicationID); err != nil {
		return WSFedRelyingParty{}, fmt.Errorf("store: wsfed relying party of application %q: %w", applicationID, ErrNotFound)
	}
	rp, err := scanWSFedRelyingParty(q.db.QueryRow(ctx, `
		SELECT `+wsfedRPColumns+` FROM wsfed_relying_parties WHERE application_id = $1`, applicationID))
	if err != nil {
		return WSFedRelyingParty{}, mapErr("store: wsfed relying party of application", err)
	}
	return rp, nil
}

// WSFedReplyURLRegistered reports whether some relying party of the organization registers u
// as a reply URL or its logout reply URL (where a sign-out without wtrealm may redirect).
func (q *queries) WSFedReplyURLRegistered(ctx context.Context, orgID, u string) (bool, error) {
	if _, err := uuid.Parse(orgID); err != nil || u == "" || !utf8.ValidString(u) {
		return false, nil
	}
	var ok bool
	err := q.db.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM wsfed_relying_parties
			WHERE org_id = $1 AND ($2 = ANY (reply_urls) OR logout_reply_url = $2))`, orgID, u).Scan(&ok)
	if err != nil {
		return false, mapErr("store: wsfed reply URL registered", err)
	}
	return ok, nil
}

// DeleteWSFedRelyingParty removes a relying party and records an audit event; an unknown id
// returns ErrNotFound.
func (q *queries) DeleteWSFedRelyingParty(ctx context.Context, id string, actor Actor) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("store: delete wsfed relying party %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var orgID, realm string
		err := q.db.QueryRow(ctx, `
			DELETE FROM wsfed_relying_parties WHERE id = $1 RETURNING org_id, realm`, id).Scan(&orgID, &realm)
		if err != nil {
			return mapErr("store: delete wsfed relying party", err)
		}
		return q.audit(ctx, auditEvent{
			orgID: orgID, actor: actor, action: AuditWSFedRelyingPartyDelete,
			targetType: "wsfed_relying_party", targetID: id,
			before: map[string]any{"realm": realm},
		})
	})
}
