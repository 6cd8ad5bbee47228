package op

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyflow/keyflow/store"
)

// DefaultClaimMappings maps OpenID Connect claims (Core §5.1) to WSO2 local
// claim URIs, as WSO2's OIDC dialect (http://wso2.org/oidc/claim) does by
// default. Members of the address claim are keyed "address.<member>".
// Config.ClaimMappings replaces it, e.g. with a tenant's dialect from the
// claim store.
func DefaultClaimMappings() map[string]string {
	const w = "http://wso2.org/claims/"
	return map[string]string{
		"name":                   w + "fullname",
		"given_name":             w + "givenname",
		"family_name":            w + "lastname",
		"middle_name":            w + "middleName",
		"nickname":               w + "nickname",
		"preferred_username":     w + "username",
		"profile":                w + "url",
		"picture":                w + "photourl",
		"website":                w + "url",
		"gender":                 w + "gender",
		"birthdate":              w + "dob",
		"zoneinfo":               w + "timeZone",
		"locale":                 w + "local",
		"updated_at":             w + "modified",
		"email":                  w + "emailaddress",
		"email_verified":         w + "identity/emailVerified",
		"phone_number":           w + "mobile",
		"phone_number_verified":  w + "identity/phoneVerified",
		"address.formatted":      w + "addresses.formatted",
		"address.street_address": w + "streetaddress",
		"address.locality":       w + "locality",
		"address.region":         w + "region",
		"address.postal_code":    w + "postalcode",
		"address.country":        w + "country",
	}
}

// scopeClaims lists the claims a standard scope requests (OpenID Connect
// Core §5.4), and WSO2's groups and roles scopes their claim of the same name.
func scopeClaims(scope string) []string {
	switch scope {
	case ScopeGroups, ScopeRoles:
		return []string{scope}
	case "profile":
		return []string{"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
			"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"}
	case "email":
		return []string{"email", "email_verified"}
	case "phone":
		return []string{"phone_number", "phone_number_verified"}
	case "address":
		return []string{"address"}
	}
	return nil
}

// claimMapper turns local claims into OpenID Connect claims.
type claimMapper struct {
	byOIDC map[string]string // OIDC claim (or address.member) → local URI
}

func newClaimMapper(m map[string]string) claimMapper {
	if m == nil {
		m = DefaultClaimMappings()
	}
	return claimMapper{byOIDC: maps.Clone(m)}
}

// userClaims returns the OpenID Connect claims the scopes ask for, from the
// user's local claims. Absent and empty values are left out; the
// *_verified claims become booleans and updated_at a number (Core §5.1),
// and a value that does not parse as such is left out too.
func (m claimMapper) userClaims(local map[string]string, scopes []string) map[string]any {
	out := map[string]any{}
	for _, s := range scopes {
		for _, name := range scopeClaims(s) {
			if name == "address" {
				addr := map[string]any{}
				for _, member := range []string{"formatted", "street_address", "locality", "region", "postal_code", "country"} {
					if v := local[m.byOIDC["address."+member]]; v != "" && m.byOIDC["address."+member] != "" {
						addr[member] = v
					}
				}
				if len(addr) > 0 {
					out["address"] = addr
				}
				continue
			}
			uri, ok := m.byOIDC[name]
			if !ok {
				continue
			}
			v := local[uri]
			if v == "" {
				continue
			}
			switch {
			case strings.HasSuffix(name, "_verified"):
				if b, err := strconv.ParseBool(v); err == nil {
					out[name] = b
				}
			case name == "updated_at":
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					out[name] = n
				}
			default:
				out[name] = v
			}
		}
	}
	return out
}

// filterClaims keeps the claims the scopes ask for: a token narrowed by a
// refresh sees fewer claims than its grant holds.
func filterClaims(claims map[string]any, scopes []string) map[string]any {
	out := map[string]any{}
	for _, s := range scopes {
		for _, name := range scopeClaims(s) {
			if v, ok := claims[name]; ok {
				out[name] = v
			}
		}
	}
	return out
}

func scopeList(scope string) []string { return slices.Collect(strings.FieldsSeq(scope)) }

// OIDCDialect is WSO2's OpenID Connect claim dialect, whose external claims map OIDC claims to
// local claims (the address members by their own names: street_address, locality, …).
const OIDCDialect = "http://wso2.org/oidc/claim"

// ClaimDialects reads an organization's claim dialects (*store.Store).
type ClaimDialects interface {
	ExternalClaims(ctx context.Context, orgID, dialect string) ([]store.ExternalClaim, error)
}

// dialectCacheTTL bounds how long a dialect change takes to reach tokens.
const dialectCacheTTL = 30 * time.Second

// addressMembers are the address claim's members (Core §5.1.1).
var addressMembers = []string{"formatted", "street_address", "locality", "region", "postal_code", "country"}

// dialectMappers keeps each organization's claim mapper, read from its OIDC dialect.
type dialectMappers struct {
	src      ClaimDialects
	fallback claimMapper
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]dialectEntry
}

type dialectEntry struct {
	m       claimMapper
	expires time.Time
}

// forOrg is the claim mapper of organization orgID: its OIDC dialect's mappings (cached for
// dialectCacheTTL), or the configured/default ones when there is no source, no dialect or the
// dialect cannot be read now (logged).
func (d *dialectMappers) forOrg(ctx context.Context, orgID string) claimMapper {
	if d.src == nil || orgID == "" {
		return d.fallback
	}
	now := d.now()
	d.mu.Lock()
	e, ok := d.entries[orgID]
	d.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.m
	}
	ext, err := d.src.ExternalClaims(ctx, orgID, OIDCDialect)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.WarnContext(ctx, "op: OIDC claim dialect unreadable; default mappings used", "org", orgID, "error", err)
		return d.fallback
	}
	m := d.fallback
	if len(ext) > 0 {
		byOIDC := make(map[string]string, len(ext))
		for _, c := range ext {
			name := c.URI
			if slices.Contains(addressMembers, name) {
				name = "address." + name
			}
			byOIDC[name] = c.MappedLocalURI
		}
		m = claimMapper{byOIDC: byOIDC}
	}
	d.mu.Lock()
	if d.entries == nil {
		d.entries = map[string]dialectEntry{}
	}
	d.entries[orgID] = dialectEntry{m: m, expires: now.Add(dialectCacheTTL)}
	d.mu.Unlock()
	return m
}
