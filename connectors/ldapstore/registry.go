package ldapstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keyflow/keyflow/store"
)

// Store is what the Registry needs from PostgreSQL; *store.Store implements it.
type Store interface {
	// UserStoreByDomain returns an organization's secondary user store, or store.ErrNotFound.
	UserStoreByDomain(ctx context.Context, orgID, domain string) (store.UserStore, error)
	// UpsertShadowUser creates or refreshes the shadow row of a directory user.
	UpsertShadowUser(ctx context.Context, su store.ShadowUser) (store.User, error)
}

// RegistryConfig configures a Registry.
type RegistryConfig struct {
	// Store reads user store settings and keeps shadow users. Required.
	Store Store
	// Keys open sealed bind passwords. Required.
	Keys *Keyring
	// TLS, when set, is used for every ldaps:// and StartTLS connection (private CAs).
	TLS *tls.Config
	// Logger receives connection problems (never passwords); nil discards.
	Logger *slog.Logger
}

// Registry hands out the Directory of an organization's secondary user store, keeping one
// Client (and its connection pool) per store. Settings are read from PostgreSQL on each call,
// a point look-up, so a change made through any replica takes effect at the next login: a store
// whose updated_at moved gets a new Client and the old one is closed. Safe for concurrent use.
type Registry struct {
	cfg RegistryConfig
	log *slog.Logger

	mu   sync.Mutex
	dirs map[string]*Directory // by orgID + "/" + domain
}

// NewRegistry validates cfg and returns an empty Registry.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("ldapstore: RegistryConfig needs Store and Keys")
	}
	r := &Registry{cfg: cfg, log: cfg.Logger, dirs: map[string]*Directory{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Close closes every Client.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, d := range r.dirs {
		d.Client.Close()
		delete(r.dirs, k)
	}
}

// Directory returns the organization's secondary user store named domain (case-insensitive).
// ok is false when there is no such store or it is disabled; err reports a store that exists but
// cannot be used (its bind password does not open, its settings are invalid) or a database
// failure.
func (r *Registry) Directory(ctx context.Context, orgID, domain string) (dir *Directory, ok bool, err error) {
	us, err := r.cfg.Store.UserStoreByDomain(ctx, orgID, domain)
	if errors.Is(err, store.ErrNotFound) || (err == nil && us.Disabled) {
		r.forget(orgID + "/" + strings.ToUpper(domain))
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("ldapstore: user store %s: %w", domain, err)
	}
	key := us.OrgID + "/" + us.Domain
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.dirs[key]; ok && d.id == us.ID && d.updatedAt.Equal(us.UpdatedAt) {
		return d, true, nil
	}
	pw, err := r.cfg.Keys.OpenBindPassword(us)
	if err != nil {
		return nil, false, err
	}
	cfg := ConfigFrom(us, pw)
	cfg.TLS, cfg.Logger = r.cfg.TLS, r.log
	c, err := New(cfg)
	if err != nil {
		return nil, false, fmt.Errorf("ldapstore: user store %s: %w", us.Domain, err)
	}
	if old, ok := r.dirs[key]; ok {
		old.Client.Close()
	}
	d := &Directory{Client: c, id: us.ID, orgID: us.OrgID, updatedAt: us.UpdatedAt, store: r.cfg.Store,
		claimURIs: slices.Sorted(maps.Keys(us.ClaimMappings))}
	r.dirs[key] = d
	return d, true, nil
}

// forget closes and drops the cached Directory of a store that was deleted or disabled.
func (r *Registry) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.dirs[key]; ok {
		d.Client.Close()
		delete(r.dirs, key)
	}
}

// Directory is one organization's secondary user store: the LDAP Client plus the shadow rows
// that give its users an id in PostgreSQL.
type Directory struct {
	*Client
	id, orgID string
	updatedAt time.Time
	store     Store
	claimURIs []string
}

// Login is a user the directory authenticated (or identified, with ErrInvalidCredentials).
type Login struct {
	// User is the shadow row, refreshed from the directory.
	User store.User
	// Claims are the user's mapped claims as the directory has them now.
	Claims map[string]string
	// Groups are the user's groups qualified with the domain (EMPLOYEES/engineers), sorted; nil
	// after a failed password.
	Groups []string
}

// Login authenticates username with password against the directory and records the user's
// shadow row: claims refreshed and, on success, group memberships synchronised.
//
// Errors: ErrNoSuchUser; ErrInvalidCredentials with Login.User set to the shadow row (so the
// caller counts the failure against it); anything else is an infrastructure failure (directory
// down, timeout), never a verdict on the password.
func (d *Directory) Login(ctx context.Context, username, password string) (Login, error) {
	e, authErr := d.Authenticate(ctx, username, password)
	if authErr != nil && !(errors.Is(authErr, ErrInvalidCredentials) && e.DN != "") {
		return Login{}, authErr
	}
	var groups []string
	if authErr == nil {
		var err error
		if groups, err = d.Groups(ctx, e); err != nil {
			return Login{}, err
		}
		if groups == nil {
			groups = []string{}
		}
	}
	u, err := d.Shadow(ctx, e, groups)
	if err != nil {
		return Login{}, err
	}
	out := Login{User: u, Claims: e.Claims}
	if authErr == nil {
		out.Groups = d.qualify(groups)
	}
	return out, authErr
}

// Shadow upserts the shadow row of a directory entry. groups, when not nil, become the user's
// memberships in the domain's groups.
func (d *Directory) Shadow(ctx context.Context, e Entry, groups []string) (store.User, error) {
	var valid []string
	if groups != nil {
		valid = make([]string, 0, len(groups))
		for _, g := range groups {
			// A name the store cannot hold is left out rather than failing the login.
			if g != "" && utf8.RuneCountInString(g) <= store.MaxGroupNameLength {
				valid = append(valid, g)
			}
		}
	}
	u, err := d.store.UpsertShadowUser(ctx, store.ShadowUser{OrgID: d.orgID, Domain: d.Domain(),
		Username: e.Username, Claims: e.Claims, ClaimURIs: d.claimURIs, Groups: valid})
	if err != nil {
		return store.User{}, fmt.Errorf("ldapstore: %s: shadow user: %w", d.Domain(), err)
	}
	return u, nil
}

// qualify prefixes group names with the domain, WSO2's DOMAIN/group form.
func (d *Directory) qualify(groups []string) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = d.Domain() + "/" + g
	}
	return out
}
