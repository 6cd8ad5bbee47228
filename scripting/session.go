package scripting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/keyflow/keyflow/connectors"
)

// Defaults for Config's zero values.
const (
	DefaultBudget           = 200 * time.Millisecond
	DefaultReplayBudget     = 600 * time.Millisecond
	DefaultMaxCallStackSize = 512
	DefaultMaxScriptSize    = 256 << 10
)

// Config configures a Session. The zero value is usable outside workflows; the workflow binding
// (package wfhost) fills Now, Seed, Replaying, Logger and Directory from the workflow context.
type Config struct {
	// Logger receives Log.* output and engine diagnostics. Nil discards.
	Logger *slog.Logger
	// Now is the script's clock (Date, Date.now). Inside a workflow it must be workflow.Now.
	// Nil means time.Now.
	Now func() time.Time
	// Seed seeds Math.random; it is called once, the first time a script calls Math.random.
	// Inside a workflow it must come from a SideEffect. Nil means a fixed seed.
	Seed func() uint64
	// Budget is the wall-time budget of one slice of JavaScript (see budget); 0 means
	// DefaultBudget. It must stay well below Temporal's 1 s deadlock detector.
	Budget time.Duration
	// ReplayBudget replaces Budget while Replaying reports true; 0 means DefaultReplayBudget.
	ReplayBudget time.Duration
	// Replaying reports whether the workflow is replaying history. Nil means never.
	Replaying func() bool
	// MaxCallStackSize bounds JS recursion; 0 means DefaultMaxCallStackSize.
	MaxCallStackSize int
	// MaxScriptSize bounds the script text in bytes; 0 means DefaultMaxScriptSize.
	MaxScriptSize int
	// Directory serves role, group and claim functions. Nil makes them return false/null and
	// log an error.
	Directory Directory
	// Context is passed to Directory calls. Nil means context.Background().
	Context context.Context
	// Accounts, Mailer, Libraries, Sessions and Cookies serve the functions named in their
	// documentation (services.go). Nil makes those functions log an error and return
	// false/null.
	Accounts  Accounts
	Mailer    Mailer
	Libraries Libraries
	Sessions  Sessions
	Cookies   Cookies
	// MaxLibrarySize bounds one script library's source in bytes; 0 means
	// DefaultMaxLibrarySize.
	MaxLibrarySize int
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Seed == nil {
		c.Seed = func() uint64 { return 1 }
	}
	if c.Budget <= 0 {
		c.Budget = DefaultBudget
	}
	if c.ReplayBudget <= 0 {
		c.ReplayBudget = DefaultReplayBudget
	}
	if c.Replaying == nil {
		c.Replaying = func() bool { return false }
	}
	if c.MaxCallStackSize <= 0 {
		c.MaxCallStackSize = DefaultMaxCallStackSize
	}
	if c.MaxScriptSize <= 0 {
		c.MaxScriptSize = DefaultMaxScriptSize
	}
	if c.Context == nil {
		c.Context = context.Background()
	}
	if c.MaxLibrarySize <= 0 {
		c.MaxLibrarySize = DefaultMaxLibrarySize
	}
	return c
}

// ErrInvalidSetup reports a Setup the engine cannot run at all (no steps, a step without
// options). Script problems are not errors: they become a FailNode, as in WSO2.
var ErrInvalidSetup = errors.New("scripting: invalid setup")

// Session is the script engine for one login transaction. It owns a goja runtime that lives as
// long as the transaction, so globals and closures survive between steps (a superset of WSO2,
// which re-compiles callbacks and persists only globals).
//
// The driver loop is:
//
//	for n := s.Next(); n != nil; n = s.Next() {
//		switch n := n.(type) {
//		case *StepNode:   s.StepDone(n, runStep(n))
//		case *PromptNode: s.PromptDone(n, showPrompt(n))
//		case *FailNode:   return fail(n)
//		}
//	}
//	return success
//
// A Session is not safe for concurrent use; inside a workflow only the workflow goroutine uses it.
type Session struct {
	cfg   Config
	setup Setup
	log   *slog.Logger

	vm     *goja.Runtime // nil without a script
	budget *budget
	rng    *rand.Rand
	broken bool // a host function panicked: the runtime may be inconsistent
	// jsonParse is the original JSON.parse, kept before the script can replace it.
	jsonParse goja.Callable

	chain     []Node // the graph still to run, in order
	inSlice   bool
	collected []Node // nodes created by the running slice
	halted    bool   // sendError/fail interrupted the running slice

	tx transaction
}

