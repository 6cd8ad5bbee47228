package workers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/store"
)

// ScriptStore is what the scripts' account and library functions need from the store;
// *store.Store implements it.
type ScriptStore interface {
	OrganizationByHandle(ctx context.Context, handle string) (store.Organization, error)
	UserByUsername(ctx context.Context, orgID, domain, username string) (store.User, error)
	UsersByClaims(ctx context.Context, orgID string, claims map[string]string) ([]store.User, error)
	SetUserPasswordHash(ctx context.Context, userID, hash string, actor store.Actor) error
	AssociateFederatedUser(ctx context.Context, orgID, idp, subject, userID string) error
	AssociatedUser(ctx context.Context, orgID, idp, subject string) (store.User, error)
	DeleteFederatedAssociation(ctx context.Context, orgID, idp, subject string) error
	ScriptLibrary(ctx context.Context, orgID, name string) (store.ScriptLibrary, error)
}

// DefaultLoginIdentifierClaims are the claims resolveMultiAttributeLoginIdentifier matches
// besides the username: e-mail address and mobile number.
var DefaultLoginIdentifierClaims = []string{"http://wso2.org/claims/emailaddress", "http://wso2.org/claims/mobile"}

// scriptActor is recorded in the audit trail for changes scripts make.
var scriptActor = store.Actor{Type: store.ActorSystem, ID: "authentication-script"}

// accounts implements scripting.Accounts and scripting.Libraries over the store.
type accounts struct {
	st ScriptStore
	// identifierClaims are matched by resolveMultiAttributeLoginIdentifier.
	identifierClaims []string
	// hashing are the argon2id parameters of updated passwords.
	hashing password.Params
	// gate bounds concurrent argon2id work.
	gate *password.Gate
}

var (
	_ scripting.Accounts  = (*accounts)(nil)
	_ scripting.Libraries = (*accounts)(nil)
)

// org resolves a tenant domain (empty: the root organization). found is false for an unknown
// or disabled organization.
func (a *accounts) org(ctx context.Context, tenant string) (store.Organization, bool, error) {
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	org, err := a.st.OrganizationByHandle(ctx, tenant)
	if errors.Is(err, store.ErrNotFound) || (err == nil && org.Status != store.OrganizationActive) {
		return store.Organization{}, false, nil
	}
	if err != nil {
		return store.Organization{}, false, fmt.Errorf("organization: %w", err)
	}
	return org, true, nil
}

func public(u store.User, tenant string) connectors.User {
	if tenant == "" {
		tenant = store.RootOrganizationHandle
	}
	return connectors.User{ID: u.ID, Username: u.Username, UserStoreDomain: u.Domain, TenantDomain: tenant, IdP: connectors.LocalIdP}
}

// splitDomain splits WSO2's DOMAIN/username form.
func splitDomain(name string) (domain, username string) {
	if d, n, ok := strings.Cut(name, "/"); ok && d != "" && n != "" {
		return d, n
	}
	return "", name
}

func (a *accounts) FindUsers(ctx context.Context, tenant string, claims map[string]string, _ string) ([]connectors.User, error) {
	org, ok, err := a.org(ctx, tenant)
	if err != nil || !ok {
		return nil, err
	}
	found, err := a.st.UsersByClaims(ctx, org.ID, claims)
	if err != nil {
		return nil, err
	}
	out := make([]connectors.User, len(found))
	for i, u := range found {
		out[i] = public(u, org.Handle)
	}
	return out, nil
}

