package scripting

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/keyflow/keyflow/connectors"
)

// Host function names. They are part of the script API and of replay compatibility: changing
// what one does goes behind workflow.GetVersion in the binding, never a silent edit.
const (
	FnExecuteStep                   = "executeStep"
	FnSendError                     = "sendError"
	FnFail                          = "fail"
	FnPrompt                        = "prompt"
	FnSelectAcrFrom                 = "selectAcrFrom"
	FnHasRole                       = "hasRole"
	FnHasAnyOfTheRoles              = "hasAnyOfTheRoles"
	FnHasAnyOfTheRolesV2            = "hasAnyOfTheRolesV2"
	FnIsAnyOfTheRolesAssignedToUser = "isAnyOfTheRolesAssignedToUser"
	FnIsMemberOfAnyOfGroups         = "isMemberOfAnyOfGroups"
	FnGetMaskedValue                = "getMaskedValue"
	FnFilterAuthenticators          = "filterAuthenticators"
	FnGetValueFromDecodedAssertion  = "getValueFromDecodedAssertion"
	FnHTTPGet                       = "httpGet"
	FnHTTPPost                      = "httpPost"
	FnGetSecretByName               = "getSecretByName"
)

// secretsProxy is the `secrets` global WSO2 pre-evaluates (secrets.<name> → getSecretByName).
const secretsProxy = `var secrets = new Proxy({}, { get: function(target, prop) { return getSecretByName(prop); } });`

// secretRefPrefix and secretRefSuffix delimit a secret reference. NUL cannot appear in a secret
// name a script writes by accident, and keeps the reference unmistakable when substituted.
const (
	secretRefPrefix = "\x00secret:"
	secretRefSuffix = "\x00"
)

// SecretRef is what getSecretByName(name) and secrets.<name> return to a script: an opaque
// reference, not the value. The value is substituted only inside the activity that makes an
// httpGet/httpPost call (ResolveSecretRefs), so it never enters workflow history or a script
// variable that could be logged.
func SecretRef(name string) string { return secretRefPrefix + name + secretRefSuffix }

// ResolveSecretRefs replaces every secret reference in s with lookup(name).
func ResolveSecretRefs(s string, lookup func(name string) (string, error)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, secretRefPrefix)
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		rest := s[i+len(secretRefPrefix):]
		j := strings.Index(rest, secretRefSuffix)
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		val, err := lookup(rest[:j])
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(val)
		s = rest[j+len(secretRefSuffix):]
	}
}

// restrictedFunctions are the Nashorn shell globals WSO2 replaces with stubs that only log.
var restrictedFunctions = []string{"quit", "exit", "print", "echo", "readFully", "readLine", "load", "loadWithNewGlobal"}

// restrictedValues are set to null, as WSO2 does.
var restrictedValues = []string{"$ARG", "$ENV", "$EXEC", "$OPTIONS", "$OUT", "$ERR", "$EXIT", "engine"}

