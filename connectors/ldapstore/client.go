package ldapstore

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/keyflow/keyflow/store"
)

// Errors callers branch on (test with errors.Is).
var (
	// ErrNoSuchUser: no entry matches the username.
	ErrNoSuchUser = errors.New("ldapstore: no such user")
	// ErrInvalidCredentials: the directory refused the password, or the password was empty.
	ErrInvalidCredentials = errors.New("ldapstore: invalid credentials")
	// ErrReadOnly: a write to a read-only user store.
	ErrReadOnly = errors.New("ldapstore: user store is read-only")
	// ErrExists: CreateUser for a username that is taken.
	ErrExists = errors.New("ldapstore: user exists")
)

// Config configures a Client. ConfigFrom builds it from a stored store.UserStore.
type Config struct {
	// Domain is the user store domain (upper-case); it qualifies group names (DOMAIN/group).
	Domain   string
	Type     store.UserStoreType
	ReadOnly bool
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL      string
	StartTLS bool
	// TLS configures ldaps:// and StartTLS; nil means the system roots and the URL's host name.
	TLS *tls.Config
	// BindDN and BindPassword are the service account's; an empty BindDN binds anonymously.
	BindDN, BindPassword string

	UserSearchBase, UserObjectClass, UsernameAttribute string
	// UserSearchFilter is an extra filter every user must match (ANDed); empty means none.
	UserSearchFilter string

	GroupSearchBase, GroupObjectClass string
	// GroupNameAttribute names groups (default cn).
	GroupNameAttribute string
	// MembershipAttribute is member, uniqueMember, memberOf, or empty when groups are not read.
	MembershipAttribute string
	// ClaimMappings maps local claim URIs to attribute names.
	ClaimMappings map[string]string

	// ConnectTimeout bounds dialling (and the TLS and bind that follow); RequestTimeout bounds
	// each LDAP request. Zero means the store package's defaults.
	ConnectTimeout, RequestTimeout time.Duration
	// PoolSize bounds the connections open at once. Zero means store.DefaultUserStorePoolSize.
	PoolSize int
	// Logger receives connection problems (never passwords); nil discards.
	Logger *slog.Logger
}

// LogValue keeps the bind password out of logs: a Config logs as its domain and URL.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("domain", c.Domain), slog.String("url", c.URL))
}

// ConfigFrom is the Config of a stored user store; bindPassword is its opened bind password.
func ConfigFrom(us store.UserStore, bindPassword string) Config {
	return Config{
		Domain: us.Domain, Type: us.Type, ReadOnly: us.ReadOnly, URL: us.URL, StartTLS: us.StartTLS,
		BindDN: us.BindDN, BindPassword: bindPassword,
		UserSearchBase: us.UserSearchBase, UserObjectClass: us.UserObjectClass,
		UsernameAttribute: us.UsernameAttribute, UserSearchFilter: us.UserSearchFilter,
		GroupSearchBase: us.GroupSearchBase, GroupObjectClass: us.GroupObjectClass,
		GroupNameAttribute: us.GroupNameAttribute, MembershipAttribute: us.MembershipAttribute,
		ClaimMappings:  maps.Clone(us.ClaimMappings),
		ConnectTimeout: us.ConnectTimeout, RequestTimeout: us.RequestTimeout, PoolSize: us.PoolSize,
	}
}

// Entry is a user of the directory.
type Entry struct {
	DN string
	// Username is the entry's username attribute, as the directory spells it.
	Username string
	// Claims are the mapped claims (claim URI → value; multi-valued attributes joined with ",").
	Claims map[string]string

	memberOf []string
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username string
	Password string
	// Claims are claim URIs with values; every URI must be mapped.
	Claims map[string]string
}

// Client talks to one directory through a bounded pool of connections bound as the service
// account. It is safe for concurrent use.
type Client struct {
	cfg    Config
	pool   *pool
	log    *slog.Logger
	filter string // the compiled-checked extra user filter, or ""
}

