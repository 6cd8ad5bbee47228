package users

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/connectors/totp"
	"github.com/keyflow/keyflow/store"
)

// TOTPEnroller enrols a user's authenticator app (*totp.Authenticator).
type TOTPEnroller interface {
	Enroll(ctx context.Context, userID, accountName string) (totp.Enrollment, error)
	ConfirmEnrollment(ctx context.Context, userID, token string) (bool, error)
}

// TOTPStore is what the TOTP API reads and deletes (*store.Store).
type TOTPStore interface {
	TOTPCredential(ctx context.Context, userID string) (store.TOTPCredential, error)
	DeleteTOTPCredential(ctx context.Context, userID string, actor store.Actor) error
}

// TOTP actions of POST /me/totp, WSO2's.
const (
	TOTPInit     = "INIT"
	TOTPRefresh  = "REFRESH"
	TOTPValidate = "VALIDATE"
)

var (
	errTOTPExists = Error{Status: http.StatusConflict, Code: "USM-10006", Message: "TOTP already enabled",
		Description: "The user has a confirmed TOTP authenticator: REFRESH replaces it, DELETE removes it."}
	errTOTPNone = Error{Status: http.StatusBadRequest, Code: "USM-10007", Message: "No TOTP enrolment",
		Description: "There is no TOTP enrolment waiting for a verification code: INIT first."}
	errTOTPAction = Error{Status: http.StatusBadRequest, Code: "USM-10008", Message: "Invalid action",
		Description: "action must be INIT, REFRESH or VALIDATE (with verificationCode)."}
)

// totpStatus is GET /me/totp: whether a confirmed authenticator exists and whether an enrolment
// waits for its first code. The secret is shown once, by INIT or REFRESH, never again.
type totpStatus struct {
	Enabled bool `json:"enabled"`
	Pending bool `json:"pending"`
}

// totpEnrollment is the answer to INIT and REFRESH: WSO2's qrCodeUrl (the base64 of the
// otpauth:// key URI) plus the secret for manual entry and the QR code as a data: URI.
type totpEnrollment struct {
	QRCodeURL string `json:"qrCodeUrl"`
	Secret    string `json:"secret"`
	QRCode    string `json:"qrCode"`
}

func (h *Handler) registerTOTP(g gin.IRoutes) {
	if h.cfg.TOTP == nil || h.cfg.TOTPStore == nil {
		return
	}
	a := h.auth
	g.GET("/me/totp", a.Need(ScopeLogin, bearer.Self), h.totpStatus)
	g.POST("/me/totp", a.Need(ScopeLogin, bearer.Self), h.totpAction)
	g.DELETE("/me/totp", a.Need(ScopeLogin, bearer.Self), h.totpDelete)
}

// credential is the caller's TOTP credential; ok is false when there is none.
func (h *Handler) credential(c *gin.Context, userID string) (store.TOTPCredential, bool, error) {
	cr, err := h.cfg.TOTPStore.TOTPCredential(c.Request.Context(), userID)
	if errors.Is(err, store.ErrNotFound) {
		return store.TOTPCredential{}, false, nil
	}
	return cr, err == nil, err
}

func (h *Handler) totpStatus(c *gin.Context) {
	cr, ok, err := h.credential(c, bearer.Get(c).User.ID)
	if err != nil {
		h.fail(c, errServer, err)
		return
	}
	c.JSON(http.StatusOK, totpStatus{Enabled: ok && cr.Confirmed(), Pending: ok && !cr.Confirmed()})
}

func (h *Handler) totpAction(c *gin.Context) {
	var body struct {
		Action           string `json:"action"`
		VerificationCode string `json:"verificationCode"`
	}
	if err := c.ShouldBindJSON(&body); err != nil {
		h.fail(c, errTOTPAction, nil)
		return
	}
	u := bearer.Get(c).User
	ctx := c.Request.Context()
	switch body.Action {
	case TOTPInit, TOTPRefresh:
		cr, ok, err := h.credential(c, u.ID)
		if err != nil {
			h.fail(c, errServer, err)
			return
		}
		if body.Action == TOTPInit && ok && cr.Confirmed() {
			h.fail(c, errTOTPExists, nil)
			return
		}
		en, err := h.cfg.TOTP.Enroll(ctx, u.ID, u.Username)
		if err != nil {
			h.fail(c, errServer, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, totpEnrollment{QRCodeURL: base64.StdEncoding.EncodeToString([]byte(en.URI)),
			Secret: en.Secret, QRCode: en.QRCode})
	case TOTPValidate:
		if body.VerificationCode == "" {
			h.fail(c, errTOTPAction, nil)
			return
		}
		valid, err := h.cfg.TOTP.ConfirmEnrollment(ctx, u.ID, body.VerificationCode)
		if errors.Is(err, totp.ErrNoPendingEnrollment) {
			h.fail(c, errTOTPNone, nil)
			return
		}
		if err != nil {
			h.fail(c, errServer, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"isValid": valid})
	default:
		h.fail(c, errTOTPAction, nil)
	}
}

func (h *Handler) totpDelete(c *gin.Context) {
	cl := bearer.Get(c)
	err := h.cfg.TOTPStore.DeleteTOTPCredential(c.Request.Context(), cl.User.ID, cl.Actor())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.fail(c, errServer, err)
		return
	}
	c.Status(http.StatusNoContent)
}
