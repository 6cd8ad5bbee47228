package totp_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	ptotp "github.com/pquerna/otp/totp"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/totp"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var key = bytes.Repeat([]byte{0x42}, 32)

type env struct {
	s    *store.Store
	now  time.Time
	user *connectors.User
	log  bytes.Buffer
	a    *totp.Authenticator
}

func newEnv(t *testing.T, cfg totp.Config) *env {
	t.Helper()
	e := &env{s: storetest.New(t), now: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
	org, err := e.s.EnsureRootOrganization(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.user = &connectors.User{ID: u.ID, Username: u.Username, UserStoreDomain: u.Domain, IdP: connectors.LocalIdP}
	if cfg.EncryptionKey == nil {
		cfg.EncryptionKey = key
	}
	cfg.Now = func() time.Time { return e.now }
	cfg.Logger = slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.a, err = totp.New(cfg, totp.Deps{Credentials: e.s})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// codeAt computes a code with an independent implementation (pquerna/otp).
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := ptotp.GenerateCodeCustom(secret, at, ptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled enrols the user and confirms with the code of the previous step, leaving the current
// step unused.
func (e *env) enrolled(t *testing.T) string {
	t.Helper()
	en, err := e.a.Enroll(t.Context(), e.user.ID, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := e.a.ConfirmEnrollment(t.Context(), e.user.ID, codeAt(t, en.Secret, e.now.Add(-30*time.Second)))
	if err != nil || !ok {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	return en.Secret
}

func (e *env) process(t *testing.T, token string, attempt int, runtime map[string]string) connectors.Outcome {
	t.Helper()
	out, err := e.a.Process(context.Background(), connectors.ProcessInput{
		StepContext: connectors.StepContext{FlowID: "f", Step: 2, IdP: connectors.LocalIdP, User: e.user, RuntimeParams: runtime},
		Params:      map[string]string{totp.ParamToken: token}, Attempt: attempt})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t, totp.Config{})
		secret := e.enrolled(t)
		return connectortest.Fixture{
			Authenticator: e.a,
			User:          e.user,
			Valid: func(t *testing.T, _ json.RawMessage) map[string]string {
				return map[string]string{"token": codeAt(t, secret, e.now)}
			},
			Invalid: func(t *testing.T, _ json.RawMessage) map[string]string {
				return map[string]string{"token": codeAt(t, secret, e.now.Add(time.Hour))}
			},
		}
	})
}

func TestWireShape(t *testing.T) {
	e := newEnv(t, totp.Config{})
	got, _ := json.Marshal(e.a.Prompt())
	// wso2-wire §1.11 A, plus "initiate" (not sent on the wire: the workflow uses it).
	want := `{"i18nKey":"authenticator.totp","promptType":"USER_PROMPT","params":[{"param":"token","type":"STRING","order":0,"i18nKey":"totp.authenticator","displayName":"Token","confidential":false}],"initiate":true}`
	if string(got) != want || e.a.Name() != "totp" || e.a.DisplayName() != "TOTP" {
		t.Errorf("prompt %s, names %q %q", got, e.a.Name(), e.a.DisplayName())
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration
		want   connectors.Status
	}{
		{name: "current step", offset: 0, want: connectors.StatusSuccess},
		{name: "one step late", offset: -30 * time.Second, want: connectors.StatusSuccess},
		{name: "one step early", offset: 30 * time.Second, want: connectors.StatusSuccess},
		{name: "two steps late", offset: -60 * time.Second, want: connectors.StatusFailed},
		{name: "two steps early", offset: 60 * time.Second, want: connectors.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, totp.Config{})
			en, err := e.a.Enroll(t.Context(), e.user.ID, "alice")
			if err != nil {
				t.Fatal(err)
			}
			// Confirm far in the past so no step near now is used.
			e.now = e.now.Add(-time.Hour)
			if ok, err := e.a.ConfirmEnrollment(t.Context(), e.user.ID, codeAt(t, en.Secret, e.now)); !ok || err != nil {
				t.Fatalf("confirm: %v %v", ok, err)
			}
			e.now = e.now.Add(time.Hour)
			out := e.process(t, codeAt(t, en.Secret, e.now.Add(tc.offset)), 1, nil)
			if out.Status != tc.want {
				t.Errorf("status %q reason %q, want %q", out.Status, out.Reason, tc.want)
			}
			if out.Status == connectors.StatusSuccess && (out.User == nil || out.User.ID != e.user.ID) {
				t.Errorf("user %+v", out.User)
			}
		})
	}
}

func TestNoReuse(t *testing.T) {
	e := newEnv(t, totp.Config{})
	secret := e.enrolled(t)
	cur := codeAt(t, secret, e.now)
	prev := codeAt(t, secret, e.now.Add(-30*time.Second))
	next := codeAt(t, secret, e.now.Add(30*time.Second))
	steps := []struct {
		name  string
		token string
		want  connectors.Status
	}{
		{name: "current code", token: cur, want: connectors.StatusSuccess},
		{name: "current code again", token: cur, want: connectors.StatusFailed},
		{name: "previous step (older than used)", token: prev, want: connectors.StatusFailed},
		{name: "next step", token: next, want: connectors.StatusSuccess},
		{name: "next step again", token: next, want: connectors.StatusFailed},
	}
	for _, st := range steps {
		if cur == next && st.name == "next step" {
			continue // the two steps happen to share a code: nothing to tell apart
		}
		out := e.process(t, st.token, 1, nil)
		if out.Status != st.want {
			t.Fatalf("%s: status %q reason %q, want %q", st.name, out.Status, out.Reason, st.want)
		}
		if out.Status == connectors.StatusFailed && (out.Reason != connectors.ReasonInvalidCode || !out.Retry) {
			t.Errorf("%s: reason %q retry %v", st.name, out.Reason, out.Retry)
		}
	}
}

func TestEnrollment(t *testing.T) {
	e := newEnv(t, totp.Config{Issuer: "Acme Corp"})
	begin := func() connectors.BeginResult {
		res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: connectors.StepContext{User: e.user}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := begin(); res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
		t.Fatalf("Begin before enrolment: %+v", res)
	}
	en, err := e.a.Enroll(t.Context(), e.user.ID, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// The URI is a well-formed key URI an app (here pquerna/otp's parser) reads back.
	k, err := otp.NewKeyFromURL(en.URI)
	if err != nil {
		t.Fatal(err)
	}
	if k.Type() != "totp" || k.Issuer() != "Acme Corp" || k.AccountName() != "alice@example.com" ||
		k.Secret() != en.Secret || k.Period() != 30 || k.Digits() != otp.DigitsSix {
		t.Errorf("key URI %s parsed as %+v", en.URI, k)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	if err != nil || len(raw) != totp.SecretSize {
		t.Errorf("secret %q: %d bytes, %v", en.Secret, len(raw), err)
	}
	png64, ok := strings.CutPrefix(en.QRCode, "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR code is not a PNG data URI: %.40s", en.QRCode)
	}
	pngBytes, _ := base64.StdEncoding.DecodeString(png64)
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil || img.Bounds().Dx() != 256 {
		t.Errorf("QR PNG: %v, bounds %v", err, img)
	}
	// Pending: login still refuses, Process too.
	if res := begin(); res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
		t.Errorf("Begin with a pending enrolment: %+v", res)
	}
	if out := e.process(t, codeAt(t, en.Secret, e.now), 1, nil); out.Reason != connectors.ReasonNotEnrolled {
		t.Errorf("Process with a pending enrolment: %+v", out)
	}
	// A wrong code does not confirm; the right one does, once.
	if ok, err := e.a.ConfirmEnrollment(t.Context(), e.user.ID, "000000"); ok || err != nil {
		if codeAt(t, en.Secret, e.now) != "000000" {
			t.Errorf("wrong code confirmed: %v %v", ok, err)
		}
	}
	confirmCode := codeAt(t, en.Secret, e.now)
	if ok, err := e.a.ConfirmEnrollment(t.Context(), e.user.ID, confirmCode); !ok || err != nil {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	if _, err := e.a.ConfirmEnrollment(t.Context(), e.user.ID, confirmCode); !errors.Is(err, totp.ErrNoPendingEnrollment) {
		t.Errorf("second confirm: %v", err)
	}
	if res := begin(); res.Outcome != nil || len(res.State) != 0 {
		t.Errorf("Begin once enrolled: %+v", res)
	}
	// The code that confirmed cannot log in.
	if out := e.process(t, confirmCode, 1, nil); out.Status != connectors.StatusFailed {
		t.Error("the confirming code was accepted again at login")
	}
	e.now = e.now.Add(30 * time.Second)
	if out := e.process(t, codeAt(t, en.Secret, e.now), 1, nil); out.Status != connectors.StatusSuccess {
		t.Errorf("next code: %+v", out)
	}
	// Secrets stay out of the database in clear and out of the log.
	c, err := e.s.TOTPCredential(t.Context(), e.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c.SecretCiphertext, raw) || bytes.Contains(c.SecretCiphertext, []byte(en.Secret)) {
		t.Error("the stored credential contains the secret in clear")
	}
	if strings.Contains(e.log.String(), en.Secret) || strings.Contains(e.log.String(), confirmCode) {
		t.Errorf("secret or code logged:\n%s", e.log.String())
	}
}

func TestEncryptionKeys(t *testing.T) {
	e := newEnv(t, totp.Config{KeyID: "k1"})
	secret := e.enrolled(t)
	// Rotation: a new current key with the old one kept for decryption still verifies.
	rotated, err := totp.New(totp.Config{KeyID: "k2", EncryptionKey: bytes.Repeat([]byte{1}, 32),
		OldKeys: map[string][]byte{"k1": key}, Now: func() time.Time { return e.now }}, totp.Deps{Credentials: e.s})
	if err != nil {
		t.Fatal(err)
	}
	in := connectors.ProcessInput{StepContext: connectors.StepContext{User: e.user},
		Params: map[string]string{"token": codeAt(t, secret, e.now)}, Attempt: 1}
	if out, err := rotated.Process(t.Context(), in); err != nil || out.Status != connectors.StatusSuccess {
		t.Fatalf("with the old key kept: %+v %v", out, err)
	}
	// Without the key the credential cannot be read: an infrastructure error, not a wrong code.
	lost, err := totp.New(totp.Config{KeyID: "k2", EncryptionKey: bytes.Repeat([]byte{1}, 32)}, totp.Deps{Credentials: e.s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lost.Process(t.Context(), in); err == nil {
		t.Error("Process without the encryption key did not fail")
	}
}

func TestMaxFailures(t *testing.T) {
	e := newEnv(t, totp.Config{})
	secret := e.enrolled(t)
	wrong := codeAt(t, secret, e.now.Add(time.Hour))
	runtime := map[string]string{totp.RuntimeMaxFailures: "2"}
	out := e.process(t, wrong, 1, runtime)
	if out.Reason != connectors.ReasonInvalidCode || !out.Retry || out.RemainingAttempts != 1 {
		t.Errorf("attempt 1: %+v", out)
	}
	out = e.process(t, wrong, 2, runtime)
	if out.Reason != connectors.ReasonMaxAttempts || out.Retry || out.Messages[0].ID != "ABA-60013" {
		t.Errorf("attempt 2: %+v", out)
	}
}

func TestNoUser(t *testing.T) {
	e := newEnv(t, totp.Config{})
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{})
	if err != nil || res.Outcome == nil || res.Outcome.Reason != connectors.ReasonUserNotFound {
		t.Errorf("Begin without a user: %+v %v", res, err)
	}
	out, err := e.a.Process(t.Context(), connectors.ProcessInput{Params: map[string]string{"token": "123456"}})
	if err != nil || out.Reason != connectors.ReasonUserNotFound {
		t.Errorf("Process without a user: %+v %v", out, err)
	}
}

func TestNewValidates(t *testing.T) {
	s := storetest.New(t)
	tests := []struct {
		name string
		cfg  totp.Config
	}{
		{name: "no key", cfg: totp.Config{}},
		{name: "short key", cfg: totp.Config{EncryptionKey: make([]byte, 16)}},
		{name: "digits", cfg: totp.Config{EncryptionKey: key, Digits: 7}},
		{name: "period", cfg: totp.Config{EncryptionKey: key, Period: 1500 * time.Millisecond}},
		{name: "algorithm", cfg: totp.Config{EncryptionKey: key, Algorithm: "MD5"}},
		{name: "issuer with colon", cfg: totp.Config{EncryptionKey: key, Issuer: "a:b"}},
		{name: "old key reuses id", cfg: totp.Config{EncryptionKey: key, OldKeys: map[string][]byte{"": key}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := totp.New(tc.cfg, totp.Deps{Credentials: s}); err == nil {
				t.Error("accepted")
			}
		})
	}
}