// New validates cfg and returns a Client. It does not connect: connections are made on first use,
// so a directory that is down does not stop the server from starting.
func New(cfg Config) (*Client, error) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = store.DefaultUserStoreConnectTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = store.DefaultUserStoreRequestTimeout
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = store.DefaultUserStorePoolSize
	}
	if cfg.GroupNameAttribute == "" {
		cfg.GroupNameAttribute = "cn"
	}
	switch {
	case cfg.Domain == "" || strings.Contains(cfg.Domain, "/"):
		return nil, fmt.Errorf("ldapstore: domain %q", cfg.Domain)
	case !strings.HasPrefix(cfg.URL, "ldap://") && !strings.HasPrefix(cfg.URL, "ldaps://"):
		return nil, errors.New("ldapstore: URL must be ldap:// or ldaps://")
	case cfg.UserSearchBase == "" || cfg.UserObjectClass == "" || cfg.UsernameAttribute == "":
		return nil, errors.New("ldapstore: user search base, object class and username attribute are required")
	case cfg.ConnectTimeout < 0 || cfg.RequestTimeout < 0 || cfg.PoolSize < 0:
		return nil, errors.New("ldapstore: negative timeout or pool size")
	case cfg.MembershipAttribute != "" && cfg.MembershipAttribute != store.MembershipMemberOf &&
		(cfg.GroupSearchBase == "" || cfg.GroupObjectClass == ""):
		return nil, errors.New("ldapstore: member/uniqueMember groups need a group search base and object class")
	}
	if cfg.UserSearchFilter != "" {
		if _, err := ldap.CompileFilter(cfg.UserSearchFilter); err != nil {
			return nil, fmt.Errorf("ldapstore: user search filter: %w", err)
		}
	}
	for _, attr := range append([]string{cfg.UsernameAttribute, cfg.GroupNameAttribute}, slices.Collect(maps.Values(cfg.ClaimMappings))...) {
		if !validAttr(attr) {
			return nil, fmt.Errorf("ldapstore: attribute name %q", attr)
		}
	}
	c := &Client{cfg: cfg, log: cfg.Logger, filter: cfg.UserSearchFilter}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.pool = newPool(cfg.PoolSize, c.dial)
	return c, nil
}

// Close closes the pool's connections.
func (c *Client) Close() { c.pool.close() }

// ReadOnly reports whether the store refuses writes.
func (c *Client) ReadOnly() bool { return c.cfg.ReadOnly }

// Domain is the user store domain.
func (c *Client) Domain() string { return c.cfg.Domain }

func validAttr(a string) bool {
	if a == "" {
		return false
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == ';' || r == '.') {
			return false
		}
	}
	return true
}

// dial opens a connection and binds it as the service account, all within ConnectTimeout.
func (c *Client) dial() (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: c.cfg.ConnectTimeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if c.cfg.TLS != nil {
		opts = append(opts, ldap.DialWithTLSConfig(c.cfg.TLS))
	}
	conn, err := ldap.DialURL(c.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldapstore: %s: connect: %w", c.cfg.Domain, err)
	}
	conn.SetTimeout(c.cfg.ConnectTimeout)
	if c.cfg.StartTLS {
		tc := c.cfg.TLS
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: hostOf(c.cfg.URL)}
		}
		if err := conn.StartTLS(tc); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("ldapstore: %s: StartTLS: %w", c.cfg.Domain, err)
		}
	}
	if err := c.bindService(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	conn.SetTimeout(c.cfg.RequestTimeout)
	return conn, nil
}

func hostOf(u string) string {
	rest := u[strings.Index(u, "://")+3:]
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if h, _, err := net.SplitHostPort(rest); err == nil {
		return h
	}
	return rest
}

// bindService (re)binds conn as the service account. Anonymous service access (no BindDN) needs
// no bind on a fresh connection.
func (c *Client) bindService(conn *ldap.Conn) error {
	if c.cfg.BindDN == "" {
		return nil
	}
	if err := conn.Bind(c.cfg.BindDN, c.cfg.BindPassword); err != nil {
		// The error names the DN and the result code, never the password.
		return fmt.Errorf("ldapstore: %s: service account bind: %w", c.cfg.Domain, err)
	}
	return nil
}

