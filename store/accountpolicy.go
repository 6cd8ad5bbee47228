package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Account policies (issue 5 item 5): an organization's password policy, the
// password history it checks, administrator account operations (lock,
// unlock, disable, forced password reset) and idle-account detection.
//
// Passwords reach the store hashed, so the rules that need the password in
// clear (composition, reuse) are checked by CheckPassword, which every code
// path that sets a password calls first; the history itself is kept by a
// trigger on users.password_hash (migration 00020), whatever path sets it.

// LockReasonAdmin is the lock_reason of an account an administrator locked
// (WSO2's ADMIN_INITIATED).
const LockReasonAdmin = "ADMIN_INITIATED"

// Audit actions of account policy changes.
const (
	AuditPasswordPolicyUpdate = "password_policy.update"
	AuditUserDisable          = "user.disable"
	AuditUserEnable           = "user.enable"
	AuditUserForceReset       = "user.force_password_reset"
)

// Limits of PasswordPolicy values.
const (
	MaxPasswordLength  = 1024 // characters; also the cap when a policy sets none
	MaxPasswordHistory = 100
	MaxPasswordAgeDays = 36500
)

// PasswordPolicy is an organization's password and idle-account policy. The
// zero value (what an organization that configured nothing has) enforces
// nothing. The Enabled flags follow WSO2's identity-governance connectors:
// turning one off keeps its values.
type PasswordPolicy struct {
	// Enabled turns the composition rules on (passwordPolicy.enable).
	Enabled bool
	// MinLength and MaxLength bound the length in characters; 0: no bound.
	MinLength, MaxLength int
	// Minimum counts of upper-case letters, lower-case letters, digits and
	// special characters (anything neither a letter nor a digit).
	MinUpper, MinLower, MinDigits, MinSpecial int
	// Pattern is a Go (RE2) regular expression the password must match; ""
	// none. WSO2's default uses look-aheads, which RE2 lacks: the class
	// minimums above express the same rules.
	Pattern string
	// ErrorMessage replaces the pattern's refusal detail when set
	// (passwordPolicy.errorMsg).
	ErrorMessage string

	// HistoryEnabled refuses any of the latest HistoryCount passwords, the
	// current one included.
	HistoryEnabled bool
	HistoryCount   int

	// ExpiryEnabled makes a password older than MaxAgeDays unusable for
	// login.
	ExpiryEnabled bool
	MaxAgeDays    int

	// IdleEnabled asks the maintenance job to disable accounts idle (no
	// login, or never logged in since creation) for IdleDisableDays.
	IdleEnabled     bool
	IdleDisableDays int

	UpdatedAt time.Time // zero when the organization never configured one
}

// Validate checks that p is a policy the store can keep and a password can
// satisfy.
func (p PasswordPolicy) Validate() error {
	for name, v := range map[string]int{"minimum length": p.MinLength, "maximum length": p.MaxLength,
		"minimum upper-case count": p.MinUpper, "minimum lower-case count": p.MinLower,
		"minimum digit count": p.MinDigits, "minimum special character count": p.MinSpecial} {
		if v < 0 || v > MaxPasswordLength {
			return fmt.Errorf("%s %d is outside 0..%d", name, v, MaxPasswordLength)
		}
	}
	if p.MaxLength > 0 && p.MaxLength < p.MinLength {
		return fmt.Errorf("maximum length %d is below minimum length %d", p.MaxLength, p.MinLength)
	}
	if classes := p.MinUpper + p.MinLower + p.MinDigits + p.MinSpecial; p.MaxLength > 0 && classes > p.MaxLength {
		return fmt.Errorf("the character class minimums (%d) exceed the maximum length %d", classes, p.MaxLength)
	}
	if len(p.Pattern) > 1024 || len(p.ErrorMessage) > 1024 || !utf8.ValidString(p.Pattern) || !utf8.ValidString(p.ErrorMessage) {
		return errors.New("pattern or error message invalid or longer than 1024 bytes")
	}
	if p.Pattern != "" {
		if _, err := regexp.Compile(p.Pattern); err != nil {
			return fmt.Errorf("pattern is not a valid RE2 regular expression: %w", err)
		}
	}
	if p.HistoryCount < 0 || p.HistoryCount > MaxPasswordHistory {
		return fmt.Errorf("history count %d is outside 0..%d", p.HistoryCount, MaxPasswordHistory)
	}
	if p.MaxAgeDays < 0 || p.MaxAgeDays > MaxPasswordAgeDays || p.IdleDisableDays < 0 || p.IdleDisableDays > MaxPasswordAgeDays {
		return fmt.Errorf("maximum age or idle days outside 0..%d", MaxPasswordAgeDays)
	}
	return nil
}