// install binds the script API into the runtime's global object.
func (s *Session) install() error {
	vm := s.vm
	fns := map[string]func(goja.FunctionCall) goja.Value{
		FnExecuteStep:                          s.executeStep,
		FnSendError:                            s.sendError,
		FnFail:                                 s.fail,
		FnPrompt:                               s.prompt,
		FnSelectAcrFrom:                        s.selectAcrFrom,
		FnHasRole:                              s.hasRole,
		FnHasAnyOfTheRoles:                     s.hasAnyOfTheRoles,
		FnHasAnyOfTheRolesV2:                   s.hasAnyOfTheRolesV2,
		FnIsAnyOfTheRolesAssignedToUser:        s.hasAnyOfTheRoles,
		FnIsMemberOfAnyOfGroups:                s.isMemberOfAnyOfGroups,
		FnGetMaskedValue:                       s.getMaskedValue,
		FnFilterAuthenticators:                 s.filterAuthenticators,
		FnGetValueFromDecodedAssertion:         s.getValueFromDecodedAssertion,
		FnHTTPGet:                              s.httpGet,
		FnHTTPPost:                             s.httpPost,
		FnSetCookie:                            s.setCookie,
		FnGetCookieValue:                       s.getCookieValue,
		FnRequire:                              s.require,
		FnLoadLocalLibrary:                     s.loadLocalLibrary,
		FnGetUniqueUserWithClaimValues:         s.getUniqueUserWithClaimValues,
		FnGetUsersWithClaimValues:              s.getUsersWithClaimValues,
		FnResolveMultiAttributeLoginIdentifier: s.resolveMultiAttributeLoginIdentifier,
		FnGetAssociatedLocalUser:               s.getAssociatedLocalUser,
		FnDoAssociationWithLocalUser:           s.doAssociationWithLocalUser,
		FnRemoveAssociatedLocalUser:            s.removeAssociatedLocalUser,
		FnUpdateUserPassword:                   s.updateUserPassword,
		FnSendEmail:                            s.sendEmail,
		FnGetUserSessions:                      s.getUserSessions,
		FnTerminateUserSession:                 s.terminateUserSession,
		FnPromptIdentifierForStep:              s.promptIdentifierForStep,
		FnCheckSessionExistence:                s.checkSessionExistence,
		FnCallAnalytics:                        s.callAnalytics,
		FnCallElastic:                          s.callElastic,
		FnCallChoreo:                           s.callChoreo,
		FnGetSecretByName: func(call goja.FunctionCall) goja.Value {
			return s.vm.ToValue(SecretRef(call.Argument(0).String()))
		},
	}
	for name, fn := range fns {
		if err := vm.Set(name, fn); err != nil {
			return fmt.Errorf("bind %s: %w", name, err)
		}
	}
	for _, name := range restrictedFunctions {
		name := name
		if err := vm.Set(name, func(goja.FunctionCall) goja.Value {
			s.log.Error("script called a restricted function; ignored", "function", name)
			return goja.Undefined()
		}); err != nil {
			return fmt.Errorf("bind %s: %w", name, err)
		}
	}
	for _, name := range restrictedValues {
		if err := vm.Set(name, goja.Null()); err != nil {
			return fmt.Errorf("bind %s: %w", name, err)
		}
	}
	parse, ok := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	if !ok {
		return errors.New("JSON.parse is missing")
	}
	s.jsonParse = parse
	if _, err := vm.RunString(secretsProxy); err != nil {
		return fmt.Errorf("define secrets: %w", err)
	}
	return vm.Set("Log", s.logObject())
}

// logObject is WSO2's Log: info, debug, error, and log (joined with spaces, at debug). warn does
// not exist in WSO2; it is accepted here because accepting more is harmless.
func (s *Session) logObject() *goja.Object {
	obj := s.vm.NewObject()
	level := map[string]slog.Level{"info": slog.LevelInfo, "debug": slog.LevelDebug, "error": slog.LevelError,
		"warn": slog.LevelWarn, "log": slog.LevelDebug}
	for _, name := range []string{"info", "debug", "error", "warn", "log"} {
		lv := level[name]
		_ = obj.Set(name, func(call goja.FunctionCall) goja.Value {
			parts := make([]string, len(call.Arguments))
			for i, a := range call.Arguments {
				parts[i] = a.String()
			}
			s.log.Log(s.cfg.Context, lv, strings.Join(parts, " "), "source", "script")
			return goja.Undefined()
		})
	}
	return obj
}

// rethrowUncatchable re-panics goja's uncatchable errors (the CPU-budget interrupt, sendError/fail,
// stack overflow) that a host function got back from calling into script code, so they keep
// unwinding the whole slice instead of becoming a catchable exception.
func rethrowUncatchable(err error) {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		panic(ie)
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		panic(so)
	}
}

// throw raises a JS TypeError in the calling script.
func (s *Session) throw(format string, args ...any) {
	panic(s.vm.NewTypeError(fmt.Sprintf(format, args...)))
}

