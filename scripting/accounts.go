package scripting

import (
	"slices"

	"github.com/dop251/goja"

	"github.com/keyflow/keyflow/connectors"
)

// Host function names of the user, account, session and notification functions.
const (
	FnGetUniqueUserWithClaimValues         = "getUniqueUserWithClaimValues"
	FnGetUsersWithClaimValues              = "getUsersWithClaimValues"
	FnResolveMultiAttributeLoginIdentifier = "resolveMultiAttributeLoginIdentifier"
	FnGetAssociatedLocalUser               = "getAssociatedLocalUser"
	FnDoAssociationWithLocalUser           = "doAssociationWithLocalUser"
	FnRemoveAssociatedLocalUser            = "removeAssociatedLocalUser"
	FnUpdateUserPassword                   = "updateUserPassword"
	FnSendEmail                            = "sendEmail"
	FnGetUserSessions                      = "getUserSessions"
	FnTerminateUserSession                 = "terminateUserSession"
	FnPromptIdentifierForStep              = "promptIdentifierForStep"
	FnCheckSessionExistence                = "checkSessionExistence"
)

// defaultProfile is WSO2's default user profile name.
const defaultProfile = "default"

// accounts returns Config.Accounts, logging when there is none.
func (s *Session) accounts(fn string) Accounts {
	if s.cfg.Accounts == nil {
		s.log.Error("no account service configured", "function", fn)
	}
	return s.cfg.Accounts
}

// sameTenant reports whether u belongs to the application's tenant; WSO2's user functions refuse
// cross-tenant use with a warning.
func (s *Session) sameTenant(fn string, u *connectors.User) bool {
	if u.TenantDomain == "" || s.setup.TenantDomain == "" || u.TenantDomain == s.setup.TenantDomain {
		return true
	}
	s.log.Warn("user function refused: the user belongs to another tenant", "function", fn)
	return false
}

// findUsers implements getUniqueUserWithClaimValues and getUsersWithClaimValues: the second
// argument must be the context (WSO2 returns null for the old tenant-domain string form); the
// search uses the first map entry and filters by the rest, and — a WSO2 quirk scripts may see —
// removes the first entry from the script's map.
func (s *Session) findUsers(fn string, call goja.FunctionCall) ([]connectors.User, bool) {
	claimMap, ok := asObject(call.Argument(0))
	if !ok {
		s.log.Error("first argument is not a claim map", "function", fn)
		return nil, false
	}
	if ctxObj, ok := call.Argument(1).(*goja.Object); !ok || !isHost(ctxObj, "context") {
		s.log.Error("second argument must be the context", "function", fn)
		return nil, false
	}
	keys := claimMap.Keys()
	if len(keys) == 0 {
		return nil, false
	}
	claims := make(map[string]string, len(keys))
	for _, k := range keys {
		claims[k] = claimMap.Get(k).String()
	}
	_ = claimMap.Delete(keys[0])
	profile := defaultProfile
	if p := call.Argument(2); !goja.IsUndefined(p) && !goja.IsNull(p) {
		profile = p.String()
	}
	acc := s.accounts(fn)
	if acc == nil {
		return nil, false
	}
	var (
		users []connectors.User
		err   error
	)
	s.blocking(func() { users, err = acc.FindUsers(s.cfg.Context, s.setup.TenantDomain, claims, profile) })
	if err != nil {
		s.log.Error("user search failed", "function", fn, "error", err)
		return nil, false
	}
	return users, true
}

// getUniqueUserWithClaimValues(claimMap, context[, profile]) returns the one user holding every
// claim value, or null when none or several do.
func (s *Session) getUniqueUserWithClaimValues(call goja.FunctionCall) goja.Value {
	users, ok := s.findUsers(FnGetUniqueUserWithClaimValues, call)
	if !ok || len(users) != 1 {
		return goja.Null()
	}
	return s.userObject(&users[0])
}

// getUsersWithClaimValues(claimMap, context[, profile]) returns every user holding the claim
// values, or null when there is none.
func (s *Session) getUsersWithClaimValues(call goja.FunctionCall) goja.Value {
	users, ok := s.findUsers(FnGetUsersWithClaimValues, call)
	if !ok || len(users) == 0 {
		return goja.Null()
	}
	items := make([]any, len(users))
	for i := range users {
		items[i] = s.userObject(&users[i])
	}
	return s.vm.NewArray(items...)
}

