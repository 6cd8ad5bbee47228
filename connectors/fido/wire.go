package fido

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// maxTokenResponse bounds a submitted tokenResponse (an assertion is well under 4 KiB; an
// attestation with a certificate chain a few KiB more).
const maxTokenResponse = 64 << 10

// state is the step state between Begin and Process. The SessionData holds the challenge, which
// is not a secret; the state is recorded in Temporal history through the encrypting codec.
type state struct {
	Mode      string               `json:"mode"`
	RequestID string               `json:"requestId"`
	FlowID    string               `json:"flowId"`
	UserID    string               `json:"userId,omitempty"`
	Expires   time.Time            `json:"expires"`
	Session   webauthn.SessionData `json:"session"`
}

func decodeState(raw json.RawMessage) (state, error) {
	var st state
	if len(raw) == 0 {
		return st, errors.New("no state")
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("state: %w", err)
	}
	if st.RequestID == "" || st.Session.Challenge == "" || st.Expires.IsZero() {
		return st, errors.New("state is incomplete")
	}
	return st, nil
}

func newRequestID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("fido: request id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// challengeData is the JSON behind additionalData.challengeData: WSO2's
// {requestId, publicKeyCredentialRequestOptions} for a login, and for a registration
// {requestId, mode:"registration", publicKeyCredentialCreationOptions}.
type challengeData struct {
	RequestID string `json:"requestId"`
	Mode      string `json:"mode,omitempty"`
	Request   any    `json:"publicKeyCredentialRequestOptions,omitempty"`
	Creation  any    `json:"publicKeyCredentialCreationOptions,omitempty"`
}

func (a *Authenticator) encodeChallenge(d challengeData) (string, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("fido: challenge data: %w", err)
	}
	if a.cfg.URLSafeChallengeData {
		return base64.RawURLEncoding.EncodeToString(raw), nil
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// tokenResponse is WSO2's wrapper of the client's PublicKeyCredential.
type tokenResponse struct {
	RequestID  string          `json:"requestId"`
	Credential json.RawMessage `json:"credential"`
}

// parseTokenResponse accepts the tokenResponse as raw JSON (JS SDK) or as base64url JSON (Android;
// standard base64 and padding are tolerated too), either WSO2's {requestId, credential} or the
// bare PublicKeyCredential. It returns the PublicKeyCredential JSON and the request id, if any.
func parseTokenResponse(v string) (json.RawMessage, string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return nil, "", errors.New("empty token response")
	case len(v) > maxTokenResponse:
		return nil, "", errors.New("token response too large")
	}
	raw := []byte(v)
	if v[0] != '{' {
		s := strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(v, "="))
		dec, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil, "", fmt.Errorf("token response is neither JSON nor base64url: %w", err)
		}
		raw = bytes.TrimSpace(dec)
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, "", fmt.Errorf("token response: %w", err)
	}
	if len(tr.Credential) > 0 && !bytes.Equal(tr.Credential, []byte("null")) {
		return tr.Credential, tr.RequestID, nil
	}
	return raw, tr.RequestID, nil
}
