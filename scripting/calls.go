package scripting

import (
	"encoding/json"
	"strings"

	"github.com/dop251/goja"
)

// Host function names of the analytics and Choreo calls.
const (
	FnCallAnalytics = "callAnalytics"
	FnCallElastic   = "callElastic"
	FnCallChoreo    = "callChoreo"
)

// objectArgs checks that a call has exactly n object arguments and returns them; anything else
// throws, like a Java signature mismatch in WSO2.
func (s *Session) objectArgs(fn string, call goja.FunctionCall, n int) []*goja.Object {
	if len(call.Arguments) != n {
		s.throw("%s: expected %d arguments, got %d", fn, n, len(call.Arguments))
	}
	out := make([]*goja.Object, n)
	for i, v := range call.Arguments {
		obj, ok := asObject(v)
		if !ok {
			s.throw("%s: argument %d must be an object", fn, i+1)
		}
		out[i] = obj
	}
	return out
}

func (s *Session) marshal(fn string, obj *goja.Object) json.RawMessage {
	raw, err := obj.MarshalJSON()
	if err != nil {
		rethrowUncatchable(err)
		s.throw("%s: payload is not serialisable: %v", fn, err)
	}
	return raw
}

// callAnalytics(metadata, payloadData, eventHandlers) posts {"event": payloadData} to the
// analytics receiver (configured on the caller) at /<Application>/<InputStream>, or at
// metadata.ReceiverUrl. HTTP 200 fires onSuccess(context, response); anything else onFail.
func (s *Session) callAnalytics(call goja.FunctionCall) goja.Value {
	args := s.objectArgs(FnCallAnalytics, call, 3)
	meta := args[0]
	path := stringMember(meta, "ReceiverUrl")
	if path == "" {
		path = "/" + stringMember(meta, "Application") + "/" + stringMember(meta, "InputStream")
	}
	body, err := json.Marshal(map[string]json.RawMessage{"event": s.marshal(FnCallAnalytics, args[1])})
	if err != nil {
		s.throw("callAnalytics: %v", err)
	}
	req := HTTPRequest{Method: "POST", URL: path, Body: body, Function: FnCallAnalytics, TenantDomain: s.setup.TenantDomain}
	s.add(&CallNode{Function: FnCallAnalytics, Request: req, callbacks: s.callbacksFrom(FnCallAnalytics, args[2])})
	return goja.Undefined()
}

// callElastic(params, eventHandlers) runs WSO2's fixed risk aggregation against the Elasticsearch
// receiver (configured on the caller): params username (required), index (default
// "transaction"), duration (default "5m"), riskLogic (a Painless map script) and threshold
// (default 10000). onSuccess(context, {risk_score: 0|1}); 1 when the sum exceeds the threshold.
func (s *Session) callElastic(call goja.FunctionCall) goja.Value {
	args := s.objectArgs(FnCallElastic, call, 2)
	params := s.stringMap(args[0])
	if params["username"] == "" {
		s.throw("callElastic: username is required")
	}
	req := HTTPRequest{Method: "POST", Function: FnCallElastic, Params: params, TenantDomain: s.setup.TenantDomain}
	s.add(&CallNode{Function: FnCallElastic, Request: req, callbacks: s.callbacksFrom(FnCallElastic, args[1])})
	return goja.Undefined()
}

// callChoreo(connectionMetadata, payload, eventHandlers) posts payload as JSON to
// connectionMetadata.url with a client-credentials bearer token obtained with consumerKey and
// consumerSecret (or the secrets named by consumerKeyAlias and consumerSecretAlias) from
// asgardeoTokenEndpoint, else the caller's configured token endpoint. Outcomes as httpPost.
func (s *Session) callChoreo(call goja.FunctionCall) goja.Value {
	args := s.objectArgs(FnCallChoreo, call, 3)
	meta := args[0]
	cred := func(name string) string {
		if v := stringMember(meta, name); v != "" {
			return v
		}
		if alias := stringMember(meta, name+"Alias"); alias != "" {
			return SecretRef(alias)
		}
		return ""
	}
	req := HTTPRequest{Method: "POST", URL: strings.TrimSpace(stringMember(meta, "url")), Body: s.marshal(FnCallChoreo, args[1]),
		Function: FnCallChoreo, TenantDomain: s.setup.TenantDomain,
		Auth: &HTTPAuth{Type: "clientcredential", Properties: map[string]string{
			"consumerKey": cred("consumerKey"), "consumerSecret": cred("consumerSecret"),
			"tokenEndpoint": stringMember(meta, "asgardeoTokenEndpoint")}}}
	s.add(&CallNode{Function: FnCallChoreo, Request: req, callbacks: s.callbacksFrom(FnCallChoreo, args[2])})
	return goja.Undefined()
}
