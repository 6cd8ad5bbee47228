package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// UserStatus is where a user account is in its lifecycle. Locked and
// disabled are separate flags on User, as in WSO2.
type UserStatus string

// User statuses. The comments give the WSO2 accountState each corresponds to.
const (
	UserActive                     UserStatus = "ACTIVE"                        // UNLOCKED
	UserPendingSelfRegistration    UserStatus = "PENDING_SELF_REGISTRATION"     // PENDING_SR
	UserPendingEmailVerification   UserStatus = "PENDING_EMAIL_VERIFICATION"    // PENDING_EV
	UserPendingAskPassword         UserStatus = "PENDING_ASK_PASSWORD"          // PENDING_AP
	UserPendingForcedPasswordReset UserStatus = "PENDING_FORCED_PASSWORD_RESET" // PENDING_FUPR
	UserPendingAdminApproval       UserStatus = "PENDING_ADMIN_APPROVAL"
)

var userStatuses = []UserStatus{
	UserActive, UserPendingSelfRegistration, UserPendingEmailVerification,
	UserPendingAskPassword, UserPendingForcedPasswordReset, UserPendingAdminApproval,
}

// Limits enforced on user data (the schema enforces them too).
const (
	MaxUsernameLength   = 255  // characters
	MaxDomainLength     = 64   // characters
	MaxClaimURILength   = 255  // characters
	MaxClaimValueLength = 2048 // bytes
)

