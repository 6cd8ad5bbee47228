package fido_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/connectortest"
	"github.com/keyflow/keyflow/connectors/fido"
	"github.com/keyflow/keyflow/connectors/fido/fidotest"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	origin = "https://id.example.com"
	rpID   = "id.example.com"
)

type env struct {
	s     *store.Store
	a     *fido.Authenticator
	dev   *fidotest.Authenticator
	org   store.Organization
	alice *connectors.User
	bob   *connectors.User
	now   time.Time
	log   bytes.Buffer
}

// newEnv makes a database with alice and bob (no passkeys yet), the authenticator for
// https://id.example.com and a software passkey device in a browser at that origin.
func newEnv(t *testing.T, cfg fido.Config) *env {
	t.Helper()
	e := &env{s: storetest.New(t), dev: fidotest.New(origin), now: time.Date(2032, 1, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	if e.org, err = e.s.EnsureRootOrganization(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.alice, e.bob = e.user(t, "alice"), e.user(t, "bob")
	if cfg.RPID == "" {
		cfg.RPID, cfg.RPOrigins = rpID, []string{origin}
	}
	cfg.Now = func() time.Time { return e.now }
	cfg.Logger = slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.a, err = fido.New(cfg, fido.Deps{Credentials: e.s, Users: e.s, Organizations: e.s})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) user(t *testing.T, name string) *connectors.User {
	t.Helper()
	u, err := e.s.CreateUser(t.Context(), store.NewUser{OrgID: e.org.ID, Username: name})
	if err != nil {
		t.Fatal(err)
	}
	return &connectors.User{ID: u.ID, Username: name, UserStoreDomain: "PRIMARY", TenantDomain: "carbon.super",
		IdP: connectors.LocalIdP}
}

// register enrols a passkey for u through the registration API (as My Account does).
func (e *env) register(t *testing.T, u *connectors.User) *fidotest.Credential {
	t.Helper()
	reg, err := e.a.BeginRegistration(t.Context(), *u)
	if err != nil {
		t.Fatal(err)
	}
	resp, cred, err := e.dev.Create(reg.Options)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.FinishRegistration(t.Context(), *u, reg.State, string(resp), "Laptop"); err != nil {
		t.Fatal(err)
	}
	return cred
}

func sc(flow string, u *connectors.User, runtime map[string]string) connectors.StepContext {
	step := 1
	if u != nil {
		step = 2
	}
	return connectors.StepContext{FlowID: flow, TenantDomain: "carbon.super", Step: step, IdP: connectors.LocalIdP,
		User: u, RuntimeParams: runtime}
}

func (e *env) begin(t *testing.T, c connectors.StepContext) (connectors.BeginResult, fidotest.ChallengeData) {
	t.Helper()
	res, err := e.a.Begin(context.Background(), connectors.BeginInput{StepContext: c})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if res.Outcome != nil {
		t.Fatalf("Begin ended the step: %+v", *res.Outcome)
	}
	if res.Prompt == nil || res.Prompt.Type != connectors.PromptInternal || res.Prompt.I18nKey != "authenticator.Fido" ||
		!slicesEqual(res.Prompt.RequiredParams(), []string{"tokenResponse"}) {
		t.Fatalf("prompt: %+v", res.Prompt)
	}
	data := res.Prompt.AdditionalData["challengeData"]
	// Standard base64 by default: no '-' or '_', which the JS SDK's atob rejects.
	if strings.ContainsAny(data, "-_") {
		t.Errorf("challengeData %q is not standard base64", data)
	}
	cd, err := fidotest.DecodeChallengeData(data)
	if err != nil {
		t.Fatal(err)
	}
	if cd.RequestID == "" {
		t.Error("challengeData has no requestId")
	}
	return res, cd
}

func (e *env) process(t *testing.T, c connectors.StepContext, token string, state json.RawMessage) connectors.Outcome {
	t.Helper()
	out, err := e.a.Process(context.Background(), connectors.ProcessInput{StepContext: c,
		Params: map[string]string{fido.ParamTokenResponse: token}, State: state, Attempt: 1})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return out
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestRegistrationAPI(t *testing.T) {
	e := newEnv(t, fido.Config{RPDisplayName: "Example"})
	e.dev.Attestation = "packed"
	e.dev.BackupEligible, e.dev.BackupState = true, true
	reg, err := e.a.BeginRegistration(t.Context(), *e.alice)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		RP struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		User struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
		Selection struct {
			ResidentKey string `json:"residentKey"`
		} `json:"authenticatorSelection"`
	}
	if err := json.Unmarshal(reg.Options, &opts); err != nil {
		t.Fatal(err)
	}
	if handle, _ := base64.RawURLEncoding.DecodeString(opts.User.ID); opts.RP.ID != rpID || opts.RP.Name != "Example" ||
		string(handle) != e.alice.ID || opts.User.Name != "alice" || opts.Selection.ResidentKey != "required" {
		t.Errorf("creation options: %s", reg.Options)
	}
	resp, _, err := e.dev.Create(reg.Options)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's registration state does not finish alice's.
	if _, err := e.a.FinishRegistration(t.Context(), *e.bob, reg.State, string(resp), ""); !errors.Is(err, fido.ErrInvalidResponse) {
		t.Errorf("bob finishing alice's registration: %v", err)
	}
	later := e.now
	e.now = e.now.Add(5 * time.Minute)
	if _, err := e.a.FinishRegistration(t.Context(), *e.alice, reg.State, string(resp), ""); !errors.Is(err, fido.ErrExpired) {
		t.Errorf("expired registration: %v", err)
	}
	e.now = later
	got, err := e.a.FinishRegistration(t.Context(), *e.alice, reg.State, base64.RawURLEncoding.EncodeToString(resp), " Laptop ")
	if err != nil {
		t.Fatal(err)
	}
	if got.AttestationFormat != "packed" || got.AttestationType != "basic_surrogate" || !got.BackupEligible || !got.BackupState ||
		!got.UserVerified || got.Name != "Laptop" || len(got.Transports) != 2 {
		t.Errorf("registered credential: %+v", got)
	}
	stored, err := e.s.WebAuthnCredentials(t.Context(), rpID, e.alice.ID)
	if err != nil || len(stored) != 1 || !bytes.Equal(stored[0].ID, got.ID) {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	// A second registration excludes the passkey alice has; the device refuses to make another.
	reg2, err := e.a.BeginRegistration(t.Context(), *e.alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.dev.Create(reg2.Options); err == nil || !strings.Contains(err.Error(), "InvalidStateError") {
		t.Errorf("excluded credential created again: %v", err)
	}
	// The first response replayed against the second registration's challenge does not verify.
	if _, err := e.a.FinishRegistration(t.Context(), *e.alice, reg2.State, string(resp), ""); !errors.Is(err, fido.ErrInvalidResponse) {
		t.Errorf("replayed attestation: %v", err)
	}
	if _, err := e.a.BeginRegistration(t.Context(), connectors.User{ID: "7d1c0d4e-0000-4000-8000-000000000000"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestLoginWithKnownUser(t *testing.T) {
	e := newEnv(t, fido.Config{})
	cred := e.register(t, e.alice)
	e.register(t, e.bob) // the device holds bob's passkey too; only alice's may be offered

	for i, android := range []bool{false, true} {
		flow := "flow-" + string(rune('a'+i))
		res, cd := e.begin(t, sc(flow, e.alice, nil))
		var opts struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
			Allow     []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
			UV string `json:"userVerification"`
		}
		if err := json.Unmarshal(cd.Request, &opts); err != nil {
			t.Fatal(err)
		}
		if opts.RPID != rpID || opts.UV != "preferred" || len(opts.Allow) != 1 ||
			opts.Allow[0].ID != base64.RawURLEncoding.EncodeToString(cred.ID) || opts.Challenge == "" {
			t.Fatalf("request options: %s", cd.Request)
		}
		if strings.Contains(string(res.State), "alice@") {
			t.Errorf("state: %s", res.State)
		}
		resp, err := e.dev.Get(cd.Request)
		if err != nil {
			t.Fatal(err)
		}
		token := fidotest.TokenResponse(cd.RequestID, resp)
		if android {
			token = fidotest.AndroidTokenResponse(cd.RequestID, resp)
		}
		out := e.process(t, sc(flow, e.alice, nil), token, res.State)
		if out.Status != connectors.StatusSuccess || out.User == nil || out.User.ID != e.alice.ID ||
			out.User.IdP != connectors.LocalIdP || out.User.Username != "alice" {
			t.Fatalf("android=%v: %+v\n%s", android, out, e.log.String())
		}
	}
	stored, err := e.s.WebAuthnCredentials(t.Context(), rpID, e.alice.ID)
	if err != nil || len(stored) != 1 || stored[0].SignCount != 2 || stored[0].LastUsedAt.IsZero() {
		t.Errorf("after two logins: %+v %v", stored, err)
	}
}

func TestDiscoverableLogin(t *testing.T) {
	e := newEnv(t, fido.Config{})
	e.register(t, e.bob)
	e.register(t, e.alice)
	res, cd := e.begin(t, sc("flow-1", nil, nil))
	var opts map[string]any
	if err := json.Unmarshal(cd.Request, &opts); err != nil {
		t.Fatal(err)
	}
	if _, ok := opts["allowCredentials"]; ok || opts["rpId"] != rpID {
		t.Fatalf("discoverable request options: %s", cd.Request)
	}
	// The user picks alice's passkey on the device (the second one it holds).
	resp, err := e.dev.GetWith(cd.Request, e.dev.Credentials()[1])
	if err != nil {
		t.Fatal(err)
	}
	// The bare PublicKeyCredential (no WSO2 wrapper) is accepted too.
	out := e.process(t, sc("flow-1", nil, nil), string(resp), res.State)
	if out.Status != connectors.StatusSuccess || out.User == nil || out.User.ID != e.alice.ID ||
		out.User.Username != "alice" || out.User.TenantDomain != "carbon.super" || out.User.UserStoreDomain != "PRIMARY" {
		t.Fatalf("discoverable login: %+v\n%s", out, e.log.String())
	}
}

// TestRejected is the security acceptance: every tampered or replayed response is refused
// by go-webauthn's verification (or the counter check) inside the authenticator, as a failure,
// never an error.
func TestRejected(t *testing.T) {
	type attempt struct {
		c     connectors.StepContext
		token string
		state json.RawMessage
	}
	tests := []struct {
		name string
		// run returns the submission to refuse, after any successful preparation.
		run    func(t *testing.T, e *env) attempt
		reason connectors.Reason
		// logHas is part of the reason go-webauthn gave, when the case is easily confused.
		logHas string
	}{
		{name: "wrong challenge", logHas: "Error validating challenge", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			var opts map[string]any
			_ = json.Unmarshal(cd.Request, &opts)
			opts["challenge"] = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
			raw, _ := json.Marshal(opts)
			resp, err := e.dev.Get(raw)
			if err != nil {
				t.Fatal(err)
			}
			return attempt{sc("f", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "wrong origin", logHas: "Error validating origin", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", nil, nil))
			e.dev.Origin = "https://evil.example.net"
			resp, err := e.dev.Get(cd.Request)
			if err != nil {
				t.Fatal(err)
			}
			return attempt{sc("f", nil, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "assertion replayed in a new login", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			resp, _ := e.dev.Get(cd.Request)
			token := fidotest.TokenResponse(cd.RequestID, resp)
			if out := e.process(t, sc("f", e.alice, nil), token, res.State); out.Status != connectors.StatusSuccess {
				t.Fatalf("first use: %+v", out)
			}
			res2, _ := e.begin(t, sc("g", e.alice, nil))
			// The attacker's copy carries no request id.
			return attempt{sc("g", e.alice, nil), string(resp), res2.State}
		}},
		{name: "assertion replayed in the same step", logHas: "signature counter did not advance", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			resp, _ := e.dev.Get(cd.Request)
			token := fidotest.TokenResponse(cd.RequestID, resp)
			if out := e.process(t, sc("f", e.alice, nil), token, res.State); out.Status != connectors.StatusSuccess {
				t.Fatalf("first use: %+v", out)
			}
			return attempt{sc("f", e.alice, nil), token, res.State}
		}},
		{name: "cloned sign count", logHas: "signature counter did not advance", run: func(t *testing.T, e *env) attempt {
			for range 3 {
				res, cd := e.begin(t, sc("f", e.alice, nil))
				resp, _ := e.dev.Get(cd.Request)
				if out := e.process(t, sc("f", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State); out.Status != connectors.StatusSuccess {
					t.Fatalf("login: %+v", out)
				}
			}
			// A clone of the key made after the first login: its counter is behind.
			e.dev.Credentials()[0].SignCount = 1
			res, cd := e.begin(t, sc("g", e.alice, nil))
			resp, _ := e.dev.Get(cd.Request)
			return attempt{sc("g", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "another user's passkey", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.bob, nil))
			resp, err := e.dev.GetWith(cd.Request, e.dev.Credentials()[0]) // alice's
			if err != nil {
				t.Fatal(err)
			}
			return attempt{sc("f", e.bob, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "wrong request id", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			resp, _ := e.dev.Get(cd.Request)
			return attempt{sc("f", e.alice, nil), fidotest.TokenResponse("other", resp), res.State}
		}},
		{name: "garbage", run: func(t *testing.T, e *env) attempt {
			res, _ := e.begin(t, sc("f", e.alice, nil))
			return attempt{sc("f", e.alice, nil), "%%%not-base64", res.State}
		}},
		{name: "expired", reason: connectors.ReasonExpired, run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			resp, _ := e.dev.Get(cd.Request)
			e.now = e.now.Add(5 * time.Minute)
			return attempt{sc("f", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "state of another flow", reason: connectors.ReasonInvalidInput, run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			resp, _ := e.dev.Get(cd.Request)
			return attempt{sc("g", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "user verification required", logHas: "User verification", run: func(t *testing.T, e *env) attempt {
			strict, err := fido.New(fido.Config{RPID: rpID, RPOrigins: []string{origin}, UserVerification: "required",
				Now: func() time.Time { return e.now }, Logger: slog.New(slog.NewTextHandler(&e.log, nil))}, fido.Deps{Credentials: e.s, Users: e.s, Organizations: e.s})
			if err != nil {
				t.Fatal(err)
			}
			e.a = strict
			res, cd := e.begin(t, sc("f", e.alice, nil))
			e.dev.UserVerified = false
			resp, _ := e.dev.Get(cd.Request)
			return attempt{sc("f", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
		{name: "backup eligibility changed", run: func(t *testing.T, e *env) attempt {
			res, cd := e.begin(t, sc("f", e.alice, nil))
			e.dev.BackupEligible = true
			resp, _ := e.dev.Get(cd.Request)
			return attempt{sc("f", e.alice, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fido.Config{})
			e.register(t, e.alice)
			e.register(t, e.bob)
			before, _ := e.s.WebAuthnCredentials(t.Context(), rpID, e.alice.ID)
			at := tc.run(t, e)
			out := e.process(t, at.c, at.token, at.state)
			want := tc.reason
			if want == "" {
				want = connectors.ReasonInvalidCredentials
			}
			if out.Status != connectors.StatusFailed || out.Reason != want || out.User != nil {
				t.Fatalf("got %+v, want failed with %s\n%s", out, want, e.log.String())
			}
			if !strings.Contains(e.log.String(), tc.logHas) {
				t.Errorf("refused for another reason than %q:\n%s", tc.logHas, e.log.String())
			}
			after, _ := e.s.WebAuthnCredentials(t.Context(), rpID, e.alice.ID)
			if tc.name == "wrong challenge" || tc.name == "wrong origin" || tc.name == "another user's passkey" {
				if after[0].SignCount != before[0].SignCount {
					t.Error("a refused assertion moved the stored counter")
				}
			}
		})
	}
}

func TestProgressiveEnrollment(t *testing.T) {
	e := newEnv(t, fido.Config{})
	// Without the runtime param a user without a passkey cannot use the step.
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: sc("f", e.alice, nil)})
	if err != nil || res.Outcome == nil || res.Outcome.Reason != connectors.ReasonNotEnrolled {
		t.Fatalf("not enrolled: %+v %v", res, err)
	}
	runtime := map[string]string{fido.RuntimeProgressiveEnrollment: "true"}
	res, cd := e.begin(t, sc("f", e.alice, runtime))
	if cd.Mode != "registration" || len(cd.Creation) == 0 || len(cd.Request) != 0 ||
		res.Prompt.AdditionalData["passkeyMode"] != "registration" {
		t.Fatalf("enrolment prompt: %+v %+v", res.Prompt, cd)
	}
	resp, _, err := e.dev.Create(cd.Creation)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's attestation (for bob's flow) is not accepted in alice's step.
	if out := e.process(t, sc("f", e.bob, runtime), fidotest.TokenResponse(cd.RequestID, resp), res.State); out.Status == connectors.StatusSuccess {
		t.Fatal("enrolment accepted for another user")
	}
	out := e.process(t, sc("f", e.alice, runtime), fidotest.AndroidTokenResponse(cd.RequestID, resp), res.State)
	if out.Status != connectors.StatusSuccess || out.User == nil || out.User.ID != e.alice.ID {
		t.Fatalf("enrolment: %+v\n%s", out, e.log.String())
	}
	stored, err := e.s.WebAuthnCredentials(t.Context(), rpID, e.alice.ID)
	if err != nil || len(stored) != 1 {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	// From now on the step is a login with the new passkey.
	res, cd = e.begin(t, sc("g", e.alice, runtime))
	if cd.Mode != "" || len(cd.Request) == 0 {
		t.Fatalf("after enrolment: %+v", cd)
	}
	assertion, err := e.dev.Get(cd.Request)
	if err != nil {
		t.Fatal(err)
	}
	if out := e.process(t, sc("g", e.alice, runtime), fidotest.TokenResponse(cd.RequestID, assertion), res.State); out.Status != connectors.StatusSuccess {
		t.Fatalf("login with the enrolled passkey: %+v", out)
	}
}

func TestBeginEndsStep(t *testing.T) {
	e := newEnv(t, fido.Config{})
	e.register(t, e.alice)
	tests := []struct {
		name   string
		user   *connectors.User
		prep   func(t *testing.T)
		reason connectors.Reason
	}{
		{name: "unknown user", user: &connectors.User{Username: "nobody"}, reason: connectors.ReasonUserNotFound},
		{name: "disabled", user: e.alice, reason: connectors.ReasonAccountDisabled, prep: func(t *testing.T) {
			if _, err := e.s.ReplaceUser(t.Context(), store.UserReplace{OrgID: e.org.ID, ID: e.alice.ID,
				Username: "alice", Disabled: true}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep(t)
			}
			res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: sc("f", tc.user, nil)})
			if err != nil || res.Outcome == nil || res.Outcome.Reason != tc.reason {
				t.Fatalf("%+v %v", res, err)
			}
		})
	}
}

// TestUsernameOnlyUser covers a user an identifier-first step named without an id.
func TestUsernameOnlyUser(t *testing.T) {
	e := newEnv(t, fido.Config{URLSafeChallengeData: true})
	e.register(t, e.alice)
	u := &connectors.User{Username: "ALICE", UserStoreDomain: "PRIMARY", TenantDomain: "carbon.super", IdP: connectors.LocalIdP}
	res, err := e.a.Begin(t.Context(), connectors.BeginInput{StepContext: sc("f", u, nil)})
	if err != nil || res.Prompt == nil {
		t.Fatalf("%+v %v", res, err)
	}
	data := res.Prompt.AdditionalData["challengeData"]
	if strings.ContainsAny(data, "+/=") {
		t.Errorf("URLSafeChallengeData: %q", data)
	}
	cd, err := fidotest.DecodeChallengeData(data)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := e.dev.Get(cd.Request)
	out := e.process(t, sc("f", u, nil), fidotest.TokenResponse(cd.RequestID, resp), res.State)
	if out.Status != connectors.StatusSuccess || out.User.ID != e.alice.ID || out.User.Username != "alice" {
		t.Fatalf("%+v", out)
	}
}

func TestContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		e := newEnv(t, fido.Config{})
		e.register(t, e.alice)
		// Valid answers the challenge held in the state, as the client answers challengeData.
		options := func(t *testing.T, state json.RawMessage) (string, []byte) {
			var st struct {
				RequestID string `json:"requestId"`
				Session   struct {
					Challenge string `json:"challenge"`
				} `json:"session"`
			}
			if err := json.Unmarshal(state, &st); err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(map[string]string{"challenge": st.Session.Challenge, "rpId": rpID})
			return st.RequestID, raw
		}
		return connectortest.Fixture{
			Authenticator: e.a,
			User:          e.alice,
			Valid: func(t *testing.T, state json.RawMessage) map[string]string {
				id, opts := options(t, state)
				resp, err := e.dev.Get(opts)
				if err != nil {
					t.Fatal(err)
				}
				return map[string]string{fido.ParamTokenResponse: fidotest.TokenResponse(id, resp)}
			},
			Invalid: func(t *testing.T, state json.RawMessage) map[string]string {
				id, opts := options(t, state)
				var o map[string]string
				_ = json.Unmarshal(opts, &o)
				o["challenge"] = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
				raw, _ := json.Marshal(o)
				resp, err := e.dev.Get(raw)
				if err != nil {
					t.Error(err)
				}
				return map[string]string{fido.ParamTokenResponse: fidotest.TokenResponse(id, resp)}
			},
		}
	})
}

func TestNewValidates(t *testing.T) {
	s := storetest.New(t)
	deps := fido.Deps{Credentials: s, Users: s, Organizations: s}
	tests := []struct {
		name string
		cfg  fido.Config
		deps fido.Deps
	}{
		{name: "no deps", cfg: fido.Config{RPID: rpID, RPOrigins: []string{origin}}},
		{name: "no rp id", cfg: fido.Config{RPOrigins: []string{origin}}, deps: deps},
		{name: "no origins", cfg: fido.Config{RPID: rpID}, deps: deps},
		{name: "bad origin", cfg: fido.Config{RPID: rpID, RPOrigins: []string{"id.example.com"}}, deps: deps},
		{name: "bad uv", cfg: fido.Config{RPID: rpID, RPOrigins: []string{origin}, UserVerification: "always"}, deps: deps},
		{name: "bad timeout", cfg: fido.Config{RPID: rpID, RPOrigins: []string{origin}, Timeout: time.Second}, deps: deps},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fido.New(tc.cfg, tc.deps); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := fido.New(fido.Config{RPID: rpID, RPOrigins: []string{origin, "android:apk-key-hash:abc"}}, deps); err != nil {
		t.Errorf("web and app origins: %v", err)
	}
}

// TestConcurrentLogins runs whole ceremonies of several users at once (run with -race): one
// authenticator value serves every login on a worker.
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t, fido.Config{})
	users := []*connectors.User{e.alice, e.bob, e.user(t, "carol"), e.user(t, "dave")}
	devs := make([]*fidotest.Authenticator, len(users))
	for i, u := range users {
		e.dev = fidotest.New(origin)
		devs[i] = e.dev
		e.register(t, u)
	}
	errs := make(chan string, 2*len(users))
	done := make(chan struct{})
	for i, u := range users {
		for j, first := range []bool{false, true} {
			go func() {
				defer func() { done <- struct{}{} }()
				flow := u.Username + string(rune('0'+j))
				c := sc(flow, u, nil)
				if first {
					c = sc(flow, nil, nil)
				}
				res, err := e.a.Begin(context.Background(), connectors.BeginInput{StepContext: c})
				if err != nil || res.Prompt == nil {
					errs <- "Begin failed"
					return
				}
				cd, err := fidotest.DecodeChallengeData(res.Prompt.AdditionalData["challengeData"])
				if err != nil {
					errs <- err.Error()
					return
				}
				resp, err := devs[i].Get(cd.Request)
				if err != nil {
					errs <- err.Error()
					return
				}
				out, err := e.a.Process(context.Background(), connectors.ProcessInput{StepContext: c,
					Params: map[string]string{fido.ParamTokenResponse: fidotest.TokenResponse(cd.RequestID, resp)},
					State:  res.State, Attempt: 1})
				// Two logins of one user race on the signature counter: the second may be refused
				// as a possible replay, never accepted for another user.
				if err != nil || (out.Status == connectors.StatusSuccess && out.User.ID != u.ID) {
					errs <- "Process: " + string(out.Status)
				}
			}()
		}
	}
	for range 2 * len(users) {
		<-done
	}
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}
