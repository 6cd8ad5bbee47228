package apps

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/store"
)

// inboundStore is one inbound protocol's configuration rows: find the application's (its id,
// or store.ErrNotFound), delete one, create one; each works in the store or transaction given.
type inboundStore[Q any] struct {
	find   func(ctx context.Context, q Q, applicationID string) (string, error)
	delete func(ctx context.Context, q Q, id string, actor store.Actor) error
}

// replaceInbound creates or replaces an application's configuration of one inbound protocol in
// one transaction: 201 with Location (path under the application) when created, 200 when
// replaced.
func (h *Handler) replaceInbound(c *gin.Context, applicationID, path string, rows inboundStore[*store.Tx],
	create func(ctx context.Context, tx *store.Tx, actor store.Actor) error) {
	ctx := c.Request.Context()
	actor := bearer.Get(c).Actor()
	replaced := false
	err := h.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		replaced = false
		id, err := rows.find(ctx, tx, applicationID)
		switch {
		case err == nil:
			if err := rows.delete(ctx, tx, id, actor); err != nil {
				return err
			}
			replaced = true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return create(ctx, tx, actor)
	})
	if err != nil {
		h.failErr(c, err)
		return
	}
	if replaced {
		c.Status(http.StatusOK)
		return
	}
	c.Header("Location", h.self(applicationID)+path)
	c.Status(http.StatusCreated)
}

// getInbound answers GET of one inbound protocol: read finds the application's configuration
// (store.ErrNotFound when it has none: 404), view renders it.
func getInbound[T, V any](h *Handler, c *gin.Context, read func(ctx context.Context, applicationID string) (T, error), view func(T) V) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	cfg, err := read(c.Request.Context(), a.ID)
	if err != nil {
		h.failInbound(c, err)
		return
	}
	c.JSON(http.StatusOK, view(cfg))
}

// failInbound answers a failed read or delete of an inbound configuration: 404 when the
// application has none, else 500.
func (h *Handler) failInbound(c *gin.Context, err error) {
	if errors.Is(err, store.ErrNotFound) {
		h.fail(c, errInboundNone, nil)
		return
	}
	h.fail(c, errServer, err)
}

// deleteInbound removes an application's configuration of one inbound protocol: 204, or 404
// when it has none.
func (h *Handler) deleteInbound(c *gin.Context, rows inboundStore[Store]) {
	a, ok := h.application(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	id, err := rows.find(ctx, h.cfg.Store, a.ID)
	if err == nil {
		err = rows.delete(ctx, h.cfg.Store, id, bearer.Get(c).Actor())
	}
	if err != nil {
		h.failInbound(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// samlQueries and wsfedQueries read and delete the SAML service provider and WS-Federation
// relying party of an application (*store.Store and *store.Tx both do); samlRows and wsfedRows
// make them inboundStores.
type samlQueries interface {
	SAMLServiceProviderByApplication(ctx context.Context, applicationID string) (store.SAMLServiceProvider, error)
	DeleteSAMLServiceProvider(ctx context.Context, id string, actor store.Actor) error
}

type wsfedQueries interface {
	WSFedRelyingPartyByApplication(ctx context.Context, applicationID string) (store.WSFedRelyingParty, error)
	DeleteWSFedRelyingParty(ctx context.Context, id string, actor store.Actor) error
}

func samlRows[Q samlQueries]() inboundStore[Q] {
	return inboundStore[Q]{
		find: func(ctx context.Context, q Q, app string) (string, error) {
			sp, err := q.SAMLServiceProviderByApplication(ctx, app)
			return sp.ID, err
		},
		delete: func(ctx context.Context, q Q, id string, actor store.Actor) error {
			return q.DeleteSAMLServiceProvider(ctx, id, actor)
		},
	}
}

func wsfedRows[Q wsfedQueries]() inboundStore[Q] {
	return inboundStore[Q]{
		find: func(ctx context.Context, q Q, app string) (string, error) {
			rp, err := q.WSFedRelyingPartyByApplication(ctx, app)
			return rp.ID, err
		},
		delete: func(ctx context.Context, q Q, id string, actor store.Actor) error {
			return q.DeleteWSFedRelyingParty(ctx, id, actor)
		},
	}
}
