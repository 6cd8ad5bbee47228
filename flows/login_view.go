package flows

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/keyflow/keyflow/connectors"
)

// AuthenticatorID is app-native's authenticatorId: base64url(name + ":" + idp) without padding
// (WSO2 app-native §1.4). SDKs hard-code the values of the built-in authenticators.
func AuthenticatorID(name, idp string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name + ":" + idp))
}

// DecodeAuthenticatorID reverses AuthenticatorID; ok is false unless the id decodes to exactly
// two parts, as WSO2 requires.
func DecodeAuthenticatorID(id string) (name, idp string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil {
		return "", "", false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// stepView renders a step: all options before a choice in a multi-option step, else the chosen
// one. Options that must be initiated show only their i18nKey until they are.
func (r *loginRun) stepView(st *stepState) *StepView {
	v := &StepView{Step: st.node.Step, LoginHint: r.in.Request.LoginHint}
	if st.selected < 0 {
		v.Type = StepMultiOptionsPrompt
		for _, o := range st.options {
			v.Authenticators = append(v.Authenticators, authenticatorView(o, o.auth.Prompt(), !o.auth.Prompt().Initiate))
		}
		return v
	}
	v.Type = StepAuthenticatorPrompt
	o := st.options[st.selected]
	v.Authenticators = []AuthenticatorView{authenticatorView(o, st.prompt, st.begun || !st.prompt.Initiate)}
	return v
}

func authenticatorView(o option, p connectors.Prompt, ready bool) AuthenticatorView {
	av := AuthenticatorView{ID: AuthenticatorID(o.Authenticator, o.IdP), Name: o.Authenticator,
		DisplayName: o.auth.DisplayName(), IdP: o.IdP}
	if !ready {
		av.Metadata = connectors.Prompt{I18nKey: p.I18nKey}
		return av
	}
	av.Metadata = p
	av.Metadata.Initiate = false
	if av.Metadata.Type == "" {
		av.Metadata.Type = connectors.PromptUser
	}
	av.RequiredParams = p.RequiredParams()
	return av
}

// retryMessages are the messages of a re-shown step (FAIL_INCOMPLETE): the authenticator's, or
// WSO2's default ABA-60003 with the remaining attempts.
func retryMessages(out connectors.Outcome) []connectors.Message {
	if len(out.Messages) > 0 {
		return out.Messages
	}
	m := connectors.Message{Type: connectors.MessageError, ID: "ABA-60003", Message: "Authentication failure.",
		I18nKey: "message.ABA-60003"}
	if out.RemainingAttempts > 0 {
		m.Context = map[string]string{"remainingAttempts": strconv.Itoa(out.RemainingAttempts)}
	}
	return []connectors.Message{m}
}

func invalidAuthenticator() connectors.Message {
	return connectors.Message{Type: connectors.MessageError, ID: "ABA-60012", Message: "Invalid authenticator.",
		I18nKey: "message.ABA-60012"}
}
