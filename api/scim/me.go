package scim

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// /Me (RFC 7644 §3.11) is the authenticated user's own resource. Any
// authenticated user may read and update it, except that a user who is not
// an administrator cannot rename, deactivate, lock or unlock itself or
// force its own password reset there (that is account administration, not
// profile editing). A password it sets there meets the password policy.

func (h *Handler) meID(c *gin.Context) (string, bool) {
	pr := h.principal(c)
	if pr.user.ID == "" {
		h.fail(c, newError(http.StatusNotFound, "", "the token does not act for a user"))
		return "", false
	}
	return pr.user.ID, true
}

// selfChange wraps a change so non-administrators keep their userName and
// active state.
func (h *Handler) selfChange(c *gin.Context, change func(cur userView) (userInput, *Error)) func(cur userView) (userInput, *Error) {
	admin := h.principal(c).admin
	return func(cur userView) (userInput, *Error) {
		in, err := change(cur)
		if err != nil || admin {
			return in, err
		}
		if in.username != cur.user.Username {
			return in, newError(http.StatusBadRequest, TypeMutability, "userName cannot be changed through /Me")
		}
		if in.disabledAfter(cur.user.Disabled) != cur.user.Disabled {
			return in, newError(http.StatusBadRequest, TypeMutability, "active and accountDisabled cannot be changed through /Me")
		}
		if _, ok := in.accountChange(cur.user); ok {
			return in, newError(http.StatusBadRequest, TypeMutability, "accountLocked and forcePasswordReset cannot be changed through /Me")
		}
		return in, nil
	}
}

func (h *Handler) putMe(c *gin.Context) {
	id, ok := h.meID(c)
	if !ok {
		return
	}
	in, err := h.parseUser(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.updateUser(c, id, h.selfChange(c, func(userView) (userInput, *Error) { return in, nil }))
}

func (h *Handler) patchMe(c *gin.Context) {
	id, ok := h.meID(c)
	if !ok {
		return
	}
	ops, err := h.readPatch(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	base := h.base(c)
	h.updateUser(c, id, h.selfChange(c, func(cur userView) (userInput, *Error) { return h.patchedUser(base, cur, ops) }))
}

func (h *Handler) notImplemented(c *gin.Context) {
	h.fail(c, newError(http.StatusNotImplemented, "", "not supported"))
}
