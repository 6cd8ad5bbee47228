package flows

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/scripting"
)

// option is a step option resolved against the registry.
type option struct {
	scripting.Option
	auth connectors.Authenticator
}

// stepState is one step in progress.
type stepState struct {
	node     *scripting.StepNode
	options  []option
	selected int // index into options, -1 before the user chose
	begun    bool
	state    json.RawMessage
	prompt   connectors.Prompt // current prompt of the selected option
	attempts int
}

func (st *stepState) selectOption(i int) {
	st.selected, st.begun, st.state, st.attempts = i, false, nil, 0
	st.prompt = st.options[i].auth.Prompt()
}

// runStep runs one StepNode until it succeeds or fails for the script: SSO skipping, option
// selection, initiation (Begin), verification (Process) and authenticator-level retries.
// A non-nil FlowError ends the login regardless of the script (timeout, server error).
func (r *loginRun) runStep(n *scripting.StepNode) (scripting.StepResult, *FlowError) {
	st := &stepState{node: n, selected: -1}
	for _, o := range n.Options {
		a, ok := r.l.authenticators[o.Authenticator]
		if !ok {
			r.log.Error("step option names an unregistered authenticator; skipped", "step", n.Step, "authenticator", o.Authenticator)
			continue
		}
		st.options = append(st.options, option{Option: o, auth: a})
	}
	if len(st.options) == 0 {
		return scripting.StepResult{}, r.serverError("step " + strconv.Itoa(n.Step) + " has no usable authenticator")
	}
	if res, ok := r.ssoStep(st); ok {
		return res, nil
	}
	if r.passive() {
		return scripting.StepResult{}, loginRequired()
	}
	if len(st.options) == 1 {
		st.selectOption(0)
	}

	status := StatusIncomplete
	var messages []connectors.Message
	for {
		if st.selected >= 0 && st.prompt.Initiate && !st.begun {
			res, end, ok := r.begin(st, &messages)
			if end != nil || ok {
				return res, end
			}
		}
		sub, end := r.await(View{Status: status, Step: r.stepView(st), Messages: messages})
		if end != nil {
			return scripting.StepResult{}, end
		}
		status, messages = StatusIncomplete, nil
		if sub.Abort {
			return r.record(st, connectors.Outcome{Status: connectors.StatusUserAbort}), nil
		}
		idx, ok := st.find(sub.AuthenticatorID)
		if !ok {
			status, messages = StatusFailIncomplete, []connectors.Message{invalidAuthenticator()}
			continue
		}
		if idx != st.selected {
			st.selectOption(idx)
		}
		if sub.Action == ActionResend {
			st.begun = false
			continue
		}
		if missingParams(st.prompt, sub.Params) {
			// A selection or initiation request (Android always sends one first): show the
			// chosen authenticator, initiating it if it needs to. Idempotent otherwise.
			continue
		}
		st.attempts++
		out, err := r.process(st, sub.Params)
		if err != nil {
			return scripting.StepResult{}, r.serverError(err.Error())
		}
		switch out.Status {
		case connectors.StatusIncomplete:
			st.state = out.State
			if out.Prompt != nil {
				st.prompt = *out.Prompt
			}
			messages = out.Messages
			continue
		case connectors.StatusFailed:
			opt := st.options[st.selected]
			if out.Retry && r.sess.RetryFromAuthenticator(opt.Authenticator, opt.IdP) {
				if out.State != nil {
					st.state = out.State
				}
				status, messages = StatusFailIncomplete, retryMessages(out)
				continue
			}
		}
		res := r.record(st, out)
		if res.Status == connectors.StatusSuccess && res.User == nil {
			return scripting.StepResult{}, r.serverError(st.options[st.selected].Authenticator + " succeeded without a user")
		}
		return res, nil
	}
}