// ResolveLoginIdentifier matches the username first, then the identifier claims; an identifier
// that several users hold resolves to nothing.
func (a *accounts) ResolveLoginIdentifier(ctx context.Context, tenant, loginID string) (string, error) {
	org, ok, err := a.org(ctx, tenant)
	if err != nil || !ok {
		return "", err
	}
	domain, name := splitDomain(loginID)
	u, err := a.st.UserByUsername(ctx, org.ID, domain, name)
	switch {
	case err == nil:
		return qualified(u), nil
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	claims := a.identifierClaims
	if claims == nil {
		claims = DefaultLoginIdentifierClaims
	}
	var match *store.User
	for _, uri := range claims {
		users, err := a.st.UsersByClaims(ctx, org.ID, map[string]string{uri: loginID})
		if err != nil {
			return "", err
		}
		for i := range users {
			if match != nil && match.ID != users[i].ID {
				return "", nil // ambiguous
			}
			match = &users[i]
		}
	}
	if match == nil {
		return "", nil
	}
	return qualified(*match), nil
}

// qualified is the username as WSO2 reports it: DOMAIN/name outside the primary store.
func qualified(u store.User) string {
	if u.Domain == "" || strings.EqualFold(u.Domain, store.DefaultDomain) {
		return u.Username
	}
	return u.Domain + "/" + u.Username
}

// fedSubject is the federated identity's subject at its IdP.
func fedSubject(u *connectors.User) string {
	if u.ID != "" {
		return u.ID
	}
	return u.SubjectIdentifier()
}

func (a *accounts) AssociatedUser(ctx context.Context, fed *connectors.User) (*connectors.User, error) {
	org, ok, err := a.org(ctx, fed.TenantDomain)
	if err != nil || !ok {
		return nil, err
	}
	u, err := a.st.AssociatedUser(ctx, org.ID, fed.IdP, fedSubject(fed))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := public(u, org.Handle)
	return &p, nil
}

func (a *accounts) Associate(ctx context.Context, fed *connectors.User, tenant, domain, username string) error {
	org, ok, err := a.org(ctx, tenant)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("associate: unknown tenant %q", tenant)
	}
	u, err := a.st.UserByUsername(ctx, org.ID, domain, username)
	if err != nil {
		return fmt.Errorf("associate: local user: %w", err)
	}
	if err := a.st.AssociateFederatedUser(ctx, org.ID, fed.IdP, fedSubject(fed), u.ID); err != nil {
		return fmt.Errorf("associate: %w", err)
	}
	return nil
}

func (a *accounts) RemoveAssociation(ctx context.Context, fed *connectors.User) (bool, error) {
	org, ok, err := a.org(ctx, fed.TenantDomain)
	if err != nil || !ok {
		return false, err
	}
	err = a.st.DeleteFederatedAssociation(ctx, org.ID, fed.IdP, fedSubject(fed))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// UpdatePassword hashes the password with argon2id and stores the hash. The password itself is
// never logged or put in an error.
func (a *accounts) UpdatePassword(ctx context.Context, u *connectors.User, pw string) error {
	if !local(u) {
		return errors.New("update password: not a local user")
	}
	if pw == "" {
		return errors.New("update password: empty password")
	}
	if err := a.checkPolicy(ctx, u, pw); err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	hash, err := a.gate.Hash(ctx, pw, a.hashing)
	if err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	if err := a.st.SetUserPasswordHash(ctx, u.ID, hash, scriptActor); err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	return nil
}

// passwordChecker is an optional capability of ScriptStore (*store.Store has it): the
// organization's password policy, checked before a script sets a password.
type passwordChecker interface {
	CheckPassword(ctx context.Context, orgID, userID, pw string, reused func(pw, hash string) (bool, error)) error
}

// checkPolicy returns the *store.PasswordViolation of a password the user's organization refuses.
func (a *accounts) checkPolicy(ctx context.Context, u *connectors.User, pw string) error {
	pc, ok := a.st.(passwordChecker)
	if !ok {
		return nil
	}
	org, found, err := a.org(ctx, u.TenantDomain)
	if err != nil || !found {
		return err
	}
	return pc.CheckPassword(ctx, org.ID, u.ID, pw, func(pw, hash string) (bool, error) {
		return a.gate.Verify(ctx, pw, hash)
	})
}

// Library returns a tenant's script library. WSO2 scripts write require('lib.js') for a library
// saved as "lib.js" or "lib", so a name not found as written is tried with ".js" added or
// removed.
func (a *accounts) Library(ctx context.Context, tenant, name string) (string, error) {
	org, ok, err := a.org(ctx, tenant)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("tenant %q: %w", tenant, scripting.ErrNoLibrary)
	}
	alt := name + ".js"
	if trimmed, cut := strings.CutSuffix(name, ".js"); cut {
		alt = trimmed
	}
	for _, n := range []string{name, alt} {
		lib, err := a.st.ScriptLibrary(ctx, org.ID, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		return lib.Content, nil
	}
	return "", fmt.Errorf("%q: %w", name, scripting.ErrNoLibrary)
}