// with runs fn on a pooled connection. The context bounds it: when ctx ends, the connection is
// closed under fn, which then fails at once. fn returns keep=false when it leaves the connection
// in a state the pool must not reuse (bound as someone else). A reused connection that the
// server had closed while it sat idle is replaced once.
func (c *Client) with(ctx context.Context, fn func(conn *ldap.Conn) (keep bool, err error)) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ldapstore: %s: %w", c.cfg.Domain, err)
		}
		conn, reused, err := c.pool.get(ctx)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		keep, err := fn(conn)
		notCancelled := stop()
		closed := conn.IsClosing()
		c.pool.put(conn, keep && notCancelled && healthy(err))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ldapstore: %s: %w", c.cfg.Domain, ctx.Err())
		}
		if reused && closed && attempt == 0 {
			c.log.DebugContext(ctx, "ldapstore: reconnecting after a closed connection", "domain", c.cfg.Domain)
			continue
		}
		return err
	}
}

// userFilter is the filter of users whose username attribute matches value; value is escaped
// unless it is a prepared assertion (substring searches).
func (c *Client) userFilter(assertion string) string {
	return "(&(objectClass=" + ldap.EscapeFilter(c.cfg.UserObjectClass) + ")(" + c.cfg.UsernameAttribute + "=" +
		assertion + ")" + c.filter + ")"
}

func (c *Client) userAttributes() []string {
	attrs := []string{c.cfg.UsernameAttribute}
	for _, a := range c.cfg.ClaimMappings {
		attrs = append(attrs, a)
	}
	if c.cfg.MembershipAttribute == store.MembershipMemberOf {
		attrs = append(attrs, store.MembershipMemberOf)
	}
	slices.Sort(attrs)
	return slices.Compact(attrs)
}

func (c *Client) entry(e *ldap.Entry) Entry {
	out := Entry{DN: e.DN, Username: e.GetEqualFoldAttributeValue(c.cfg.UsernameAttribute), Claims: map[string]string{}}
	for uri, attr := range c.cfg.ClaimMappings {
		if v := e.GetEqualFoldAttributeValues(attr); len(v) > 0 {
			out.Claims[uri] = strings.Join(v, ",")
		}
	}
	if c.cfg.MembershipAttribute == store.MembershipMemberOf {
		out.memberOf = e.GetEqualFoldAttributeValues(store.MembershipMemberOf)
	}
	return out
}

// find looks a user up by exact username, as the service account.
func (c *Client) find(conn *ldap.Conn, username string) (Entry, error) {
	if username == "" {
		return Entry{}, ErrNoSuchUser
	}
	res, err := conn.Search(ldap.NewSearchRequest(c.cfg.UserSearchBase, ldap.ScopeWholeSubtree,
		ldap.NeverDerefAliases, 2, int(c.cfg.RequestTimeout/time.Second), false,
		c.userFilter(ldap.EscapeFilter(username)), c.userAttributes(), nil))
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return Entry{}, fmt.Errorf("ldapstore: %s: more than one entry has that %s", c.cfg.Domain, c.cfg.UsernameAttribute)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return Entry{}, ErrNoSuchUser
	case err != nil:
		return Entry{}, fmt.Errorf("ldapstore: %s: search user: %w", c.cfg.Domain, err)
	case len(res.Entries) == 0:
		return Entry{}, ErrNoSuchUser
	case len(res.Entries) > 1:
		return Entry{}, fmt.Errorf("ldapstore: %s: more than one entry has that %s", c.cfg.Domain, c.cfg.UsernameAttribute)
	}
	return c.entry(res.Entries[0]), nil
}

