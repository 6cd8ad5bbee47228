package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditSessionTerminate is recorded when an SSO session is ended before it expired.
const AuditSessionTerminate = "session.terminate"

// SSOSession is a browser's single-sign-on session (WSO2's commonAuthId cookie). The cookie
// holds a random token; the store keeps only its SHA-256 (TokenHash).
type SSOSession struct {
	// ID is the public session id: the OIDC sid, what scripts and My Account list.
	ID    string
	OrgID string
	// UserID is the local user, empty for an unlinked federated subject.
	UserID  string
	Subject string
	// Steps are the authenticated steps (flows.AuthenticatedStep) as JSON; the store does not
	// look inside.
	Steps json.RawMessage
	// AuthTime is when the user first authenticated in the session.
	AuthTime      time.Time
	LastActiveAt  time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	UserAgent     string
	IP            string
	CreatedAt     time.Time
	// Participants are the applications the session logged into (filled by UserSSOSessions and
	// SSOSessionByID).
	Participants []SSOParticipant
}

// SSOParticipant is one relying party a session logged into.
type SSOParticipant struct {
	// Protocol is "oidc", "saml", "wsfed" or "app-native".
	Protocol string
	// RelyingParty is the client id, SP entity id or realm.
	RelyingParty  string
	ApplicationID string
	// RPSession is what the protocol needs to log the participant out later (SAML: the NameID
	// issued, as JSON; the SessionIndex is the session id).
	RPSession string
	FirstAt   time.Time
	LastAt    time.Time
}

const ssoSessionColumns = `id, org_id, coalesce(user_id::text, ''), subject, steps, auth_time, last_active_at,
	idle_expires_at, expires_at, user_agent, ip, created_at`

func scanSSOSession(row pgx.Row) (SSOSession, error) {
	var s SSOSession
	err := row.Scan(&s.ID, &s.OrgID, &s.UserID, &s.Subject, &s.Steps, &s.AuthTime, &s.LastActiveAt,
		&s.IdleExpiresAt, &s.ExpiresAt, &s.UserAgent, &s.IP, &s.CreatedAt)
	return s, err
}

// CreateSSOSession stores a new session under the SHA-256 of its cookie token and returns it
// with its id. Expiry times must be set; a taken token hash is ErrConflict.
func (q *queries) CreateSSOSession(ctx context.Context, tokenHash []byte, s SSOSession) (SSOSession, error) {
	if len(tokenHash) != 32 || s.OrgID == "" || s.Subject == "" || s.ExpiresAt.IsZero() || s.IdleExpiresAt.IsZero() {
		return SSOSession{}, fmt.Errorf("store: create SSO session: token hash, organization, subject and expiry are required")
	}
	steps := s.Steps
	if len(steps) == 0 {
		steps = json.RawMessage("[]")
	}
	out, err := scanSSOSession(q.db.QueryRow(ctx, `
		INSERT INTO sso_sessions (token_hash, org_id, user_id, subject, steps, auth_time, last_active_at,
			idle_expires_at, expires_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING `+ssoSessionColumns,
		tokenHash, s.OrgID, nullIfEmpty(s.UserID), s.Subject, steps, s.AuthTime, s.LastActiveAt,
		s.IdleExpiresAt, s.ExpiresAt, truncate(s.UserAgent, 512), truncate(s.IP, 64)))
	if err != nil {
		return SSOSession{}, mapErr("store: create SSO session", err)
	}
	return out, nil
}

// SSOSessionByToken returns the live session whose cookie token hashes to tokenHash: not
// terminated and neither idle- nor absolutely expired at now. Anything else is ErrNotFound.
func (q *queries) SSOSessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (SSOSession, error) {
	s, err := scanSSOSession(q.db.QueryRow(ctx, `SELECT `+ssoSessionColumns+` FROM sso_sessions
		WHERE token_hash = $1 AND terminated_at IS NULL AND idle_expires_at > $2 AND expires_at > $2`,
		tokenHash, now))
	if err != nil {
		return SSOSession{}, mapErr("store: SSO session", err)
	}
	return s, nil
}

