package api

import (
	"net/http"
	"strings"
)

// tenantPrefix serves WSO2's tenant-qualified URLs of the APIs that do not route /t/{tenant}
// themselves: /t/{root}/api/… (the management and My Account APIs) and /t/{root}/oauth2/…
// (token, JWKS, introspection, revocation, userinfo, PAR, device authorization) are served as
// the same path without the prefix when {root} is the handle of the organization these APIs
// serve. Front-ends that route /t/{tenant} themselves (login, SCIM, SAML, WS-Fed, logout, the
// device page) are left alone; so is any other tenant, which then finds no route.
func tenantPrefix(next http.Handler, root string) http.Handler {
	prefix := "/t/" + root
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, prefix); ok && stripsTenant(rest) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = rest
			r2.URL.RawPath = ""
			next.ServeHTTP(w, r2)
			return
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