// Authenticate checks a password the only way a directory allows: it finds the user's DN as the
// service account, then binds as that DN with the password (no hash is ever read or compared),
// then rebinds the connection as the service account. An empty password is refused before
// anything is sent: RFC 4513 §5.1.2 makes a bind with a DN and no password an unauthenticated
// bind that many servers accept.
//
// ErrInvalidCredentials comes with the Entry when the user exists (so the caller can count the
// failure against it); ErrNoSuchUser with none.
func (c *Client) Authenticate(ctx context.Context, username, password string) (Entry, error) {
	if password == "" {
		return Entry{}, ErrInvalidCredentials
	}
	var out Entry
	err := c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		e, err := c.find(conn, username)
		if err != nil {
			return true, err
		}
		out = e
		bindErr := conn.Bind(e.DN, password)
		if !healthy(bindErr) {
			return false, fmt.Errorf("ldapstore: %s: user bind: %w", c.cfg.Domain, bindErr)
		}
		// Whatever the outcome, the connection must go back bound as the service account; an
		// anonymous service account cannot be rebound to, so such a connection is dropped.
		keep := c.cfg.BindDN != "" && c.bindService(conn) == nil
		switch {
		case ldap.IsErrorWithCode(bindErr, ldap.LDAPResultInvalidCredentials):
			return keep, ErrInvalidCredentials
		case bindErr != nil:
			// Account disabled, password expired, … (AD reports them as result 49 with a
			// sub-code, OpenLDAP's ppolicy as 49 too): the password did not let the user in.
			c.log.InfoContext(ctx, "ldapstore: user bind refused", "domain", c.cfg.Domain, "dn", e.DN, "error", bindErr)
			return keep, ErrInvalidCredentials
		}
		return keep, nil
	})
	if errors.Is(err, ErrNoSuchUser) {
		return Entry{}, err
	}
	return out, err
}

// User returns a user by exact username (compared as the directory compares: usually ignoring
// case), or ErrNoSuchUser.
func (c *Client) User(ctx context.Context, username string) (Entry, error) {
	var out Entry
	err := c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		var err error
		out, err = c.find(conn, username)
		return true, err
	})
	return out, err
}

// Filter is a SCIM-style filter on userName: Op is "eq" (equal) or "sw" (starts with).
type Filter struct {
	Op    string
	Value string
}

// Search returns up to limit users matching f (all users when f.Value is empty), ordered by
// username. limit ≤ 0 means 100. Filter values are escaped: "*" and ")" are matched literally.
func (c *Client) Search(ctx context.Context, f Filter, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 100
	}
	var assertion string
	switch {
	case f.Value == "":
		assertion = "*"
	case strings.EqualFold(f.Op, "eq"):
		assertion = ldap.EscapeFilter(f.Value)
	case strings.EqualFold(f.Op, "sw"):
		assertion = ldap.EscapeFilter(f.Value) + "*"
	default:
		return nil, fmt.Errorf("ldapstore: filter operator %q: want eq or sw", f.Op)
	}
	var out []Entry
	err := c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		res, err := conn.Search(ldap.NewSearchRequest(c.cfg.UserSearchBase, ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, limit, int(c.cfg.RequestTimeout/time.Second), false,
			c.userFilter(assertion), c.userAttributes(), nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return true, fmt.Errorf("ldapstore: %s: search users: %w", c.cfg.Domain, err)
		}
		out = out[:0]
		for _, e := range res.Entries {
			out = append(out, c.entry(e))
		}
		return true, nil
	})
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Username, b.Username) })
	return out, err
}

// Groups returns the names (GroupNameAttribute) of the groups e belongs to, unqualified and
// sorted; nil when the store has no MembershipAttribute.
func (c *Client) Groups(ctx context.Context, e Entry) ([]string, error) {
	switch c.cfg.MembershipAttribute {
	case "":
		return nil, nil
	case store.MembershipMemberOf:
		return c.groupsFromMemberOf(e)
	}
	var names []string
	err := c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		filter := "(&(objectClass=" + ldap.EscapeFilter(c.cfg.GroupObjectClass) + ")(" +
			c.cfg.MembershipAttribute + "=" + ldap.EscapeFilter(e.DN) + "))"
		res, err := conn.Search(ldap.NewSearchRequest(c.cfg.GroupSearchBase, ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, 0, int(c.cfg.RequestTimeout/time.Second), false, filter,
			[]string{c.cfg.GroupNameAttribute}, nil))
		if err != nil {
			return true, fmt.Errorf("ldapstore: %s: search groups: %w", c.cfg.Domain, err)
		}
		names = names[:0]
		for _, g := range res.Entries {
			if n := g.GetEqualFoldAttributeValue(c.cfg.GroupNameAttribute); n != "" {
				names = append(names, n)
			}
		}
		return true, nil
	})
	slices.Sort(names)
	return slices.Compact(names), err
}

