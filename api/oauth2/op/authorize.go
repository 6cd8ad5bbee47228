package op

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyflow/keyflow/store"
)

// Response types (RFC 6749 §3.1.1, OAuth 2.0 Multiple Response Type
// Encoding Practices).
const (
	ResponseTypeCode    = "code"
	ResponseTypeToken   = "token"
	ResponseTypeIDToken = "id_token"
)

// Response modes (OAuth 2.0 Multiple Response Type Encoding Practices §2.1,
// OAuth 2.0 Form Post Response Mode).
const (
	ResponseModeQuery    = "query"
	ResponseModeFragment = "fragment"
	ResponseModeFormPost = "form_post"
)

// PKCE code challenge methods (RFC 7636 §4.2).
const (
	PKCES256  = "S256"
	PKCEPlain = "plain"
)

// Prompt values (OpenID Connect Core §3.1.2.1).
const (
	PromptNone          = "none"
	PromptLogin         = "login"
	PromptConsent       = "consent"
	PromptSelectAccount = "select_account"
)

// ScopeOpenID marks an OpenID Connect request.
const ScopeOpenID = "openid"

// redirectRegexpPrefix marks a registered redirect URI that is a regular
// expression, WSO2's "regexp=(https://a/cb1|https://a/cb2)" form. The
// pattern must match the whole redirect_uri (Java's Matcher.matches).
const redirectRegexpPrefix = "regexp="

// Limits on parameters echoed back or stored, so that one request cannot
// make the server store or reflect megabytes.
const (
	maxStateLength = 2048
	maxNonceLength = 512
)

// SupportedResponseTypes lists the response_type values served, normalised
// (components in the order code, id_token, token).
func SupportedResponseTypes() []string {
	return []string{"code", "token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"}
}

// normalizeResponseType orders the space-separated components, since their
// order is not significant (Multiple Response Types §3).
func normalizeResponseType(rt string) string {
	parts := strings.Fields(rt)
	rank := func(s string) int {
		switch s {
		case ResponseTypeCode:
			return 0
		case ResponseTypeIDToken:
			return 1
		case ResponseTypeToken:
			return 2
		}
		return 3
	}
	slices.SortStableFunc(parts, func(a, b string) int { return rank(a) - rank(b) })
	return strings.Join(parts, " ")
}

// responseTypeGrant returns the grant a client needs for a normalised
// response type.
func responseTypeGrant(rt string) (string, bool) {
	if !slices.Contains(SupportedResponseTypes(), rt) {
		return "", false
	}
	if hasComponent(rt, ResponseTypeCode) {
		return GrantAuthorizationCode, true
	}
	return GrantImplicit, true
}

func hasComponent(rt, c string) bool { return slices.Contains(strings.Fields(rt), c) }

// allowedResponseTypes are a client's response types: as configured, or
// derived from its grants.
func allowedResponseTypes(c store.OAuth2Client) []string {
	if len(c.ResponseTypes) > 0 {
		return c.ResponseTypes
	}
	var out []string
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		out = append(out, "code")
	}
	if slices.Contains(c.GrantTypes, GrantImplicit) {
		out = append(out, "token", "id_token", "id_token token")
	}
	return out
}

// unsafeScheme reports schemes that run code in the browser (OAuth 2.0
// Security BCP §4.1.2 covers redirect URIs; these are never legitimate).
func unsafeScheme(scheme string) bool {
	return slices.Contains([]string{"javascript", "data", "vbscript", "file"}, strings.ToLower(scheme))
}

func compileRedirectPattern(p string) (*regexp.Regexp, error) {
	// RE2: linear time, so a registered pattern cannot be made to backtrack.
	return regexp.Compile(`^(?:` + p + `)$`)
}

// redirectAllowed reports whether uri is registered for c: equal to a
// registered URI (simple string comparison, OAuth 2.0 Security BCP §4.1.3)
// or matching a registered regexp= pattern.
func redirectAllowed(c store.OAuth2Client, uri string) bool {
	for _, r := range c.RedirectURIs {
		if pattern, ok := strings.CutPrefix(r, redirectRegexpPrefix); ok {
			if re, err := compileRedirectPattern(pattern); err == nil && re.MatchString(uri) {
				return true
			}
			continue
		}
		if r == uri {
			return true
		}
	}
	return false
}

