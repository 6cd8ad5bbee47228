package op

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keyflow/keyflow/store"
)

// Device authorization grant (RFC 8628).
const (
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	// Token endpoint errors while the user has not finished (§3.5).
	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"
	CodeExpiredToken         = "expired_token"
	// DeviceCodeLifetime is how long the user has to enter the code.
	DeviceCodeLifetime = 10 * time.Minute
	// DeviceInterval is the minimum polling interval handed out.
	DeviceInterval = 5 * time.Second
	// userCodeAlphabet has no vowels (no words) and no look-alikes (§6.1).
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
)

// DeviceAuthorization is the device authorization response (RFC 8628 §3.2).
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceAuthorize serves the device authorization endpoint (RFC 8628
// §3.1–3.2) for a client allowed GrantDeviceCode (public clients send their
// client_id alone). verificationURI is the page where users enter the
// code. The user code is eight letters (about 34 bits), shown as
// XXXX-XXXX; the device code is stored hashed.
func (p *Provider) DeviceAuthorize(ctx context.Context, cc ClientCredentials, scope, verificationURI string) (DeviceAuthorization, error) {
	c, err := p.AuthenticateClient(ctx, cc)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	if !slices.Contains(c.GrantTypes, GrantDeviceCode) {
		return DeviceAuthorization{}, ErrUnauthorizedClient("client is not allowed the device code grant")
	}
	allowed, err := p.allowedScopes(ctx, c, scope)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	granted, err := grantScope(scope, allowed)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	now := p.now().Truncate(time.Second)
	deviceCode := randomString(32)
	hash := sha256.Sum256([]byte(deviceCode))
	for attempt := 0; ; attempt++ {
		userCode := newUserCode()
		err := p.store.CreateOAuth2DeviceCode(ctx, store.OAuth2DeviceCode{Hash: hash[:], UserCode: userCode,
			ClientID: c.ClientID, Scope: granted, Interval: DeviceInterval, ExpiresAt: now.Add(DeviceCodeLifetime)})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // user code taken: draw another
		}
		if err != nil {
			return DeviceAuthorization{}, ToError(fmt.Errorf("op: store device code: %w", err))
		}
		shown := userCode[:4] + "-" + userCode[4:]
		return DeviceAuthorization{DeviceCode: deviceCode, UserCode: shown, VerificationURI: verificationURI,
			VerificationURIComplete: verificationURI + "?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               int64(DeviceCodeLifetime / time.Second), Interval: int64(DeviceInterval / time.Second)}, nil
	}
}

func newUserCode() string {
	b := make([]byte, userCodeLength)
	for i := range b {
		// Rejection sampling: bytes from 240 up would favour some letters.
		for {
			var x [1]byte
			_, _ = rand.Read(x[:])
			if int(x[0]) < 240 {
				b[i] = userCodeAlphabet[int(x[0])%len(userCodeAlphabet)]
				break
			}
		}
	}
	return string(b)
}

// NormalizeUserCode turns what a user typed into the stored form: upper
// case, separators and spaces dropped.
func NormalizeUserCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r
		}
		return -1
	}, s)
}

// DeviceRequest is a pending device authorization, for the verification
// page to show before the user approves.
type DeviceRequest struct {
	ClientID   string
	ClientName string
	OrgID      string
	Scopes     []string
	ExpiresAt  time.Time
}

// DeviceRequest finds the pending, unexpired request with the user code (as
// typed). An unknown, used or expired code is invalid_request.
func (p *Provider) DeviceRequest(ctx context.Context, userCode string) (DeviceRequest, error) {
	d, err := p.store.OAuth2DeviceCodeByUserCode(ctx, NormalizeUserCode(userCode))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (d.Status != store.DeviceCodePending || !p.now().Before(d.ExpiresAt))) {
		return DeviceRequest{}, ErrInvalidRequest("unknown, used or expired user code")
	}
	if err != nil {
		return DeviceRequest{}, ToError(err)
	}
	c, err := p.client(ctx, d.ClientID)
	if err != nil {
		return DeviceRequest{}, ToError(err)
	}
	return DeviceRequest{ClientID: c.ClientID, ClientName: c.Name, OrgID: c.OrgID, Scopes: scopeList(d.Scope),
		ExpiresAt: d.ExpiresAt}, nil
}