// PasswordViolation is a password a policy refuses. Rule names the rule with
// WSO2's identity-governance property (passwordPolicy.min.length, …,
// passwordHistory.count); Detail says what is wrong in words safe to show the
// user (never the password).
type PasswordViolation struct {
	Rule   string
	Detail string
}

func (v *PasswordViolation) Error() string { return "password policy: " + v.Detail }

// Password policy rule names (WSO2's identity-governance property names;
// the class minimums are Keyflow's, in the same naming).
const (
	RuleMinLength  = "passwordPolicy.min.length"
	RuleMaxLength  = "passwordPolicy.max.length"
	RuleMinUpper   = "passwordPolicy.min.upperCase"
	RuleMinLower   = "passwordPolicy.min.lowerCase"
	RuleMinDigits  = "passwordPolicy.min.numbers"
	RuleMinSpecial = "passwordPolicy.min.specialChars"
	RulePattern    = "passwordPolicy.pattern"
	RuleHistory    = "passwordHistory.count"
)

// Check applies the composition rules to pw. It returns nil when the rules
// are off or pw satisfies them. A password longer than MaxPasswordLength is
// always refused.
func (p PasswordPolicy) Check(pw string) *PasswordViolation {
	n := utf8.RuneCountInString(pw)
	if n > MaxPasswordLength {
		return &PasswordViolation{Rule: RuleMaxLength, Detail: fmt.Sprintf("the password is longer than %d characters", MaxPasswordLength)}
	}
	if !p.Enabled {
		return nil
	}
	if p.MinLength > 0 && n < p.MinLength {
		return &PasswordViolation{Rule: RuleMinLength, Detail: fmt.Sprintf("the password must have at least %d characters", p.MinLength)}
	}
	if p.MaxLength > 0 && n > p.MaxLength {
		return &PasswordViolation{Rule: RuleMaxLength, Detail: fmt.Sprintf("the password must have at most %d characters", p.MaxLength)}
	}
	var upper, lower, digits, special int
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			lower++
		case unicode.IsDigit(r):
			digits++
		case !unicode.IsLetter(r):
			special++
		}
	}
	for _, c := range []struct {
		rule, what string
		min, got   int
	}{
		{RuleMinUpper, "upper-case letter", p.MinUpper, upper},
		{RuleMinLower, "lower-case letter", p.MinLower, lower},
		{RuleMinDigits, "digit", p.MinDigits, digits},
		{RuleMinSpecial, "special character", p.MinSpecial, special},
	} {
		if c.got < c.min {
			plural := ""
			if c.min > 1 {
				plural = "s"
			}
			return &PasswordViolation{Rule: c.rule, Detail: fmt.Sprintf("the password must contain at least %d %s%s", c.min, c.what, plural)}
		}
	}
	if p.Pattern != "" {
		re, err := regexp.Compile(p.Pattern)
		if err != nil || !re.MatchString(pw) {
			d := p.ErrorMessage
			if d == "" {
				d = "the password does not match the required pattern " + p.Pattern
			}
			return &PasswordViolation{Rule: RulePattern, Detail: d}
		}
	}
	return nil
}

// PasswordExpired reports whether u's password is past the policy's maximum
// age at now. A user whose password was never set does not expire.
func (p PasswordPolicy) PasswordExpired(u User, now time.Time) bool {
	if !p.ExpiryEnabled || p.MaxAgeDays <= 0 || u.PasswordUpdatedAt.IsZero() {
		return false
	}
	return !now.Before(u.PasswordUpdatedAt.AddDate(0, 0, p.MaxAgeDays))
}

const passwordPolicyColumns = `policy_enabled, min_length, max_length, min_upper, min_lower, min_digits,
	min_special, pattern, error_message, history_enabled, history_count, expiry_enabled, max_age_days,
	idle_enabled, idle_disable_days, updated_at`

