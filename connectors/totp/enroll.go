package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"

	"github.com/pquerna/otp"

	"github.com/keyflow/keyflow/store"
)

// SecretSize is the secret length in bytes (160 bits, RFC 4226 §4's recommendation).
const SecretSize = 20

// Enrollment is what a user needs to add the credential to an authenticator app. Show it once,
// over an authenticated channel; it is never stored in clear.
type Enrollment struct {
	// Secret is the base32 secret without padding, for manual entry.
	Secret string
	// URI is the otpauth://totp/ key URI (Google Authenticator's Key Uri Format).
	URI string
	// QRCode is URI as a QR code, a data:image/png;base64 URI usable as an <img> src.
	QRCode string
}

// ErrNoPendingEnrollment is returned by ConfirmEnrollment when the user has no enrolment to confirm.
var ErrNoPendingEnrollment = errors.New("totp: no pending enrolment")

// Enroll creates a new secret for the user, stores it encrypted and unconfirmed (replacing any
// credential the user had) and returns it for the user's app. accountName labels it in the app
// (usually the username or email address).
func (a *Authenticator) Enroll(ctx context.Context, userID, accountName string) (Enrollment, error) {
	en, _, err := a.enroll(ctx, userID, accountName)
	return en, err
}

// enroll is Enroll, also returning the stored ciphertext (enrolment in the login flow keeps a
// reference to it).
func (a *Authenticator) enroll(ctx context.Context, userID, accountName string) (Enrollment, []byte, error) {
	if accountName == "" || strings.Contains(accountName, ":") {
		return Enrollment{}, nil, fmt.Errorf("totp: account name %q is empty or contains ':'", accountName)
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return Enrollment{}, nil, fmt.Errorf("totp: secret: %w", err)
	}
	ct, err := a.box.seal(secret, userID)
	if err != nil {
		return Enrollment{}, nil, err
	}
	if err := a.deps.Credentials.PutTOTPSecret(ctx, userID, ct, a.cfg.KeyID,
		store.Actor{Type: store.ActorUser, ID: userID}); err != nil {
		return Enrollment{}, nil, fmt.Errorf("totp: enroll: %w", err)
	}
	en, err := a.enrollment(secret, accountName)
	return en, ct, err
}

// enrollment renders secret for an authenticator app: base32 text, key URI and QR code.
func (a *Authenticator) enrollment(secret []byte, accountName string) (Enrollment, error) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	uri := a.keyURI(enc, accountName)
	qr, err := a.qrCode(uri)
	if err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: enc, URI: uri, QRCode: qr}, nil
}

// ConfirmEnrollment checks a code from the user's app against the pending secret and, when it
// matches, confirms the credential. It reports false for a wrong code and ErrNoPendingEnrollment
// when there is nothing to confirm.
func (a *Authenticator) ConfirmEnrollment(ctx context.Context, userID, token string) (bool, error) {
	c, err := a.deps.Credentials.TOTPCredential(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Confirmed()) {
		return false, ErrNoPendingEnrollment
	}
	if err != nil {
		return false, fmt.Errorf("totp: confirm: %w", err)
	}
	secret, err := a.box.open(c.KeyID, c.SecretCiphertext, userID)
	if err != nil {
		return false, fmt.Errorf("totp: confirm: %w", err)
	}
	step, ok := a.match(secret, token, a.now())
	if !ok {
		return false, nil
	}
	err = a.deps.Credentials.ConfirmTOTP(ctx, userID, c.SecretCiphertext, step, store.Actor{Type: store.ActorUser, ID: userID})
	if errors.Is(err, store.ErrNotFound) {
		return false, ErrNoPendingEnrollment // confirmed or replaced concurrently
	}
	if err != nil {
		return false, fmt.Errorf("totp: confirm: %w", err)
	}
	return true, nil
}

// keyURI builds otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=….
func (a *Authenticator) keyURI(secret, account string) string {
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", a.cfg.Issuer)
	q.Set("algorithm", string(a.cfg.Algorithm))
	q.Set("digits", strconv.Itoa(a.cfg.Digits))
	q.Set("period", strconv.Itoa(int(a.cfg.Period.Seconds())))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + a.cfg.Issuer + ":" + account, RawQuery: q.Encode()}
	return u.String()
}

func (a *Authenticator) qrCode(uri string) (string, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return "", fmt.Errorf("totp: key uri: %w", err)
	}
	img, err := key.Image(a.cfg.QRSize, a.cfg.QRSize)
	if err != nil {
		return "", fmt.Errorf("totp: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("totp: qr code png: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
