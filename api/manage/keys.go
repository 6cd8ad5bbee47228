package manage

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the key APIs, WSO2's keystore names.
const (
	ScopeKeysView   = "internal_keystore_view"
	ScopeKeysUpdate = "internal_keystore_update"
)

// AuditKeysRotate records who asked for a signing key rotation (the store records the
// rotation itself as store.AuditOAuth2SigningKeysRotate).
const AuditKeysRotate = "signing_keys.rotate_request"

var (
	errKeyAlg = Error{Status: http.StatusBadRequest, Code: "KSS-60003", Message: "Unknown algorithm",
		Description: "alg must be one of the configured signing algorithms."}
	errRotateConflict = Error{Status: http.StatusConflict, Code: "KSS-60004", Message: "Rotation in progress",
		Description: "Another rotation of this algorithm happened at the same time; retry."}
	errNoCert = Error{Status: http.StatusNotFound, Code: "KSS-60002", Message: "Certificate not found",
		Description: "The organization has no SAML signing certificate yet; it is made on first SAML use."}
)

func (h *Handler) registerKeys(g *gin.RouterGroup) {
	a := h.keys.auth
	g.GET("/keys", a.Need(ScopeKeysView, bearer.Admin), h.listKeys)
	if h.cfg.Keys != nil {
		g.POST("/keys/rotate", a.Need(ScopeKeysUpdate, bearer.Admin), h.rotateKeys)
	}
	g.GET("/keystores/certs/public", a.Need(ScopeKeysView, bearer.Admin), h.publicCert)
}

// keyView is a signing key as listed: public material and lifecycle only.
type keyView struct {
	KID         string          `json:"kid"`
	Alg         string          `json:"alg"`
	Status      string          `json:"status"`
	Use         string          `json:"use"`
	CreatedAt   string          `json:"createdAt"`
	ActivatedAt string          `json:"activatedAt,omitempty"`
	RetiredAt   string          `json:"retiredAt,omitempty"`
	PublicKey   json.RawMessage `json:"publicKey"`
}

func (h *Handler) listKeys(c *gin.Context) {
	ks, err := h.cfg.Store.OAuth2SigningKeys(c.Request.Context())
	if err != nil {
		fail(h.keys, c, h.keys.server, err)
		return
	}
	out := make([]keyView, 0, len(ks))
	for _, k := range ks {
		// Only the public JWK and the lifecycle leave: never PrivateKey (sealed) or KEKID.
		out = append(out, keyView{KID: k.KID, Alg: k.Alg, Status: string(k.State), Use: "sig",
			CreatedAt: fmtTime(k.CreatedAt), ActivatedAt: fmtTime(k.ActivatedAt), RetiredAt: fmtTime(k.RetiredAt),
			PublicKey: k.PublicJWK})
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (h *Handler) rotateKeys(c *gin.Context) {
	var b struct {
		Alg string `json:"alg"`
	}
	if c.Request.ContentLength != 0 {
		if !decode(h.keys, c, &b) {
			return
		}
	}
	if b.Alg == "" {
		b.Alg = c.Query("alg")
	}
	if !slices.Contains(h.cfg.Keys.Algorithms(), b.Alg) {
		fail(h.keys, c, errKeyAlg.With("alg must be one of "+strings.Join(h.cfg.Keys.Algorithms(), ", ")+"."), nil)
		return
	}
	ctx := c.Request.Context()
	if err := h.cfg.Keys.Rotate(ctx, b.Alg); err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(h.keys, c, errRotateConflict, nil)
			return
		}
		fail(h.keys, c, h.keys.server, err)
		return
	}
	if err := h.cfg.Store.RecordAudit(ctx, store.AuditRecord{OrgID: orgID(c), Actor: actor(c), Action: AuditKeysRotate,
		TargetType: "signing_keys", TargetID: b.Alg, After: map[string]string{"alg": b.Alg}}); err != nil {
		// The rotation happened; the store recorded it too. Report the missing actor record.
		h.log.ErrorContext(ctx, "manage: audit of key rotation failed", "alg", b.Alg, "error", err)
	}
	h.listKeys(c)
}

// publicCert is WSO2's GET /keystores/certs/public: the organization's (SAML) signing
// certificate as a JSON string, base64 of the PEM unless encode-cert=false.
func (h *Handler) publicCert(c *gin.Context) {
	encode := true
	if s := c.Query("encode-cert"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			fail(h.keys, c, h.keys.invalid.With("encode-cert must be true or false."), nil)
			return
		}
		encode = v
	}
	k, err := h.cfg.Store.SAMLSigningKey(c.Request.Context(), orgID(c))
	if errors.Is(err, store.ErrNotFound) {
		fail(h.keys, c, errNoCert, nil)
		return
	}
	if err != nil {
		fail(h.keys, c, h.keys.server, err)
		return
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate})
	if encode {
		c.JSON(http.StatusOK, base64.StdEncoding.EncodeToString(p))
		return
	}
	c.JSON(http.StatusOK, string(p))
}
