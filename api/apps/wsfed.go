package apps

import (
	"context"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// passiveSTSConfig is WSO2's PassiveStsConfiguration (the WS-Federation inbound protocol):
// realm (wtrealm) and replyTo (where tokens go), plus Keyflow's replyToLogout (where sign-out may
// send the browser) and tokenType (SAML11, the default, or SAML20).
type passiveSTSConfig struct {
	Realm         string `json:"realm"`
	ReplyTo       string `json:"replyTo"`
	ReplyToLogout string `json:"replyToLogout,omitempty"`
	TokenType     string `json:"tokenType,omitempty"`
}

// Token types of passiveSTSConfig.
var passiveSTSTokenTypes = map[string]string{"": store.WSFedTokenSAML11, "SAML11": store.WSFedTokenSAML11, "SAML20": store.WSFedTokenSAML20}

func (b passiveSTSConfig) relyingParty(applicationID string) (store.WSFedRelyingParty, error) {
	if b.Realm == "" {
		return store.WSFedRelyingParty{}, badRequest("realm is required.")
	}
	absolute := func(u string) bool {
		p, err := url.Parse(u)
		return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != "" && p.Fragment == ""
	}
	if !absolute(b.ReplyTo) || (b.ReplyToLogout != "" && !absolute(b.ReplyToLogout)) {
		return store.WSFedRelyingParty{}, badRequest("replyTo (required) and replyToLogout must be absolute http(s) URLs without a fragment.")
	}
	tt, ok := passiveSTSTokenTypes[b.TokenType]
	if !ok {
		return store.WSFedRelyingParty{}, badRequest("tokenType must be SAML11 or SAML20.")
	}
	rp := store.WSFedRelyingParty{ApplicationID: applicationID, Realm: b.Realm, ReplyURLs: []string{b.ReplyTo},
		DefaultReplyURL: b.ReplyTo, LogoutReplyURL: b.ReplyToLogout, TokenType: tt}
	if err := rp.Validate(); err != nil {
		return store.WSFedRelyingParty{}, badRequest("%s.", upperFirst(err.Error()))
	}
	return rp, nil
}

func viewPassiveSTS(rp store.WSFedRelyingParty) passiveSTSConfig {
	out := passiveSTSConfig{Realm: rp.Realm, ReplyTo: rp.DefaultReplyURL, ReplyToLogout: rp.LogoutReplyURL, TokenType: "SAML11"}
	if out.ReplyTo == "" && len(rp.ReplyURLs) > 0 {
		out.ReplyTo = rp.ReplyURLs[0]
	}
	if rp.TokenType == store.WSFedTokenSAML20 {
		out.TokenType = "SAML20"
	}
	return out
}

func (h *Handler) getPassiveSTS(c *gin.Context) {
	getInbound(h, c, h.cfg.Store.WSFedRelyingPartyByApplication, viewPassiveSTS)
}

// putPassiveSTS creates or replaces the application's WS-Federation relying party (201 with
// Location when created, 200 when replaced), in one transaction.
func (h *Handler) putPassiveSTS(c *gin.Context) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	var b passiveSTSConfig
	if !h.decode(c, &b) {
		return
	}
	rp, err := b.relyingParty(a.ID)
	if err != nil {
		h.failErr(c, err)
		return
	}
	h.replaceInbound(c, a.ID, "/inbound-protocols/passive-sts", wsfedRows[*store.Tx](),
		func(ctx context.Context, tx *store.Tx, actor store.Actor) error {
			_, err := tx.CreateWSFedRelyingParty(ctx, store.NewWSFedRelyingParty{WSFedRelyingParty: rp, Actor: actor})
			return err
		})
}

func (h *Handler) deletePassiveSTS(c *gin.Context) { h.deleteInbound(c, wsfedRows[Store]()) }
