package authn

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/flows"
)

// FlowTypeAuthentication is AuthResponse.flowType; app-native logins have no other.
const FlowTypeAuthentication = "AUTHENTICATION"

// LinkAuthentication names the link to /oauth2/authn.
const LinkAuthentication = "authentication"

// AuthResponse is the body of a non-final step (INCOMPLETE, FAIL_INCOMPLETE) and, with only
// FlowStatus and AuthData, of SUCCESS_COMPLETED (wso2-wire.md §1.3, §1.8). Field tags follow
// Jackson's NON_EMPTY: what is empty is left out.
type AuthResponse struct {
	FlowID     string            `json:"flowId,omitempty"`
	FlowStatus flows.FlowStatus  `json:"flowStatus"`
	FlowType   string            `json:"flowType,omitempty"`
	NextStep   *NextStep         `json:"nextStep,omitempty"`
	Links      []Link            `json:"links,omitempty"`
	AuthData   map[string]string `json:"authData,omitempty"`
}

// NextStep is what the app must show. Authenticators is always present (the Android SDK
// requires it), Messages only when there are some.
type NextStep struct {
	StepType       flows.StepType  `json:"stepType"`
	Authenticators []Authenticator `json:"authenticators"`
	Messages       []Message       `json:"messages,omitempty"`
}

// Authenticator is one option of the step.
type Authenticator struct {
	AuthenticatorID string `json:"authenticatorId"`
	// Authenticator is the display name; the Android SDK matches on it.
	Authenticator  string   `json:"authenticator"`
	IdP            string   `json:"idp"`
	Metadata       Metadata `json:"metadata"`
	RequiredParams []string `json:"requiredParams,omitempty"`
}

// Metadata describes how to prompt; everything but I18nKey appears only once the
// authenticator is initiated.
type Metadata struct {
	I18nKey        string            `json:"i18nKey,omitempty"`
	PromptType     string            `json:"promptType,omitempty"`
	Params         []Param           `json:"params,omitempty"`
	AdditionalData map[string]string `json:"additionalData,omitempty"`
}

// Param is one value to collect. Order and Confidential are primitives in WSO2's model, so they
// are always sent (0 and false included); the wire name is "confidential" (§6 #1).
type Param struct {
	Param        string `json:"param"`
	Type         string `json:"type,omitempty"`
	Order        int    `json:"order"`
	I18nKey      string `json:"i18nKey,omitempty"`
	DisplayName  string `json:"displayName,omitempty"`
	Confidential bool   `json:"confidential"`
}

// Message is an INFO or ERROR message of the step.
type Message struct {
	Type      string           `json:"type"`
	MessageID string           `json:"messageId,omitempty"`
	Message   string           `json:"message,omitempty"`
	I18nKey   string           `json:"i18nKey,omitempty"`
	Context   []MessageContext `json:"context,omitempty"`
}

// MessageContext is one substitution value of a message.
type MessageContext struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Link is where the next request goes; the React/Vue SDKs post to links[0].href.
type Link struct {
	Name   string `json:"name"`
	Href   string `json:"href"`
	Method string `json:"method"`
}

// ErrorBody is the body of every non-200 answer. Gson serialises all four fields, traceId
// included when empty.
type ErrorBody struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Description string `json:"description"`
	TraceID     string `json:"traceId"`
}

// AuthRequest is the body of POST /oauth2/authn (wso2-wire.md §1.5).
type AuthRequest struct {
	FlowID                string                 `json:"flowId"`
	SelectedAuthenticator *SelectedAuthenticator `json:"selectedAuthenticator"`
}

// SelectedAuthenticator is the option answered and its values.
type SelectedAuthenticator struct {
	AuthenticatorID string `json:"authenticatorId"`
	// Params values may be strings or arrays of strings; other types are dropped, as WSO2 does.
	Params map[string]json.RawMessage `json:"params"`
}

// stepParams flattens params to the single values authenticators read: a string as is, an
// array's first string (WSO2 turns arrays into multi-valued request parameters, and
// authenticators read the first value).
func stepParams(in map[string]json.RawMessage) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, raw := range in {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			out[k] = s
			continue
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err == nil && len(list) > 0 {
			out[k] = list[0]
		}
	}
	return out
}

// stepResponse renders a non-final view. A view without a step (a script prompt) cannot be
// shown by app-native clients: WSO2 does not support prompt() there either.
func stepResponse(v flows.View, authnURL string) (AuthResponse, error) {
	if v.Step == nil {
		return AuthResponse{}, ErrNotSupported().withCause(fmt.Errorf("view %d of flow %s is not a step", v.Seq, v.FlowID))
	}
	ns := &NextStep{StepType: v.Step.Type, Authenticators: make([]Authenticator, 0, len(v.Step.Authenticators))}
	for _, a := range v.Step.Authenticators {
		ns.Authenticators = append(ns.Authenticators, authenticator(a))
	}
	for _, m := range v.Messages {
		ns.Messages = append(ns.Messages, message(m))
	}
	return AuthResponse{
		FlowID: v.FlowID, FlowStatus: v.Status, FlowType: FlowTypeAuthentication, NextStep: ns,
		Links: []Link{{Name: LinkAuthentication, Href: authnURL, Method: "POST"}},
	}, nil
}

func authenticator(a flows.AuthenticatorView) Authenticator {
	out := Authenticator{AuthenticatorID: a.ID, Authenticator: a.DisplayName, IdP: a.IdP,
		RequiredParams: a.RequiredParams,
		Metadata: Metadata{I18nKey: a.Metadata.I18nKey, PromptType: string(a.Metadata.Type),
			AdditionalData: a.Metadata.AdditionalData}}
	params := slices.Clone(a.Metadata.Params)
	slices.SortStableFunc(params, func(x, y connectors.Param) int { return x.Order - y.Order })
	for _, p := range params {
		out.Metadata.Params = append(out.Metadata.Params, Param{Param: p.Name, Type: string(p.Type), Order: p.Order,
			I18nKey: p.I18nKey, DisplayName: p.DisplayName, Confidential: p.Confidential})
	}
	return out
}

func message(m connectors.Message) Message {
	out := Message{Type: string(m.Type), MessageID: m.ID, Message: m.Message, I18nKey: m.I18nKey}
	if out.I18nKey == "" && m.ID != "" {
		out.I18nKey = "message." + m.ID
	}
	keys := make([]string, 0, len(m.Context))
	for k := range m.Context {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order for a map that has none
	for _, k := range keys {
		out.Context = append(out.Context, MessageContext{Key: k, Value: m.Context[k]})
	}
	return out
}
