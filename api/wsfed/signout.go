package wsfed

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// SessionEnder follows the end of an SSO session for its other participants: it logs them out
// and returns the front-channel logout URLs the browser must load. *oidclogout.Handler
// implements it for OIDC relying parties (tokens revoked, back-channel and front-channel
// logout), *saml.Handler for SAML service providers with a back-channel (SOAP) single logout
// service; saml.Enders combines them.
type SessionEnder interface {
	SessionEnded(ctx context.Context, s store.SSOSession) []string
}

// SAMLFrontChannel prepares the browser's walk through the front-channel SAML service providers
// of a session that ended; *saml.Handler implements it.
type SAMLFrontChannel interface {
	// FrontChannelLogout returns the URL the browser visits next ("" when there is no SP to
	// visit); the walk ends at returnTo, or a signed-out page when it is "".
	FrontChannelLogout(ctx context.Context, s store.SSOSession, returnTo string) (string, error)
}

// signOut handles wa=wsignout1.0 and wa=wsignoutcleanup1.0 (WS-Federation 1.2 §13.2.4). Both
// end the browser's SSO session and clear its cookie; an unregistered wreply is refused before
// anything ends.
//
// wsignout1.0 then signs the session's other relying parties out: each other WS-Federation
// relying party gets a wsignoutcleanup1.0 GET (an image) at its logout reply URL (else its
// default reply URL), and the OIDC relying parties their front-channel iframes (Config.Ended,
// which also sends back-channel logout); the page goes on to wreply once they loaded. With
// Config.Ended = saml.Enders{oidcLogout, samlIdP}, the session's SAML service providers with a
// back-channel (SOAP) single logout service get signed LogoutRequests too; with Config.SAML,
// the page then goes on to the SAML IdP, which walks the browser through the front-channel
// SAML SPs (signed LogoutRequest, LogoutResponse back) and ends at wreply.
//
// wsignoutcleanup1.0 is the cleanup a relying party (or another STS) asks for: it ends the
// session and notifies no one — that is what keeps sign-outs from looping between parties —
// and answers with a small image (§13.2.4: a cleanup response "SHOULD" be an image), or a
// redirect to a registered wreply.
func (h *Handler) signOut(c *gin.Context, t tenant, params url.Values) {
	reply, realm := params.Get(paramReply), params.Get(paramRealm)
	if len(reply) > maxReply || len(realm) > maxRealm {
		h.plainError(c, http.StatusBadRequest, "invalid WS-Federation request", errors.New("parameter too long"))
		return
	}
	if reply != "" {
		ok, err := h.replyForSignOut(c, t, realm, reply)
		if err != nil {
			h.plainError(c, http.StatusInternalServerError, "internal error", err)
			return
		}
		if !ok {
			h.plainError(c, http.StatusBadRequest, "unregistered reply URL", fmt.Errorf("sign-out wreply %q (realm %q)", reply, realm))
			return
		}
	}
	s, err := h.endSession(c, t)
	if err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	h.clearCookie(c)
	securityHeaders(c)
	if params.Get(paramAction) == actionSignOutCleanup {
		if reply != "" {
			c.Redirect(http.StatusSeeOther, reply)
			return
		}
		c.Header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		c.Data(http.StatusOK, "image/gif", cleanupImage)
		return
	}
	var images, frames []string
	next := reply
	if s.ID != "" {
		ctx := c.Request.Context()
		images = h.cleanupURLs(ctx, t, s, realm, reply)
		if h.cfg.Ended != nil {
			frames = h.cfg.Ended.SessionEnded(ctx, s)
		}
		if h.cfg.SAML != nil {
			// The front-channel SAML SPs come after this page, then wreply.
			u, err := h.cfg.SAML.FrontChannelLogout(ctx, s, reply)
			if err != nil {
				h.log.ErrorContext(ctx, "wsfed: SAML front-channel logout not started", "session", s.ID, "error", err)
			} else if u != "" {
				next = u
			}
		}
	}
	if len(images) == 0 && len(frames) == 0 && next != "" {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	var b strings.Builder
	if err := signedOutTemplate.Execute(&b, signedOutPage{Images: images, Frames: frames, Next: next}); err != nil {
		h.plainError(c, http.StatusInternalServerError, "internal error", err)
		return
	}
	c.Header("Content-Security-Policy", "default-src 'none'; img-src "+origins(images)+"; frame-src "+origins(frames)+
		"; script-src "+signedOutScriptHash+"; frame-ancestors 'none'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(b.String()))
}

// cleanupImage is a transparent 1×1 GIF.
var cleanupImage, _ = base64.StdEncoding.DecodeString("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

// cleanupURLs are the wsignoutcleanup1.0 URLs of session s's WS-Federation relying parties
// other than the one signing out (realm, or without it the owner of reply).
func (h *Handler) cleanupURLs(ctx context.Context, t tenant, s store.SSOSession, realm, reply string) []string {
	return cleanupURLs(ctx, h.cfg.Store, h.log, t.org.ID, s, realm, reply)
}

// RelyingParties finds WS-Federation relying parties; *store.Store implements it.
type RelyingParties interface {
	// WSFedRelyingPartyByRealm finds a relying party of an organization (store.ErrNotFound).
	WSFedRelyingPartyByRealm(ctx context.Context, orgID, realm string) (store.WSFedRelyingParty, error)
}

// Cleanup tells the WS-Federation relying parties of an SSO session that ended some other way
// (SAML single logout; saml.Config.Ended) to sign out: its SessionEnded returns their
// wsignoutcleanup1.0 URLs for the browser to load (as wsignout1.0 does among relying parties).
// It needs nothing but the store, so that api/saml can be built before this package's Handler.
type Cleanup struct {
	Store RelyingParties
	// Logger; nil discards.
	Logger *slog.Logger
}

// SessionEnded returns the wsignoutcleanup1.0 URLs of session s's WS-Federation relying
// parties.
func (c Cleanup) SessionEnded(ctx context.Context, s store.SSOSession) []string {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return cleanupURLs(ctx, c.Store, log, s.OrgID, s, "", "")
}

func cleanupURLs(ctx context.Context, st RelyingParties, log *slog.Logger, orgID string, s store.SSOSession, realm, reply string) []string {
	var out []string
	for _, p := range s.Participants {
		if p.Protocol != ProtocolWSFed || (realm != "" && p.RelyingParty == realm) {
			continue
		}
		rp, err := st.WSFedRelyingPartyByRealm(ctx, orgID, p.RelyingParty)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				log.ErrorContext(ctx, "wsfed: sign-out participant look-up failed", "realm", p.RelyingParty, "error", err)
			}
			continue
		}
		if realm == "" && reply != "" && (registered(rp, reply) || rp.LogoutReplyURL == reply) {
			// Without wtrealm, the relying party whose reply URL the sign-out returns to is the
			// one signing out: it needs no cleanup request.
			continue
		}
		target := rp.LogoutReplyURL
		if target == "" {
			target = rp.DefaultReplyURL
		}
		if target == "" && len(rp.ReplyURLs) > 0 {
			target = rp.ReplyURLs[0]
		}
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		q := u.Query()
		q.Set(paramAction, actionSignOutCleanup)
		u.RawQuery = q.Encode()
		if v := u.String(); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// signedOutPage is the page of a wsignout1.0: cleanup images, OIDC front-channel frames, then
// wreply (Next) when given.
type signedOutPage struct {
	Images, Frames []string
	Next           string
}

// signedOutScript follows the link once the images and frames loaded (or failed), at most
// after 3 s; the page's CSP allows exactly this script by its hash.
const signedOutScript = `(function(){var a=document.getElementById("next");if(!a)return;` +
	`var e=document.querySelectorAll("img,iframe"),n=e.length,d=false;function go(){if(!d){d=true;location.replace(a.href)}}` +
	`if(!n){go();return}e.forEach(function(x){var f=function(){if(--n<=0)go()};x.addEventListener("load",f);x.addEventListener("error",f)});` +
	`setTimeout(go,3000)})();`

var (
	signedOutScriptHash = func() string {
		sum := sha256.Sum256([]byte(signedOutScript))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}()
	signedOutTemplate = template.Must(template.New("signedout").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signed out</title></head>
<body><p>You have been signed out.</p>
{{range .Images}}<img src="{{.}}" alt="" width="1" height="1">
{{end}}{{range .Frames}}<iframe src="{{.}}" hidden></iframe>
{{end}}{{if .Next}}<p><a id="next" href="{{.Next}}">Continue</a></p>
{{end}}<script>` + signedOutScript + `</script>
</body></html>
`))
)

// origins is a CSP source list of the URLs' origins, 'none' without any.
func origins(urls []string) string {
	var out []string
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			continue
		}
		if o := u.Scheme + "://" + u.Host; !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return "'none'"
	}
	return strings.Join(out, " ")
}

// replyForSignOut reports whether reply is registered: by the relying party of realm when
// given, else by any relying party of the tenant.
func (h *Handler) replyForSignOut(c *gin.Context, t tenant, realm, reply string) (bool, error) {
	ctx := c.Request.Context()
	if realm == "" {
		return h.cfg.Store.WSFedReplyURLRegistered(ctx, t.org.ID, reply)
	}
	rp, err := h.cfg.Store.WSFedRelyingPartyByRealm(ctx, t.org.ID, realm)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return registered(rp, reply) || (rp.LogoutReplyURL != "" && rp.LogoutReplyURL == reply), nil
}

// endSession terminates the browser's live SSO session in the tenant, if any, and returns it
// with its participants (the zero session when there was none).
func (h *Handler) endSession(c *gin.Context, t tenant) (store.SSOSession, error) {
	ctx := c.Request.Context()
	token, err := c.Cookie(h.cfg.CookieName)
	if err != nil || token == "" || len(token) > 128 {
		return store.SSOSession{}, nil
	}
	sum := sha256.Sum256([]byte(token))
	s, err := h.cfg.Store.SSOSessionByToken(ctx, sum[:], h.cfg.Now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && s.OrgID != t.org.ID) {
		return store.SSOSession{}, nil
	}
	if err != nil {
		return store.SSOSession{}, fmt.Errorf("wsfed: session look-up: %w", err)
	}
	var actor store.Actor // the system, for a federated subject without a local user
	if s.UserID != "" {
		actor = store.Actor{Type: store.ActorUser, ID: s.UserID}
	}
	ended, err := h.cfg.Store.TerminateSSOSession(ctx, s.ID, "", h.cfg.Now(), actor)
	if errors.Is(err, store.ErrNotFound) {
		return store.SSOSession{}, nil
	}
	if err != nil {
		return store.SSOSession{}, fmt.Errorf("wsfed: terminate session: %w", err)
	}
	h.log.InfoContext(ctx, "wsfed: session ended", "session", ended.ID)
	return ended, nil
}