// AuthorizeParams are the parameters of an authorization request (RFC 6749
// §4.1.1, OpenID Connect Core §3.1.2.1) as sent, query or form.
type AuthorizeParams struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	ResponseMode        string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              string
	MaxAge              string
	ACRValues           string
	LoginHint           string
	IDTokenHint         string
	UILocales           string
	Display             string
	Request             string
	RequestURI          string
	// Repeated names the parameters sent more than once (RFC 6749 §3.1:
	// they MUST NOT be).
	Repeated []string
}

// ParseAuthorizeParams reads AuthorizeParams from a query or form. Empty
// values count as absent (RFC 6749 §3.1).
func ParseAuthorizeParams(v url.Values) AuthorizeParams {
	var p AuthorizeParams
	for k, vals := range v {
		if len(vals) > 1 {
			p.Repeated = append(p.Repeated, k)
		}
	}
	slices.Sort(p.Repeated)
	for name, f := range p.fields() {
		*f = v.Get(name)
	}
	return p
}

// fields maps the parameter names to p's fields.
func (p *AuthorizeParams) fields() map[string]*string {
	return map[string]*string{
		"client_id": &p.ClientID, "redirect_uri": &p.RedirectURI, "response_type": &p.ResponseType,
		"response_mode": &p.ResponseMode, "scope": &p.Scope, "state": &p.State, "nonce": &p.Nonce,
		"code_challenge": &p.CodeChallenge, "code_challenge_method": &p.CodeChallengeMethod,
		"prompt": &p.Prompt, "max_age": &p.MaxAge, "acr_values": &p.ACRValues, "login_hint": &p.LoginHint,
		"id_token_hint": &p.IDTokenHint, "ui_locales": &p.UILocales, "display": &p.Display,
		"request": &p.Request, "request_uri": &p.RequestURI,
	}
}

// values returns the parameters that are set, by name.
func (p AuthorizeParams) values() map[string]string {
	out := map[string]string{}
	for name, f := range p.fields() {
		if *f != "" {
			out[name] = *f
		}
	}
	return out
}

// authorizeParamsFrom builds AuthorizeParams from values().
func authorizeParamsFrom(m map[string]string) AuthorizeParams {
	var p AuthorizeParams
	for name, f := range p.fields() {
		*f = m[name]
	}
	return p
}

// AuthorizeRequest is a validated authorization request. It is plain,
// JSON-serialisable data: the front-end keeps it (in the login workflow's
// input or its own state) while the user logs in, then passes it to
// CompleteAuthorization or ErrorResponse.
type AuthorizeRequest struct {
	ClientID   string `json:"clientId"`
	ClientName string `json:"clientName,omitempty"`
	OrgID      string `json:"orgId"`
	// RedirectURI is where the response goes; RequestedRedirectURI is the
	// redirect_uri parameter as sent ("" when omitted), which the token
	// request must repeat (RFC 6749 §4.1.3).
	RedirectURI          string `json:"redirectUri"`
	RequestedRedirectURI string `json:"requestedRedirectUri,omitempty"`
	// ResponseType is normalised (code, id_token, token order).
	ResponseType string `json:"responseType"`
	ResponseMode string `json:"responseMode"`
	// Scopes are the scopes that will be granted: the requested ones the
	// client may have.
	Scopes              []string `json:"scopes,omitempty"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"codeChallenge,omitempty"`
	CodeChallengeMethod string   `json:"codeChallengeMethod,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	// MaxAge is max_age in seconds; nil when absent.
	MaxAge      *int64   `json:"maxAge,omitempty"`
	ACRValues   []string `json:"acrValues,omitempty"`
	LoginHint   string   `json:"loginHint,omitempty"`
	IDTokenHint string   `json:"idTokenHint,omitempty"`
	// HintSubject is the sub of the verified id_token_hint ("" without
	// one): the user the client expects. The login front-end should log in
	// only that user, and answer login_required to prompt=none when the
	// session is another user's; CompleteAuthorization refuses any other
	// subject with login_required.
	HintSubject string   `json:"hintSubject,omitempty"`
	UILocales   []string `json:"uiLocales,omitempty"`
	Display     string   `json:"display,omitempty"`
	// SkipConsent is the client's setting, for the front-end.
	SkipConsent bool      `json:"skipConsent,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
	// ResponseSigningAlg signs JARM responses (response_mode *.jwt): the
	// client's ID token algorithm.
	ResponseSigningAlg string `json:"responseSigningAlg,omitempty"`
}

