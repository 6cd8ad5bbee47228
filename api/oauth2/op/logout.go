package op

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyflow/keyflow/api/oauth2/jwtkeys"
	"github.com/keyflow/keyflow/store"
)

// OpenID Connect logout: RP-Initiated Logout 1.0 (validating end-session
// requests and their id_token_hint), Back-Channel Logout 1.0 (Logout
// Tokens) and Front-Channel Logout 1.0 (iframe URLs), plus revoking what a
// logged-out session was issued. The HTTP edge (api/oidclogout) finds and
// ends the SSO session and delivers the notifications.

// Logout Token constants (Back-Channel Logout 1.0 §2.4).
const (
	// TypeLogoutToken is the typ header of Logout Tokens (§2.4, explicit
	// typing per RFC 8725 §3.11).
	TypeLogoutToken = "logout+jwt"
	// EventBackChannelLogout is the one member of a Logout Token's events.
	EventBackChannelLogout = "http://schemas.openid.net/event/backchannel-logout"
	// LogoutTokenLifetime bounds a Logout Token's exp: it is delivered at
	// once (retries included), so two minutes is ample.
	LogoutTokenLifetime = 2 * time.Minute
)

// Participant protocols whose relying parties are OAuth2 clients (the SSO
// session participant protocols written by api/authn).
var oidcProtocols = []string{"oidc", "app-native"}

// LogoutParams are the parameters of an end-session request (RP-Initiated
// Logout 1.0 §2) as sent, query or form.
type LogoutParams struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	UILocales             string
	LogoutHint            string
}

// ParseLogoutParams reads LogoutParams from a query or form.
func ParseLogoutParams(v url.Values) LogoutParams {
	return LogoutParams{
		IDTokenHint:           v.Get("id_token_hint"),
		ClientID:              v.Get("client_id"),
		PostLogoutRedirectURI: v.Get("post_logout_redirect_uri"),
		State:                 v.Get("state"),
		UILocales:             v.Get("ui_locales"),
		LogoutHint:            v.Get("logout_hint"),
	}
}

// IDTokenHint is what a verified id_token_hint says.
type IDTokenHint struct {
	Subject string
	// SessionID is the sid claim, '' when absent.
	SessionID string
	// Audiences is the aud claim.
	Audiences []string
}

// LogoutRequest is a validated end-session request.
type LogoutRequest struct {
	// Client is the client that sent the request (client_id, else the
	// id_token_hint's audience); nil when neither named one.
	Client *store.OAuth2Client
	// Hint is the verified id_token_hint; nil when none was sent.
	Hint *IDTokenHint
	// PostLogoutRedirectURI is registered for Client; '' when none was sent.
	PostLogoutRedirectURI string
	State                 string
	UILocales             string
	LogoutHint            string
}

// PostLogoutRedirect is where to send the browser once logged out:
// PostLogoutRedirectURI with state added (§3), or ” when there is none.
func (r *LogoutRequest) PostLogoutRedirect() string {
	if r.PostLogoutRedirectURI == "" {
		return ""
	}
	if r.State == "" {
		return r.PostLogoutRedirectURI
	}
	u, err := url.Parse(r.PostLogoutRedirectURI)
	if err != nil { // validated at registration
		return r.PostLogoutRedirectURI
	}
	q := u.Query()
	q.Set("state", r.State)
	u.RawQuery = q.Encode()
	return u.String()
}

// ValidateLogoutRequest checks an end-session request (RP-Initiated Logout
// 1.0 §2–§3): the id_token_hint must be an ID token this provider signed
// (expired ones are accepted, §2) for the client_id when one is sent; a
// post_logout_redirect_uri needs a client (client_id or the hint's
// audience) that registered it exactly. Every failure is an invalid_request
// *Error, which the front-end must show as a page, never as a redirect.
func (p *Provider) ValidateLogoutRequest(ctx context.Context, params LogoutParams) (*LogoutRequest, error) {
	req := &LogoutRequest{State: params.State, UILocales: params.UILocales, LogoutHint: params.LogoutHint}
	clientID := params.ClientID
	if params.IDTokenHint != "" {
		hint, err := p.verifyIDTokenHint(ctx, params.IDTokenHint)
		if err != nil {
			return nil, ErrInvalidRequest("id_token_hint is not a valid ID token of this provider").WithCause(err)
		}
		req.Hint = hint
		switch {
		case clientID != "" && !slices.Contains(hint.Audiences, clientID):
			return nil, ErrInvalidRequest("client_id is not an audience of id_token_hint")
		case clientID == "" && len(hint.Audiences) == 1:
			clientID = hint.Audiences[0]
		}
	}
	if clientID != "" {
		c, err := p.client(ctx, clientID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidRequest("unknown client_id").WithCause(err)
		}
		if err != nil {
			return nil, ToError(err)
		}
		req.Client = &c
	}
	if params.PostLogoutRedirectURI != "" {
		switch {
		case req.Client == nil:
			return nil, ErrInvalidRequest("post_logout_redirect_uri needs client_id or id_token_hint")
		case !slices.Contains(req.Client.PostLogoutRedirectURIs, params.PostLogoutRedirectURI):
			return nil, ErrInvalidRequest("post_logout_redirect_uri is not registered for the client")
		}
		req.PostLogoutRedirectURI = params.PostLogoutRedirectURI
	}
	return req, nil
}