// resolveMultiAttributeLoginIdentifier(loginId, tenantDomain) returns the username an alternative
// login identifier (username, e-mail, mobile…) stands for, or null on cross-tenant use or no
// unique match.
func (s *Session) resolveMultiAttributeLoginIdentifier(call goja.FunctionCall) goja.Value {
	loginID, tenant := call.Argument(0).String(), call.Argument(1).String()
	if goja.IsUndefined(call.Argument(0)) || goja.IsNull(call.Argument(0)) || loginID == "" {
		return goja.Null()
	}
	if tenant != s.setup.TenantDomain {
		s.log.Warn("resolveMultiAttributeLoginIdentifier: cross-tenant use refused")
		return goja.Null()
	}
	acc := s.accounts(FnResolveMultiAttributeLoginIdentifier)
	if acc == nil {
		return goja.Null()
	}
	var (
		username string
		err      error
	)
	s.blocking(func() { username, err = acc.ResolveLoginIdentifier(s.cfg.Context, tenant, loginID) })
	if err != nil {
		s.log.Error("resolveMultiAttributeLoginIdentifier failed", "error", err)
		return goja.Null()
	}
	return s.orNull(username)
}

// getAssociatedLocalUser(federatedUser) returns the local account linked to a federated user;
// null for local users and unlinked identities.
func (s *Session) getAssociatedLocalUser(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil || !u.Federated() {
		return goja.Null()
	}
	acc := s.accounts(FnGetAssociatedLocalUser)
	if acc == nil {
		return goja.Null()
	}
	var (
		local *connectors.User
		err   error
	)
	s.blocking(func() { local, err = acc.AssociatedUser(s.cfg.Context, u) })
	if err != nil {
		s.log.Error("getAssociatedLocalUser failed", "error", err)
		return goja.Null()
	}
	return s.userValue(local)
}

// doAssociationWithLocalUser(federatedUser, username, tenantDomain, userStoreDomain) links a
// federated identity to a local user of the application's tenant; true on success.
func (s *Session) doAssociationWithLocalUser(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil || !u.Federated() {
		s.log.Error("doAssociationWithLocalUser: first argument is not a federated user")
		return s.vm.ToValue(false)
	}
	username, tenant := call.Argument(1).String(), call.Argument(2).String()
	domain := "PRIMARY"
	if d := call.Argument(3); !goja.IsUndefined(d) && !goja.IsNull(d) && d.String() != "" {
		domain = d.String()
	}
	if tenant != s.setup.TenantDomain {
		s.log.Warn("doAssociationWithLocalUser: cross-tenant association refused")
		return s.vm.ToValue(false)
	}
	acc := s.accounts(FnDoAssociationWithLocalUser)
	if acc == nil {
		return s.vm.ToValue(false)
	}
	var err error
	s.blocking(func() { err = acc.Associate(s.cfg.Context, u, tenant, domain, username) })
	if err != nil {
		s.log.Error("doAssociationWithLocalUser failed", "error", err)
		return s.vm.ToValue(false)
	}
	return s.vm.ToValue(true)
}

// removeAssociatedLocalUser(federatedUser) removes a federated identity's link; true when one
// was removed.
func (s *Session) removeAssociatedLocalUser(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil || !u.Federated() {
		return s.vm.ToValue(false)
	}
	acc := s.accounts(FnRemoveAssociatedLocalUser)
	if acc == nil {
		return s.vm.ToValue(false)
	}
	var (
		removed bool
		err     error
	)
	s.blocking(func() { removed, err = acc.RemoveAssociation(s.cfg.Context, u) })
	if err != nil {
		s.log.Error("removeAssociatedLocalUser failed", "error", err)
		return s.vm.ToValue(false)
	}
	return s.vm.ToValue(removed)
}

// PasswordChange is the argument of an asynchronous updateUserPassword (CallNode.Password). The
// password is a secret: never log it.
type PasswordChange struct {
	User     connectors.User `json:"user"`
	Password string          `json:"password"`
}