// OpenID reports whether this is an OpenID Connect request (scope openid).
func (r *AuthorizeRequest) OpenID() bool { return slices.Contains(r.Scopes, ScopeOpenID) }

// HasPrompt reports whether prompt contains v (PromptNone, PromptLogin…).
func (r *AuthorizeRequest) HasPrompt(v string) bool { return slices.Contains(r.Prompt, v) }

// RedirectError is an authorization error to be returned to the client at
// its redirect URI (RFC 6749 §4.1.2.1): render Response. Errors of
// ValidateAuthorizeRequest that are not a *RedirectError concern the client
// id or redirect URI and must NOT redirect: show an error page (from
// ToError) instead.
type RedirectError struct {
	Err      *Error
	Response Response
}

func (e *RedirectError) Error() string { return e.Err.Error() }

// Unwrap returns the OAuth error, so that ToError and errors.Is see it.
func (e *RedirectError) Unwrap() error { return e.Err }

// ValidateAuthorizeRequest checks an authorization request (RFC 6749
// §4.1.1, §4.2.1; OpenID Connect Core §3.1.2.1, §3.2.2.1, §3.3.2.1; RFC
// 7636). A missing, unknown or unusable client_id and a missing or
// unregistered redirect_uri return an *Error that must not redirect; every
// later failure returns a *RedirectError carrying the error response.
//
// A request object (request, RFC 9101) is verified and its parameters
// replace those sent beside it; a request_uri from the pushed
// authorization request endpoint (RFC 9126) is used once and its pushed
// parameters replace the others. When they cannot be used, the error goes
// to the redirect_uri sent outside them if it is registered, else it must
// not redirect. An id_token_hint must be an ID token of this provider (an
// expired one is fine); its sub becomes AuthorizeRequest.HintSubject.
func (p *Provider) ValidateAuthorizeRequest(ctx context.Context, params AuthorizeParams) (*AuthorizeRequest, error) {
	if slices.Contains(params.Repeated, "client_id") || slices.Contains(params.Repeated, "redirect_uri") {
		return nil, ErrInvalidRequest("client_id or redirect_uri repeated (RFC 6749 §3.1)")
	}
	if params.ClientID == "" {
		return nil, ErrInvalidRequest("client_id is required")
	}
	c, err := p.client(ctx, params.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidRequest("unknown client_id").WithCause(err)
	}
	if err != nil {
		return nil, ToError(err)
	}
	switch {
	case (params.Request != "" || params.RequestURI != "") && len(params.Repeated) > 0:
		return nil, p.outerError(ctx, c, params, ErrInvalidRequest("parameter %q repeated (RFC 6749 §3.1)", params.Repeated[0]))
	case params.Request != "" || params.RequestURI != "":
		resolved, e := p.resolveRequest(ctx, c, params)
		if e != nil {
			return nil, p.outerError(ctx, c, params, e)
		}
		params = resolved
	case p.requirePAR:
		return nil, p.outerError(ctx, c, params,
			ErrInvalidRequest("authorization requests must be pushed first (RFC 9126 pushed_authorization_request_endpoint)"))
	}
	return p.validateParams(ctx, c, params)
}

// redirectFor is the redirect URI of params for c, or an *Error that must
// not redirect.
func redirectFor(c store.OAuth2Client, params AuthorizeParams) (string, *Error) {
	redirect := params.RedirectURI
	switch {
	case redirect == "" && slices.Contains(strings.Fields(params.Scope), ScopeOpenID):
		return "", ErrInvalidRequest("redirect_uri is required (OpenID Connect Core §3.1.2.1)")
	case redirect == "":
		// RFC 6749 §3.1.2.3: may be omitted when exactly one URI is registered.
		if len(c.RedirectURIs) != 1 || strings.HasPrefix(c.RedirectURIs[0], redirectRegexpPrefix) {
			return "", ErrInvalidRequest("redirect_uri is required")
		}
		return c.RedirectURIs[0], nil
	}
	u, err := url.Parse(redirect)
	if err != nil || !u.IsAbs() || strings.Contains(redirect, "#") || unsafeScheme(u.Scheme) {
		return "", ErrInvalidRequest("redirect_uri must be an absolute URI without fragment")
	}
	if !redirectAllowed(c, redirect) {
		return "", ErrInvalidRequest("redirect_uri is not registered for this client")
	}
	return redirect, nil
}

