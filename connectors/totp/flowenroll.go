package totp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// RuntimeEnrollInFlow is the script authenticatorParams key ("true" or "false", as in WSO2's
// totp authenticator) that overrides Config.EnrollInFlow for one login. Other values are ignored.
const RuntimeEnrollInFlow = "enrolUserInAuthenticationFlow"

// AdditionalData keys of the prompt of a step that enrols the user.
const (
	// DataEnrollment is "true" when the prompt shows a new credential to add to an app.
	DataEnrollment = "enrollment"
	// DataKeyURI is the otpauth:// key URI (Enrollment.URI).
	DataKeyURI = "keyUri"
	// DataQRCode is the key URI as a QR code, a data:image/png;base64 URI (Enrollment.QRCode).
	DataQRCode = "qrCode"
	// DataSecret is the base32 secret for manual entry (Enrollment.Secret).
	DataSecret = "secret"
)

// flowState is the step state. It is empty for an ordinary verification.
type flowState struct {
	// Enrollment references the pending credential this step issued and showed: a hash of its
	// ciphertext, which identifies the stored row without revealing anything about the secret.
	Enrollment string `json:"enrollment,omitempty"`
}

func parseState(raw json.RawMessage) (flowState, error) {
	var st flowState
	if len(raw) == 0 || string(raw) == "null" {
		return st, nil
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return flowState{}, fmt.Errorf("totp: step state: %w", err)
	}
	return st, nil
}

// enrollInFlow reports whether a user without a confirmed credential may enrol in this login.
func (a *Authenticator) enrollInFlow(runtime map[string]string) bool {
	switch v := strings.TrimSpace(runtime[RuntimeEnrollInFlow]); {
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"):
		return false
	}
	return a.cfg.EnrollInFlow
}

func credentialRef(ciphertext []byte) string {
	sum := sha256.Sum256(ciphertext)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// accountName labels the credential in the user's app: the username, or the user id when the
// username cannot appear in a key URI label.
func accountName(u *connectors.User) string {
	if u.Username != "" && !strings.Contains(u.Username, ":") {
		return u.Username
	}
	return u.ID
}

// beginEnrollment shows the user a credential to add to an authenticator app. The pending
// credential this step already issued (st names it and the store still holds it) is shown again,
// so a resend or a reload does not invalidate a QR code the user may have scanned. Anything else —
// no credential, or a pending one issued elsewhere (My Account, an abandoned login) — is replaced by
// a new secret: re-showing a secret this step did not issue would hand it to whoever passed the
// earlier steps, while replacing it only makes the other, unconfirmed enrolment fail.
func (a *Authenticator) beginEnrollment(ctx context.Context, u *connectors.User, st flowState,
	c store.TOTPCredential, found bool) (connectors.BeginResult, error) {
	var en Enrollment
	ref := st.Enrollment
	if found && ref != "" && ref == credentialRef(c.SecretCiphertext) {
		var err error
		if en, err = a.reopen(c, u); err != nil {
			return connectors.BeginResult{}, err
		}
	} else {
		var ct []byte
		var err error
		en, ct, err = a.enroll(ctx, u.ID, accountName(u))
		if errors.Is(err, store.ErrNotFound) {
			// No such local user (an id from elsewhere): nothing can be enrolled.
			return connectors.BeginResult{Outcome: notEnrolled(u)}, nil
		}
		if err != nil {
			return connectors.BeginResult{}, err
		}
		ref = credentialRef(ct)
	}
	state, err := json.Marshal(flowState{Enrollment: ref})
	if err != nil {
		return connectors.BeginResult{}, fmt.Errorf("totp: step state: %w", err)
	}
	p := a.enrollmentPrompt(en)
	return connectors.BeginResult{State: state, Prompt: &p}, nil
}

// confirmInFlow checks a code against the enrolment this step showed and confirms it.
func (a *Authenticator) confirmInFlow(ctx context.Context, in connectors.ProcessInput, st flowState) (connectors.Outcome, error) {
	c, found, err := a.stored(ctx, in.User.ID)
	switch {
	case err != nil:
		return connectors.Outcome{}, err
	case !found:
		return *notEnrolled(in.User), nil
	case c.Confirmed():
		// Confirmed meanwhile (another tab): this is an ordinary verification now.
		return a.verify(ctx, in)
	case credentialRef(c.SecretCiphertext) != st.Enrollment:
		// Replaced by another enrolment: the secret this step showed is gone, and the new one
		// must not be shown or confirmed here.
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonExpired,
			FailedUser: in.User}, nil
	}
	ok, err := a.ConfirmEnrollment(ctx, in.User.ID, in.Params[ParamToken])
	if errors.Is(err, ErrNoPendingEnrollment) {
		return a.verify(ctx, in) // confirmed or removed between the two reads
	}
	if err != nil {
		return connectors.Outcome{}, err
	}
	if ok {
		return succeeded(in.User), nil
	}
	out := a.failed(in)
	if out.Retry {
		// Keep showing the same credential for the next attempt.
		en, err := a.reopen(c, in.User)
		if err != nil {
			return connectors.Outcome{}, err
		}
		p := a.enrollmentPrompt(en)
		out.Prompt, out.State = &p, in.State
	}
	return out, nil
}

// reopen renders a stored pending credential again.
func (a *Authenticator) reopen(c store.TOTPCredential, u *connectors.User) (Enrollment, error) {
	secret, err := a.box.open(c.KeyID, c.SecretCiphertext, u.ID)
	if err != nil {
		return Enrollment{}, fmt.Errorf("totp: user %s: %w", u.ID, err)
	}
	return a.enrollment(secret, accountName(u))
}

// enrollmentPrompt is Prompt with the enrolment in AdditionalData.
func (a *Authenticator) enrollmentPrompt(en Enrollment) connectors.Prompt {
	p := a.Prompt()
	p.AdditionalData = map[string]string{DataEnrollment: "true", DataKeyURI: en.URI, DataQRCode: en.QRCode,
		DataSecret: en.Secret}
	return p
}