// begin initiates the selected option. ok reports that Begin ended the step by itself.
func (r *loginRun) begin(st *stepState, messages *[]connectors.Message) (scripting.StepResult, *FlowError, bool) {
	opt := st.options[st.selected]
	var res connectors.BeginResult
	err := workflow.ExecuteLocalActivity(r.laCtx, ActivityBeginAuthenticator, BeginRequest{
		Authenticator: opt.Authenticator,
		BeginInput:    connectors.BeginInput{StepContext: r.stepContext(st), State: st.state},
	}).Get(r.laCtx, &res)
	if err != nil {
		return scripting.StepResult{}, r.serverError(err.Error()), false
	}
	st.begun = true
	st.state = res.State
	if res.Prompt != nil {
		st.prompt = *res.Prompt
	}
	if st.prompt.Type == "" {
		st.prompt.Type = connectors.PromptUser
	}
	*messages = append(*messages, res.Messages...)
	if res.Outcome != nil {
		return r.record(st, *res.Outcome), nil, true
	}
	return scripting.StepResult{}, nil, false
}

func (r *loginRun) process(st *stepState, params map[string]string) (connectors.Outcome, error) {
	opt := st.options[st.selected]
	var out connectors.Outcome
	err := workflow.ExecuteLocalActivity(r.laCtx, ActivityProcessAuthenticator, ProcessRequest{
		Authenticator: opt.Authenticator,
		ProcessInput: connectors.ProcessInput{StepContext: r.stepContext(st), Params: params,
			State: st.state, Attempt: st.attempts},
	}).Get(r.laCtx, &out)
	return out, err
}

func (r *loginRun) stepContext(st *stepState) connectors.StepContext {
	opt := st.options[st.selected]
	return connectors.StepContext{
		FlowID:        r.flowID,
		TenantDomain:  r.in.Application.TenantDomain,
		ApplicationID: r.in.Application.ID,
		Step:          st.node.Step,
		IdP:           opt.IdP,
		User:          r.sess.Subject(),
		RuntimeParams: r.sess.RuntimeParams(opt.Authenticator, opt.IdP),
		LoginHint:     r.in.Request.LoginHint,
		ClientIP:      r.clientIP,
	}
}

// record turns an authenticator outcome into the script's StepResult and keeps the step history.
func (r *loginRun) record(st *stepState, out connectors.Outcome) scripting.StepResult {
	opt := st.options[max(st.selected, 0)]
	res := scripting.StepResult{Status: out.Status, Authenticator: opt.Authenticator, IdP: opt.IdP,
		User: out.User, FailedUser: out.FailedUser, Reason: out.Reason}
	if res.Status == connectors.StatusIncomplete || res.Status == "" {
		res.Status = connectors.StatusFailed
	}
	if res.User != nil && res.User.IdP == "" {
		res.User.IdP = opt.IdP
	}
	r.steps = append(r.steps, StepRecord{Step: st.node.Step, Authenticator: opt.Authenticator, IdP: opt.IdP,
		Status: res.Status, Reason: res.Reason, Attempts: st.attempts})
	if res.Status == connectors.StatusSuccess && res.User != nil {
		r.authenticated = append(r.authenticated, AuthenticatedStep{Step: st.node.Step,
			Authenticator: opt.Authenticator, IdP: opt.IdP, User: *res.User, At: workflow.Now(r.ctx)})
	}
	return res
}

// ssoStep completes a step from the SSO session when an earlier authentication with one of the
// step's options is still valid, unless forceAuth, prompt=login or max_age forbid it.
func (r *loginRun) ssoStep(st *stepState) (scripting.StepResult, bool) {
	s := r.in.Session
	req := r.in.Request
	if s == nil || st.node.ForceAuth || req.ForceAuth || slices.Contains(req.Prompt, "login") {
		return scripting.StepResult{}, false
	}
	now := workflow.Now(r.ctx)
	for _, as := range s.Steps {
		if req.MaxAge != nil && now.Sub(as.At) > time.Duration(*req.MaxAge)*time.Second {
			continue
		}
		for _, o := range st.options {
			if o.Authenticator == as.Authenticator && o.IdP == as.IdP {
				u := as.User
				r.steps = append(r.steps, StepRecord{Step: st.node.Step, Authenticator: o.Authenticator, IdP: o.IdP,
					Status: connectors.StatusSuccess, SSO: true})
				r.authenticated = append(r.authenticated, AuthenticatedStep{Step: st.node.Step,
					Authenticator: o.Authenticator, IdP: o.IdP, User: u, At: as.At})
				return scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: o.Authenticator,
					IdP: o.IdP, User: &u}, true
			}
		}
	}
	return scripting.StepResult{}, false
}