// trailing decodes WSO2's positional convention for (fixed…, [options], handlers): the last extra
// argument must be an object and is the handler map; when there are exactly two extras the first
// is the options/data object.
func (s *Session) trailing(fn string, extra []goja.Value) (opts, handlers *goja.Object) {
	if len(extra) == 0 {
		return nil, nil
	}
	last := extra[len(extra)-1]
	if obj, ok := asObject(last); ok {
		handlers = obj
	} else {
		s.log.Error("invalid argument: last argument should be a map of event listeners", "function", fn)
	}
	if len(extra) == 2 {
		if obj, ok := asObject(extra[0]); ok {
			opts = obj
		}
	}
	return opts, handlers
}

// asObject accepts plain objects (not functions, null or undefined).
func asObject(v goja.Value) (*goja.Object, bool) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, false
	}
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	if _, isFn := goja.AssertFunction(obj); isFn {
		return nil, false
	}
	return obj, true
}

func (s *Session) callbacksFrom(fn string, obj *goja.Object) callbacks {
	if obj == nil {
		return nil
	}
	cbs := callbacks{}
	for _, k := range obj.Keys() {
		if f, ok := goja.AssertFunction(obj.Get(k)); ok {
			cbs[k] = f
		} else {
			s.log.Error("event listener is not a function; ignored", "function", fn, "key", k)
		}
	}
	return cbs
}

// executeStep(stepId [, options], [eventCallbacks]) adds a step node. It does not run the step:
// the driver does when the node is reached (after the current slice returns).
func (s *Session) executeStep(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		s.throw("executeStep requires a step id")
	}
	step := int(call.Argument(0).ToInteger())
	opts, handlers := s.trailing(FnExecuteStep, call.Arguments[1:])
	if step < 1 || step > len(s.setup.Steps) {
		s.log.Error(fmt.Sprintf("Given Authentication Step :%d is not in Environment", step))
		return goja.Undefined()
	}
	node := &StepNode{Step: step, Options: s.setup.Steps[step-1].Options}
	if opts != nil {
		s.applyOptions(node, opts)
	}
	node.callbacks = s.callbacksFrom(FnExecuteStep, handlers)
	s.add(node)
	return goja.Undefined()
}

// applyOptions handles executeStep's options: authenticationOptions (a whitelist filter),
// authenticatorParams (runtime parameters for the rest of the transaction) and stepOptions.
func (s *Session) applyOptions(node *StepNode, opts *goja.Object) {
	if v := opts.Get("authenticationOptions"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
		node.Options = s.filterOptions(node.Step, node.Options, listItems(v))
	}
	if v, ok := asObject(opts.Get("authenticatorParams")); ok {
		s.storeRuntimeParams(v)
	}
	if v, ok := asObject(opts.Get("stepOptions")); ok {
		if b, set := boolOption(v, "forceAuth"); set {
			node.ForceAuth = b
		}
		if b, set := boolOption(v, "markAsSubjectIdentifierStep"); set && b {
			for k := range s.tx.subjectFlag {
				s.tx.subjectFlag[k] = false
			}
			s.tx.subjectFlag[node.Step] = true
		}
		if b, set := boolOption(v, "markAsSubjectAttributeStep"); set && b {
			for k := range s.tx.attributeFlag {
				s.tx.attributeFlag[k] = false
			}
			s.tx.attributeFlag[node.Step] = true
		}
	}
}

// boolOption parses a stepOptions flag like Java's Boolean.parseBoolean of its string value.
func boolOption(obj *goja.Object, key string) (value, set bool) {
	v := obj.Get(key)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return false, false
	}
	return strings.EqualFold(v.String(), "true"), true
}

// filterOptions keeps the options matching any entry of authenticationOptions. Entries are
// {authenticator: name[, idp]} (idp defaults to LOCAL; name or display name matches) or
// {idp: name} (every option of that IdP; spaces in connection names may be written as "_").
// An empty result keeps the original list, as WSO2 does.
func (s *Session) filterOptions(step int, options []Option, entries []goja.Value) []Option {
	var out []Option
	for _, o := range options {
		for _, e := range entries {
			obj, ok := asObject(e)
			if !ok {
				continue
			}
			if optionMatches(o, stringMember(obj, "authenticator"), stringMember(obj, "idp")) {
				out = append(out, o)
				break
			}
		}
	}
	if len(out) == 0 {
		s.log.Info("The filtered authenticator list is empty, hence proceeding without filtering", "step", step)
		return options
	}
	return out
}

