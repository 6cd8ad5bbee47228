package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/store"
)

// SSO sessions. A successful browser login leaves the browser a session cookie (WSO2's
// commonAuthId) holding a random token; PostgreSQL keeps the token's SHA-256 and the steps the user
// completed. A later browser login in the same organization hands those steps to the login
// workflow, which completes a step without interaction when one of its options was already
// satisfied (SUCCESS, so the script's onSuccess runs) — unless forceAuth, prompt=login, SAML
// ForceAuthn or max_age say otherwise. Idle and absolute lifetimes bound a session.

// SessionCookie is the SSO session cookie's name, as in WSO2.
const SessionCookie = "commonAuthId"

// Default session lifetimes (Keycloak's SSO Session Idle and Max).
const (
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultSessionLifetime    = 10 * time.Hour
)

// Sessions keeps SSO sessions; *store.Store implements it.
type Sessions interface {
	CreateSSOSession(ctx context.Context, tokenHash []byte, s store.SSOSession) (store.SSOSession, error)
	SSOSessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (store.SSOSession, error)
	RefreshSSOSession(ctx context.Context, id string, steps json.RawMessage, now, idleExpiresAt time.Time, p store.SSOParticipant) error
}

// liveSession returns the browser's live SSO session in organization orgID.
func (h *Handler) liveSession(c *gin.Context, orgID string) (store.SSOSession, bool) {
	if h.cfg.Sessions == nil || orgID == "" {
		return store.SSOSession{}, false
	}
	token, err := c.Cookie(SessionCookie)
	if err != nil || token == "" || len(token) > 128 {
		return store.SSOSession{}, false
	}
	sum := sha256.Sum256([]byte(token))
	s, err := h.cfg.Sessions.SSOSessionByToken(c.Request.Context(), sum[:], h.cfg.Now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.ErrorContext(c.Request.Context(), "authn: SSO session look-up failed", "error", err)
		}
		return store.SSOSession{}, false
	}
	if s.OrgID != orgID {
		return store.SSOSession{}, false
	}
	return s, true
}

// ssoSession is the browser's SSO session as the login workflow takes it, nil when none.
func (h *Handler) ssoSession(c *gin.Context, orgID string) *flows.SSOSession {
	s, ok := h.liveSession(c, orgID)
	if !ok {
		return nil
	}
	var steps []flows.AuthenticatedStep
	if err := json.Unmarshal(s.Steps, &steps); err != nil {
		h.log.ErrorContext(c.Request.Context(), "authn: SSO session steps unreadable", "session", s.ID, "error", err)
		return nil
	}
	return &flows.SSOSession{ID: s.ID, Steps: steps}
}

// saveSession records a successful browser login in the browser's SSO session — the current one
// when it belongs to the same subject, else a new one with a new cookie — and returns the
// session id. A failure is logged and yields "": the login itself has succeeded.
func (h *Handler) saveSession(c *gin.Context, v flows.View, st *LoginState) string {
	if h.cfg.Sessions == nil || st.OrgID == "" {
		return ""
	}
	ctx := c.Request.Context()
	now := h.cfg.Now()
	subject := v.Result.Subject
	participant := store.SSOParticipant{Protocol: st.Protocol, RelyingParty: st.RelyingParty, ApplicationID: st.ApplicationID}
	idle := now.Add(h.cfg.SessionIdleTimeout)
	if cur, ok := h.liveSession(c, st.OrgID); ok && cur.Subject == subjectOf(subject) {
		var old []flows.AuthenticatedStep
		_ = json.Unmarshal(cur.Steps, &old) // unreadable steps are replaced
		steps, err := json.Marshal(mergeSteps(old, v.Result.AuthenticatedSteps))
		if err == nil {
			err = h.cfg.Sessions.RefreshSSOSession(ctx, cur.ID, steps, now, idle, participant)
		}
		if err == nil {
			return cur.ID
		}
		if !errors.Is(err, store.ErrNotFound) {
			h.log.ErrorContext(ctx, "authn: refreshing the SSO session failed", "session", cur.ID, "error", err)
			return ""
		}
		// Ended meanwhile: start a new one.
	}
	steps, err := json.Marshal(mergeSteps(nil, v.Result.AuthenticatedSteps))
	if err != nil {
		h.log.ErrorContext(ctx, "authn: encoding the SSO session failed", "error", err)
		return ""
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(token))
	s := store.SSOSession{OrgID: st.OrgID, Subject: subjectOf(subject), Steps: steps, AuthTime: now,
		LastActiveAt: now, IdleExpiresAt: idle, ExpiresAt: now.Add(h.cfg.SessionLifetime),
		UserAgent: c.GetHeader("User-Agent"), IP: c.ClientIP()}
	if !subject.Federated() {
		s.UserID = subject.ID
	}
	created, err := h.cfg.Sessions.CreateSSOSession(ctx, sum[:], s)
	if err == nil {
		err = h.addParticipant(ctx, created.ID, participant, now)
	}
	if err != nil {
		h.log.ErrorContext(ctx, "authn: creating the SSO session failed", "error", err)
		return ""
	}
	http.SetCookie(c.Writer, h.sessionCookie(token))
	return created.ID
}

// addParticipant records the relying party of a new session (RefreshSSOSession with the
// session's own expiry).
func (h *Handler) addParticipant(ctx context.Context, id string, p store.SSOParticipant, now time.Time) error {
	return h.cfg.Sessions.RefreshSSOSession(ctx, id, nil, now, now.Add(h.cfg.SessionIdleTimeout), p)
}

// sessionCookie is the SSO cookie: a browser-session cookie (the server enforces the lifetimes),
// HttpOnly, and SameSite=None; Secure so that SAML POST-binding requests and form posts from other
// sites carry it. Browsers accept Secure cookies over https and from http://localhost (a secure
// context); on other plain-http hosts they would drop a Secure cookie, so there it is Lax.
func (h *Handler) sessionCookie(token string) *http.Cookie {
	ck := &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if h.base.Scheme == "https" || h.base.Hostname() == "localhost" {
		ck.Secure, ck.SameSite = true, http.SameSiteNoneMode
	}
	return ck
}

func subjectOf(u *connectors.User) string {
	if u.ID != "" {
		return u.ID
	}
	return u.SubjectIdentifier()
}

// mergeSteps keeps one entry per authenticator and IdP, the latest authentication winning, in
// the order the user completed them.
func mergeSteps(old, fresh []flows.AuthenticatedStep) []flows.AuthenticatedStep {
	out := slices.Clone(old)
	for _, f := range fresh {
		i := slices.IndexFunc(out, func(o flows.AuthenticatedStep) bool {
			return o.Authenticator == f.Authenticator && o.IdP == f.IdP
		})
		switch {
		case i < 0:
			out = append(out, f)
		case !f.At.Before(out[i].At):
			out[i] = f
		}
	}
	slices.SortStableFunc(out, func(a, b flows.AuthenticatedStep) int { return a.At.Compare(b.At) })
	return out
}
