package fido

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// account is a local user with their passkeys, as go-webauthn sees it (webauthn.User).
type account struct {
	user   store.User
	public *connectors.User
	creds  []store.WebAuthnCredential
}

// WebAuthnID is the user handle: the user id, so a discoverable login names its user.
func (u *account) WebAuthnID() []byte          { return []byte(u.user.ID) }
func (u *account) WebAuthnName() string        { return u.user.Username }
func (u *account) WebAuthnDisplayName() string { return u.user.Username }
func (u *account) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.creds))
	for i, c := range u.creds {
		out[i] = toWebAuthn(c)
	}
	return out
}

func toWebAuthn(c store.WebAuthnCredential) webauthn.Credential {
	var flags protocol.AuthenticatorFlags
	for _, f := range []struct {
		set  bool
		flag protocol.AuthenticatorFlags
	}{{c.UserPresent, protocol.FlagUserPresent}, {c.UserVerified, protocol.FlagUserVerified},
		{c.BackupEligible, protocol.FlagBackupEligible}, {c.BackupState, protocol.FlagBackupState}} {
		if f.set {
			flags |= f.flag
		}
	}
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = make([]byte, 16)
	}
	return webauthn.Credential{ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		AttestationFormat: c.AttestationFormat, Transport: transports, Flags: webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: c.SignCount}}
}

// organization resolves the step's tenant; ok is false for an unknown or disabled one.
func (a *Authenticator) organization(ctx context.Context, tenant string) (store.Organization, string, bool, error) {
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	org, err := a.deps.Organizations.OrganizationByHandle(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) || (err == nil && org.Status != store.OrganizationActive) {
		return store.Organization{}, tenant, false, nil
	}
	if err != nil {
		return store.Organization{}, tenant, false, fmt.Errorf("fido: organization: %w", err)
	}
	return org, tenant, true, nil
}

// loadAccount loads a user (by id, else by [domain/]username) and their passkeys. A nil account
// means there is no such user.
func (a *Authenticator) loadAccount(ctx context.Context, tenant string, id, domain, username string) (*account, error) {
	org, tenant, ok, err := a.organization(ctx, tenant)
	if err != nil || !ok {
		return nil, err
	}
	var u store.User
	if id != "" {
		u, err = a.deps.Users.UserByID(ctx, org.ID, id)
	} else {
		u, err = a.deps.Users.UserByUsername(ctx, org.ID, domain, username)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fido: user: %w", err)
	}
	creds, err := a.deps.Credentials.WebAuthnCredentials(ctx, a.cfg.RPID, u.ID)
	if err != nil {
		return nil, fmt.Errorf("fido: credentials: %w", err)
	}
	return &account{user: u, creds: creds, public: &connectors.User{ID: u.ID, Username: u.Username,
		UserStoreDomain: u.Domain, TenantDomain: tenant, IdP: connectors.LocalIdP}}, nil
}

// knownUser loads the step's user; a non-nil Outcome ends the step (unknown, locked or disabled).
func (a *Authenticator) knownUser(ctx context.Context, sc connectors.StepContext) (*account, *connectors.Outcome, error) {
	u := sc.User
	acc, err := a.loadAccount(ctx, sc.TenantDomain, u.ID, u.UserStoreDomain, u.Username)
	if err != nil {
		return nil, nil, err
	}
	if acc == nil {
		return nil, &connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound,
			FailedUser: u}, nil
	}
	if out := a.usable(acc); out != nil {
		return nil, out, nil
	}
	acc.public = mergeUser(u, acc.public)
	return acc, nil, nil
}

// usable refuses locked and disabled accounts, as BasicAuthenticator does.
func (a *Authenticator) usable(acc *account) *connectors.Outcome {
	if acc.user.LockedAt(a.now()) {
		return &connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountLocked,
			FailedUser: acc.public}
	}
	if acc.user.Disabled || acc.user.Status != store.UserActive {
		return &connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountDisabled,
			FailedUser: acc.public}
	}
	return nil
}

// beginLogin makes an assertion challenge: for acc's passkeys, or discoverable when acc is nil.
func (a *Authenticator) beginLogin(sc connectors.StepContext, acc *account) (connectors.BeginResult, error) {
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	opts := []webauthn.LoginOption{webauthn.WithUserVerification(a.uv)}
	st := state{Mode: ModeLogin, FlowID: sc.FlowID, Expires: a.now().Add(a.cfg.Timeout)}
	if acc == nil {
		assertion, session, err = a.wa.BeginDiscoverableLogin(opts...)
	} else {
		assertion, session, err = a.wa.BeginLogin(acc, opts...)
		st.UserID = acc.user.ID
	}
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("fido: begin login: %w", err)
	}
	return a.prompt(st, *session, challengeData{Request: assertion.Response}, nil)
}