// newAuthorizeRequest starts the AuthorizeRequest of params, whose
// redirect URI is redirect, with what error responses need.
func (p *Provider) newAuthorizeRequest(c store.OAuth2Client, params AuthorizeParams, redirect string) *AuthorizeRequest {
	rt := normalizeResponseType(params.ResponseType)
	req := &AuthorizeRequest{
		ClientID: c.ClientID, ClientName: c.Name, OrgID: c.OrgID,
		RedirectURI: redirect, RequestedRedirectURI: params.RedirectURI,
		ResponseType: rt, ResponseMode: resolveResponseMode(params.ResponseMode, rt), State: params.State,
		SkipConsent: c.SkipConsent, RequestedAt: p.now().UTC(),
	}
	if isJARM(req.ResponseMode) {
		req.ResponseSigningAlg = c.IDTokenSigningAlg
		if req.ResponseSigningAlg == "" {
			req.ResponseSigningAlg = c.SigningAlg
		}
	}
	if len(req.State) > maxStateLength {
		req.State = ""
	}
	return req
}

// outerError answers a request whose request object or request_uri cannot
// be used: at the redirect_uri sent beside it when that is registered
// (with its state and response_mode), else with e alone (no redirect).
func (p *Provider) outerError(ctx context.Context, c store.OAuth2Client, params AuthorizeParams, e *Error) error {
	redirect, rerr := redirectFor(c, params)
	if rerr != nil || e.Status >= 500 {
		return e
	}
	req := p.newAuthorizeRequest(c, params, redirect)
	return &RedirectError{Err: e, Response: p.ErrorResponseContext(ctx, req, e)}
}

// validateParams validates plain parameters (no request object or
// request_uri left) for client c.
func (p *Provider) validateParams(ctx context.Context, c store.OAuth2Client, params AuthorizeParams) (*AuthorizeRequest, error) {
	redirect, rerr := redirectFor(c, params)
	if rerr != nil {
		return nil, rerr
	}
	scopes := strings.Fields(params.Scope)

	// From here on, errors go back to the client.
	req := p.newAuthorizeRequest(c, params, redirect)
	rt := req.ResponseType
	fail := func(e *Error) (*AuthorizeRequest, error) {
		return nil, &RedirectError{Err: e, Response: p.ErrorResponseContext(ctx, req, e)}
	}
	if len(params.State) > maxStateLength {
		return fail(ErrInvalidRequest("state longer than %d bytes", maxStateLength))
	}
	if len(params.Repeated) > 0 {
		return fail(ErrInvalidRequest("parameter %q repeated (RFC 6749 §3.1)", params.Repeated[0]))
	}
	switch {
	case params.Request != "" || params.RequestURI != "":
		return fail(ErrInvalidRequest("request and request_uri cannot be nested"))
	case rt == "":
		return fail(ErrInvalidRequest("response_type is required"))
	}
	if _, ok := responseTypeGrant(rt); !ok {
		return fail(ErrUnsupportedResponseType("response_type %q is not supported", params.ResponseType))
	}
	if !slices.Contains(allowedResponseTypes(c), rt) {
		return fail(ErrUnauthorizedClient("client may not use response_type %q", rt))
	}
	switch params.ResponseMode {
	case "", ResponseModeFragment, ResponseModeFormPost, ResponseModeJWT, ResponseModeFragmentJWT, ResponseModeFormPostJWT:
	case ResponseModeQuery, ResponseModeQueryJWT:
		if rt != ResponseTypeCode {
			// Multiple Response Types §5: tokens must not travel in the
			// query; JARM §2.3.1: nor in an unencrypted query.jwt.
			return fail(ErrInvalidRequest("response_mode %s is not allowed with response_type %q", params.ResponseMode, rt))
		}
	default:
		return fail(ErrInvalidRequest("unsupported response_mode %q", params.ResponseMode))
	}

	allowed, err := p.allowedScopes(ctx, c, params.Scope)
	if err != nil {
		return fail(ToError(err))
	}
	granted, err := p.authorizeScope(allowed, scopes, params.Scope == "")
	if err != nil {
		return fail(ToError(err))
	}
	req.Scopes = granted
	openid := slices.Contains(scopes, ScopeOpenID)
	if hasComponent(rt, ResponseTypeIDToken) && !openid {
		return fail(ErrInvalidScope("response_type id_token requires the openid scope"))
	}
	// A nonce is required whenever an ID token comes from the authorization
	// endpoint, and in every OpenID Connect hybrid flow (Core §3.2.2.1, §3.3.2.11).
	needNonce := hasComponent(rt, ResponseTypeIDToken) || (openid && rt != ResponseTypeCode && rt != ResponseTypeToken)
	switch {
	case needNonce && params.Nonce == "":
		return fail(ErrInvalidRequest("nonce is required for response_type %q", rt))
	case len(params.Nonce) > maxNonceLength:
		return fail(ErrInvalidRequest("nonce longer than %d bytes", maxNonceLength))
	}
	req.Nonce = params.Nonce

	if e := pkceParams(c, rt, params, req); e != nil {
		return fail(e)
	}
	if e := oidcParams(params, req); e != nil {
		return fail(e)
	}
	if req.IDTokenHint != "" {
		sub, err := p.hintSubject(ctx, req.IDTokenHint)
		if err != nil {
			return fail(ErrInvalidRequest("id_token_hint is not an ID token issued by this provider").WithCause(err))
		}
		req.HintSubject = sub
	}
	return req, nil
}

