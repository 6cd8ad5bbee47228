package fido

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// Registration errors, for the My Account API to map to its responses.
var (
	// ErrInvalidResponse: the authenticator response is malformed or does not verify (wrong
	// challenge, origin or RP ID, bad attestation) or the state is not a registration's.
	ErrInvalidResponse = errors.New("fido: the passkey response did not verify")
	// ErrExpired: the registration was not finished within Config.Timeout.
	ErrExpired = errors.New("fido: the passkey registration expired")
)

// Registration is a started passkey registration.
type Registration struct {
	// Options is the PublicKeyCredentialCreationOptions JSON for navigator.credentials.create(),
	// binary members in base64url (the form PublicKeyCredential.parseCreationOptionsFromJSON
	// takes).
	Options json.RawMessage
	// State goes back to FinishRegistration unchanged. Keep it on the server (or integrity
	// protected): whoever can change it chooses the challenge. It holds no secret.
	State json.RawMessage
}

// BeginRegistration starts registering a passkey for the user (ID and TenantDomain are used),
// excluding the passkeys the user already has. It returns an error wrapping store.ErrNotFound
// for an unknown user.
func (a *Authenticator) BeginRegistration(ctx context.Context, u connectors.User) (Registration, error) {
	acc, err := a.registrant(ctx, u)
	if err != nil {
		return Registration{}, err
	}
	creation, session, err := a.wa.BeginRegistration(acc, webauthn.WithExclusions(excludeList(acc)))
	if err != nil {
		return Registration{}, fmt.Errorf("fido: begin registration: %w", err)
	}
	id, err := newRequestID()
	if err != nil {
		return Registration{}, err
	}
	st := state{Mode: ModeRegistration, RequestID: id, UserID: acc.user.ID, Expires: a.now().Add(a.cfg.Timeout),
		Session: *session}
	opts, err := json.Marshal(creation.Response)
	if err != nil {
		return Registration{}, fmt.Errorf("fido: creation options: %w", err)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return Registration{}, fmt.Errorf("fido: state: %w", err)
	}
	return Registration{Options: opts, State: raw}, nil
}

// FinishRegistration verifies the client's attestation response (the PublicKeyCredential from
// navigator.credentials.create(), as JSON or base64url JSON, bare or wrapped as
// {requestId, credential}) against the state BeginRegistration returned, and stores the passkey
// under name, returning what it stored (the database sets the timestamps). Errors wrap ErrInvalidResponse, ErrExpired, or store.ErrConflict when the credential
// is already registered.
func (a *Authenticator) FinishRegistration(ctx context.Context, u connectors.User, st json.RawMessage, response, name string) (store.WebAuthnCredential, error) {
	s, err := decodeState(st)
	if err != nil || s.Mode != ModeRegistration || s.UserID != u.ID || s.FlowID != "" {
		return store.WebAuthnCredential{}, fmt.Errorf("%w: not this user's registration state", ErrInvalidResponse)
	}
	if !a.now().Before(s.Expires) {
		return store.WebAuthnCredential{}, ErrExpired
	}
	raw, reqID, err := parseTokenResponse(response)
	if err != nil {
		return store.WebAuthnCredential{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	if reqID != "" && reqID != s.RequestID {
		return store.WebAuthnCredential{}, fmt.Errorf("%w: request id does not match", ErrInvalidResponse)
	}
	acc, err := a.registrant(ctx, u)
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	return a.register(ctx, acc, s, raw, name)
}

// registrant loads the user a passkey is registered for.
func (a *Authenticator) registrant(ctx context.Context, u connectors.User) (*account, error) {
	if u.ID == "" {
		return nil, fmt.Errorf("fido: registration needs a user id: %w", store.ErrNotFound)
	}
	acc, err := a.loadAccount(ctx, u.TenantDomain, u.ID, "", "")
	if err != nil {
		return nil, err
	}
	if acc == nil {
		return nil, fmt.Errorf("fido: user %s: %w", u.ID, store.ErrNotFound)
	}
	return acc, nil
}

// register verifies an attestation with go-webauthn and stores the credential.
func (a *Authenticator) register(ctx context.Context, acc *account, st state, raw json.RawMessage, name string) (store.WebAuthnCredential, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		a.logFailure(ctx, "fido: unparsable attestation", err, "user_id", acc.user.ID)
		return store.WebAuthnCredential{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	cred, err := a.wa.CreateCredential(acc, st.Session, parsed)
	if err != nil {
		a.logFailure(ctx, "fido: attestation refused", err, "user_id", acc.user.ID)
		return store.WebAuthnCredential{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	sc := store.WebAuthnCredential{ID: cred.ID, UserID: acc.user.ID, RPID: a.cfg.RPID, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		SignCount: cred.Authenticator.SignCount, UserPresent: cred.Flags.UserPresent,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, Name: strings.TrimSpace(name), Transports: []string{}}
	if len(cred.Authenticator.AAGUID) == 16 && strings.Trim(string(cred.Authenticator.AAGUID), "\x00") != "" {
		sc.AAGUID = cred.Authenticator.AAGUID
	}
	for _, t := range cred.Transport {
		sc.Transports = append(sc.Transports, string(t))
	}
	if err := a.deps.Credentials.AddWebAuthnCredential(ctx, sc, store.Actor{Type: store.ActorUser, ID: acc.user.ID}); err != nil {
		return store.WebAuthnCredential{}, fmt.Errorf("fido: register: %w", err)
	}
	a.log.InfoContext(ctx, "fido: passkey registered", "user_id", acc.user.ID, "backup_eligible", sc.BackupEligible)
	return sc, nil
}

// beginEnrollment makes the progressive-enrolment prompt: a registration ceremony in the step.
func (a *Authenticator) beginEnrollment(sc connectors.StepContext, acc *account) (connectors.BeginResult, error) {
	creation, session, err := a.wa.BeginRegistration(acc)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("fido: begin registration: %w", err)
	}
	st := state{Mode: ModeRegistration, FlowID: sc.FlowID, UserID: acc.user.ID, Expires: a.now().Add(a.cfg.Timeout)}
	return a.prompt(st, *session, challengeData{Mode: ModeRegistration, Creation: creation.Response},
		map[string]string{AdditionalMode: ModeRegistration})
}

// processEnrollment verifies and stores the passkey created under progressive enrolment; the step
// succeeds for its user.
func (a *Authenticator) processEnrollment(ctx context.Context, in connectors.ProcessInput, st state, raw json.RawMessage) (connectors.Outcome, error) {
	if in.User == nil || (in.User.ID != "" && in.User.ID != st.UserID) {
		return a.failed(in.User), nil
	}
	acc, err := a.loadAccount(ctx, in.TenantDomain, st.UserID, "", "")
	if err != nil {
		return connectors.Outcome{}, err
	}
	if acc == nil {
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound,
			FailedUser: in.User}, nil
	}
	acc.public = mergeUser(in.User, acc.public)
	if out := a.usable(acc); out != nil {
		return *out, nil
	}
	if _, err := a.register(ctx, acc, st, raw, "Passkey"); err != nil {
		if errors.Is(err, ErrInvalidResponse) || errors.Is(err, store.ErrConflict) {
			return a.failed(acc.public), nil
		}
		return connectors.Outcome{}, err
	}
	return connectors.Outcome{Status: connectors.StatusSuccess, User: acc.public}, nil
}