// groupsFromMemberOf names the groups in the user's memberOf DNs: the value of the first RDN
// when its type is GroupNameAttribute, limited to DNs under GroupSearchBase when one is set.
func (c *Client) groupsFromMemberOf(e Entry) ([]string, error) {
	var base *ldap.DN
	if c.cfg.GroupSearchBase != "" {
		b, err := ldap.ParseDN(c.cfg.GroupSearchBase)
		if err != nil {
			return nil, fmt.Errorf("ldapstore: %s: group search base: %w", c.cfg.Domain, err)
		}
		base = b
	}
	var names []string
	for _, s := range e.memberOf {
		dn, err := ldap.ParseDN(s)
		if err != nil || len(dn.RDNs) == 0 || (base != nil && !base.AncestorOfFold(dn)) {
			continue
		}
		for _, a := range dn.RDNs[0].Attributes {
			if strings.EqualFold(a.Type, c.cfg.GroupNameAttribute) && a.Value != "" {
				names = append(names, a.Value)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// attributesFor maps claims to attribute values; an unmapped claim is an error.
func (c *Client) attributesFor(claims map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, uri := range slices.Sorted(maps.Keys(claims)) {
		attr, ok := c.cfg.ClaimMappings[uri]
		if !ok {
			return nil, fmt.Errorf("ldapstore: %s: claim %s is not mapped to an attribute", c.cfg.Domain, uri)
		}
		out[attr] = claims[uri]
	}
	return out, nil
}

// CreateUser adds a user under UserSearchBase with its password and returns it. The RDN is
// UsernameAttribute=username (cn= for Active Directory); cn and sn default to the username,
// since the person object class requires them. On LDAP the password is set with the Password
// Modify extended operation (RFC 3062), so the server hashes it by its own policy; on Active
// Directory through unicodePwd, which AD only accepts over an encrypted connection.
func (c *Client) CreateUser(ctx context.Context, nu NewUser) (Entry, error) {
	if c.cfg.ReadOnly {
		return Entry{}, ErrReadOnly
	}
	if nu.Username == "" || nu.Password == "" {
		return Entry{}, errors.New("ldapstore: a new user needs a username and a password")
	}
	attrs, err := c.attributesFor(nu.Claims)
	if err != nil {
		return Entry{}, err
	}
	rdnAttr := c.cfg.UsernameAttribute
	if c.cfg.Type == store.UserStoreAD {
		rdnAttr = "cn"
	}
	dn := rdnAttr + "=" + ldap.EscapeDN(nu.Username) + "," + c.cfg.UserSearchBase
	classes := []string{"top", "person", "organizationalPerson", c.cfg.UserObjectClass}
	slices.Sort(classes)
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", slices.Compact(classes))
	attrs[c.cfg.UsernameAttribute] = nu.Username
	for _, def := range []string{"cn", "sn"} {
		if attrs[def] == "" {
			attrs[def] = nu.Username
		}
	}
	for _, a := range slices.Sorted(maps.Keys(attrs)) {
		if attrs[a] != "" {
			add.Attribute(a, []string{attrs[a]})
		}
	}
	if c.cfg.Type == store.UserStoreAD {
		add.Attribute("unicodePwd", []string{adPassword(nu.Password)})
		add.Attribute("userAccountControl", []string{"512"}) // NORMAL_ACCOUNT, enabled
	}
	err = c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		if err := conn.Add(add); err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
				return true, ErrExists
			}
			return true, fmt.Errorf("ldapstore: %s: add user: %w", c.cfg.Domain, err)
		}
		if c.cfg.Type == store.UserStoreAD {
			return true, nil
		}
		if _, err := conn.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", nu.Password)); err != nil {
			// No user without the password the caller meant it to have.
			if derr := conn.Del(ldap.NewDelRequest(dn, nil)); derr != nil {
				c.log.WarnContext(ctx, "ldapstore: could not remove a user whose password failed", "domain", c.cfg.Domain, "dn", dn, "error", derr)
			}
			return true, fmt.Errorf("ldapstore: %s: set password: %w", c.cfg.Domain, err)
		}
		return true, nil
	})
	if err != nil {
		return Entry{}, err
	}
	return c.User(ctx, nu.Username)
}