// User is a user account. Claims are read separately (UserClaims).
type User struct {
	ID       string
	OrgID    string
	Domain   string // user store domain, upper-case (DefaultDomain for the built-in store)
	Username string // as given at creation; compared case-insensitively
	// PasswordHash is the encoded hash (connectors/password's format); empty
	// when the user has no local password.
	PasswordHash        string
	Status              UserStatus
	Locked              bool
	LockedUntil         time.Time // when Locked: zero means until an administrator unlocks
	Disabled            bool
	FailedLoginAttempts int
	PasswordUpdatedAt   time.Time // zero if never set
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// NewUser is the input of CreateUser.
type NewUser struct {
	OrgID    string
	Domain   string // empty means DefaultDomain; case-insensitive
	Username string
	// PasswordHash must already be hashed; empty creates a user without a
	// local password.
	PasswordHash string
	Status       UserStatus // empty means UserActive
	// Claims are local claim URIs (http://wso2.org/claims/emailaddress) and
	// values. Empty values are not stored, as in WSO2.
	Claims map[string]string
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

const userColumns = `id, org_id, user_store_domain, username, coalesce(password_hash, ''), status,
	locked, locked_until, disabled, failed_login_attempts, password_updated_at, created_at, updated_at`

func scanUser(row pgx.Row) (User, error) {
	var (
		u                        User
		lockedUntil, pwUpdatedAt *time.Time
	)
	err := row.Scan(&u.ID, &u.OrgID, &u.Domain, &u.Username, &u.PasswordHash, &u.Status,
		&u.Locked, &lockedUntil, &u.Disabled, &u.FailedLoginAttempts, &pwUpdatedAt, &u.CreatedAt, &u.UpdatedAt)
	if lockedUntil != nil {
		u.LockedUntil = lockedUntil.UTC()
	}
	if pwUpdatedAt != nil {
		u.PasswordUpdatedAt = pwUpdatedAt.UTC()
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, err
}

// CreateUser creates a user with its claims and records an audit event, all
// or nothing. Usernames are unique per organization and domain, compared
// case-insensitively (Unicode case folding): a clash returns ErrConflict. An
// unknown organization returns ErrNotFound. Invalid input (empty username,
// surrounding spaces or control characters in it, unknown status, oversized
// claims) returns a plain error.
func (q *queries) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	nu.Domain = normalizeDomain(nu.Domain)
	if nu.Status == "" {
		nu.Status = UserActive
	}
	if _, err := uuid.Parse(nu.OrgID); err != nil {
		return User{}, fmt.Errorf("store: create user: organization %q: %w", nu.OrgID, ErrNotFound)
	}
	if err := validateNewUser(nu); err != nil {
		return User{}, fmt.Errorf("store: create user: %w", err)
	}
	uris := make([]string, 0, len(nu.Claims))
	for _, uri := range slices.Sorted(maps.Keys(nu.Claims)) {
		if nu.Claims[uri] != "" {
			uris = append(uris, uri)
		}
	}
	values := make([]string, len(uris))
	for i, uri := range uris {
		values[i] = nu.Claims[uri]
	}

	var u User
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		u, err = scanUser(q.db.QueryRow(ctx, `
			INSERT INTO users (org_id, user_store_domain, username, username_key, password_hash, status, password_updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5::text IS NULL THEN NULL ELSE now() END)
			RETURNING `+userColumns,
			nu.OrgID, nu.Domain, nu.Username, nameKey(nu.Username), nullIfEmpty(nu.PasswordHash), nu.Status))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create user: organization %s: %w", nu.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create user", err)
		}
		if len(uris) > 0 {
			if _, err := q.db.Exec(ctx, `
				INSERT INTO user_claims (user_id, claim_uri, value)
				SELECT $1, c.uri, c.value FROM unnest($2::text[], $3::text[]) AS c(uri, value)`,
				u.ID, uris, values); err != nil {
				return mapErr("store: create user claims", err)
			}
		}
		// Claim URIs but not values: audit rows outlive the user (and
		// erasure requests), so they keep no personal data beyond the
		// username. Never the password hash.
		return q.audit(ctx, auditEvent{
			orgID: u.OrgID, actor: nu.Actor, action: AuditUserCreate,
			targetType: "user", targetID: u.ID,
			after: map[string]any{
				"id": u.ID, "domain": u.Domain, "username": u.Username, "status": u.Status,
				"hasPassword": u.PasswordHash != "", "claims": uris,
			},
		})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByUsername finds a user by username, compared case-insensitively, in
// an organization and user store domain (empty means DefaultDomain). It
// returns ErrNotFound when there is none.
func (q *queries) UserByUsername(ctx context.Context, orgID, domain, username string) (User, error) {
	if _, err := uuid.Parse(orgID); err != nil {
		return User{}, fmt.Errorf("store: user by username: organization %q: %w", orgID, ErrNotFound)
	}
	if !utf8.ValidString(username) || !utf8.ValidString(domain) {
		// No stored name is invalid UTF-8 (and PostgreSQL would reject the parameter).
		return User{}, fmt.Errorf("store: user by username: %w", ErrNotFound)
	}
	u, err := scanUser(q.db.QueryRow(ctx, `
		SELECT `+userColumns+` FROM users
		WHERE org_id = $1 AND user_store_domain = $2 AND username_key = $3`,
		orgID, normalizeDomain(domain), nameKey(username)))
	if err != nil {
		return User{}, mapErr("store: user by username", err)
	}
	return u, nil
}

// UserClaims returns a user's claims by claim URI (empty map when it has
// none), or ErrNotFound when the user does not exist.
func (q *queries) UserClaims(ctx context.Context, userID string) (map[string]string, error) {
	if _, err := uuid.Parse(userID); err != nil {
		return nil, fmt.Errorf("store: user claims: user %q: %w", userID, ErrNotFound)
	}
	// The outer join tells "no claims" (one row of NULLs) from "no user" (no row).
	rows, err := q.db.Query(ctx, `
		SELECT c.claim_uri, c.value
		FROM users u LEFT JOIN user_claims c ON c.user_id = u.id
		WHERE u.id = $1`, userID)
	if err != nil {
		return nil, mapErr("store: user claims", err)
	}
	defer rows.Close()
	var (
		claims map[string]string
		uri    *string
		value  *string
	)
	for rows.Next() {
		if claims == nil {
			claims = map[string]string{}
		}
		if err := rows.Scan(&uri, &value); err != nil {
			return nil, mapErr("store: user claims", err)
		}
		if uri != nil {
			claims[*uri] = *value
		}
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("store: user claims", err)
	}
	if claims == nil {
		return nil, fmt.Errorf("store: user claims: user %s: %w", userID, ErrNotFound)
	}
	return claims, nil
}

// validateNewUser checks what the store guarantees about every user row;
// policy (username patterns, password rules) belongs to the callers.
func validateNewUser(nu NewUser) error {
	if err := validateName("username", nu.Username, MaxUsernameLength); err != nil {
		return err
	}
	if err := validateName("user store domain", nu.Domain, MaxDomainLength); err != nil {
		return err
	}
	if strings.Contains(nu.Domain, "/") {
		// "/" separates domain and username in WSO2's qualified names.
		return fmt.Errorf("user store domain %q contains %q", nu.Domain, "/")
	}
	if !slices.Contains(userStatuses, nu.Status) {
		return fmt.Errorf("unknown user status %q", nu.Status)
	}
	for uri, value := range nu.Claims {
		if uri == "" || utf8.RuneCountInString(uri) > MaxClaimURILength || !utf8.ValidString(uri) {
			return fmt.Errorf("claim URI %q: empty, invalid or longer than %d characters", uri, MaxClaimURILength)
		}
		if len(value) > MaxClaimValueLength || !utf8.ValidString(value) {
			return fmt.Errorf("claim %s: value invalid or longer than %d bytes", uri, MaxClaimValueLength)
		}
	}
	return nil
}

func validateName(what, s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case utf8.RuneCountInString(s) > maxLen:
		return fmt.Errorf("%s is longer than %d characters", what, maxLen)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%s %q has leading or trailing spaces", what, s)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%s %q contains control characters", what, s)
	}
	return nil
}