// defaultResponseMode is fragment when the response carries tokens
// (Multiple Response Types §2.1: they must not reach server logs through
// the query), query otherwise, unknown response types included.
func defaultResponseMode(rt string) string {
	if hasComponent(rt, ResponseTypeToken) || hasComponent(rt, ResponseTypeIDToken) {
		return ResponseModeFragment
	}
	return ResponseModeQuery
}

// oidcScopes are the scopes every client of the authorization endpoint may
// be granted (OpenID Connect Core §5.4, and WSO2's groups and roles),
// besides its own.
func oidcScopes() []string {
	return []string{ScopeOpenID, "profile", "email", "phone", "address", ScopeGroups, ScopeRoles}
}

// authorizeScope decides the granted scopes: the requested ones the client
// may have (allowed: its own and its API resources', plus the OpenID Connect
// ones); none requested means the client's own (RFC 6749 §3.3's pre-defined
// default).
func (p *Provider) authorizeScope(allowed, requested []string, omitted bool) ([]string, error) {
	if omitted {
		return slices.Clone(allowed), nil
	}
	var granted []string
	for _, s := range requested {
		if !validScopeToken(s) {
			return nil, ErrInvalidScope("malformed scope (RFC 6749 §3.3)")
		}
		if (slices.Contains(allowed, s) || slices.Contains(oidcScopes(), s)) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, nil
}

// pkceParams applies RFC 7636 §4.3 and the client's PKCE policy. Public
// clients must use PKCE (OAuth 2.0 Security BCP §2.1.1).
func pkceParams(c store.OAuth2Client, rt string, params AuthorizeParams, req *AuthorizeRequest) *Error {
	if !hasComponent(rt, ResponseTypeCode) {
		return nil
	}
	if params.CodeChallenge == "" {
		if params.CodeChallengeMethod != "" {
			return ErrInvalidRequest("code_challenge_method without code_challenge")
		}
		if c.Public || c.PKCERequired {
			return ErrInvalidRequest("code_challenge is required (PKCE, RFC 7636)")
		}
		return nil
	}
	method := params.CodeChallengeMethod
	if method == "" {
		method = PKCEPlain // RFC 7636 §4.3 default
	}
	switch method {
	case PKCES256:
	case PKCEPlain:
		if !c.PKCEAllowPlain {
			return ErrInvalidRequest("code_challenge_method plain is not allowed for this client; use S256")
		}
	default:
		return ErrInvalidRequest("unsupported code_challenge_method %q", method)
	}
	if !validVerifier(params.CodeChallenge) {
		return ErrInvalidRequest("malformed code_challenge (RFC 7636 §4.2)")
	}
	req.CodeChallenge, req.CodeChallengeMethod = params.CodeChallenge, method
	return nil
}

// validVerifier checks the code_verifier (and code_challenge) syntax: 43 to
// 128 unreserved characters (RFC 7636 §4.1).
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~') {
			return false
		}
	}
	return true
}

