// Package ui holds Keyflow's user interfaces: the server-rendered login, consent, registration and
// recovery pages (html/template, brandable per application and organization, translated) and the
// built assets of the console and My Account single-page apps, embedded into the binary. The
// api/authn front-end renders the views the login workflow returns with these templates.
package ui