func (r *loginRun) passive() bool {
	return r.in.Request.Passive || slices.Contains(r.in.Request.Prompt, "none")
}

func loginRequired() *FlowError {
	return &FlowError{Kind: ErrorProtocol, Code: "ABA-60002", Message: "Authentication failure.",
		Description: "Authentication flow has concluded with a failure.", ErrorCode: "login_required",
		ErrorMessage: "The user must authenticate."}
}

// runPrompt shows a script prompt and returns the user's answer.
func (r *loginRun) runPrompt(n *scripting.PromptNode) (scripting.PromptResult, *FlowError) {
	if r.passive() {
		return scripting.PromptResult{}, loginRequired()
	}
	sub, end := r.await(View{Status: StatusIncomplete, Prompt: &PromptView{Template: n.Template, Data: n.Data}})
	if end != nil {
		return scripting.PromptResult{}, end
	}
	// WSO2's prompt callbacks read the answer from context.request.params.<field>[0] (and from
	// the data argument): make the prompt's fields request parameters of this submission.
	if len(sub.Params) > 0 {
		req := scripting.Request{}
		if sub.Request != nil {
			req = *sub.Request
		}
		params := make(map[string][]string, len(req.Params)+len(sub.Params))
		// Building a map from maps does not depend on iteration order.
		//workflowcheck:ignore
		for k, v := range req.Params {
			params[k] = v
		}
		//workflowcheck:ignore
		for k, v := range sub.Params {
			params[k] = []string{v}
		}
		req.Params = params
		r.sess.SetRequest(req)
	}
	return scripting.PromptResult{Action: sub.Action, Data: sub.Params}, nil
}

// find resolves a submitted authenticatorId; empty means the current selection.
func (st *stepState) find(id string) (int, bool) {
	if id == "" {
		return st.selected, st.selected >= 0
	}
	name, idp, ok := DecodeAuthenticatorID(id)
	if !ok {
		return 0, false
	}
	for i, o := range st.options {
		if o.Authenticator == name && o.IdP == idp {
			return i, true
		}
	}
	return 0, false
}

// missingParams reports whether a submission lacks any of the prompt's parameters.
func missingParams(p connectors.Prompt, params map[string]string) bool {
	for _, prm := range p.Params {
		if _, ok := params[prm.Name]; !ok {
			return true
		}
	}
	return false
}

// failNodeError maps the script engine's terminal node to the flow's error.
func (r *loginRun) failNodeError(n *scripting.FailNode) *FlowError {
	switch n.Kind {
	case scripting.FailSendError:
		return &FlowError{Kind: ErrorSendError, Code: "ABA-60002", Message: "Authentication failure.",
			Description: "Authentication flow has concluded with a failure.", RedirectURL: n.RedirectURL, Params: n.Params}
	case scripting.FailProtocol:
		return &FlowError{Kind: ErrorProtocol, Code: "ABA-60002", Message: "Authentication failure.",
			Description: "Authentication flow has concluded with a failure.",
			ErrorCode:   n.ErrorCode, ErrorMessage: n.ErrorMessage, ErrorURI: n.ErrorURI}
	case scripting.FailAuthentication:
		e := &FlowError{Kind: ErrorAuthentication, Code: "ABA-60002", Message: "Authentication failure.",
			Description: "Authentication flow has concluded with a failure.", Step: n.Step, Reason: n.AuthReason}
		switch n.AuthReason {
		case connectors.ReasonMaxAttempts:
			e.Code, e.Message = "ABA-60013", "Maximum retry attempts exceeded."
			e.Description = "Authentication failed. The maximum number of retry attempts has been exceeded."
		case connectors.ReasonMaxResends:
			e.Code, e.Message = "ABA-60014", "Maximum resend attempts exceeded."
			e.Description = "Authentication failed. The maximum number of OTP resend attempts has been exceeded."
		}
		return e
	default:
		return r.serverError(n.Reason)
	}
}