// oidcParams parses prompt, max_age, acr_values, ui_locales, login_hint,
// id_token_hint and display (OpenID Connect Core §3.1.2.1).
func oidcParams(params AuthorizeParams, req *AuthorizeRequest) *Error {
	prompt := strings.Fields(params.Prompt)
	for _, v := range prompt {
		if !slices.Contains([]string{PromptNone, PromptLogin, PromptConsent, PromptSelectAccount}, v) {
			return ErrInvalidRequest("unsupported prompt value %q", v)
		}
	}
	if slices.Contains(prompt, PromptNone) && len(prompt) > 1 {
		return ErrInvalidRequest("prompt none must be alone")
	}
	req.Prompt = prompt
	if params.MaxAge != "" {
		n, err := strconv.ParseInt(params.MaxAge, 10, 64)
		if err != nil || n < 0 {
			return ErrInvalidRequest("max_age must be a non-negative integer")
		}
		req.MaxAge = &n
	}
	switch params.Display {
	case "", "page", "popup", "touch", "wap":
	default:
		return ErrInvalidRequest("unsupported display value %q", params.Display)
	}
	req.Display = params.Display
	req.ACRValues = strings.Fields(params.ACRValues)
	req.UILocales = strings.Fields(params.UILocales)
	req.LoginHint, req.IDTokenHint = params.LoginHint, params.IDTokenHint
	return nil
}

// Authenticated is what the login workflow established about the user.
type Authenticated struct {
	// Subject is the sub of the tokens (the user id).
	Subject string
	// Claims are local claim URIs (http://wso2.org/claims/emailaddress) and
	// values; they are mapped to OpenID Connect claims by the provider's
	// claim mappings and filtered by the granted scopes.
	Claims map[string]string
	ACR    string
	// AMR are the authentication methods (authenticator names, as WSO2).
	AMR []string
	// AuthTime is when the user authenticated; zero means now.
	AuthTime time.Time
	// SessionID is the SSO session id, the ID token's sid.
	SessionID string
}

