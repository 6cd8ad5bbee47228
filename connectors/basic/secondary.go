package basic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/ldapstore"
	"github.com/keyflow/keyflow/store"
)

// SecondaryStores resolves an organization's secondary (LDAP / Active Directory) user stores by
// domain; *ldapstore.Registry implements it.
type SecondaryStores interface {
	// Directory returns the store named domain, ok false when the organization has no such
	// (enabled) store.
	Directory(ctx context.Context, orgID, domain string) (dir *ldapstore.Directory, ok bool, err error)
}

// secondary handles a DOMAIN/username login whose domain is a configured secondary user store:
// the directory checks the password (a bind), the user's shadow row in PostgreSQL carries the
// id, the lock and the failure counter, exactly as for built-in users. handled is false for
// PRIMARY, unqualified names and domains that are not configured, which the built-in path then
// treats (an unknown domain fails like an unknown user).
func (a *Authenticator) secondary(ctx context.Context, tenant, qualified, pw string) (out connectors.Outcome, handled bool, err error) {
	domain, username, ok := strings.Cut(qualified, "/")
	if a.deps.Secondary == nil || !ok || domain == "" || username == "" || strings.EqualFold(domain, store.DefaultDomain) {
		return connectors.Outcome{}, false, nil
	}
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	org, err := a.deps.Organizations.OrganizationByHandle(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) || (err == nil && org.Status != store.OrganizationActive) {
		return connectors.Outcome{}, false, nil
	}
	if err != nil {
		return connectors.Outcome{}, true, fmt.Errorf("basic: organization: %w", err)
	}
	dir, ok, err := a.deps.Secondary.Directory(ctx, org.ID, domain)
	if err != nil {
		return connectors.Outcome{}, true, fmt.Errorf("basic: user store %s: %w", strings.ToUpper(domain), err)
	}
	if !ok {
		return connectors.Outcome{}, false, nil
	}
	now := a.now()
	// A locked account is refused before the directory sees the password, so guessing cannot
	// go on against the directory (and trip its own lockout) while Keyflow's lock holds.
	shadow, err := a.deps.Users.UserByUsername(ctx, org.ID, domain, username)
	switch {
	case err == nil && shadow.LockedAt(now):
		return a.locked(a.public(shadow, tenant)), true, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return connectors.Outcome{}, true, fmt.Errorf("basic: user: %w", err)
	}
	login, err := dir.Login(ctx, username, pw)
	switch {
	case errors.Is(err, ldapstore.ErrInvalidCredentials) && login.User.ID != "":
		out, err := a.failure(ctx, login.User, a.public(login.User, tenant), now)
		return out, true, err
	case errors.Is(err, ldapstore.ErrInvalidCredentials), errors.Is(err, ldapstore.ErrNoSuchUser):
		return a.invalid(connectors.ReasonInvalidCredentials, 0), true, nil
	case err != nil:
		return connectors.Outcome{}, true, fmt.Errorf("basic: user store %s: %w", dir.Domain(), err)
	}
	user := login.User
	public := a.public(user, tenant)
	if user.Disabled || user.Status != store.UserActive {
		a.log.InfoContext(ctx, "basic: login refused", "user_id", user.ID, "disabled", user.Disabled, "status", user.Status)
		return connectors.Outcome{Status: connectors.StatusFailed, Reason: connectors.ReasonAccountDisabled,
			FailedUser: public, Messages: []connectors.Message{message("user.account.disabled")}}, true, nil
	}
	if err := a.deps.Users.RecordLoginSuccess(ctx, user.ID, now); err != nil {
		return connectors.Outcome{}, true, fmt.Errorf("basic: record login success: %w", err)
	}
	public.Claims, public.Groups = login.Claims, login.Groups
	return connectors.Outcome{Status: connectors.StatusSuccess, User: public}, true, nil
}