// prompt completes st with the session and a request id and builds the INTERNAL_PROMPT.
func (a *Authenticator) prompt(st state, session webauthn.SessionData, cd challengeData, extra map[string]string) (connectors.BeginResult, error) {
	id, err := newRequestID()
	if err != nil {
		return connectors.BeginResult{}, err
	}
	st.RequestID, st.Session, cd.RequestID = id, session, id
	data, err := a.encodeChallenge(cd)
	if err != nil {
		return connectors.BeginResult{}, err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("fido: state: %w", err)
	}
	p := a.Prompt()
	p.AdditionalData = map[string]string{AdditionalChallengeData: data}
	for k, v := range extra {
		p.AdditionalData[k] = v
	}
	return connectors.BeginResult{State: raw, Prompt: &p}, nil
}

// processLogin verifies an assertion against the state's challenge.
func (a *Authenticator) processLogin(ctx context.Context, in connectors.ProcessInput, st state, raw json.RawMessage) (connectors.Outcome, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		a.logFailure(ctx, "fido: unparsable assertion", err)
		return a.failed(in.User), nil
	}
	var (
		acc  *account
		cred *webauthn.Credential
	)
	if st.UserID != "" {
		if in.User != nil && in.User.ID != "" && in.User.ID != st.UserID {
			return a.failed(in.User), nil
		}
		acc, err = a.loadAccount(ctx, in.TenantDomain, st.UserID, "", "")
		if err != nil {
			return connectors.Outcome{}, err
		}
		if acc == nil {
			return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonUserNotFound,
				FailedUser: in.User}, nil
		}
		if in.User != nil {
			acc.public = mergeUser(in.User, acc.public)
		}
		cred, err = a.wa.ValidateLogin(acc, st.Session, parsed)
	} else {
		var lookupErr error
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			id := string(userHandle)
			if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
				return nil, errors.New("user handle is not a user id")
			}
			acc, lookupErr = a.loadAccount(ctx, in.TenantDomain, id, "", "")
			if lookupErr != nil || acc == nil {
				return nil, errors.New("no such user")
			}
			return acc, nil
		}
		_, cred, err = a.wa.ValidatePasskeyLogin(handler, st.Session, parsed)
		if lookupErr != nil {
			return connectors.Outcome{}, lookupErr
		}
	}
	if err != nil {
		a.logFailure(ctx, "fido: assertion refused", err, "user_id", st.UserID)
		var failed *connectors.User
		if acc != nil {
			failed = acc.public
		}
		return a.failed(failed), nil
	}
	if out := a.usable(acc); out != nil {
		return *out, nil
	}
	if cred.Authenticator.CloneWarning {
		a.log.WarnContext(ctx, "fido: signature counter did not advance: cloned authenticator or replayed assertion",
			"user_id", acc.user.ID, "sign_count", parsed.Response.AuthenticatorData.Counter)
		return a.failed(acc.public), nil
	}
	ok, err := a.deps.Credentials.UseWebAuthnCredential(ctx, a.cfg.RPID, cred.ID, store.WebAuthnUse{
		SignCount: cred.Authenticator.SignCount, UserVerified: cred.Flags.UserVerified,
		BackupState: cred.Flags.BackupState, At: a.now()})
	if err != nil {
		return connectors.Outcome{}, fmt.Errorf("fido: %w", err)
	}
	if !ok {
		a.log.WarnContext(ctx, "fido: signature counter lost a race: replayed assertion", "user_id", acc.user.ID)
		return a.failed(acc.public), nil
	}
	return connectors.Outcome{Status: connectors.StatusSuccess, User: acc.public}, nil
}

// mergeUser keeps what earlier steps learnt about u with the identity the store confirms.
func mergeUser(u, confirmed *connectors.User) *connectors.User {
	out := *u
	out.ID, out.Username, out.UserStoreDomain = confirmed.ID, confirmed.Username, confirmed.UserStoreDomain
	out.TenantDomain, out.IdP = confirmed.TenantDomain, connectors.LocalIdP
	return &out
}

// excludeList lists acc's passkeys for excludeCredentials.
func excludeList(acc *account) []protocol.CredentialDescriptor {
	var out []protocol.CredentialDescriptor
	for _, c := range acc.WebAuthnCredentials() {
		out = append(out, c.Descriptor())
	}
	return out
}
