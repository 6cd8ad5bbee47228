// Package api is Keyflow's HTTP edge. It owns the gin engine, the middleware every request passes
// through (request ids, structured access logs without secrets, panic recovery, metrics) and the
// operational endpoints /healthz, /readyz and /metrics. Protocol front-ends live in sub-packages
// (oauth2, authn, samlidp, wsfed, scim, manage, account); they parse requests into plain structs,
// call flows and store, and render what comes back. Nothing below api/ sees HTTP types.
package api