// updateUserPassword(user, newPassword[, eventHandlers][, skipPasswordValidation]). Without
// handlers it is synchronous and failures are ignored (logged); with handlers it is asynchronous
// (a CallNode) and fires onSuccess(context) or onFail(context). An empty password throws.
func (s *Session) updateUserPassword(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	pw := call.Argument(1)
	if goja.IsUndefined(pw) || goja.IsNull(pw) || pw.String() == "" {
		s.throw("updateUserPassword: the password cannot be empty")
	}
	if u == nil {
		s.log.Error("updateUserPassword: first argument is not a user")
		return goja.Undefined()
	}
	var handlers *goja.Object
	if obj, ok := asObject(call.Argument(2)); ok {
		handlers = obj
	}
	if handlers != nil {
		s.add(&CallNode{Function: FnUpdateUserPassword, Password: &PasswordChange{User: *u, Password: pw.String()},
			callbacks: s.callbacksFrom(FnUpdateUserPassword, handlers)})
		return goja.Undefined()
	}
	if u.Federated() || !s.sameTenant(FnUpdateUserPassword, u) {
		s.log.Error("updateUserPassword: not a local user of this tenant; ignored")
		return goja.Undefined()
	}
	acc := s.accounts(FnUpdateUserPassword)
	if acc == nil {
		return goja.Undefined()
	}
	var err error
	s.blocking(func() { err = acc.UpdatePassword(s.cfg.Context, u, pw.String()) })
	if err != nil {
		s.log.Error("updateUserPassword failed", "error", err)
	}
	return goja.Undefined()
}

// sendEmail(user, templateId, placeholders) sends template templateId to the user's e-mail
// address with the placeholders (plus the user's name, store and tenant); true when sent.
func (s *Session) sendEmail(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil {
		s.log.Error("sendEmail: first argument is not a user")
		return s.vm.ToValue(false)
	}
	if s.cfg.Mailer == nil {
		s.log.Error("sendEmail: no mailer configured")
		return s.vm.ToValue(false)
	}
	placeholders := map[string]string{}
	if obj, ok := asObject(call.Argument(2)); ok {
		placeholders = s.stringMap(obj)
	}
	var err error
	s.blocking(func() { err = s.cfg.Mailer.SendEmail(s.cfg.Context, u, call.Argument(1).String(), placeholders) })
	if err != nil {
		s.log.Error("sendEmail failed", "template", call.Argument(1).String(), "error", err)
		return s.vm.ToValue(false)
	}
	return s.vm.ToValue(true)
}

// getUserSessions(user) returns the user's active SSO sessions ({id, ip, loginTime,
// lastAccessTime, userAgent, applications}), null on error.
func (s *Session) getUserSessions(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil || s.cfg.Sessions == nil {
		s.log.Error("getUserSessions: no user or no session store")
		return goja.Null()
	}
	if !s.sameTenant(FnGetUserSessions, u) {
		return goja.Null()
	}
	var (
		sessions []UserSession
		err      error
	)
	s.blocking(func() { sessions, err = s.cfg.Sessions.UserSessions(s.cfg.Context, u) })
	if err != nil {
		s.log.Error("getUserSessions failed", "error", err)
		return goja.Null()
	}
	items := make([]any, len(sessions))
	for i, us := range sessions {
		obj := s.vm.NewObject()
		_ = obj.Set("id", us.ID)
		_ = obj.Set("ip", us.IP)
		_ = obj.Set("loginTime", us.LoginTime)
		_ = obj.Set("lastAccessTime", us.LastAccessTime)
		ua := s.vm.NewObject()
		_ = ua.Set("rawString", us.UserAgent.RawString)
		_ = ua.Set("browser", us.UserAgent.Browser)
		_ = ua.Set("platform", us.UserAgent.Platform)
		_ = ua.Set("device", us.UserAgent.Device)
		_ = obj.Set("userAgent", ua)
		apps := make([]any, len(us.Applications))
		for j, a := range us.Applications {
			ao := s.vm.NewObject()
			_ = ao.Set("subject", a.Subject)
			_ = ao.Set("appName", a.AppName)
			_ = ao.Set("appId", a.AppID)
			apps[j] = ao
		}
		_ = obj.Set("applications", s.vm.NewArray(apps...))
		items[i] = obj
	}
	return s.vm.NewArray(items...)
}