// adPassword is AD's unicodePwd encoding: the password in double quotes, UTF-16LE.
func adPassword(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// UpdateUser replaces the claims given (an empty value removes the attribute) and returns the
// user as it now is. Every claim must be mapped.
func (c *Client) UpdateUser(ctx context.Context, username string, claims map[string]string) (Entry, error) {
	if c.cfg.ReadOnly {
		return Entry{}, ErrReadOnly
	}
	attrs, err := c.attributesFor(claims)
	if err != nil {
		return Entry{}, err
	}
	if _, ok := attrs[c.cfg.UsernameAttribute]; ok {
		return Entry{}, fmt.Errorf("ldapstore: %s: the username attribute cannot be changed", c.cfg.Domain)
	}
	err = c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		e, err := c.find(conn, username)
		if err != nil {
			return true, err
		}
		mod := ldap.NewModifyRequest(e.DN, nil)
		for _, a := range slices.Sorted(maps.Keys(attrs)) {
			if attrs[a] == "" {
				mod.Replace(a, nil) // replace with no values deletes, present or not (RFC 4511 §4.6)
			} else {
				mod.Replace(a, []string{attrs[a]})
			}
		}
		if err := conn.Modify(mod); err != nil {
			return true, fmt.Errorf("ldapstore: %s: modify user: %w", c.cfg.Domain, err)
		}
		return true, nil
	})
	if err != nil {
		return Entry{}, err
	}
	return c.User(ctx, username)
}

// SetPassword replaces a user's password (as the service account, an administrative reset).
func (c *Client) SetPassword(ctx context.Context, username, password string) error {
	if c.cfg.ReadOnly {
		return ErrReadOnly
	}
	if password == "" {
		return errors.New("ldapstore: empty password")
	}
	return c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		e, err := c.find(conn, username)
		if err != nil {
			return true, err
		}
		if c.cfg.Type == store.UserStoreAD {
			mod := ldap.NewModifyRequest(e.DN, nil)
			mod.Replace("unicodePwd", []string{adPassword(password)})
			err = conn.Modify(mod)
		} else {
			_, err = conn.PasswordModify(ldap.NewPasswordModifyRequest(e.DN, "", password))
		}
		if err != nil {
			return true, fmt.Errorf("ldapstore: %s: set password: %w", c.cfg.Domain, err)
		}
		return true, nil
	})
}

// DeleteUser removes a user; ErrNoSuchUser when there is none.
func (c *Client) DeleteUser(ctx context.Context, username string) error {
	if c.cfg.ReadOnly {
		return ErrReadOnly
	}
	return c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		e, err := c.find(conn, username)
		if err != nil {
			return true, err
		}
		if err := conn.Del(ldap.NewDelRequest(e.DN, nil)); err != nil {
			return true, fmt.Errorf("ldapstore: %s: delete user: %w", c.cfg.Domain, err)
		}
		return true, nil
	})
}

// Ping checks that the directory answers and the service account can bind: it takes a pooled
// connection (dialling and binding when none is idle) and reads the root DSE.
func (c *Client) Ping(ctx context.Context) error {
	return c.with(ctx, func(conn *ldap.Conn) (bool, error) {
		_, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, int(c.cfg.RequestTimeout.Seconds())+1, false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			return true, fmt.Errorf("ldapstore: %s: ping: %w", c.cfg.Domain, err)
		}
		return true, nil
	})
}