func optionMatches(o Option, authenticator, idp string) bool {
	if authenticator == "" {
		return idp != "" && idpMatches(o.IdP, idp)
	}
	if idp == "" {
		idp = connectors.LocalIdP
	}
	if !idpMatches(o.IdP, idp) {
		return false
	}
	return o.Authenticator == authenticator || (o.DisplayName != "" && strings.EqualFold(o.DisplayName, authenticator))
}

func idpMatches(configured, requested string) bool {
	return configured == requested || strings.ReplaceAll(configured, " ", "_") == requested
}

func stringMember(obj *goja.Object, key string) string {
	v := obj.Get(key)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

// listItems accepts a JS array or an index-keyed object ({"0": …, "1": …}), the two shapes WSO2
// passes around for option lists.
func listItems(v goja.Value) []goja.Value {
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil
	}
	keys := obj.Keys()
	if obj.ClassName() != "Array" {
		sort.SliceStable(keys, func(i, j int) bool {
			a, errA := strconv.Atoi(keys[i])
			b, errB := strconv.Atoi(keys[j])
			if errA == nil && errB == nil {
				return a < b
			}
			return keys[i] < keys[j]
		})
	}
	out := make([]goja.Value, 0, len(keys))
	for _, k := range keys {
		out = append(out, obj.Get(k))
	}
	return out
}

// storeRuntimeParams merges authenticatorParams {common, local.<name>, federated.<idp>} into the
// transaction; values become strings.
func (s *Session) storeRuntimeParams(obj *goja.Object) {
	merge := func(key string, v goja.Value) {
		m, ok := asObject(v)
		if !ok {
			return
		}
		if s.tx.runtimeParams[key] == nil {
			s.tx.runtimeParams[key] = map[string]string{}
		}
		for _, k := range m.Keys() {
			s.tx.runtimeParams[key][k] = m.Get(k).String()
		}
	}
	merge("common", obj.Get("common"))
	for _, group := range []string{"local", "federated"} {
		g, ok := asObject(obj.Get(group))
		if !ok {
			continue
		}
		for _, name := range g.Keys() {
			merge(group+":"+name, g.Get(name))
		}
	}
}

// sendError(url, params) ends the login with a redirect to an error page carrying params.
// Both arguments are required, as in WSO2's Java signature (a missing map throws there too).
func (s *Session) sendError(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) < 2 {
		s.throw("sendError requires a url and a parameter map")
	}
	n := &FailNode{Kind: FailSendError, Params: map[string]string{}, Reason: "script called sendError"}
	if u := call.Argument(0); !goja.IsUndefined(u) && !goja.IsNull(u) {
		n.RedirectURL = u.String()
	}
	if m, ok := asObject(call.Argument(1)); ok {
		for _, k := range m.Keys() {
			n.Params[k] = javaString(m.Get(k))
		}
	}
	s.halt(n)
	return goja.Undefined()
}

// fail([params]) ends the login with a protocol error to the client: errorCode, errorMessage and
// errorURI. More than one argument ignores the parameters, as WSO2 does.
func (s *Session) fail(call goja.FunctionCall) goja.Value {
	n := &FailNode{Kind: FailProtocol, Reason: "script called fail"}
	if len(call.Arguments) == 1 {
		if m, ok := asObject(call.Argument(0)); ok {
			n.ErrorCode = stringMember(m, "errorCode")
			n.ErrorMessage = stringMember(m, "errorMessage")
			n.ErrorURI = stringMember(m, "errorURI")
		}
	}
	if n.ErrorURI != "" {
		if _, err := url.Parse(n.ErrorURI); err != nil {
			s.throw("fail: errorURI is not a URL: %v", err)
		}
	}
	s.halt(n)
	return goja.Undefined()
}

// javaString stringifies like Java's String.valueOf on the value a script passed.
func javaString(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "null"
	}
	return v.String()
}