// SSOSessionByID returns a live session by its public id, with its participants.
func (q *queries) SSOSessionByID(ctx context.Context, id string, now time.Time) (SSOSession, error) {
	if _, err := uuid.Parse(id); err != nil {
		return SSOSession{}, fmt.Errorf("store: SSO session %q: %w", id, ErrNotFound)
	}
	s, err := scanSSOSession(q.db.QueryRow(ctx, `SELECT `+ssoSessionColumns+` FROM sso_sessions
		WHERE id = $1 AND terminated_at IS NULL AND idle_expires_at > $2 AND expires_at > $2`, id, now))
	if err != nil {
		return SSOSession{}, mapErr("store: SSO session", err)
	}
	ps, err := q.participants(ctx, []string{s.ID})
	if err != nil {
		return SSOSession{}, err
	}
	s.Participants = ps[s.ID]
	return s, nil
}

// RefreshSSOSession records a login that used (and may have extended) session id: the
// session's steps become steps, its idle expiry moves to idleExpiresAt (never past the absolute
// expiry) and the relying party is added to its participants. A session that is no longer live
// is ErrNotFound.
func (q *queries) RefreshSSOSession(ctx context.Context, id string, steps json.RawMessage, now, idleExpiresAt time.Time, p SSOParticipant) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("store: refresh SSO session %q: %w", id, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		tag, err := q.db.Exec(ctx, `
			UPDATE sso_sessions SET steps = coalesce($2, steps), last_active_at = $3,
				idle_expires_at = least($4, expires_at)
			WHERE id = $1 AND terminated_at IS NULL AND idle_expires_at > $3 AND expires_at > $3`,
			id, nullJSON(steps), now, idleExpiresAt)
		if err != nil {
			return mapErr("store: refresh SSO session", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store: refresh SSO session %s: %w", id, ErrNotFound)
		}
		return q.addParticipant(ctx, id, p, now)
	})
}

// AddSSOParticipant records that session id logged into a relying party.
func (q *queries) AddSSOParticipant(ctx context.Context, id string, p SSOParticipant, now time.Time) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("store: SSO participant: session %q: %w", id, ErrNotFound)
	}
	return q.addParticipant(ctx, id, p, now)
}

