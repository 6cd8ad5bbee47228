// Package fidotest is a software WebAuthn authenticator and client for tests: it answers the
// creation and request options a relying party sends the way a browser with a platform
// authenticator does, with real ECDSA P-256 keys, real authenticator data and client data, and a
// "none" or "packed" (self) attestation statement. Nothing is mocked on the relying party's side:
// its responses are what go-webauthn verifies.
//
//	a := fidotest.New("https://id.example.com")
//	resp, cred, err := a.Create(creationOptionsJSON) // navigator.credentials.create()
//	resp, err = a.Get(requestOptionsJSON)             // navigator.credentials.get()
package fidotest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// coseES256 is COSE algorithm -7 (ECDSA with SHA-256).
const coseES256 = -7

// Authenticator is a platform authenticator plus the client in front of it. Exported fields may
// be changed between ceremonies (not during one). It is safe for concurrent use.
type Authenticator struct {
	// Origin is what the client reports in clientDataJSON.
	Origin string
	// AAGUID identifies the authenticator model; zero by default, as privacy-preserving
	// authenticators send.
	AAGUID [16]byte
	// Attestation is "none" (default) or "packed" (self attestation with the credential key).
	Attestation string
	// UserVerified sets the UV flag (a PIN or biometric was used).
	UserVerified bool
	// BackupEligible and BackupState set BE and BS (a synced passkey has both).
	BackupEligible, BackupState bool
	// NoCounter keeps signature counters at 0, as many platform authenticators do.
	NoCounter bool

	mu    sync.Mutex
	creds []*Credential
}

// Credential is a credential the authenticator holds. SignCount may be changed by a test (to
// simulate a cloned authenticator).
type Credential struct {
	ID         []byte
	RPID       string
	UserHandle []byte
	Key        *ecdsa.PrivateKey
	SignCount  uint32
}

// New returns an authenticator whose client runs at origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin, UserVerified: true} }

// Credentials returns the credentials created so far.
func (a *Authenticator) Credentials() []*Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*Credential(nil), a.creds...)
}

type descriptor struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge string `json:"challenge"`
	Params    []struct {
		Type string `json:"type"`
		Alg  int    `json:"alg"`
	} `json:"pubKeyCredParams"`
	Exclude []descriptor `json:"excludeCredentials"`
}

type requestOptions struct {
	Challenge string       `json:"challenge"`
	RPID      string       `json:"rpId"`
	Allow     []descriptor `json:"allowCredentials"`
}

// unwrap accepts options bare or wrapped as {"publicKey": …}.
func unwrap(options []byte) []byte {
	var w struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if json.Unmarshal(options, &w) == nil && len(w.PublicKey) > 0 {
		return w.PublicKey
	}
	return options
}

// Create answers PublicKeyCredentialCreationOptions (JSON, bare or {"publicKey": …}) like
// navigator.credentials.create(): it makes a P-256 credential and returns the PublicKeyCredential
// JSON with the attestation, binary members in base64url.
func (a *Authenticator) Create(options []byte) ([]byte, *Credential, error) {
	var o creationOptions
	if err := json.Unmarshal(unwrap(options), &o); err != nil {
		return nil, nil, fmt.Errorf("fidotest: creation options: %w", err)
	}
	es256 := false
	for _, p := range o.Params {
		es256 = es256 || (p.Type == "public-key" && p.Alg == coseES256)
	}
	if !es256 && len(o.Params) > 0 {
		return nil, nil, errors.New("fidotest: NotSupportedError: ES256 not offered")
	}
	rpID, err := a.rpID(o.RP.ID)
	if err != nil {
		return nil, nil, err
	}
	handle, err := decode(o.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("fidotest: user.id: %w", err)
	}
	if len(handle) == 0 {
		return nil, nil, errors.New("fidotest: options carry no user.id")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ex := range o.Exclude {
		id, _ := decode(ex.ID)
		for _, c := range a.creds {
			if bytes.Equal(c.ID, id) && c.RPID == rpID {
				return nil, nil, errors.New("fidotest: InvalidStateError: credential excluded")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	c := &Credential{ID: make([]byte, 32), RPID: rpID, UserHandle: handle, Key: key}
	if _, err := rand.Read(c.ID); err != nil {
		return nil, nil, err
	}
	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	clientData, err := a.clientData("webauthn.create", o.Challenge)
	if err != nil {
		return nil, nil, err
	}
	authData := a.authData(rpID, flagAT, c.SignCount)
	authData = append(authData, a.AAGUID[:]...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(c.ID)))
	authData = append(authData, c.ID...)
	authData = append(authData, cose...)

	att := map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData}
	switch a.Attestation {
	case "", "none":
	case "packed":
		sig, err := sign(key, authData, clientData)
		if err != nil {
			return nil, nil, err
		}
		att["fmt"], att["attStmt"] = "packed", map[string]any{"alg": coseES256, "sig": sig}
	default:
		return nil, nil, fmt.Errorf("fidotest: unknown attestation %q", a.Attestation)
	}
	attObj, err := webauthncbor.Marshal(att)
	if err != nil {
		return nil, nil, err
	}
	a.creds = append(a.creds, c)
	out, err := json.Marshal(map[string]any{
		"id": enc(c.ID), "rawId": enc(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": enc(clientData), "attestationObject": enc(attObj),
			"transports": []string{"hybrid", "internal"}},
		"clientExtensionResults": map[string]any{},
	})
	return out, c, err
}

// Get answers PublicKeyCredentialRequestOptions (JSON, bare or {"publicKey": …}) like
// navigator.credentials.get(): it signs with the first credential for the RP ID that
// allowCredentials lists, or the first discoverable one when the list is empty.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	return a.GetWith(options, nil)
}

// GetWith is Get with the given credential (nil: choose as Get does), whether or not the options
// allow it.
func (a *Authenticator) GetWith(options []byte, c *Credential) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(unwrap(options), &o); err != nil {
		return nil, fmt.Errorf("fidotest: request options: %w", err)
	}
	rpID, err := a.rpID(o.RPID)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c == nil {
		c = a.choose(rpID, o.Allow)
		if c == nil {
			return nil, errors.New("fidotest: NotAllowedError: no credential for this relying party")
		}
	}
	if !a.NoCounter {
		c.SignCount++
	}
	clientData, err := a.clientData("webauthn.get", o.Challenge)
	if err != nil {
		return nil, err
	}
	authData := a.authData(c.RPID, 0, c.SignCount)
	sig, err := sign(c.Key, authData, clientData)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": enc(c.ID), "rawId": enc(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": enc(clientData), "authenticatorData": enc(authData),
			"signature": enc(sig), "userHandle": enc(c.UserHandle)},
		"clientExtensionResults": map[string]any{},
	})
}