// terminateUserSession(user, sessionId) ends one of the user's sessions; true when it did. The
// id is a string (WSO2's docs example passing the session object does not work there either).
func (s *Session) terminateUserSession(call goja.FunctionCall) goja.Value {
	u := userArg(call.Argument(0))
	if u == nil || s.cfg.Sessions == nil {
		s.log.Error("terminateUserSession: no user or no session store")
		return s.vm.ToValue(false)
	}
	if !s.sameTenant(FnTerminateUserSession, u) {
		return s.vm.ToValue(false)
	}
	var (
		done bool
		err  error
	)
	s.blocking(func() { done, err = s.cfg.Sessions.TerminateUserSession(s.cfg.Context, u, call.Argument(1).String()) })
	if err != nil {
		s.log.Error("terminateUserSession failed", "error", err)
		return s.vm.ToValue(false)
	}
	return s.vm.ToValue(done)
}

// checkSessionExistence(step, context) reports whether an authenticator of the user's SSO
// session (Setup.Session) satisfies configured step step.
func (s *Session) checkSessionExistence(call goja.FunctionCall) goja.Value {
	return s.vm.ToValue(s.sessionSatisfies(int(call.Argument(0).ToInteger())))
}

func (s *Session) sessionSatisfies(step int) bool {
	if step < 1 || step > len(s.setup.Steps) {
		return false
	}
	for _, o := range s.setup.Steps[step-1].Options {
		if slices.ContainsFunc(s.setup.Session, func(so Option) bool {
			return so.Authenticator == o.Authenticator && idpMatches(o.IdP, so.IdP)
		}) {
			return true
		}
	}
	return false
}

// promptIdentifierForStep(step[, validators], callbacks) schedules the identifier prompt (template
// "username", data {step}). When the node is reached, validators.preHandler(step, context) runs
// (default: checkSessionExistence); if it returns true the prompt is skipped and
// callbacks.onSkip(context) runs, otherwise the page is shown and onSuccess runs on submission.
func (s *Session) promptIdentifierForStep(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		s.throw("promptIdentifierForStep requires a step")
	}
	step := int(call.Argument(0).ToInteger())
	validators, handlers := s.trailing(FnPromptIdentifierForStep, call.Arguments[1:])
	data := s.vm.NewObject()
	_ = data.Set("step", step)
	raw, err := data.MarshalJSON()
	if err != nil {
		s.throw("promptIdentifierForStep: %v", err)
	}
	n := &PromptNode{Template: "username", Data: raw, identifierStep: step}
	if validators != nil {
		if fn, ok := goja.AssertFunction(validators.Get("preHandler")); ok {
			n.preHandler = fn
		}
	}
	n.callbacks = s.callbacksFrom(FnPromptIdentifierForStep, handlers)
	s.add(n)
	return goja.Undefined()
}

// skipPrompt runs an identifier prompt's pre-handler when the node is reached. It reports true
// when the prompt is skipped; the onSkip callback has then run and its nodes are infused.
func (s *Session) skipPrompt(n *PromptNode) bool {
	var skip bool
	_, fail := s.slice("preHandler", func() error {
		if n.preHandler == nil {
			skip = s.sessionSatisfies(n.identifierStep)
			return nil
		}
		v, err := n.preHandler(goja.Undefined(), s.vm.ToValue(n.identifierStep), s.contextObject())
		if err != nil {
			return err
		}
		skip = v.ToBoolean()
		return nil
	})
	if fail != nil {
		s.chain = []Node{fail}
		return true
	}
	if !skip {
		return false
	}
	fn := n.callbacks["onSkip"]
	if fn == nil {
		return true
	}
	nodes, fail := s.slice("onSkip", func() error {
		_, err := fn(goja.Undefined(), s.contextObject())
		return err
	})
	if fail != nil {
		s.chain = []Node{fail}
		return true
	}
	s.infuse(nodes)
	return true
}
