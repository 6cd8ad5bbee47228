package apps

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/store"
)

// authorizedAPIStore is what the authorized-APIs routes need; *store.Store implements it. It
// is probed on Config.Store at run time: a store without it serves no such routes.
type authorizedAPIStore interface {
	AuthorizedAPIs(ctx context.Context, applicationID string) ([]store.AuthorizedAPI, error)
	AuthorizeAPI(ctx context.Context, orgID, applicationID, apiID, policy string, scopes []string, actor store.Actor) error
	UpdateAuthorizedAPIScopes(ctx context.Context, orgID, applicationID, apiID string, add, remove []string, actor store.Actor) error
	DeauthorizeAPI(ctx context.Context, orgID, applicationID, apiID string, actor store.Actor) error
}

var errAuthorizedAPINotFound = Error{Status: http.StatusNotFound, Code: "APP-60006", Message: "Authorized API not found",
	Description: "The application is not authorized for this API resource, or a scope named is not the API resource's."}

// registerAuthorizedAPIs mounts WSO2's /applications/{id}/authorized-apis routes on g (the
// applications group): which API resources, and which of their scopes, an application's
// tokens may carry (api/apiresources, api/oauth2/op).
func (h *Handler) registerAuthorizedAPIs(g gin.IRouter) {
	st, ok := h.cfg.Store.(authorizedAPIStore)
	if !ok {
		return
	}
	a := h.auth
	x := authorizedAPIs{h: h, st: st}
	g.GET("/:id/authorized-apis", a.Need(ScopeView, bearer.Admin), x.list)
	g.POST("/:id/authorized-apis", a.Need(ScopeUpdate, bearer.Admin), x.create)
	g.PATCH("/:id/authorized-apis/:apiId", a.Need(ScopeUpdate, bearer.Admin), x.patch)
	g.DELETE("/:id/authorized-apis/:apiId", a.Need(ScopeUpdate, bearer.Admin), x.delete)
}

type authorizedAPIs struct {
	h  *Handler
	st authorizedAPIStore
}

// authorizedScope is WSO2's AuthorizedScope.
type authorizedScope struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
}

// authorizedAPI is WSO2's AuthorizedAPIResponse (without authorization details types).
type authorizedAPI struct {
	ID               string            `json:"id"`
	Identifier       string            `json:"identifier"`
	DisplayName      string            `json:"displayName"`
	PolicyID         string            `json:"policyId"`
	Type             string            `json:"type"`
	AuthorizedScopes []authorizedScope `json:"authorizedScopes"`
}

func (x authorizedAPIs) list(c *gin.Context) {
	app, ok := x.h.application(c)
	if !ok {
		return
	}
	list, err := x.st.AuthorizedAPIs(c.Request.Context(), app.ID)
	if err != nil {
		x.h.fail(c, errServer, err)
		return
	}
	out := make([]authorizedAPI, len(list))
	for i, a := range list {
		out[i] = authorizedAPI{ID: a.APIResourceID, Identifier: a.Identifier, DisplayName: a.Name, PolicyID: a.Policy,
			Type: a.Type, AuthorizedScopes: make([]authorizedScope, len(a.Scopes))}
		for j, s := range a.Scopes {
			out[i].AuthorizedScopes[j] = authorizedScope{ID: s.ID, Name: s.Name, DisplayName: s.DisplayName}
		}
	}
	c.JSON(http.StatusOK, out)
}

// creationBody is WSO2's AuthorizedAPICreationModel (without authorization details types).
type creationBody struct {
	ID               string   `json:"id"`
	PolicyIdentifier string   `json:"policyIdentifier"`
	Scopes           []string `json:"scopes"`
}

func (x authorizedAPIs) create(c *gin.Context) {
	app, ok := x.h.application(c)
	if !ok {
		return
	}
	var b creationBody
	if !x.h.decode(c, &b) {
		return
	}
	if b.PolicyIdentifier == "" {
		b.PolicyIdentifier = store.PolicyRBAC
	}
	if b.PolicyIdentifier != store.PolicyRBAC && b.PolicyIdentifier != store.PolicyNone {
		x.h.fail(c, errInvalid.With("policyIdentifier must be RBAC or NO POLICY."), nil)
		return
	}
	if b.ID == "" {
		x.h.fail(c, errInvalid.With("id (of the API resource) is required."), nil)
		return
	}
	cl := bearer.Get(c)
	err := x.st.AuthorizeAPI(c.Request.Context(), cl.Org.ID, app.ID, b.ID, b.PolicyIdentifier, b.Scopes, cl.Actor())
	switch {
	case err == nil:
		c.Status(http.StatusCreated)
	case errors.Is(err, store.ErrNotFound):
		x.h.fail(c, errInvalid.With("No API resource with this id, or a scope that is not the API resource's."), nil)
	case errors.Is(err, store.ErrConflict):
		x.h.fail(c, errConflict.With("The application is already authorized for this API resource."), nil)
	default:
		x.h.fail(c, errServer, err)
	}
}

// patchAuthorizedBody is WSO2's AuthorizedAPIPatchModel (without authorization details types).
type patchAuthorizedBody struct {
	AddedScopes   []string `json:"addedScopes"`
	RemovedScopes []string `json:"removedScopes"`
}

func (x authorizedAPIs) patch(c *gin.Context) {
	app, ok := x.h.application(c)
	if !ok {
		return
	}
	var b patchAuthorizedBody
	if !x.h.decode(c, &b) {
		return
	}
	cl := bearer.Get(c)
	err := x.st.UpdateAuthorizedAPIScopes(c.Request.Context(), cl.Org.ID, app.ID, c.Param("apiId"), b.AddedScopes, b.RemovedScopes, cl.Actor())
	x.answer(c, err, http.StatusOK)
}

func (x authorizedAPIs) delete(c *gin.Context) {
	app, ok := x.h.application(c)
	if !ok {
		return
	}
	cl := bearer.Get(c)
	x.answer(c, x.st.DeauthorizeAPI(c.Request.Context(), cl.Org.ID, app.ID, c.Param("apiId"), cl.Actor()), http.StatusNoContent)
}

func (x authorizedAPIs) answer(c *gin.Context, err error, status int) {
	switch {
	case err == nil:
		c.Status(status)
	case errors.Is(err, store.ErrNotFound):
		x.h.fail(c, errAuthorizedAPINotFound, nil)
	default:
		x.h.fail(c, errServer, err)
	}
}