func (a *Authenticator) choose(rpID string, allow []descriptor) *Credential {
	for _, c := range a.creds {
		if c.RPID != rpID {
			continue
		}
		if len(allow) == 0 {
			return c
		}
		for _, d := range allow {
			if id, err := decode(d.ID); err == nil && bytes.Equal(id, c.ID) {
				return c
			}
		}
	}
	return nil
}

// rpID is the options' RP ID, or the origin's host (the client's default).
func (a *Authenticator) rpID(id string) (string, error) {
	if id != "" {
		return id, nil
	}
	u, err := url.Parse(a.Origin)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("fidotest: origin %q has no host", a.Origin)
	}
	return u.Hostname(), nil
}

func (a *Authenticator) clientData(typ, challenge string) ([]byte, error) {
	if challenge == "" {
		return nil, errors.New("fidotest: options carry no challenge")
	}
	ch, err := decode(challenge)
	if err != nil {
		return nil, fmt.Errorf("fidotest: challenge: %w", err)
	}
	return json.Marshal(map[string]any{"type": typ, "challenge": enc(ch), "origin": a.Origin, "crossOrigin": false})
}

// authData is rpIdHash || flags || signCount (WebAuthn §6.1), without attested credential data.
func (a *Authenticator) authData(rpID string, extra byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags := byte(flagUP) | extra
	if a.UserVerified {
		flags |= flagUV
	}
	if a.BackupEligible {
		flags |= flagBE
	}
	if a.BackupState {
		flags |= flagBS
	}
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

// sign is the ES256 signature over authData || SHA-256(clientDataJSON) (§6.3.3 and §8.2).
func sign(key *ecdsa.PrivateKey, authData, clientData []byte) ([]byte, error) {
	cdh := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), cdh[:]...))
	return ecdsa.SignASN1(rand.Reader, key, digest[:])
}

// coseKey is the EC2 COSE_Key of a P-256 public key (RFC 9053 §7.1.1).
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	ek, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	pt := ek.Bytes() // 0x04 || X || Y
	return webauthncbor.Marshal(map[int]any{1: 2, 3: coseES256, -1: 1, -2: pt[1:33], -3: pt[33:65]})
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decode reads base64url or standard base64, with or without padding.
func decode(s string) ([]byte, error) {
	s = strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(s, "="))
	return base64.RawURLEncoding.DecodeString(s)
}

// ChallengeData is additionalData.challengeData decoded.
type ChallengeData struct {
	RequestID string `json:"requestId"`
	Mode      string `json:"mode"`
	// Request holds publicKeyCredentialRequestOptions (a login), Creation
	// publicKeyCredentialCreationOptions (a registration).
	Request  json.RawMessage `json:"publicKeyCredentialRequestOptions"`
	Creation json.RawMessage `json:"publicKeyCredentialCreationOptions"`
}

// DecodeChallengeData decodes challengeData (base64 or base64url JSON), as both app-native SDKs do.
func DecodeChallengeData(s string) (ChallengeData, error) {
	raw, err := decode(s)
	if err != nil {
		return ChallengeData{}, fmt.Errorf("fidotest: challengeData is not base64: %w", err)
	}
	var d ChallengeData
	if err := json.Unmarshal(raw, &d); err != nil {
		return ChallengeData{}, fmt.Errorf("fidotest: challengeData: %w", err)
	}
	return d, nil
}

// TokenResponse wraps a PublicKeyCredential as WSO2's tokenResponse {requestId, credential}, raw
// JSON as the JS SDK sends it.
func TokenResponse(requestID string, credential []byte) string {
	b, _ := json.Marshal(map[string]any{"requestId": requestID, "credential": json.RawMessage(credential)})
	return string(b)
}

// AndroidTokenResponse is TokenResponse base64url-encoded, as the Android SDK sends it.
func AndroidTokenResponse(requestID string, credential []byte) string {
	return enc([]byte(TokenResponse(requestID, credential)))
}