// transaction is the state scripts observe through context.
type transaction struct {
	results       map[int]*stepRecord // by configured step number
	current       int                 // step executed last
	lastSucceeded int                 // step that succeeded last
	subjectFlag   map[int]bool
	attributeFlag map[int]bool
	selectedACR   *string
	runtimeParams map[string]map[string]string // "common", "local:<name>", "federated:<idp>"
	runtimeClaims map[string]map[string]string // by userKey
	lastFailed    *connectors.User
	request       Request
	requestObj    *goja.Object
	endpoint      *goja.Object
	response      Response                // context.response writes not yet taken by the driver
	libraries     map[string]*library     // fetched library sources, by name
	modules       map[string]*goja.Object // require()d modules, by name
}

type stepRecord struct {
	authenticator string
	idp           string
	user          *connectors.User
	succeeded     bool
}

// Open validates setup, evaluates the script and runs onLoginRequest, leaving the graph ready for
// Next. A broken script does not return an error: the first node is then a FailNode of kind
// FailScript, and the reason is logged.
//
//workflowcheck:ignore
func Open(cfg Config, setup Setup) (*Session, error) {
	cfg = cfg.withDefaults()
	if len(setup.Steps) == 0 {
		return nil, fmt.Errorf("%w: no authentication steps configured", ErrInvalidSetup)
	}
	for i, st := range setup.Steps {
		if len(st.Options) == 0 {
			return nil, fmt.Errorf("%w: step %d has no options", ErrInvalidSetup, i+1)
		}
	}
	s := &Session{cfg: cfg, setup: setup, log: cfg.Logger}
	s.tx = transaction{
		results:       map[int]*stepRecord{},
		subjectFlag:   map[int]bool{},
		attributeFlag: map[int]bool{},
		runtimeParams: map[string]map[string]string{},
		runtimeClaims: map[string]map[string]string{},
		request:       setup.Request,
		libraries:     map[string]*library{},
		modules:       map[string]*goja.Object{},
	}
	for i, st := range setup.Steps {
		s.tx.subjectFlag[i+1] = st.SubjectIdentifier
		s.tx.attributeFlag[i+1] = st.SubjectAttribute
	}
	if !anyTrue(s.tx.subjectFlag) {
		s.tx.subjectFlag[1] = true
	}
	if !anyTrue(s.tx.attributeFlag) {
		s.tx.attributeFlag[1] = true
	}

	if strings.TrimSpace(setup.Script) == "" {
		// WSO2's default sequence: every configured step in order, no callbacks.
		for i := range setup.Steps {
			s.chain = append(s.chain, &StepNode{Step: i + 1, Options: setup.Steps[i].Options})
		}
		return s, nil
	}
	s.start()
	return s, nil
}

func anyTrue(m map[int]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}

// HasScript reports whether the transaction runs a script (false: the default sequence).
func (s *Session) HasScript() bool { return s.vm != nil }

// start builds the runtime, evaluates the script and calls onLoginRequest.
func (s *Session) start() {
	if len(s.setup.Script) > s.cfg.MaxScriptSize {
		s.chain = []Node{s.scriptFailure("load", fmt.Errorf("script is %d bytes, the limit is %d",
			len(s.setup.Script), s.cfg.MaxScriptSize))}
		return
	}
	prg, err := goja.Compile("authentication-script", s.setup.Script, false) // sloppy mode, like WSO2
	if err != nil {
		s.chain = []Node{s.scriptFailure("compile", err)}
		return
	}
	s.vm = goja.New()
	s.budget = &budget{vm: s.vm}
	s.vm.SetMaxCallStackSize(s.cfg.MaxCallStackSize)
	s.vm.SetTimeSource(s.cfg.Now)
	s.vm.SetRandSource(s.random)
	if err := s.install(); err != nil {
		s.chain = []Node{s.scriptFailure("install", err)}
		return
	}

	var entry goja.Callable
	nodes, fail := s.slice("evaluate", func() error {
		if _, err := s.vm.RunProgram(prg); err != nil {
			return err
		}
		fn, ok := goja.AssertFunction(s.vm.Get("onLoginRequest"))
		if !ok {
			return errors.New("onLoginRequest function is not defined")
		}
		entry = fn
		return nil
	})
	if fail == nil && len(nodes) > 0 && !s.halted {
		// Top-level code may call executeStep too; WSO2 keeps those nodes ahead of
		// onLoginRequest's.
		s.chain = nodes
	}
	if fail != nil || s.halted {
		s.chain = []Node{firstFail(nodes, fail)}
		return
	}
	nodes, fail = s.slice("onLoginRequest", func() error {
		_, err := entry(goja.Undefined(), s.contextObject())
		return err
	})
	if fail != nil {
		s.chain = []Node{fail}
		return
	}
	s.chain = append(s.chain, nodes...)
	if len(s.chain) == 0 {
		// WSO2: "Start node is not set for authentication graph" — an empty onLoginRequest is a
		// failed login, never a silent success.
		s.chain = []Node{s.scriptFailure("onLoginRequest", errors.New("start node is not set for authentication graph"))}
	}
}