func (q *queries) addParticipant(ctx context.Context, id string, p SSOParticipant, now time.Time) error {
	if p.Protocol == "" || p.RelyingParty == "" {
		return nil
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO sso_session_participants (session_id, protocol, relying_party, application_id, rp_session, first_at, last_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (session_id, protocol, relying_party) DO UPDATE
			SET last_at = excluded.last_at,
			    rp_session = CASE WHEN excluded.rp_session <> '' THEN excluded.rp_session ELSE sso_session_participants.rp_session END`,
		id, p.Protocol, p.RelyingParty, nullIfEmpty(p.ApplicationID), p.RPSession, now)
	return mapErr("store: SSO participant", err)
}

// UserSSOSessions lists the live sessions of a local user at now, newest first, with their
// participants.
func (q *queries) UserSSOSessions(ctx context.Context, userID string, now time.Time) ([]SSOSession, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `SELECT `+ssoSessionColumns+` FROM sso_sessions
		WHERE user_id = $1 AND terminated_at IS NULL AND idle_expires_at > $2 AND expires_at > $2
		ORDER BY last_active_at DESC, id`, userID, now)
	if err != nil {
		return nil, mapErr("store: user SSO sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SSOSession, error) { return scanSSOSession(r) })
	if err != nil {
		return nil, mapErr("store: user SSO sessions", err)
	}
	ids := make([]string, len(out))
	for i, s := range out {
		ids[i] = s.ID
	}
	ps, err := q.participants(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Participants = ps[out[i].ID]
	}
	return out, nil
}

func (q *queries) participants(ctx context.Context, ids []string) (map[string][]SSOParticipant, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `
		SELECT session_id, protocol, relying_party, coalesce(application_id::text, ''), rp_session, first_at, last_at
		FROM sso_session_participants WHERE session_id = ANY($1::uuid[]) ORDER BY first_at, relying_party`, ids)
	if err != nil {
		return nil, mapErr("store: SSO participants", err)
	}
	defer rows.Close()
	out := map[string][]SSOParticipant{}
	for rows.Next() {
		var id string
		var p SSOParticipant
		if err := rows.Scan(&id, &p.Protocol, &p.RelyingParty, &p.ApplicationID, &p.RPSession, &p.FirstAt, &p.LastAt); err != nil {
			return nil, mapErr("store: SSO participants", err)
		}
		out[id] = append(out[id], p)
	}
	return out, mapErr("store: SSO participants", rows.Err())
}

// TerminateSSOSession ends session id at now and returns it (with participants, for logout
// fan-out). When userID is not empty the session must belong to that user. An unknown or
// already ended session is ErrNotFound.
func (q *queries) TerminateSSOSession(ctx context.Context, id, userID string, now time.Time, actor Actor) (SSOSession, error) {
	if _, err := uuid.Parse(id); err != nil {
		return SSOSession{}, fmt.Errorf("store: terminate SSO session %q: %w", id, ErrNotFound)
	}
	var out SSOSession
	err := q.atomic(ctx, func(q *queries) error {
		s, err := scanSSOSession(q.db.QueryRow(ctx, `
			UPDATE sso_sessions SET terminated_at = $2
			WHERE id = $1 AND terminated_at IS NULL AND expires_at > $2 AND ($3 = '' OR user_id::text = $3)
			RETURNING `+ssoSessionColumns, id, now, userID))
		if err != nil {
			return mapErr("store: terminate SSO session", err)
		}
		ps, err := q.participants(ctx, []string{s.ID})
		if err != nil {
			return err
		}
		s.Participants = ps[s.ID]
		out = s
		return q.audit(ctx, auditEvent{orgID: s.OrgID, actor: actor, action: AuditSessionTerminate,
			targetType: "session", targetID: s.ID, before: map[string]any{"subject": s.Subject}})
	})
	return out, err
}

// TerminateUserSSOSessions ends every live session of a local user at now and returns them (with
// participants, for logout fan-out), in one transaction.
func (q *queries) TerminateUserSSOSessions(ctx context.Context, userID string, now time.Time, actor Actor) ([]SSOSession, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return nil, nil
	}
	var out []SSOSession
	err := q.atomic(ctx, func(q *queries) error {
		rows, err := q.db.Query(ctx, `
			UPDATE sso_sessions SET terminated_at = $2
			WHERE user_id = $1 AND terminated_at IS NULL AND expires_at > $2
			RETURNING `+ssoSessionColumns, userID, now)
		if err != nil {
			return mapErr("store: terminate user SSO sessions", err)
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SSOSession, error) { return scanSSOSession(r) })
		if err != nil {
			return mapErr("store: terminate user SSO sessions", err)
		}
		ids := make([]string, len(list))
		for i, s := range list {
			ids[i] = s.ID
		}
		ps, err := q.participants(ctx, ids)
		if err != nil {
			return err
		}
		for i := range list {
			list[i].Participants = ps[list[i].ID]
			if err := q.audit(ctx, auditEvent{orgID: list[i].OrgID, actor: actor, action: AuditSessionTerminate,
				targetType: "session", targetID: list[i].ID, before: map[string]any{"subject": list[i].Subject}}); err != nil {
				return err
			}
		}
		out = list
		return nil
	})
	return out, err
}

// DeleteExpiredSSOSessions removes sessions that ended before cutoff (expired or terminated)
// and returns how many.
func (q *queries) DeleteExpiredSSOSessions(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM sso_sessions
		WHERE expires_at < $1 OR idle_expires_at < $1 OR terminated_at < $1`, cutoff)
	if err != nil {
		return 0, mapErr("store: delete expired SSO sessions", err)
	}
	return tag.RowsAffected(), nil
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
