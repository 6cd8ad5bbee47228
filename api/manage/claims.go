package manage

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the claim management API, WSO2's names.
const (
	ScopeClaimView   = "internal_claim_meta_view"
	ScopeClaimCreate = "internal_claim_meta_create"
	ScopeClaimUpdate = "internal_claim_meta_update"
	ScopeClaimDelete = "internal_claim_meta_delete"
)

// localDialectID is WSO2's id of the local dialect.
const localDialectID = "local"

// WSO2's claim management error codes (Constant.ErrorMessage of the claim API).
var (
	errDialectNotFound  = Error{Status: http.StatusNotFound, Code: "CMT-50016", Message: "Resource not found.", Description: "Unable to find a resource matching the provided claim dialect identifier."}
	errExternalNotFound = Error{Status: http.StatusNotFound, Code: "CMT-50018", Message: "Resource not found.", Description: "Unable to find a resource matching the provided external claim identifier."}
	errLocalNotFound    = Error{Status: http.StatusNotFound, Code: "CMT-50019", Message: "Resource not found.", Description: "Unable to find a resource matching the provided local claim identifier."}
	errExternalURIFixed = Error{Status: http.StatusConflict, Code: "CMT-50020", Message: "Unable to update external claim.", Description: "Existing external claim uri cannot be changed."}
	errLocalURIFixed    = Error{Status: http.StatusConflict, Code: "CMT-50021", Message: "Unable to update local claim.", Description: "Existing local claim uri cannot be changed."}
	errPagingNotImpl    = Error{Status: http.StatusNotImplemented, Code: "CMT-50022", Message: "Pagination not supported.", Description: "Pagination capabilities are not supported in this version of the API."}
	errFilterNotImpl    = Error{Status: http.StatusNotImplemented, Code: "CMT-50023", Message: "Filtering not supported.", Description: "Filtering capability is not supported in this version of the API."}
	errSortNotImpl      = Error{Status: http.StatusNotImplemented, Code: "CMT-50024", Message: "Sorting not supported.", Description: "Sorting capability is not supported in this version of the API."}
	errEmptyDialect     = Error{Status: http.StatusBadRequest, Code: "CMT-50028", Message: "Empty claim dialect URI.", Description: "Claim dialect URI cannot be empty."}
	errEmptyLocalURI    = Error{Status: http.StatusBadRequest, Code: "CMT-50029", Message: "Empty local claim URI.", Description: "Local claim URI cannot be empty."}
	errEmptyMapped      = Error{Status: http.StatusBadRequest, Code: "CMT-50030", Message: "Empty mapped attributes.", Description: "Mapped attributes cannot be empty."}
	errLocalHasMapped   = Error{Status: http.StatusBadRequest, Code: "CMT-50031", Message: "Unable to remove local claim.", Description: "Unable to remove local claim while having associations with external claims."}
	errEmptyExternalURI = Error{Status: http.StatusBadRequest, Code: "CMT-50032", Message: "Empty external claim URI.", Description: "External claim URI cannot be empty."}
	errLocalAsExternal  = Error{Status: http.StatusBadRequest, Code: "CMT-50033", Message: "Invalid external claim dialect.", Description: "The provided claim dialect is the local claim dialect and cannot be used as an external dialect."}
	errEmptyMappedLocal = Error{Status: http.StatusBadRequest, Code: "CMT-50035", Message: "Empty mapped local claim URI.", Description: "Mapped local claim URI cannot be empty."}
	errInvalidMapped    = Error{Status: http.StatusBadRequest, Code: "CMT-50036", Message: "Invalid mapped local claim URI.", Description: "Mapped local claim URI is invalid."}
	errInvalidInput     = Error{Status: http.StatusBadRequest, Code: "CMT-50037", Message: "Invalid input.", Description: "One of the given inputs is invalid."}
	errExternalExists   = Error{Status: http.StatusConflict, Code: "CMT-50038", Message: "Unable to add external claim.", Description: "External claim URI already exists. External claim URI must be unique."}
	errLocalExists      = Error{Status: http.StatusConflict, Code: "CMT-50039", Message: "Unable to add local claim.", Description: "Local claim URI already exists. Local claim URI must be unique."}
	errDisplayName      = Error{Status: http.StatusBadRequest, Code: "CMT-60003", Message: "Empty display name", Description: "Claim display name is not specified in the request"}
	errUserStoreEmpty   = Error{Status: http.StatusBadRequest, Code: "CMT-60005", Message: "Userstore not specified", Description: "Mapped userstore cannot be empty"}
	errNoMappings       = Error{Status: http.StatusBadRequest, Code: "CMT-60006", Message: "Attribute mapping not specified", Description: "Attribute mapping cannot be empty"}
	// errDialectExists has no WSO2 equivalent code (WSO2 answers a generic 409).
	errDialectExists = Error{Status: http.StatusConflict, Code: "CMT-50053", Message: "Unable to add claim dialect.", Description: "A claim dialect with the same URI already exists."}
)