// CompleteAuthorization answers a validated request for the authenticated
// user: it issues the code and/or tokens of the response type (RFC 6749
// §4.1.2, §4.2.2; OpenID Connect Core §3.3.2.5) and returns the response
// to send to the client, carrying state and iss (RFC 9207). A code is
// stored hashed, single use, valid for Config.CodeLifetime and bound to the
// client, the redirect_uri parameter and the PKCE challenge; the grant it
// belongs to holds the scopes, nonce and authentication facts.
//
// Errors: an *Error when the client or its redirect URI is no longer valid
// (do not redirect), a *RedirectError when the request can no longer be
// honoured (e.g. max_age exceeded), other errors for internal failures.
func (p *Provider) CompleteAuthorization(ctx context.Context, req *AuthorizeRequest, a Authenticated) (Response, error) {
	if req == nil || a.Subject == "" {
		return Response{}, ErrServer(errors.New("op: complete authorization: no request or no subject"))
	}
	c, err := p.client(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return Response{}, ErrInvalidRequest("unknown client_id").WithCause(err)
	}
	if err != nil {
		return Response{}, ToError(err)
	}
	// The client may have changed while the user logged in.
	if !redirectAllowed(c, req.RedirectURI) {
		return Response{}, ErrInvalidRequest("redirect_uri is no longer registered for this client")
	}
	fail := func(e *Error) (Response, error) {
		return Response{}, &RedirectError{Err: e, Response: p.ErrorResponseContext(ctx, req, e)}
	}
	if !slices.Contains(allowedResponseTypes(c), req.ResponseType) {
		return fail(ErrUnauthorizedClient("client may no longer use response_type %q", req.ResponseType))
	}
	now := p.now().Truncate(time.Second)
	authTime := a.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	if req.MaxAge != nil && now.Sub(authTime) > time.Duration(*req.MaxAge)*time.Second {
		return fail(ErrLoginRequired("the authentication is older than max_age"))
	}
	if req.HintSubject != "" && a.Subject != req.HintSubject {
		// OpenID Connect Core §3.1.2.1 id_token_hint: only that user.
		return fail(ErrLoginRequired("the user is not the one id_token_hint names"))
	}
	// API-resource scopes need the user's roles (apiscopes.go).
	scopes, err := p.userScopes(ctx, c, a.Subject, req.Scopes)
	if err != nil {
		return Response{}, err
	}
	scope := strings.Join(scopes, " ")
	claims, err := p.grantClaims(ctx, c, a.Subject, a.Claims, scopes)
	if err != nil {
		return Response{}, err
	}
	grant := store.OAuth2Grant{
		ID: randomString(18), ClientID: c.ClientID, Subject: a.Subject, Scope: scope,
		Claims: claims, ACR: a.ACR, AMR: a.AMR,
		AuthTime: authTime.UTC().Truncate(time.Second), SessionID: a.SessionID, Nonce: req.Nonce,
		ExpiresAt: now.Add(p.codeLifetime + c.AccessTokenLifetime),
	}
	if slices.Contains(c.GrantTypes, GrantRefreshToken) {
		grant.ExpiresAt = grant.ExpiresAt.Add(c.RefreshTokenLifetime)
	}
	params := url.Values{}
	ng := store.NewOAuth2Grant{Grant: grant}
	var code, accessToken string
	if hasComponent(req.ResponseType, ResponseTypeCode) {
		code = randomString(32)
		hash := sha256.Sum256([]byte(code))
		ng.Code = &store.OAuth2Code{
			Hash: hash[:], RedirectURI: req.RequestedRedirectURI,
			CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
			IssuedAt: now, ExpiresAt: now.Add(p.codeLifetime),
		}
		params.Set("code", code)
	}
	if hasComponent(req.ResponseType, ResponseTypeToken) {
		at, err := p.mintToken(ctx, c, grantTokenSpec(grant, scope))
		if err != nil {
			return Response{}, err
		}
		at.record(&ng.Issued)
		accessToken = at.token
		params.Set("access_token", at.token)
		params.Set("token_type", "Bearer")
		params.Set("expires_in", strconv.FormatInt(int64(c.AccessTokenLifetime/time.Second), 10))
		params.Set("scope", scope)
	}
	if hasComponent(req.ResponseType, ResponseTypeIDToken) {
		idt, err := p.idToken(ctx, c, grant, req.Nonce, accessToken, code)
		if err != nil {
			return Response{}, err
		}
		params.Set("id_token", idt)
	}
	if err := p.store.CreateOAuth2Grant(ctx, ng); err != nil {
		return Response{}, ToError(fmt.Errorf("op: store grant: %w", err))
	}
	return p.response(ctx, req, params), nil
}

// ErrorResponse builds the error response for a validated request (RFC
// 6749 §4.1.2.1): for a login that failed or was cancelled
// (ErrAccessDenied), prompt=none that cannot be honoured (ErrLoginRequired,
// ErrConsentRequired…), or any error mapped by ToError. Internal causes
// are not sent. It is ErrorResponseContext without a context (a JARM
// response is signed under context.Background).
func (p *Provider) ErrorResponse(req *AuthorizeRequest, err error) Response {
	return p.ErrorResponseContext(context.Background(), req, err)
}

// ErrorResponseContext is ErrorResponse with a context, for signing JARM
// responses.
func (p *Provider) ErrorResponseContext(ctx context.Context, req *AuthorizeRequest, err error) Response {
	e := ToError(err)
	params := url.Values{"error": {e.Code}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	return p.response(ctx, req, params)
}

// response adds state and iss to params and, for the JARM modes, wraps
// them in a signed JWT (the response parameter).
func (p *Provider) response(ctx context.Context, req *AuthorizeRequest, params url.Values) Response {
	if req.State != "" {
		params.Set("state", req.State)
	}
	params.Set("iss", p.issuer) // RFC 9207 §2
	mode := req.ResponseMode
	if mode == "" {
		mode = defaultResponseMode(req.ResponseType)
	}
	if base, ok := strings.CutSuffix(mode, jarmSuffix); ok {
		return Response{Mode: base, RedirectURI: req.RedirectURI, Params: p.jarmParams(ctx, req, params)}
	}
	return Response{Mode: mode, RedirectURI: req.RedirectURI, Params: params}
}