// prompt(templateId, [data], eventHandlers) adds a prompt node; data must be JSON-serialisable.
func (s *Session) prompt(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		s.throw("prompt requires a template id")
	}
	data, handlers := s.trailing(FnPrompt, call.Arguments[1:])
	n := &PromptNode{Template: call.Argument(0).String(), Data: json.RawMessage("null")}
	if data != nil {
		raw, err := data.MarshalJSON() // may run script code (toJSON, getters)
		if err != nil {
			rethrowUncatchable(err)
			s.throw("prompt: data is not serialisable: %v", err)
		}
		n.Data = raw
	}
	n.callbacks = s.callbacksFrom(FnPrompt, handlers)
	s.add(n)
	return goja.Undefined()
}

// selectAcrFrom(context, acrs) returns the first of the script's ACR values (its preference
// order) that the client requested, or null.
func (s *Session) selectAcrFrom(call goja.FunctionCall) goja.Value {
	requested := map[string]bool{}
	for _, a := range s.setup.RequestedACR {
		requested[a] = true
	}
	for _, v := range listItems(call.Argument(1)) {
		if a := v.String(); requested[a] {
			return s.vm.ToValue(a)
		}
	}
	return goja.Null()
}

// httpGet(url, [headers], [authConfig], eventHandlers) adds an external call node; 1 to 3 maps
// follow the URL, the last being the handlers. Any other shape throws, as in WSO2.
func (s *Session) httpGet(call goja.FunctionCall) goja.Value {
	maps := s.callMaps(FnHTTPGet, call, 3)
	req := HTTPRequest{Method: "GET", URL: call.Argument(0).String(), TenantDomain: s.setup.TenantDomain}
	switch len(maps) {
	case 2:
		req.Headers = s.stringMap(maps[0])
	case 3:
		req.Headers, req.Auth = s.stringMap(maps[0]), s.authConfig(maps[1])
	}
	s.add(&CallNode{Function: FnHTTPGet, Request: req, callbacks: s.callbacksFrom(FnHTTPGet, maps[len(maps)-1])})
	return goja.Undefined()
}

// httpPost(url, [body], [headers], [authConfig], eventHandlers): 1 to 4 maps after the URL.
func (s *Session) httpPost(call goja.FunctionCall) goja.Value {
	maps := s.callMaps(FnHTTPPost, call, 4)
	req := HTTPRequest{Method: "POST", URL: call.Argument(0).String(), TenantDomain: s.setup.TenantDomain}
	if len(maps) >= 2 {
		raw, err := maps[0].MarshalJSON()
		if err != nil {
			rethrowUncatchable(err)
			s.throw("httpPost: body is not serialisable: %v", err)
		}
		req.Body = raw
	}
	if len(maps) >= 3 {
		req.Headers = s.stringMap(maps[1])
	}
	if len(maps) == 4 {
		req.Auth = s.authConfig(maps[2])
	}
	s.add(&CallNode{Function: FnHTTPPost, Request: req, callbacks: s.callbacksFrom(FnHTTPPost, maps[len(maps)-1])})
	return goja.Undefined()
}

// callMaps checks the (url, map…) shape of the http functions and returns the maps.
func (s *Session) callMaps(fn string, call goja.FunctionCall, most int) []*goja.Object {
	extra := call.Arguments[min(1, len(call.Arguments)):]
	if len(call.Arguments) < 2 || len(extra) > most {
		s.throw("%s: invalid number of arguments", fn)
	}
	maps := make([]*goja.Object, len(extra))
	for i, v := range extra {
		obj, ok := asObject(v)
		if !ok {
			s.throw("%s: argument %d must be an object", fn, i+2)
		}
		maps[i] = obj
	}
	return maps
}

func (s *Session) stringMap(obj *goja.Object) map[string]string {
	out := make(map[string]string, len(obj.Keys()))
	for _, k := range obj.Keys() {
		out[k] = obj.Get(k).String()
	}
	return out
}

func (s *Session) authConfig(obj *goja.Object) *HTTPAuth {
	a := &HTTPAuth{Type: stringMember(obj, "type")}
	if props, ok := asObject(obj.Get("properties")); ok {
		a.Properties = s.stringMap(props)
	}
	return a
}