func (h *Handler) registerClaims(g *gin.RouterGroup) {
	a := h.claims.auth
	view, create := a.Need(ScopeClaimView, bearer.Admin), a.Need(ScopeClaimCreate, bearer.Admin)
	update, del := a.Need(ScopeClaimUpdate, bearer.Admin), a.Need(ScopeClaimDelete, bearer.Admin)
	g.GET("", view, h.listDialects)
	g.POST("", create, h.createDialect)
	g.GET("/:dialect", view, h.getDialect)
	g.PUT("/:dialect", update, h.putDialect)
	g.DELETE("/:dialect", del, h.deleteDialect)
	// The local dialect's claims share the routes of external claims ({dialect} = "local").
	g.GET("/:dialect/claims", view, h.listClaims)
	g.POST("/:dialect/claims", create, h.createClaim)
	g.GET("/:dialect/claims/:claim", view, h.getClaim)
	g.PUT("/:dialect/claims/:claim", update, h.putClaim)
	g.DELETE("/:dialect/claims/:claim", del, h.deleteClaim)
}

// encodeID is WSO2's identifier of a dialect or claim: the URI in unpadded base64url.
func encodeID(uri string) string { return base64.RawURLEncoding.EncodeToString([]byte(uri)) }

func decodeID(id string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

func dialectID(uri string) string {
	if uri == store.LocalDialect {
		return localDialectID
	}
	return encodeID(uri)
}

// dialectOf decodes the path's dialect id; "local" is the local dialect.
func (h *Handler) dialectOf(c *gin.Context) (string, bool) {
	id := c.Param("dialect")
	if id == localDialectID {
		return store.LocalDialect, true
	}
	uri, ok := decodeID(id)
	if !ok {
		fail(h.claims, c, errDialectNotFound, nil)
	}
	return uri, ok
}

// noPaging refuses the listing parameters WSO2's claim API does not implement either.
func (h *Handler) noPaging(c *gin.Context) bool {
	q := c.Request.URL.Query()
	switch {
	case q.Has("limit") || q.Has("offset"):
		fail(h.claims, c, errPagingNotImpl, nil)
	case q.Has("filter"):
		fail(h.claims, c, errFilterNotImpl, nil)
	case q.Has("sort"):
		fail(h.claims, c, errSortNotImpl, nil)
	default:
		return true
	}
	return false
}

func (h *Handler) claimsURL(parts ...string) string {
	return h.cfg.BaseURL + Prefix + "/claim-dialects/" + strings.Join(parts, "/")
}

type dialectRes struct {
	ID         string `json:"id"`
	DialectURI string `json:"dialectURI"`
	Link       link   `json:"link"`
}

func (h *Handler) viewDialect(uri string) dialectRes {
	id := dialectID(uri)
	return dialectRes{ID: id, DialectURI: uri, Link: link{Href: h.claimsURL(id, "claims"), Rel: "claims"}}
}

func (h *Handler) listDialects(c *gin.Context) {
	if !h.noPaging(c) {
		return
	}
	uris, err := h.cfg.Store.ClaimDialects(c.Request.Context(), orgID(c))
	if err != nil {
		fail(h.claims, c, h.claims.server, err)
		return
	}
	out := make([]dialectRes, len(uris))
	for i, u := range uris {
		out[i] = h.viewDialect(u)
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) getDialect(c *gin.Context) {
	uri, ok := h.dialectOf(c)
	if !ok {
		return
	}
	if err := h.cfg.Store.HasClaimDialect(c.Request.Context(), orgID(c), uri); err != nil {
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	c.JSON(http.StatusOK, h.viewDialect(uri))
}

// dialectBody reads WSO2's ClaimDialectReq.
func (h *Handler) dialectBody(c *gin.Context) (string, bool) {
	var b struct {
		DialectURI string `json:"dialectURI"`
	}
	if !decode(h.claims, c, &b) {
		return "", false
	}
	uri := strings.TrimSpace(b.DialectURI)
	switch {
	case uri == "":
		fail(h.claims, c, errEmptyDialect, nil)
		return "", false
	case !utf8.ValidString(uri) || utf8.RuneCountInString(uri) > 255:
		fail(h.claims, c, errInvalidInput.With("dialectURI must be at most 255 characters."), nil)
		return "", false
	case uri == store.LocalDialect:
		fail(h.claims, c, errLocalAsExternal, nil)
		return "", false
	}
	return uri, true
}

func (h *Handler) createDialect(c *gin.Context) {
	uri, ok := h.dialectBody(c)
	if !ok {
		return
	}
	if err := h.cfg.Store.CreateClaimDialect(c.Request.Context(), orgID(c), uri, actor(c)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(h.claims, c, errDialectExists, nil)
			return
		}
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	c.Header("Location", h.claimsURL(dialectID(uri)))
	c.Status(http.StatusCreated)
}

// putDialect renames a dialect (WSO2's updateClaimDialect); its claims move with it.
func (h *Handler) putDialect(c *gin.Context) {
	uri, ok := h.dialectOf(c)
	if !ok {
		return
	}
	if uri == store.LocalDialect {
		fail(h.claims, c, errLocalAsExternal.With("The local claim dialect cannot be renamed."), nil)
		return
	}
	newURI, ok := h.dialectBody(c)
	if !ok {
		return
	}
	if err := h.cfg.Store.RenameClaimDialect(c.Request.Context(), orgID(c), uri, newURI, actor(c)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(h.claims, c, errDialectExists, nil)
			return
		}
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	c.Header("Location", h.claimsURL(dialectID(newURI)))
	c.Status(http.StatusOK)
}

func (h *Handler) deleteDialect(c *gin.Context) {
	uri, ok := h.dialectOf(c)
	if !ok {
		return
	}
	if uri == store.LocalDialect {
		fail(h.claims, c, errLocalAsExternal.With("The local claim dialect cannot be deleted."), nil)
		return
	}
	if err := h.cfg.Store.DeleteClaimDialect(c.Request.Context(), orgID(c), uri, actor(c)); err != nil {
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}

// claimErr writes a store error: not found as notFound, anything else as 500.
func (h *Handler) claimErr(c *gin.Context, err error, notFound Error) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		fail(h.claims, c, re.e, nil)
	case errors.Is(err, store.ErrNotFound):
		fail(h.claims, c, notFound, nil)
	default:
		fail(h.claims, c, h.claims.server, err)
	}
}

// localClaimBody is WSO2's LocalClaimReq (and, with id and dialectURI, LocalClaimRes).
type localClaimBody struct {
	ID                 string                   `json:"id,omitempty"`
	ClaimURI           string                   `json:"claimURI"`
	DialectURI         string                   `json:"dialectURI,omitempty"`
	Description        string                   `json:"description"`
	DisplayOrder       int                      `json:"displayOrder"`
	DisplayName        string                   `json:"displayName"`
	ReadOnly           bool                     `json:"readOnly"`
	RegEx              string                   `json:"regEx"`
	Required           bool                     `json:"required"`
	SupportedByDefault bool                     `json:"supportedByDefault"`
	AttributeMapping   []store.AttributeMapping `json:"attributeMapping"`
	Properties         []store.ClaimProperty    `json:"properties"`
}

func viewLocal(l store.LocalClaim) localClaimBody {
	out := localClaimBody{ID: encodeID(l.URI), ClaimURI: l.URI, DialectURI: store.LocalDialect,
		Description: l.Description, DisplayOrder: l.DisplayOrder, DisplayName: l.DisplayName, ReadOnly: l.ReadOnly,
		RegEx: l.RegEx, Required: l.Required, SupportedByDefault: l.SupportedByDefault,
		AttributeMapping: l.AttributeMappings, Properties: l.Properties}
	if out.AttributeMapping == nil {
		out.AttributeMapping = []store.AttributeMapping{}
	}
	if out.Properties == nil {
		out.Properties = []store.ClaimProperty{}
	}
	return out
}

func (b localClaimBody) claim(org string) (store.LocalClaim, error) {
	l := store.LocalClaim{OrgID: org, URI: strings.TrimSpace(b.ClaimURI), DisplayName: strings.TrimSpace(b.DisplayName),
		Description: b.Description, DisplayOrder: b.DisplayOrder, ReadOnly: b.ReadOnly, Required: b.Required,
		SupportedByDefault: b.SupportedByDefault, RegEx: b.RegEx, AttributeMappings: b.AttributeMapping,
		Properties: b.Properties}
	switch {
	case l.URI == "":
		return l, &requestError{errEmptyLocalURI}
	case !utf8.ValidString(l.URI) || utf8.RuneCountInString(l.URI) > 255:
		return l, &requestError{errInvalidInput.With("claimURI must be at most 255 characters.")}
	case l.DisplayName == "":
		return l, &requestError{errDisplayName}
	case !utf8.ValidString(l.DisplayName) || utf8.RuneCountInString(l.DisplayName) > 255 ||
		strings.ContainsFunc(l.DisplayName, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return l, &requestError{errInvalidInput.With("displayName must be at most 255 characters, no control characters.")}
	case !utf8.ValidString(l.Description) || utf8.RuneCountInString(l.Description) > 1024 ||
		!utf8.ValidString(l.RegEx) || utf8.RuneCountInString(l.RegEx) > 1024:
		return l, &requestError{errInvalidInput.With("description and regEx must be at most 1024 characters.")}
	case len(l.AttributeMappings) == 0:
		return l, &requestError{errNoMappings}
	}
	for i, m := range l.AttributeMappings {
		m.UserStore = strings.ToUpper(strings.TrimSpace(m.UserStore))
		m.MappedAttribute = strings.TrimSpace(m.MappedAttribute)
		switch {
		case m.UserStore == "":
			return l, &requestError{errUserStoreEmpty}
		case m.MappedAttribute == "":
			return l, &requestError{errEmptyMapped}
		}
		l.AttributeMappings[i] = m
	}
	for _, p := range l.Properties {
		if p.Key == "" {
			return l, &requestError{errInvalidInput.With("Every property needs a key.")}
		}
	}
	return l, nil
}

type externalClaimBody struct {
	ID                  string `json:"id,omitempty"`
	ClaimURI            string `json:"claimURI"`
	ClaimDialectURI     string `json:"claimDialectURI,omitempty"`
	MappedLocalClaimURI string `json:"mappedLocalClaimURI"`
}

func viewExternal(e store.ExternalClaim) externalClaimBody {
	return externalClaimBody{ID: encodeID(e.URI), ClaimURI: e.URI, ClaimDialectURI: e.DialectURI,
		MappedLocalClaimURI: e.MappedLocalURI}
}

func (h *Handler) listClaims(c *gin.Context) {
	uri, ok := h.dialectOf(c)
	if !ok || !h.noPaging(c) {
		return
	}
	ctx := c.Request.Context()
	if uri == store.LocalDialect {
		list, err := h.cfg.Store.LocalClaims(ctx, orgID(c))
		if err != nil {
			fail(h.claims, c, h.claims.server, err)
			return
		}
		out := make([]localClaimBody, len(list))
		for i, l := range list {
			out[i] = viewLocal(l)
		}
		c.JSON(http.StatusOK, out)
		return
	}
	list, err := h.cfg.Store.ExternalClaims(ctx, orgID(c), uri)
	if err != nil {
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	out := make([]externalClaimBody, len(list))
	for i, e := range list {
		out[i] = viewExternal(e)
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) claimOf(c *gin.Context, notFound Error) (string, bool) {
	uri, ok := decodeID(c.Param("claim"))
	if !ok {
		fail(h.claims, c, notFound, nil)
	}
	return uri, ok
}

func (h *Handler) getClaim(c *gin.Context) {
	dialect, ok := h.dialectOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if dialect == store.LocalDialect {
		uri, ok := h.claimOf(c, errLocalNotFound)
		if !ok {
			return
		}
		l, err := h.cfg.Store.LocalClaim(ctx, orgID(c), uri)
		if err != nil {
			h.claimErr(c, err, errLocalNotFound)
			return
		}
		c.JSON(http.StatusOK, viewLocal(l))
		return
	}
	uri, ok := h.claimOf(c, errExternalNotFound)
	if !ok {
		return
	}
	e, err := h.cfg.Store.ExternalClaim(ctx, orgID(c), dialect, uri)
	if err != nil {
		h.claimErr(c, err, errExternalNotFound)
		return
	}
	c.JSON(http.StatusOK, viewExternal(e))
}

func (h *Handler) createClaim(c *gin.Context) {
	dialect, ok := h.dialectOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if dialect == store.LocalDialect {
		var b localClaimBody
		if !decode(h.claims, c, &b) {
			return
		}
		l, err := b.claim(orgID(c))
		if err == nil {
			_, err = h.cfg.Store.CreateLocalClaim(ctx, l, actor(c))
		}
		if errors.Is(err, store.ErrConflict) {
			fail(h.claims, c, errLocalExists, nil)
			return
		}
		if err != nil {
			h.claimErr(c, err, errDialectNotFound)
			return
		}
		c.Header("Location", h.claimsURL(localDialectID, "claims", encodeID(l.URI)))
		c.Status(http.StatusCreated)
		return
	}
	var b externalClaimBody
	if !decode(h.claims, c, &b) {
		return
	}
	e, err := h.externalClaim(c, dialect, b)
	if err != nil {
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	if err := h.cfg.Store.HasClaimDialect(ctx, orgID(c), dialect); err != nil {
		h.claimErr(c, err, errDialectNotFound)
		return
	}
	if _, err := h.cfg.Store.CreateExternalClaim(ctx, e, actor(c)); err != nil {
		h.externalErr(c, err, errDialectNotFound)
		return
	}
	c.Header("Location", h.claimsURL(dialectID(dialect), "claims", encodeID(e.URI)))
	c.Status(http.StatusCreated)
}

func (h *Handler) externalClaim(c *gin.Context, dialect string, b externalClaimBody) (store.ExternalClaim, error) {
	e := store.ExternalClaim{OrgID: orgID(c), DialectURI: dialect, URI: strings.TrimSpace(b.ClaimURI),
		MappedLocalURI: strings.TrimSpace(b.MappedLocalClaimURI)}
	switch {
	case e.URI == "":
		return e, &requestError{errEmptyExternalURI}
	case !utf8.ValidString(e.URI) || utf8.RuneCountInString(e.URI) > 255:
		return e, &requestError{errInvalidInput.With("claimURI must be at most 255 characters.")}
	case e.MappedLocalURI == "":
		return e, &requestError{errEmptyMappedLocal}
	case !utf8.ValidString(e.MappedLocalURI):
		return e, &requestError{errInvalidMapped}
	}
	return e, nil
}

// externalErr writes an error of an external claim write.
func (h *Handler) externalErr(c *gin.Context, err error, notFound Error) {
	switch {
	case store.IsUnknownLocalClaim(err):
		fail(h.claims, c, errInvalidMapped, nil)
	case errors.Is(err, store.ErrConflict):
		fail(h.claims, c, errExternalExists, nil)
	default:
		h.claimErr(c, err, notFound)
	}
}

func (h *Handler) putClaim(c *gin.Context) {
	dialect, ok := h.dialectOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if dialect == store.LocalDialect {
		uri, ok := h.claimOf(c, errLocalNotFound)
		if !ok {
			return
		}
		var b localClaimBody
		if !decode(h.claims, c, &b) {
			return
		}
		l, err := b.claim(orgID(c))
		if err != nil {
			h.claimErr(c, err, errLocalNotFound)
			return
		}
		if l.URI != uri {
			fail(h.claims, c, errLocalURIFixed, nil)
			return
		}
		if _, err := h.cfg.Store.UpdateLocalClaim(ctx, l, actor(c)); err != nil {
			h.claimErr(c, err, errLocalNotFound)
			return
		}
		c.Header("Location", h.claimsURL(localDialectID, "claims", encodeID(uri)))
		c.Status(http.StatusOK)
		return
	}
	uri, ok := h.claimOf(c, errExternalNotFound)
	if !ok {
		return
	}
	var b externalClaimBody
	if !decode(h.claims, c, &b) {
		return
	}
	e, err := h.externalClaim(c, dialect, b)
	if err != nil {
		h.claimErr(c, err, errExternalNotFound)
		return
	}
	if e.URI != uri {
		fail(h.claims, c, errExternalURIFixed, nil)
		return
	}
	if _, err := h.cfg.Store.UpdateExternalClaim(ctx, e, actor(c)); err != nil {
		h.externalErr(c, err, errExternalNotFound)
		return
	}
	c.Header("Location", h.claimsURL(dialectID(dialect), "claims", encodeID(uri)))
	c.Status(http.StatusOK)
}

func (h *Handler) deleteClaim(c *gin.Context) {
	dialect, ok := h.dialectOf(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if dialect == store.LocalDialect {
		uri, ok := h.claimOf(c, errLocalNotFound)
		if !ok {
			return
		}
		err := h.cfg.Store.DeleteLocalClaim(ctx, orgID(c), uri, actor(c))
		if errors.Is(err, store.ErrConflict) {
			fail(h.claims, c, errLocalHasMapped, nil)
			return
		}
		if err != nil {
			h.claimErr(c, err, errLocalNotFound)
			return
		}
		c.Status(http.StatusNoContent)
		return
	}
	uri, ok := h.claimOf(c, errExternalNotFound)
	if !ok {
		return
	}
	if err := h.cfg.Store.DeleteExternalClaim(ctx, orgID(c), dialect, uri, actor(c)); err != nil {
		h.claimErr(c, err, errExternalNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}
