package wsfed

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/flows"
	"github.com/keyflow/keyflow/scripting"
	"github.com/keyflow/keyflow/store"
)

// WS-Federation 1.2 §13.2 parameters and actions.
const (
	paramAction  = "wa"
	paramRealm   = "wtrealm"
	paramReply   = "wreply"
	paramContext = "wctx"
	paramFresh   = "wfresh"
	paramResult  = "wresult"

	actionSignIn         = "wsignin1.0"
	actionSignOut        = "wsignout1.0"
	actionSignOutCleanup = "wsignoutcleanup1.0"
)

// Request limits. wctx is opaque to the STS and only echoed; relying parties (WIF, OWIN) put a
// few hundred bytes there.
const (
	maxQueryBytes = 16 << 10
	maxFormBytes  = 16 << 10
	maxRealm      = 1024
	maxReply      = 2048
	maxContext    = 4096
)

// loginState is what a WS-Federation login carries through the login workflow (as the state of
// BeginBrowserLogin) to CompleteLogin: everything needed to answer the relying party, validated.
type loginState struct {
	Tenant string `json:"tenant"`
	// Prefix is "" or "/t/{tenant}", as the request came in (the issuer depends on it).
	Prefix string `json:"prefix,omitempty"`
	Realm  string `json:"realm"`
	// Reply is the registered reply URL the token is posted to.
	Reply string `json:"reply"`
	// Context is wctx, echoed.
	Context string `json:"context,omitempty"`
}

// PassiveSTS serves GET and POST /passivests (WS-Federation 1.2 §13, the passive requestor
// profile): wa=wsignin1.0 starts a login whose token CompleteLogin posts to the reply URL;
// wa=wsignout1.0 and wa=wsignoutcleanup1.0 end the browser's SSO session.
//
// A request naming no registered realm, or a wreply the relying party does not register, is
// answered with HTTP 400 here and never redirected.
func (h *Handler) PassiveSTS(c *gin.Context) {
	params, err := h.params(c)
	if err != nil {
		h.plainError(c, http.StatusBadRequest, "invalid WS-Federation request", err)
		return
	}
	t, err := h.tenant(c)
	if err != nil {
		h.plainError(c, statusFor(err), "unknown tenant", err)
		return
	}
	switch params.Get(paramAction) {
	case actionSignIn:
		h.signIn(c, t, params)
	case actionSignOut, actionSignOutCleanup:
		h.signOut(c, t, params)
	case "":
		h.plainError(c, http.StatusBadRequest, "invalid WS-Federation request", errors.New("no wa parameter"))
	default:
		h.plainError(c, http.StatusBadRequest, "unsupported WS-Federation action", fmt.Errorf("wa %.64q", params.Get(paramAction)))
	}
}

// params reads the query (GET) or the form (POST), refusing oversized, repeated and non-UTF-8
// parameters.
func (h *Handler) params(c *gin.Context) (url.Values, error) {
	r := c.Request
	if len(r.URL.RawQuery) > maxQueryBytes {
		return nil, errors.New("query too long")
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("form content type %.64q", r.Header.Get("Content-Type"))
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("form: %w", err)
		}
		for k, vs := range r.PostForm {
			v[k] = append(v[k], vs...)
		}
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, fmt.Errorf("parameter %.64q repeated", k)
		}
		if !utf8.ValidString(vs[0]) {
			return nil, fmt.Errorf("parameter %.64q is not UTF-8", k)
		}
	}
	return v, nil
}

// signIn handles wa=wsignin1.0: the realm names a registered relying party, wreply (when
// present) must equal one of its reply URLs, wfresh=0 forces authentication (a positive wfresh
// is a maximum age in minutes, WS-Federation 1.2 §13.2.2); whr, wauth, wct are ignored.
func (h *Handler) signIn(c *gin.Context, t tenant, params url.Values) {
	ctx := c.Request.Context()
	realm, reply, wctx := params.Get(paramRealm), params.Get(paramReply), params.Get(paramContext)
	if realm == "" || len(realm) > maxRealm || len(reply) > maxReply || len(wctx) > maxContext {
		h.plainError(c, http.StatusBadRequest, "invalid WS-Federation request", errors.New("wtrealm missing, or a parameter too long"))
		return
	}
	rp, err := h.cfg.Store.WSFedRelyingPartyByRealm(ctx, t.org.ID, realm)
	if errors.Is(err, store.ErrNotFound) {
		h.plainError(c, http.StatusBadRequest, "unknown relying party", fmt.Errorf("realm %q", realm))
		return
	}
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	if reply == "" {
		reply = rp.DefaultReply()
	} else if !registered(rp, reply) {
		h.plainError(c, http.StatusBadRequest, "unregistered reply URL", fmt.Errorf("realm %q: wreply %q", realm, reply))
		return
	}
	lr := flows.LoginRequest{Protocol: ProtocolWSFed, ClientID: rp.Realm, HTTP: scriptRequest(c, params)}
	if f := params.Get(paramFresh); f != "" {
		n, err := strconv.ParseInt(f, 10, 64)
		switch {
		case err != nil || n < 0:
			h.plainError(c, http.StatusBadRequest, "invalid WS-Federation request", fmt.Errorf("wfresh %.32q", f))
			return
		case n == 0:
			lr.ForceAuth = true
		case n < 1<<31:
			secs := n * 60
			lr.MaxAge = &secs
		}
	}
	app, err := h.cfg.Store.Application(ctx, rp.ApplicationID)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	st := loginState{Tenant: t.domain, Prefix: t.prefix, Realm: rp.Realm, Reply: reply, Context: wctx}
	h.cfg.Logins.BeginBrowserLogin(c, flows.LoginInput{Application: authn.LoginApplication(app, t.domain), Request: lr}, st)
}

// registered reports whether reply is one of rp's reply URLs (exact comparison).
func registered(rp store.WSFedRelyingParty, reply string) bool {
	return slices.Contains(rp.ReplyURLs, reply)
}

// clearCookie expires the SSO cookie with the attributes api/authn sets it with.
func (h *Handler) clearCookie(c *gin.Context) {
	secure := h.base.Scheme == "https"
	ss := http.SameSiteLaxMode
	if secure {
		ss = http.SameSiteNoneMode
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: h.cfg.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: ss})
}

// scriptRequest is the HTTP request as scripts see it (context.request): the client address, a
// few headers and the non-secret parameters (wtrealm, wreply, whr).
func scriptRequest(c *gin.Context, params url.Values) scripting.Request {
	r := scripting.Request{IP: c.ClientIP(), Headers: map[string]string{}}
	for _, k := range []string{"User-Agent", "Accept-Language", "Origin"} {
		if v := c.GetHeader(k); v != "" {
			r.Headers[strings.ToLower(k)] = v
		}
	}
	for _, k := range []string{paramRealm, paramReply, "whr"} {
		if v := params.Get(k); v != "" {
			if r.Params == nil {
				r.Params = map[string][]string{}
			}
			r.Params[k] = []string{v}
		}
	}
	return r
}
