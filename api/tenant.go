package api

import (
	"net/http"
	"strings"
)

// tenantPrefix serves WSO2's tenant- and organization-qualified URLs of the APIs that do not
// route them themselves: /t/{root}/api/… and /o/{root-id}/api/… (the management and My Account
// APIs), and the same prefixes before /oauth2/… (token, JWKS, introspection, revocation,
// userinfo, PAR, device authorization), are served as the path without the prefix when {root}
// is the handle, or {root-id} the id, of the organization these APIs serve. Front-ends that
// route /t/{tenant} themselves (login, SCIM, SAML, WS-Fed, logout, the device page) are left
// alone; so is any other tenant or organization, which then finds no route.
func tenantPrefix(next http.Handler, prefixes ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, prefix := range prefixes {
			if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok && stripsTenant(rest) {
				r2 := r.Clone(r.Context())
				r2.URL.Path = rest
				r2.URL.RawPath = ""
				next.ServeHTTP(w, r2)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tenantlessPaths are the paths served for the root tenant under /t/{root} too.
var tenantlessPaths = []string{"/oauth2/token", "/oauth2/jwks", "/oauth2/introspect", "/oauth2/revoke",
	"/oauth2/userinfo", "/oauth2/par", "/oauth2/device_authorize"}

func stripsTenant(rest string) bool {
	if strings.HasPrefix(rest, "/api/") {
		return true
	}
	for _, p := range tenantlessPaths {
		if rest == p {
			return true
		}
	}
	return false
}