// verifyIDTokenHint checks the signature and issuer of an ID token and
// returns its claims; exp is not checked (RP-Initiated Logout 1.0 §2).
func (p *Provider) verifyIDTokenHint(ctx context.Context, token string) (*IDTokenHint, error) {
	// ID tokens are typed JWT; access tokens (at+jwt) and Logout Tokens
	// are refused here already.
	payload, err := p.keys.Verify(ctx, token, jwtkeys.TypeJWT)
	if err != nil {
		return nil, err
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Sid string          `json:"sid"`
		// An access token carries client_id or scope, an ID token neither.
		ClientID string          `json:"client_id"`
		Scope    json.RawMessage `json:"scope"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	var aud []string
	if err := json.Unmarshal(claims.Aud, &aud); err != nil {
		var one string
		if err := json.Unmarshal(claims.Aud, &one); err != nil || one == "" {
			return nil, errors.New("aud missing or malformed")
		}
		aud = []string{one}
	}
	switch {
	case claims.Iss != p.issuer:
		return nil, fmt.Errorf("iss %q is not this provider", claims.Iss)
	case claims.Sub == "" || len(aud) == 0:
		return nil, errors.New("sub or aud missing")
	case claims.ClientID != "" || len(claims.Scope) > 0:
		return nil, errors.New("an access token, not an ID token")
	}
	return &IDTokenHint{Subject: claims.Sub, SessionID: claims.Sid, Audiences: aud}, nil
}

// SessionClients returns the OAuth2 clients that took part in session s
// (participants of protocol "oidc" or "app-native"), once each; clients
// that no longer exist are skipped.
func (p *Provider) SessionClients(ctx context.Context, s store.SSOSession) ([]store.OAuth2Client, error) {
	var out []store.OAuth2Client
	seen := map[string]bool{}
	for _, part := range s.Participants {
		if !slices.Contains(oidcProtocols, part.Protocol) || seen[part.RelyingParty] {
			continue
		}
		seen[part.RelyingParty] = true
		c, err := p.client(ctx, part.RelyingParty)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("op: session clients: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// LogoutToken signs a Logout Token (Back-Channel Logout 1.0 §2.4) telling
// client c that session sid of subject ended: iss, aud, iat, exp, jti,
// events, sub and sid, typ logout+jwt, never a nonce. It is signed with the
// client's ID token algorithm, since the client verifies ID tokens with it.
func (p *Provider) LogoutToken(ctx context.Context, c store.OAuth2Client, subject, sid string) (string, error) {
	if subject == "" && sid == "" {
		return "", errors.New("op: logout token: sub or sid required")
	}
	alg := c.IDTokenSigningAlg
	if alg == "" {
		alg = c.SigningAlg
	}
	now := p.now().Truncate(time.Second)
	claims := map[string]any{
		"iss":    p.issuer,
		"aud":    c.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(LogoutTokenLifetime).Unix(),
		"jti":    randomString(16),
		"events": map[string]any{EventBackChannelLogout: map[string]any{}},
	}
	if subject != "" {
		claims["sub"] = subject
	}
	if sid != "" {
		claims["sid"] = sid
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("op: logout token: %w", err)
	}
	tok, err := p.keys.Sign(ctx, alg, TypeLogoutToken, payload)
	if err != nil {
		return "", fmt.Errorf("op: logout token: %w", err)
	}
	return tok, nil
}

// FrontChannelLogoutURL is the URL to render in an iframe for client c when
// session sid ends (Front-Channel Logout 1.0 §2–§3): its
// frontchannel_logout_uri, with iss and sid added when it requires them;
// ” when it registered none.
func (p *Provider) FrontChannelLogoutURL(c store.OAuth2Client, sid string) string {
	if c.FrontchannelLogoutURI == "" {
		return ""
	}
	if !c.FrontchannelLogoutSessionRequired {
		return c.FrontchannelLogoutURI
	}
	u, err := url.Parse(c.FrontchannelLogoutURI)
	if err != nil { // validated at registration
		return ""
	}
	q := u.Query()
	q.Set("iss", p.issuer)
	q.Set("sid", sid)
	u.RawQuery = q.Encode()
	return u.String()
}

// RevokeSessionTokens revokes the grants made in SSO session sid and what
// they issued (refresh tokens, opaque and JWT access tokens), except grants
// with offline_access (Back-Channel Logout 1.0 §2.7), and updates this
// replica's revoked-JWT copy at once.
func (p *Provider) RevokeSessionTokens(ctx context.Context, sid string) error {
	if sid == "" {
		return nil
	}
	jtis, err := p.store.RevokeOAuth2SessionGrants(ctx, sid)
	if err != nil {
		return fmt.Errorf("op: revoke session tokens: %w", err)
	}
	for _, j := range jtis {
		p.revoked.add(j.JTI, j.ExpiresAt)
	}
	return nil
}

// validateLogoutMetadata checks the logout members of a new client.
func validateLogoutMetadata(nc NewClient) error {
	for _, r := range nc.PostLogoutRedirectURIs {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") || unsafeScheme(u.Scheme) {
			return ErrInvalidRequest("post-logout redirect URI %q must be absolute and without fragment", r)
		}
	}
	for name, r := range map[string]string{"back-channel": nc.BackchannelLogoutURI, "front-channel": nc.FrontchannelLogoutURI} {
		if r == "" {
			continue
		}
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Host == "" || strings.Contains(r, "#") || (u.Scheme != "https" && u.Scheme != "http") {
			return ErrInvalidRequest("%s logout URI %q must be an absolute http(s) URL without fragment", name, r)
		}
	}
	if nc.BackchannelLogoutSessionRequired && nc.BackchannelLogoutURI == "" {
		return ErrInvalidRequest("backchannel_logout_session_required needs a backchannel_logout_uri")
	}
	if nc.FrontchannelLogoutSessionRequired && nc.FrontchannelLogoutURI == "" {
		return ErrInvalidRequest("frontchannel_logout_session_required needs a frontchannel_logout_uri")
	}
	return nil
}
