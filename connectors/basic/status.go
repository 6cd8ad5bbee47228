package basic

import (
	"context"
	"fmt"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/store"
)

// Reasons of refusals by account state beyond connectors' own: the password is right but must be
// changed before the account can be used.
const (
	// ReasonPasswordResetRequired: an administrator forced a password reset
	// (status PENDING_FORCED_PASSWORD_RESET).
	ReasonPasswordResetRequired connectors.Reason = "password_reset_required"
	// ReasonPasswordExpired: the password is older than the organization's maximum age.
	ReasonPasswordExpired connectors.Reason = "password_expired"
)

// PasswordPolicies is an optional capability of Users (*store.Store has it): when present, a
// password older than the organization's maximum age is refused with ReasonPasswordExpired.
type PasswordPolicies interface {
	// PasswordPolicy returns an organization's policy (the zero policy when none is set).
	PasswordPolicy(ctx context.Context, orgID string) (store.PasswordPolicy, error)
}

// accountStatus refuses a login with the right password whose account cannot be used now:
// disabled (or in a state other than active), waiting for a forced password reset, or with an
// expired password. Each says so specifically (WSO2 prompts a reset for the last two).
func (a *Authenticator) accountStatus(ctx context.Context, user store.User, public *connectors.User, now time.Time) (connectors.Outcome, bool, error) {
	refuse := func(reason connectors.Reason, msg string) (connectors.Outcome, bool, error) {
		a.log.InfoContext(ctx, "basic: login refused", "user_id", user.ID, "reason", reason, "status", user.Status)
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: reason,
			FailedUser: public, Messages: []connectors.Message{message(msg)}}, true, nil
	}
	switch {
	case user.Disabled:
		return refuse(connectors.ReasonAccountDisabled, "user.account.disabled")
	case user.Status == store.UserPendingForcedPasswordReset:
		return refuse(ReasonPasswordResetRequired, "user.password.reset.required")
	case user.Status != store.UserActive:
		return refuse(connectors.ReasonAccountDisabled, "user.account.disabled")
	}
	if pp, ok := a.deps.Users.(PasswordPolicies); ok {
		p, err := pp.PasswordPolicy(ctx, user.OrgID)
		if err != nil {
			return connectors.Outcome{}, true, fmt.Errorf("basic: password policy: %w", err)
		}
		if p.PasswordExpired(user, now) {
			return refuse(ReasonPasswordExpired, "user.password.expired")
		}
	}
	return connectors.Outcome{}, false, nil
}