func firstFail(nodes []Node, fail *FailNode) Node {
	if fail != nil {
		return fail
	}
	for _, n := range nodes {
		if f, ok := n.(*FailNode); ok {
			return f
		}
	}
	return &FailNode{Kind: FailScript, Reason: "script halted"}
}

func (s *Session) random() float64 {
	if s.rng == nil {
		seed := s.cfg.Seed()
		s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	return s.rng.Float64()
}

// Next pops the next node of the graph, or returns nil when the graph is exhausted, which means
// the login succeeded (WSO2's EndStep).
//
//workflowcheck:ignore
func (s *Session) Next() Node {
	for len(s.chain) > 0 {
		n := s.chain[0]
		s.chain = s.chain[1:]
		if st, ok := n.(*StepNode); ok {
			s.tx.current = st.Step
		}
		if p, ok := n.(*PromptNode); ok && p.identifierStep > 0 && s.skipPrompt(p) {
			continue // promptIdentifierForStep's pre-handler skipped the prompt
		}
		return n
	}
	return nil
}

// StepDone records the result of a StepNode and runs the matching callback (WSO2's decision
// node). Nodes the callback creates are infused ahead of the rest of the graph, so
// executeStep(1,{onSuccess: function(){executeStep(2)}}); executeStep(3) runs 1, 2, 3.
//
// Failure rules (WSO2 GraphBasedSequenceHandler):
//   - failed, no onFail: the login fails (retrying inside the authenticator is the driver's job,
//     before it reports a failure);
//   - failed, onFail schedules nothing and nothing follows: the login fails;
//   - failed, onFail (or the existing graph) schedules more: those run;
//   - fallback/user abort without onFallback/onUserAbort: the login fails;
//   - a callback that throws: the login fails.
//
//workflowcheck:ignore
func (s *Session) StepDone(n *StepNode, r StepResult) {
	rec := &stepRecord{authenticator: r.Authenticator, idp: r.IdP, user: r.User,
		succeeded: r.Status == connectors.StatusSuccess}
	s.tx.results[n.Step] = rec
	s.tx.current = n.Step
	if r.FailedUser != nil {
		s.tx.lastFailed = r.FailedUser
	}
	var event string
	switch r.Status {
	case connectors.StatusSuccess:
		event = "onSuccess"
	case connectors.StatusFallback:
		event = "onFallback"
	case connectors.StatusUserAbort:
		event = "onUserAbort"
	default:
		// WSO2 also clears the failed step's subject flags; here a failed step simply never
		// provides the subject (only succeeded steps do), so a step re-executed by onFail — the
		// login-attempts template — still identifies the user when it succeeds.
		event = "onFail"
	}
	if rec.succeeded {
		s.tx.lastSucceeded = n.Step
	}
	authFail := &FailNode{Kind: FailAuthentication, Step: n.Step, AuthReason: r.Reason,
		Reason: fmt.Sprintf("step %d ended with %s", n.Step, r.Status)}

	fn := n.callbacks[event]
	if fn == nil {
		if r.Status != connectors.StatusSuccess {
			s.chain = []Node{authFail}
		}
		return
	}
	nodes, fail := s.slice(event, func() error {
		_, err := fn(goja.Undefined(), s.contextObject())
		return err
	})
	switch {
	case fail != nil:
		s.chain = []Node{fail}
	case r.Status == connectors.StatusFailed && len(nodes) == 0 && len(s.chain) == 0:
		s.chain = []Node{authFail}
	default:
		s.infuse(nodes)
	}
}

// PromptDone runs the prompt's callback for the user's answer: on<Action> (action "yes" fires
// onYes), else onSuccess, called as fn(context, data). A prompt without a matching handler just
// continues.
//
//workflowcheck:ignore
func (s *Session) PromptDone(n *PromptNode, r PromptResult) {
	event := "onSuccess"
	if r.Action != "" {
		event = "on" + strings.ToUpper(r.Action[:1]) + r.Action[1:]
	}
	fn := n.callbacks[event]
	if fn == nil {
		s.log.Debug("prompt has no handler for the answer; continuing", "template", n.Template, "event", event)
		return
	}
	nodes, fail := s.slice(event, func() error {
		data := s.vm.NewObject()
		for _, k := range sortedKeys(r.Data) {
			_ = data.Set(k, r.Data[k])
		}
		_, err := fn(goja.Undefined(), s.contextObject(), data)
		return err
	})
	if fail != nil {
		s.chain = []Node{fail}
		return
	}
	s.infuse(nodes)
}

// CallDone runs the handler named by an external call's outcome as fn(context, data). An outcome
// without a handler fails the login, as in WSO2 ("does not have applicable event handler").
//
// Unlike WSO2, nodes the handler creates are infused like any callback's; WSO2 attaches an async
// call made inside a callback in place of that callback's continuation, a quirk its templates
// never rely on.
//
//workflowcheck:ignore
func (s *Session) CallDone(n *CallNode, r CallResult) {
	fn := n.callbacks[r.Outcome]
	if fn == nil {
		reason := fmt.Sprintf("%s does not have an applicable event handler for outcome %s", n.Function, r.Outcome)
		s.log.Error(reason)
		s.chain = []Node{&FailNode{Kind: FailScript, Reason: reason}}
		return
	}
	nodes, fail := s.slice(r.Outcome, func() error {
		data := goja.Value(s.vm.NewObject())
		if len(r.Data) > 0 {
			v, err := s.jsonParse(goja.Undefined(), s.vm.ToValue(string(r.Data)))
			if err != nil {
				return fmt.Errorf("decoding the response of %s: %w", n.Function, err)
			}
			data = v
		}
		_, err := fn(goja.Undefined(), s.contextObject(), data)
		return err
	})
	if fail != nil {
		s.chain = []Node{fail}
		return
	}
	s.infuse(nodes)
}

// infuse puts nodes created by a callback ahead of the remaining graph. A terminal FailNode
// among them drops the rest: nothing can be attached after a fail node.
func (s *Session) infuse(nodes []Node) {
	if len(nodes) == 0 {
		return
	}
	if _, terminal := nodes[len(nodes)-1].(*FailNode); terminal {
		s.chain = nodes
		return
	}
	s.chain = append(nodes, s.chain...)
}

// SetRequest replaces context.request with the request that resumed the flow (WSO2 exposes the
// current request, not the original one).
//
//workflowcheck:ignore
func (s *Session) SetRequest(r Request) {
	s.tx.request = r
	s.tx.requestObj = nil
}

// RuntimeParams returns the script's authenticatorParams for an option: common, overridden by
// local.<authenticator> (local IdP) or federated.<idp>. Never nil.
//
//workflowcheck:ignore
func (s *Session) RuntimeParams(authenticator, idp string) map[string]string {
	out := map[string]string{}
	for k, v := range s.tx.runtimeParams["common"] {
		out[k] = v
	}
	key := "local:" + authenticator
	if idp != "" && idp != connectors.LocalIdP {
		key = "federated:" + idp
	}
	for k, v := range s.tx.runtimeParams[key] {
		out[k] = v
	}
	return out
}

// RetryFromAuthenticator reports whether a failed attempt may be retried inside the step. WSO2
// turns authenticator retry off whenever a script runs, unless the script sets
// authenticatorParams.local.<name>.enableRetryFromAuthenticator = "true"; without a script it is on.
//
//workflowcheck:ignore
func (s *Session) RetryFromAuthenticator(authenticator, idp string) bool {
	if s.vm == nil {
		return true
	}
	return strings.EqualFold(s.RuntimeParams(authenticator, idp)["enableRetryFromAuthenticator"], "true")
}

// SelectedACR returns context.selectedAcr as the script left it ("" if never set).
//
//workflowcheck:ignore
func (s *Session) SelectedACR() string {
	if s.tx.selectedACR == nil {
		return ""
	}
	return *s.tx.selectedACR
}

// Subject returns the login's subject (WSO2's currentKnownSubject): the user of the
// subject-identifier step if it succeeded, else the user of the current step, else of the step
// that succeeded last; nil before any step succeeded.
//
//workflowcheck:ignore
func (s *Session) Subject() *connectors.User { return s.knownSubject() }

// AttributeUser returns the user whose attributes the login releases: the attribute step's user,
// else Subject.
//
//workflowcheck:ignore
func (s *Session) AttributeUser() *connectors.User {
	for _, n := range s.stepNumbers() {
		if rec := s.tx.results[n]; rec != nil && rec.succeeded && s.tx.attributeFlag[n] {
			return rec.user
		}
	}
	return s.knownSubject()
}

// RuntimeClaims returns the runtime claims scripts set on u (user.claims[uri] = v).
//
//workflowcheck:ignore
func (s *Session) RuntimeClaims(u *connectors.User) map[string]string {
	if u == nil {
		return nil
	}
	return s.tx.runtimeClaims[userKey(u)]
}

func (s *Session) knownSubject() *connectors.User {
	for _, n := range s.stepNumbers() {
		if rec := s.tx.results[n]; rec != nil && rec.succeeded && s.tx.subjectFlag[n] {
			return rec.user
		}
	}
	if rec := s.tx.results[s.tx.current]; rec != nil && rec.succeeded {
		return rec.user
	}
	if rec := s.tx.results[s.tx.lastSucceeded]; rec != nil && rec.succeeded {
		return rec.user
	}
	return nil
}

func (s *Session) stepNumbers() []int {
	out := make([]int, len(s.setup.Steps))
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// slice runs one stretch of JavaScript under the CPU budget and collects the nodes it creates.
// It returns a FailNode when the script threw, overran its budget or the runtime broke; a
// sendError/fail interrupt is not a failure of the slice: its FailNode ends the returned nodes.
func (s *Session) slice(what string, run func() error) (nodes []Node, fail *FailNode) {
	if s.broken {
		return nil, &FailNode{Kind: FailScript, Reason: "script runtime unusable after an earlier internal error"}
	}
	s.inSlice, s.collected, s.halted = true, nil, false
	limit := s.cfg.Budget
	if s.cfg.Replaying() {
		limit = s.cfg.ReplayBudget
	}
	s.budget.start(limit)
	err := s.protect(run)
	s.budget.stop()
	s.inSlice = false
	nodes, s.collected = s.collected, nil

	if s.halted {
		return nodes, nil
	}
	if err == nil {
		return nodes, nil
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if b, ok := ie.Value().(budgetExceeded); ok {
			return nil, s.scriptFailure(what, fmt.Errorf("script exceeded its CPU budget of %v", b.limit))
		}
	}
	return nil, s.scriptFailure(what, err)
}

// protect turns a Go panic from a host function into an error. Such a panic is a bug in a host
// function; the runtime is then considered broken and the login fails rather than leaving the
// workflow task failing forever.
func (s *Session) protect(run func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.broken = true
			err = fmt.Errorf("internal error in a script function: %v", r)
		}
	}()
	return run()
}

func (s *Session) scriptFailure(what string, err error) *FailNode {
	reason := fmt.Sprintf("authentication script failed in %s: %v", what, err)
	s.log.Error(reason)
	return &FailNode{Kind: FailScript, Reason: reason}
}

// add appends a node created by a builtin to the running slice.
func (s *Session) add(n Node) {
	s.collected = append(s.collected, n)
}

// blocking runs a host call that may block the workflow, with the CPU budget paused.
func (s *Session) blocking(f func()) {
	if s.budget != nil && s.inSlice {
		s.budget.pause()
		defer s.budget.resume()
	}
	f()
}

// halt stops the running slice after sendError/fail with an uncatchable interrupt: try/catch and
// finally blocks in the script do not run.
func (s *Session) halt(n *FailNode) {
	s.add(n)
	s.halted = true
	s.vm.Interrupt(n)
}
