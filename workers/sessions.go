package workers

import (
	"context"
	"errors"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/store"
)

// SessionStore is the part of the store behind the scripts' session functions; *store.Store
// implements it.
type SessionStore interface {
	UserSSOSessions(ctx context.Context, userID string, now time.Time) ([]store.SSOSession, error)
	TerminateSSOSession(ctx context.Context, id, userID string, now time.Time, actor store.Actor) (store.SSOSession, error)
	RevokeOAuth2SessionGrants(ctx context.Context, sessionID string) ([]store.RevokedJTI, error)
}

// Sessions adapts the SSO session store to scripting.Sessions (getUserSessions,
// terminateUserSession). Only local users have sessions a script can see.
type Sessions struct {
	Store SessionStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Ended, when set, follows every session a script ends: it revokes the session's tokens and
	// logs its relying parties out (cmd/keyflow: saml.Enders{oidclogout.Ender, samlIdP}: OIDC
	// back-channel logout and SOAP LogoutRequests to back-channel SAML SPs). Without it only
	// the tokens are revoked.
	Ended SessionEnder
}

// SessionEnder follows the end of an SSO session.
type SessionEnder interface {
	SessionEnded(ctx context.Context, s store.SSOSession) []string
}

var _ scripting.Sessions = (*Sessions)(nil)

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// UserSessions implements scripting.Sessions.
func (s *Sessions) UserSessions(ctx context.Context, u *connectors.User) ([]scripting.UserSession, error) {
	if u == nil || u.ID == "" || u.Federated() {
		return nil, nil
	}
	list, err := s.Store.UserSSOSessions(ctx, u.ID, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]scripting.UserSession, 0, len(list))
	for _, ss := range list {
		us := scripting.UserSession{ID: ss.ID, IP: ss.IP, LoginTime: ss.AuthTime.UnixMilli(),
			LastAccessTime: ss.LastActiveAt.UnixMilli(), UserAgent: scripting.UserAgent{RawString: ss.UserAgent}}
		for _, p := range ss.Participants {
			us.Applications = append(us.Applications, scripting.SessionApplication{
				Subject: ss.Subject, AppName: p.RelyingParty, AppID: p.ApplicationID})
		}
		out = append(out, us)
	}
	return out, nil
}

// TerminateUserSession implements scripting.Sessions: it ends the session only when it belongs
// to u, and revokes the tokens issued in it.
func (s *Sessions) TerminateUserSession(ctx context.Context, u *connectors.User, sessionID string) (bool, error) {
	if u == nil || u.ID == "" || u.Federated() {
		return false, nil
	}
	ended, err := s.Store.TerminateSSOSession(ctx, sessionID, u.ID, s.now(),
		store.Actor{Type: store.ActorSystem, ID: "adaptive-script"})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if s.Ended != nil {
		s.Ended.SessionEnded(ctx, ended)
		return true, nil
	}
	// The session's tokens end with it (offline_access grants stay, as at logout).
	if _, err := s.Store.RevokeOAuth2SessionGrants(ctx, sessionID); err != nil {
		return true, err
	}
	return true, nil
}