// ApproveDevice records that the user a approved the request with the user
// code: a grant is created that the device's next poll redeems. Errors as
// DeviceRequest.
func (p *Provider) ApproveDevice(ctx context.Context, userCode string, a Authenticated) error {
	if a.Subject == "" {
		return ErrServer(errors.New("op: approve device: no subject"))
	}
	code := NormalizeUserCode(userCode)
	d, err := p.store.OAuth2DeviceCodeByUserCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidRequest("unknown, used or expired user code")
	}
	if err != nil {
		return ToError(err)
	}
	c, err := p.client(ctx, d.ClientID)
	if err != nil {
		return ToError(err)
	}
	now := p.now().Truncate(time.Second)
	authTime := a.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	// API-resource scopes need the user's roles (apiscopes.go).
	scope, err := p.userScope(ctx, c, a.Subject, d.Scope)
	if err != nil {
		return err
	}
	claims, err := p.grantClaims(ctx, c, a.Subject, a.Claims, scopeList(scope))
	if err != nil {
		return err
	}
	grant := store.OAuth2Grant{
		ID: randomString(18), ClientID: c.ClientID, Subject: a.Subject, Scope: scope,
		Claims: claims, ACR: a.ACR, AMR: a.AMR,
		AuthTime: authTime.UTC().Truncate(time.Second), SessionID: a.SessionID,
		ExpiresAt: d.ExpiresAt.Add(c.AccessTokenLifetime),
	}
	if slices.Contains(c.GrantTypes, GrantRefreshToken) {
		grant.ExpiresAt = grant.ExpiresAt.Add(c.RefreshTokenLifetime)
	}
	err = p.store.ApproveOAuth2DeviceCode(ctx, code, p.now(), store.NewOAuth2Grant{Grant: grant})
	return deviceDecisionError(err)
}

// DenyDevice records that the user refused the request; the device's next
// poll gets access_denied.
func (p *Provider) DenyDevice(ctx context.Context, userCode string) error {
	return deviceDecisionError(p.store.DenyOAuth2DeviceCode(ctx, NormalizeUserCode(userCode), p.now()))
}

func deviceDecisionError(err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return ErrInvalidRequest("unknown, used or expired user code").WithCause(err)
	}
	if err != nil {
		return ToError(fmt.Errorf("op: device decision: %w", err))
	}
	return nil
}

// deviceCode serves the token request of RFC 8628 §3.4–3.5: while the user
// has not decided, authorization_pending (slow_down when polled faster
// than the interval, which then grows by five seconds); access_denied
// after a refusal; expired_token after the lifetime; the tokens once
// approved. A device code is redeemed once: a second redemption is
// invalid_grant and revokes what the first issued.
func (p *Provider) deviceCode(ctx context.Context, c store.OAuth2Client, req TokenRequest) (TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantDeviceCode) {
		return TokenResponse{}, ErrUnauthorizedClient("client is not allowed the device code grant")
	}
	if req.DeviceCode == "" {
		return TokenResponse{}, ErrInvalidRequest("device_code is required")
	}
	invalid := ErrInvalidGrant("invalid device code")
	hash := sha256.Sum256([]byte(req.DeviceCode))
	d, slowDown, err := p.store.PollOAuth2DeviceCode(ctx, hash[:], p.now())
	if errors.Is(err, store.ErrNotFound) {
		return TokenResponse{}, invalid.WithCause(err)
	}
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: poll device code: %w", err))
	}
	if d.ClientID != c.ClientID {
		return TokenResponse{}, invalid.WithCause(errors.New("device code of another client"))
	}
	if !p.now().Before(d.ExpiresAt) && d.Status != store.DeviceCodeRedeemed {
		return TokenResponse{}, newError(CodeExpiredToken, http.StatusBadRequest, "the device code expired")
	}
	switch d.Status {
	case store.DeviceCodePending:
		if slowDown {
			return TokenResponse{}, newError(CodeSlowDown, http.StatusBadRequest, "polling too fast: wait %d seconds",
				int64(d.Interval/time.Second)+5)
		}
		return TokenResponse{}, newError(CodeAuthorizationPending, http.StatusBadRequest, "the user has not finished yet")
	case store.DeviceCodeDenied:
		return TokenResponse{}, newError(CodeAccessDenied, http.StatusBadRequest, "the user denied the request")
	case store.DeviceCodeRedeemed:
		p.revokeGrant(ctx, d.GrantID, "device code replayed")
		return TokenResponse{}, invalid.WithCause(errors.New("device code already redeemed"))
	}
	grant, err := p.store.OAuth2Grant(ctx, d.GrantID)
	if err != nil {
		return TokenResponse{}, ToError(fmt.Errorf("op: grant of device code: %w", err))
	}
	if !grant.RevokedAt.IsZero() {
		return TokenResponse{}, invalid.WithCause(errors.New("grant revoked"))
	}
	var issued store.OAuth2Issued
	resp, err := p.issueFromGrant(ctx, c, grant, grant.Scope, time.Time{}, &issued)
	if err != nil {
		return TokenResponse{}, err
	}
	if err := p.store.RedeemOAuth2DeviceCode(ctx, hash[:], issued); err != nil {
		if errors.Is(err, store.ErrConflict) {
			p.revokeGrant(ctx, d.GrantID, "device code replayed")
			return TokenResponse{}, invalid.WithCause(err)
		}
		return TokenResponse{}, ToError(fmt.Errorf("op: redeem device code: %w", err))
	}
	return resp, nil
}
