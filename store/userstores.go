package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit actions of secondary user stores (the bind password is never recorded).
const (
	AuditUserStoreCreate = "userstore.create"
	AuditUserStoreUpdate = "userstore.update"
	AuditUserStoreDelete = "userstore.delete"
)

// UserStoreType is the kind of directory behind a secondary user store.
type UserStoreType string

// Secondary user store types.
const (
	UserStoreLDAP UserStoreType = "LDAP" // OpenLDAP and other RFC 4511 directories
	UserStoreAD   UserStoreType = "AD"   // Microsoft Active Directory
)

// Membership attributes a user store may use to find a user's groups.
const (
	MembershipMember       = "member"       // groupOfNames: the group lists member DNs
	MembershipUniqueMember = "uniqueMember" // groupOfUniqueNames
	MembershipMemberOf     = "memberOf"     // the user lists group DNs (AD, OpenLDAP memberof overlay)
)

// UserStore is the configuration of a secondary user store (an LDAP or Active Directory
// directory) of an organization, addressed by its domain ("EMPLOYEES/alice").
type UserStore struct {
	ID          string
	OrgID       string
	Domain      string // upper-case, never DefaultDomain
	Type        UserStoreType
	Description string
	ReadOnly    bool
	Disabled    bool
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL      string
	StartTLS bool
	BindDN   string
	// BindPassword is the service account's password sealed by the caller (the store never sees
	// it in clear); BindPasswordKeyID names the sealing key. Both empty: no password. On update, a
	// nil BindPassword keeps the stored one.
	BindPassword      []byte
	BindPasswordKeyID string
	UserSearchBase    string
	UserObjectClass   string // inetOrgPerson, user, ...
	// UsernameAttribute holds the login name: uid (LDAP) or sAMAccountName (AD).
	UsernameAttribute string
	// UserSearchFilter is an extra LDAP filter every user search must also match, e.g.
	// "(!(pwdAccountLockedTime=*))"; empty means none.
	UserSearchFilter    string
	GroupSearchBase     string
	GroupObjectClass    string
	GroupNameAttribute  string // empty means cn
	MembershipAttribute string // MembershipMember, MembershipUniqueMember, MembershipMemberOf or empty (no groups)
	// ClaimMappings maps local claim URIs (http://wso2.org/claims/emailaddress) to directory
	// attribute names (mail).
	ClaimMappings  map[string]string
	ConnectTimeout time.Duration // zero means 5 s
	RequestTimeout time.Duration // zero means 10 s
	PoolSize       int           // zero means 4
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Defaults applied to a UserStore's zero values on write.
const (
	DefaultUserStoreConnectTimeout = 5 * time.Second
	DefaultUserStoreRequestTimeout = 10 * time.Second
	DefaultUserStorePoolSize       = 4
)

var userStoreDomainPattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_.-]{0,63}$`)

const userStoreColumns = `id, org_id, domain, type, description, read_only, disabled, connection_url, start_tls,
	bind_dn, bind_password, coalesce(bind_password_key_id, ''), user_search_base, user_object_class,
	username_attribute, user_search_filter, group_search_base, group_object_class, group_name_attribute,
	membership_attribute, claim_mappings, connect_timeout_ms, request_timeout_ms, pool_size, created_at, updated_at`

func scanUserStore(row pgx.Row) (UserStore, error) {
	var (
		us               UserStore
		mappings         []byte
		connectMS, reqMS int64
	)
	err := row.Scan(&us.ID, &us.OrgID, &us.Domain, &us.Type, &us.Description, &us.ReadOnly, &us.Disabled,
		&us.URL, &us.StartTLS, &us.BindDN, &us.BindPassword, &us.BindPasswordKeyID, &us.UserSearchBase,
		&us.UserObjectClass, &us.UsernameAttribute, &us.UserSearchFilter, &us.GroupSearchBase,
		&us.GroupObjectClass, &us.GroupNameAttribute, &us.MembershipAttribute, &mappings, &connectMS, &reqMS,
		&us.PoolSize, &us.CreatedAt, &us.UpdatedAt)
	if err != nil {
		return UserStore{}, err
	}
	us.ConnectTimeout = time.Duration(connectMS) * time.Millisecond
	us.RequestTimeout = time.Duration(reqMS) * time.Millisecond
	us.CreatedAt, us.UpdatedAt = us.CreatedAt.UTC(), us.UpdatedAt.UTC()
	if err := json.Unmarshal(mappings, &us.ClaimMappings); err != nil {
		return UserStore{}, fmt.Errorf("claim mappings: %w", err)
	}
	return us, nil
}

// normalize applies defaults and checks what the schema also checks, so a mistake is a readable
// error rather than a constraint name.
func (us *UserStore) normalize() error {
	us.Domain = strings.ToUpper(us.Domain)
	if us.ConnectTimeout == 0 {
		us.ConnectTimeout = DefaultUserStoreConnectTimeout
	}
	if us.RequestTimeout == 0 {
		us.RequestTimeout = DefaultUserStoreRequestTimeout
	}
	if us.PoolSize == 0 {
		us.PoolSize = DefaultUserStorePoolSize
	}
	if us.GroupNameAttribute == "" {
		us.GroupNameAttribute = "cn"
	}
	if us.ClaimMappings == nil {
		us.ClaimMappings = map[string]string{}
	}
	switch {
	case !isUUID(us.OrgID):
		return fmt.Errorf("organization %q: %w", us.OrgID, ErrNotFound)
	case !userStoreDomainPattern.MatchString(us.Domain) || us.Domain == DefaultDomain:
		return fmt.Errorf("user store domain %q: want 1-64 of A-Z 0-9 _ . - and not %s", us.Domain, DefaultDomain)
	case us.Type != UserStoreLDAP && us.Type != UserStoreAD:
		return fmt.Errorf("user store type %q: want %s or %s", us.Type, UserStoreLDAP, UserStoreAD)
	case !strings.HasPrefix(us.URL, "ldap://") && !strings.HasPrefix(us.URL, "ldaps://"):
		return fmt.Errorf("user store URL: want ldap:// or ldaps://")
	case us.StartTLS && strings.HasPrefix(us.URL, "ldaps://"):
		return errors.New("user store: StartTLS on an ldaps:// URL")
	case us.UserSearchBase == "" || us.UserObjectClass == "" || us.UsernameAttribute == "":
		return errors.New("user store: user search base, user object class and username attribute are required")
	case !slices.Contains([]string{"", MembershipMember, MembershipUniqueMember, MembershipMemberOf}, us.MembershipAttribute):
		return fmt.Errorf("user store membership attribute %q: want member, uniqueMember or memberOf", us.MembershipAttribute)
	case us.ConnectTimeout < time.Millisecond || us.RequestTimeout < time.Millisecond ||
		us.ConnectTimeout > 10*time.Minute || us.RequestTimeout > 10*time.Minute:
		return errors.New("user store timeouts: want 1 ms to 10 min")
	case us.PoolSize < 1 || us.PoolSize > 256:
		return fmt.Errorf("user store pool size %d: want 1-256", us.PoolSize)
	case (len(us.BindPassword) == 0) != (us.BindPasswordKeyID == ""):
		return errors.New("user store: a sealed bind password needs its key id, and a key id its password")
	}
	for uri, attr := range us.ClaimMappings {
		if uri == "" || attr == "" {
			return fmt.Errorf("user store claim mapping %q → %q: empty", uri, attr)
		}
	}
	return nil
}

// Validate reports what is wrong with us as CreateUserStore and UpdateUserStore would (after
// their defaults), without writing anything.
func (us UserStore) Validate() error {
	return us.normalize()
}

// auditView is what the audit trail records of a store: everything but the password.
func (us UserStore) auditView() map[string]any {
	return map[string]any{
		"domain": us.Domain, "type": us.Type, "readOnly": us.ReadOnly, "disabled": us.Disabled,
		"url": us.URL, "startTLS": us.StartTLS, "bindDN": us.BindDN, "userSearchBase": us.UserSearchBase,
		"claims": slices.Sorted(maps.Keys(us.ClaimMappings)),
	}
}

// CreateUserStore adds a secondary user store to an organization and records an audit event.
// ErrConflict: the domain is taken; ErrNotFound: no such organization; invalid settings are a
// plain error.
func (q *queries) CreateUserStore(ctx context.Context, us UserStore, actor Actor) (UserStore, error) {
	if err := us.normalize(); err != nil {
		return UserStore{}, fmt.Errorf("store: create user store: %w", err)
	}
	mappings, err := json.Marshal(us.ClaimMappings)
	if err != nil {
		return UserStore{}, fmt.Errorf("store: create user store: %w", err)
	}
	var out UserStore
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanUserStore(q.db.QueryRow(ctx, `
			INSERT INTO user_stores (org_id, domain, type, description, read_only, disabled, connection_url,
				start_tls, bind_dn, bind_password, bind_password_key_id, user_search_base, user_object_class,
				username_attribute, user_search_filter, group_search_base, group_object_class,
				group_name_attribute, membership_attribute, claim_mappings, connect_timeout_ms,
				request_timeout_ms, pool_size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
				$21, $22, $23)
			RETURNING `+userStoreColumns,
			us.OrgID, us.Domain, us.Type, us.Description, us.ReadOnly, us.Disabled, us.URL, us.StartTLS,
			us.BindDN, nilIfEmptyBytes(us.BindPassword), nullIfEmpty(us.BindPasswordKeyID), us.UserSearchBase,
			us.UserObjectClass, us.UsernameAttribute, us.UserSearchFilter, us.GroupSearchBase,
			us.GroupObjectClass, us.GroupNameAttribute, us.MembershipAttribute, mappings,
			us.ConnectTimeout.Milliseconds(), us.RequestTimeout.Milliseconds(), us.PoolSize))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create user store: organization %s: %w", us.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create user store", err)
		}
		return q.audit(ctx, auditEvent{orgID: out.OrgID, actor: actor, action: AuditUserStoreCreate,
			targetType: "userstore", targetID: out.ID, after: out.auditView()})
	})
	if err != nil {
		return UserStore{}, err
	}
	return out, nil
}

// UpdateUserStore replaces the settings of the store us.OrgID/us.Domain (a nil BindPassword keeps
// the stored password) and records an audit event. ErrNotFound: no such store.
func (q *queries) UpdateUserStore(ctx context.Context, us UserStore, actor Actor) (UserStore, error) {
	keep := us.BindPassword == nil
	if keep {
		us.BindPasswordKeyID = ""
	}
	if err := us.normalize(); err != nil {
		return UserStore{}, fmt.Errorf("store: update user store: %w", err)
	}
	mappings, err := json.Marshal(us.ClaimMappings)
	if err != nil {
		return UserStore{}, fmt.Errorf("store: update user store: %w", err)
	}
	var out UserStore
	err = q.atomic(ctx, func(q *queries) error {
		before, err := scanUserStore(q.db.QueryRow(ctx, `SELECT `+userStoreColumns+` FROM user_stores
			WHERE org_id = $1 AND domain = $2 FOR UPDATE`, us.OrgID, us.Domain))
		if err != nil {
			return mapErr("store: update user store", err)
		}
		out, err = scanUserStore(q.db.QueryRow(ctx, `
			UPDATE user_stores SET type = $3, description = $4, read_only = $5, disabled = $6,
				connection_url = $7, start_tls = $8, bind_dn = $9,
				bind_password = CASE WHEN $24 THEN bind_password ELSE $10 END,
				bind_password_key_id = CASE WHEN $24 THEN bind_password_key_id ELSE $11 END,
				user_search_base = $12, user_object_class = $13, username_attribute = $14,
				user_search_filter = $15, group_search_base = $16, group_object_class = $17,
				group_name_attribute = $18, membership_attribute = $19, claim_mappings = $20,
				connect_timeout_ms = $21, request_timeout_ms = $22, pool_size = $23
			WHERE org_id = $1 AND domain = $2
			RETURNING `+userStoreColumns,
			us.OrgID, us.Domain, us.Type, us.Description, us.ReadOnly, us.Disabled, us.URL, us.StartTLS,
			us.BindDN, nilIfEmptyBytes(us.BindPassword), nullIfEmpty(us.BindPasswordKeyID), us.UserSearchBase,
			us.UserObjectClass, us.UsernameAttribute, us.UserSearchFilter, us.GroupSearchBase,
			us.GroupObjectClass, us.GroupNameAttribute, us.MembershipAttribute, mappings,
			us.ConnectTimeout.Milliseconds(), us.RequestTimeout.Milliseconds(), us.PoolSize, keep))
		if err != nil {
			return mapErr("store: update user store", err)
		}
		after := out.auditView()
		after["bindPasswordChanged"] = !keep
		return q.audit(ctx, auditEvent{orgID: out.OrgID, actor: actor, action: AuditUserStoreUpdate,
			targetType: "userstore", targetID: out.ID, before: before.auditView(), after: after})
	})
	if err != nil {
		return UserStore{}, err
	}
	return out, nil
}

// UserStoreByDomain returns an organization's secondary user store by domain (case-insensitive),
// or ErrNotFound.
func (q *queries) UserStoreByDomain(ctx context.Context, orgID, domain string) (UserStore, error) {
	if !isUUID(orgID) {
		return UserStore{}, fmt.Errorf("store: user store: organization %q: %w", orgID, ErrNotFound)
	}
	us, err := scanUserStore(q.db.QueryRow(ctx, `SELECT `+userStoreColumns+` FROM user_stores
		WHERE org_id = $1 AND domain = $2`, orgID, strings.ToUpper(domain)))
	if err != nil {
		return UserStore{}, mapErr("store: user store", err)
	}
	return us, nil
}

// UserStores lists an organization's secondary user stores by domain.
func (q *queries) UserStores(ctx context.Context, orgID string) ([]UserStore, error) {
	if !isUUID(orgID) {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `SELECT `+userStoreColumns+` FROM user_stores WHERE org_id = $1 ORDER BY domain`, orgID)
	if err != nil {
		return nil, mapErr("store: user stores", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserStore, error) { return scanUserStore(r) })
	return out, mapErr("store: user stores", err)
}

// DeleteUserStore removes a secondary user store and records an audit event; ErrNotFound when
// there is none. Shadow users of the domain stay (their sessions and audit history refer to
// them); without a store they can no longer log in.
func (q *queries) DeleteUserStore(ctx context.Context, orgID, domain string, actor Actor) error {
	if !isUUID(orgID) {
		return fmt.Errorf("store: delete user store: %w", ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		var id string
		err := q.db.QueryRow(ctx, `DELETE FROM user_stores WHERE org_id = $1 AND domain = $2 RETURNING id`,
			orgID, strings.ToUpper(domain)).Scan(&id)
		if err != nil {
			return mapErr("store: delete user store", err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditUserStoreDelete,
			targetType: "userstore", targetID: id, before: map[string]any{"domain": strings.ToUpper(domain)}})
	})
}

// ShadowUser is a user found in a secondary user store, as UpsertShadowUser records it.
type ShadowUser struct {
	OrgID    string
	Domain   string // the secondary store's domain
	Username string
	// Claims are the directory's current values of the claims in ClaimURIs. A URI of ClaimURIs
	// missing from Claims (or empty) is removed from the user; claims outside ClaimURIs (identity
	// claims such as failed-login counters) are left alone.
	Claims    map[string]string
	ClaimURIs []string
	// Groups are the user's group names in the directory (unqualified). Groups of the domain are
	// created as needed and the user's memberships in the domain become exactly these. Nil
	// leaves memberships alone.
	Groups []string
}

// UpsertShadowUser creates or refreshes the PostgreSQL row of a user of a secondary user store,
// keyed by (organization, domain, username ignoring case): the id stays stable across logins, so
// sessions, tokens, locks and role assignments keep working. It records an audit event only when
// it creates the row. The shadow row has no password hash: the directory checks passwords.
func (q *queries) UpsertShadowUser(ctx context.Context, su ShadowUser) (User, error) {
	su.Domain = normalizeDomain(su.Domain)
	if su.Domain == DefaultDomain {
		return User{}, fmt.Errorf("store: shadow user: domain %s is the built-in store", DefaultDomain)
	}
	if err := validateNewUser(NewUser{OrgID: su.OrgID, Domain: su.Domain, Username: su.Username,
		Status: UserActive, Claims: su.Claims}); err != nil {
		return User{}, fmt.Errorf("store: shadow user: %w", err)
	}
	if !isUUID(su.OrgID) {
		return User{}, fmt.Errorf("store: shadow user: organization %q: %w", su.OrgID, ErrNotFound)
	}
	for _, g := range su.Groups {
		if err := validateGroup(g, su.Domain); err != nil {
			return User{}, fmt.Errorf("store: shadow user: %w", err)
		}
	}
	var set, unset []string
	for _, uri := range slices.Compact(slices.Sorted(slices.Values(su.ClaimURIs))) {
		if su.Claims[uri] != "" {
			set = append(set, uri)
		} else {
			unset = append(unset, uri)
		}
	}
	values := make([]string, len(set))
	for i, uri := range set {
		values[i] = su.Claims[uri]
	}
	var u User
	err := q.atomic(ctx, func(q *queries) error {
		var inserted bool
		row := q.db.QueryRow(ctx, `
			INSERT INTO users (org_id, user_store_domain, username, username_key, status)
			VALUES ($1, $2, $3, $4, 'ACTIVE')
			ON CONFLICT (org_id, user_store_domain, username_key) DO UPDATE SET username = EXCLUDED.username
			RETURNING `+userColumns+`, (xmax = 0)`,
			su.OrgID, su.Domain, su.Username, nameKey(su.Username))
		var err error
		u, err = scanUser(scanExtra{row, &inserted})
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: shadow user: organization %s: %w", su.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: shadow user", err)
		}
		if len(set) > 0 {
			if _, err := q.db.Exec(ctx, `
				INSERT INTO user_claims (user_id, claim_uri, value)
				SELECT $1, c.uri, c.value FROM unnest($2::text[], $3::text[]) AS c(uri, value)
				ON CONFLICT (user_id, claim_uri) DO UPDATE SET value = EXCLUDED.value`,
				u.ID, set, values); err != nil {
				return mapErr("store: shadow user claims", err)
			}
		}
		if len(unset) > 0 {
			if _, err := q.db.Exec(ctx, `DELETE FROM user_claims WHERE user_id = $1 AND claim_uri = ANY($2::text[])`,
				u.ID, unset); err != nil {
				return mapErr("store: shadow user claims", err)
			}
		}
		if su.Groups != nil {
			if err := q.syncShadowGroups(ctx, u, su.Groups); err != nil {
				return err
			}
		}
		if !inserted {
			return nil
		}
		return q.audit(ctx, auditEvent{orgID: u.OrgID, action: AuditUserCreate, targetType: "user", targetID: u.ID,
			after: map[string]any{"id": u.ID, "domain": u.Domain, "username": u.Username, "status": u.Status,
				"shadow": true, "claims": set}})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// syncShadowGroups makes u's memberships in groups of its domain exactly names, creating the
// groups that do not exist yet.
func (q *queries) syncShadowGroups(ctx context.Context, u User, names []string) error {
	keys := make([]string, 0, len(names))
	byKey := map[string]string{}
	for _, n := range names {
		k := nameKey(n)
		if _, dup := byKey[k]; !dup {
			byKey[k] = n
			keys = append(keys, k)
		}
	}
	display := make([]string, len(keys))
	for i, k := range keys {
		display[i] = byKey[k]
	}
	if len(keys) > 0 {
		if _, err := q.db.Exec(ctx, `
			INSERT INTO groups (org_id, user_store_domain, name, name_key)
			SELECT $1, $2, x.name, x.key FROM unnest($3::text[], $4::text[]) AS x(name, key)
			ON CONFLICT (org_id, user_store_domain, name_key) DO NOTHING`,
			u.OrgID, u.Domain, display, keys); err != nil {
			return mapErr("store: shadow user groups", err)
		}
	}
	if _, err := q.db.Exec(ctx, `
		DELETE FROM group_members gm USING groups g
		WHERE gm.group_id = g.id AND gm.user_id = $1 AND g.org_id = $2 AND g.user_store_domain = $3
			AND NOT g.name_key = ANY($4::text[])`, u.ID, u.OrgID, u.Domain, keys); err != nil {
		return mapErr("store: shadow user groups", err)
	}
	if len(keys) == 0 {
		return nil
	}
	_, err := q.db.Exec(ctx, `
		INSERT INTO group_members (org_id, group_id, user_id)
		SELECT $1, g.id, $2 FROM groups g
		WHERE g.org_id = $1 AND g.user_store_domain = $3 AND g.name_key = ANY($4::text[])
		ON CONFLICT (group_id, user_id) DO NOTHING`, u.OrgID, u.ID, u.Domain, keys)
	return mapErr("store: shadow user groups", err)
}

// scanExtra scans a row with one column more than scanUser reads into extra.
type scanExtra struct {
	row   pgx.Row
	extra any
}

func (s scanExtra) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra)...) }

func nilIfEmptyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