// PasswordPolicy returns an organization's policy: the zero PasswordPolicy
// when it configured none (or does not exist).
func (q *queries) PasswordPolicy(ctx context.Context, orgID string) (PasswordPolicy, error) {
	if !isUUID(orgID) {
		return PasswordPolicy{}, nil
	}
	var p PasswordPolicy
	err := q.db.QueryRow(ctx, `SELECT `+passwordPolicyColumns+` FROM password_policies WHERE org_id = $1`, orgID).Scan(
		&p.Enabled, &p.MinLength, &p.MaxLength, &p.MinUpper, &p.MinLower, &p.MinDigits, &p.MinSpecial,
		&p.Pattern, &p.ErrorMessage, &p.HistoryEnabled, &p.HistoryCount, &p.ExpiryEnabled, &p.MaxAgeDays,
		&p.IdleEnabled, &p.IdleDisableDays, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return PasswordPolicy{}, nil
	}
	if err != nil {
		return PasswordPolicy{}, mapErr("store: password policy", err)
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, nil
}

// PutPasswordPolicy replaces an organization's policy (validated first: a
// plain error for an invalid one) and records an audit event. It returns
// ErrNotFound for an unknown organization. Existing histories are trimmed
// on each user's next password change.
func (q *queries) PutPasswordPolicy(ctx context.Context, orgID string, p PasswordPolicy, actor Actor) (PasswordPolicy, error) {
	const what = "store: put password policy"
	if !isUUID(orgID) {
		return PasswordPolicy{}, fmt.Errorf("%s: organization %q: %w", what, orgID, ErrNotFound)
	}
	if err := p.Validate(); err != nil {
		return PasswordPolicy{}, fmt.Errorf("%s: %w", what, err)
	}
	var out PasswordPolicy
	err := q.atomic(ctx, func(q *queries) error {
		before, err := q.PasswordPolicy(ctx, orgID)
		if err != nil {
			return err
		}
		_, err = q.db.Exec(ctx, `
			INSERT INTO password_policies (org_id, `+strings.ReplaceAll(passwordPolicyColumns, ", updated_at", "")+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (org_id) DO UPDATE SET policy_enabled = EXCLUDED.policy_enabled,
				min_length = EXCLUDED.min_length, max_length = EXCLUDED.max_length,
				min_upper = EXCLUDED.min_upper, min_lower = EXCLUDED.min_lower,
				min_digits = EXCLUDED.min_digits, min_special = EXCLUDED.min_special,
				pattern = EXCLUDED.pattern, error_message = EXCLUDED.error_message,
				history_enabled = EXCLUDED.history_enabled, history_count = EXCLUDED.history_count,
				expiry_enabled = EXCLUDED.expiry_enabled, max_age_days = EXCLUDED.max_age_days,
				idle_enabled = EXCLUDED.idle_enabled, idle_disable_days = EXCLUDED.idle_disable_days`,
			orgID, p.Enabled, p.MinLength, p.MaxLength, p.MinUpper, p.MinLower, p.MinDigits, p.MinSpecial,
			p.Pattern, p.ErrorMessage, p.HistoryEnabled, p.HistoryCount, p.ExpiryEnabled, p.MaxAgeDays,
			p.IdleEnabled, p.IdleDisableDays)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("%s: organization %s: %w", what, orgID, ErrNotFound)
		}
		if err != nil {
			return mapErr(what, err)
		}
		if out, err = q.PasswordPolicy(ctx, orgID); err != nil {
			return err
		}
		b, a := before, out
		b.UpdatedAt, a.UpdatedAt = time.Time{}, time.Time{}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditPasswordPolicyUpdate,
			targetType: "organization", targetID: orgID, before: b, after: a})
	})
	if err != nil {
		return PasswordPolicy{}, err
	}
	return out, nil
}

// CheckPassword checks pw against the policy of organization orgID before a
// password is set: the composition rules and, for an existing user (userID
// not empty), the history, comparing pw with each remembered hash through
// reused (connectors/password.Verify; the store does not hash). It returns a
// *PasswordViolation when the policy refuses pw, nil when it is acceptable.
func (q *queries) CheckPassword(ctx context.Context, orgID, userID, pw string, reused func(pw, hash string) (bool, error)) error {
	p, err := q.PasswordPolicy(ctx, orgID)
	if err != nil {
		return err
	}
	if v := p.Check(pw); v != nil {
		return v
	}
	if userID == "" || !p.HistoryEnabled || p.HistoryCount == 0 || !isUUID(userID) {
		return nil
	}
	rows, err := q.db.Query(ctx, `
		SELECT password_hash FROM (
			SELECT h.password_hash, h.id FROM password_history h WHERE h.user_id = $1
			ORDER BY h.id DESC LIMIT $2) x
		UNION
		SELECT u.password_hash FROM users u WHERE u.id = $1 AND u.password_hash IS NOT NULL`,
		userID, p.HistoryCount)
	if err != nil {
		return mapErr("store: password history", err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return mapErr("store: password history", err)
	}
	for _, h := range hashes {
		same, err := reused(pw, h)
		if err != nil {
			continue // an unreadable old hash proves nothing
		}
		if same {
			return &PasswordViolation{Rule: RuleHistory,
				Detail: fmt.Sprintf("the password must differ from the last %d passwords", p.HistoryCount)}
		}
	}
	return nil
}

// AccountChange is the input of ChangeAccount: nil fields are left as they
// are.
type AccountChange struct {
	OrgID, UserID string
	// Locked true locks the account until an administrator unlocks it
	// (LockReasonAdmin); false unlocks it and resets the failure counter.
	Locked *bool
	// Disabled sets the disabled flag.
	Disabled *bool
	// ForcePasswordReset true puts the account in
	// UserPendingForcedPasswordReset: password logins are refused until a new
	// password is set. false returns such an account to UserActive.
	ForcePasswordReset *bool
	Actor              Actor
}

// ChangeAccount applies an administrator's account operation, recording an
// audit event per change, all or nothing. ErrNotFound: no such user in the
// organization.
func (q *queries) ChangeAccount(ctx context.Context, ch AccountChange) (User, error) {
	const what = "store: change account"
	if !isUUID(ch.OrgID) || !isUUID(ch.UserID) {
		return User{}, fmt.Errorf("%s: user %q: %w", what, ch.UserID, ErrNotFound)
	}
	var u User
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		u, err = scanUser(q.db.QueryRow(ctx,
			`SELECT `+userColumns+` FROM users WHERE id = $1 AND org_id = $2 FOR UPDATE`, ch.UserID, ch.OrgID))
		if err != nil {
			return mapErr(what, err)
		}
		ev := func(action string, before, after map[string]any) error {
			return q.audit(ctx, auditEvent{orgID: u.OrgID, actor: ch.Actor, action: action,
				targetType: "user", targetID: u.ID, before: before, after: after})
		}
		update := func(set string, args ...any) error {
			u, err = scanUser(q.db.QueryRow(ctx, `UPDATE users SET `+set+` WHERE id = $1 RETURNING `+userColumns,
				append([]any{u.ID}, args...)...))
			return mapErr(what, err)
		}
		if ch.Locked != nil {
			if *ch.Locked {
				if err := update(`locked = true, locked_until = NULL, lock_reason = $2`, LockReasonAdmin); err != nil {
					return err
				}
				if err := ev(AuditUserLock, nil, map[string]any{"locked": true, "reason": LockReasonAdmin}); err != nil {
					return err
				}
			} else {
				wasLocked := u.Locked
				if err := update(`locked = false, locked_until = NULL, lock_reason = NULL, failed_login_attempts = 0`); err != nil {
					return err
				}
				if wasLocked {
					if err := ev(AuditUserUnlock, map[string]any{"locked": true},
						map[string]any{"locked": false, "reason": "administrator"}); err != nil {
						return err
					}
				}
			}
		}
		if ch.Disabled != nil && *ch.Disabled != u.Disabled {
			if err := update(`disabled = $2`, *ch.Disabled); err != nil {
				return err
			}
			action := AuditUserEnable
			if *ch.Disabled {
				action = AuditUserDisable
			}
			if err := ev(action, map[string]any{"disabled": !*ch.Disabled}, map[string]any{"disabled": *ch.Disabled}); err != nil {
				return err
			}
		}
		if ch.ForcePasswordReset != nil {
			from, to := UserActive, UserPendingForcedPasswordReset
			if !*ch.ForcePasswordReset {
				from, to = to, from
			}
			// Only from ACTIVE: an account pending e-mail verification or
			// approval is not made usable by cancelling a reset.
			if u.Status == from {
				if err := update(`status = $2`, to); err != nil {
					return err
				}
				if err := ev(AuditUserForceReset, map[string]any{"status": from}, map[string]any{"status": to}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// IdleUser is a user found idle by IdleUsers.
type IdleUser struct {
	ID       string
	Domain   string
	Username string
	// LastLoginAt is the last successful login; zero if the user never
	// logged in (its idle time then counts from CreatedAt).
	LastLoginAt time.Time
	CreatedAt   time.Time
	Disabled    bool
}

// IdleQuery selects idle users of an organization.
type IdleQuery struct {
	OrgID string
	// InactiveSince: users whose last login (or creation, if they never
	// logged in) is before it.
	InactiveSince time.Time
	// ExcludeBefore, when not zero, leaves out users inactive since before
	// it (WSO2's excludeBefore).
	ExcludeBefore time.Time
	// Disabled, when not nil, keeps only users whose disabled flag equals it.
	Disabled *bool
	// Limit caps the answer; 0 means 10000.
	Limit int
}

// IdleUsers lists the idle users of an organization, oldest activity first.
func (q *queries) IdleUsers(ctx context.Context, iq IdleQuery) ([]IdleUser, error) {
	if !isUUID(iq.OrgID) {
		return nil, nil
	}
	if iq.Limit <= 0 {
		iq.Limit = 10000
	}
	var exclude *time.Time
	if !iq.ExcludeBefore.IsZero() {
		exclude = &iq.ExcludeBefore
	}
	rows, err := q.db.Query(ctx, `
		SELECT u.id, u.user_store_domain, u.username, l.last_login_at, u.created_at, u.disabled
		FROM users u LEFT JOIN user_last_logins l ON l.user_id = u.id
		WHERE u.org_id = $1 AND coalesce(l.last_login_at, u.created_at) < $2
		  AND ($3::timestamptz IS NULL OR coalesce(l.last_login_at, u.created_at) >= $3)
		  AND ($4::boolean IS NULL OR u.disabled = $4)
		ORDER BY coalesce(l.last_login_at, u.created_at), u.username_key
		LIMIT $5`, iq.OrgID, iq.InactiveSince, exclude, iq.Disabled, iq.Limit)
	if err != nil {
		return nil, mapErr("store: idle users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (IdleUser, error) {
		var (
			u    IdleUser
			last *time.Time
		)
		err := r.Scan(&u.ID, &u.Domain, &u.Username, &last, &u.CreatedAt, &u.Disabled)
		if last != nil {
			u.LastLoginAt = last.UTC()
		}
		u.CreatedAt = u.CreatedAt.UTC()
		return u, err
	})
	if err != nil {
		return nil, mapErr("store: idle users", err)
	}
	return out, nil
}

// DisableIdleUsers disables up to limit (0: 1000) enabled users of the
// organization idle for at least days at now, recording an audit event for
// each, and returns their ids. It is what the maintenance job runs per
// organization whose policy has IdleEnabled; a batch that hits the limit
// means the job should call again.
func (q *queries) DisableIdleUsers(ctx context.Context, orgID string, days int, now time.Time, limit int, actor Actor) ([]string, error) {
	const what = "store: disable idle users"
	if days <= 0 {
		return nil, fmt.Errorf("%s: days must be positive", what)
	}
	if !isUUID(orgID) {
		return nil, nil
	}
	if limit <= 0 {
		limit = 1000
	}
	var ids []string
	err := q.atomic(ctx, func(q *queries) error {
		rows, err := q.db.Query(ctx, `
			UPDATE users SET disabled = true
			WHERE id IN (SELECT u.id FROM users u LEFT JOIN user_last_logins l ON l.user_id = u.id
			             WHERE u.org_id = $1 AND NOT u.disabled AND coalesce(l.last_login_at, u.created_at) < $2
			             ORDER BY coalesce(l.last_login_at, u.created_at) LIMIT $3
			             FOR UPDATE OF u SKIP LOCKED)
			RETURNING id::text`, orgID, now.AddDate(0, 0, -days), limit)
		if err != nil {
			return mapErr(what, err)
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return mapErr(what, err)
		}
		for _, id := range ids {
			if err := q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditUserDisable,
				targetType: "user", targetID: id, before: map[string]any{"disabled": false},
				after: map[string]any{"disabled": true, "reason": fmt.Sprintf("idle for %d days", days)}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// IdleDisablePolicy is an organization whose policy disables idle accounts.
type IdleDisablePolicy struct {
	OrgID string
	Days  int
}

// IdleDisablePolicies lists the organizations whose policy has IdleEnabled with a positive
// IdleDisableDays: the maintenance job calls DisableIdleUsers for each.
func (q *queries) IdleDisablePolicies(ctx context.Context) ([]IdleDisablePolicy, error) {
	rows, err := q.db.Query(ctx, `
		SELECT org_id::text, idle_disable_days FROM password_policies
		WHERE idle_enabled AND idle_disable_days > 0 ORDER BY org_id`)
	if err != nil {
		return nil, mapErr("store: idle disable policies", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[IdleDisablePolicy])
	if err != nil {
		return nil, mapErr("store: idle disable policies", err)
	}
	return out, nil
}
