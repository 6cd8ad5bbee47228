// Package branding is WSO2's branding preference API (/api/server/v1/branding-preference) and
// the resolution of a page's look from it.
//
// Where it sits: the HTTP edge (gin) over PostgreSQL (store.BrandingPreference). An
// administrator stores a preference per organization (type ORG) or application (type APP, name
// = the application id) and locale; the preference is WSO2's JSON, kept as sent. Keyflow reads
// what its pages can show (ui.Branding: name, logo, colours, stylesheet) from Keyflow's own flat
// members or from WSO2 Console's theme members, and refuses a preference whose values
// ui.Branding.Validate rejects, with WSO2's BPM-60001 body.
//
//	GET    ?type=&name=&locale=  ─► 200 {type, name, locale, preference} | 404 BPM-60002
//	POST   {type, name, locale, preference} ─► 201 | 400 BPM-60001 | 409 BPM-60003
//	PUT    {type, name, locale, preference} ─► 200 | 400 BPM-60001 | 404 BPM-60002
//	DELETE ?type=&name=&locale=  ─► 204 | 404 BPM-60002
//
// Writes need a bearer token with internal_branding_preference_update of an administrator;
// GET is public, as in WSO2 (the login portal reads it). Handler.Branding resolves a page's
// branding for the login front-end: the application's preference over the organization's over
// the default look, member by member.
package branding
