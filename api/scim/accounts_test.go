package scim

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/connectors"
	basicauth "github.com/keyflow/keyflow/connectors/basic"
	"github.com/keyflow/keyflow/connectors/password"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func (e *env) policy(p store.PasswordPolicy) {
	e.t.Helper()
	if _, err := e.s.PutPasswordPolicy(e.t.Context(), e.org.ID, p, store.Actor{}); err != nil {
		e.t.Fatal(err)
	}
}

// checkPolicyError asserts a 400 invalidValue whose detail names rule.
func (r resp) checkPolicyError(t *testing.T, rule string) {
	t.Helper()
	r.checkError(t, http.StatusBadRequest, TypeInvalidValue)
	if d := str0(r.body["detail"]); !strings.Contains(d, "password policy "+rule+":") {
		t.Errorf("detail %q does not name %s", d, rule)
	}
}

func TestPasswordPolicyEnforced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.policy(store.PasswordPolicy{Enabled: true, MinLength: 8, MaxLength: 20, MinUpper: 1, MinLower: 1, MinDigits: 1,
		MinSpecial: 1, Pattern: `^[^#]*$`, HistoryEnabled: true, HistoryCount: 2})
	core := []string{SchemaUser}
	tests := []struct {
		name, pw, rule string
	}{
		{"too short", "Ab1!", store.RuleMinLength},
		{"too long", "Abcdefghijklmnopq1!xyz", store.RuleMaxLength},
		{"no upper case", "abcdefg1!", store.RuleMinUpper},
		{"no lower case", "ABCDEFG1!", store.RuleMinLower},
		{"no digit", "Abcdefgh!", store.RuleMinDigits},
		{"no special", "Abcdefgh1", store.RuleMinSpecial},
		{"pattern", "Abcdefg1#", store.RulePattern},
	}
	victim := str0(e.newUser(map[string]any{"userName": "victim", "password": "Good-pass1"})["id"])
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.do("POST", "/scim2/Users", map[string]any{"schemas": core, "userName": "u-" + strings.ReplaceAll(tc.name, " ", "-"),
				"password": tc.pw}).checkPolicyError(t, tc.rule)
			e.do("PUT", "/scim2/Users/"+victim, map[string]any{"schemas": core, "userName": "victim", "password": tc.pw}).
				checkPolicyError(t, tc.rule)
			e.do("PATCH", "/scim2/Users/"+victim, patchBody(op("replace", "password", tc.pw))).checkPolicyError(t, tc.rule)
		})
	}
	// Nothing was written by the refused requests.
	if r := e.do("GET", "/scim2/Users?filter="+urlQuery(`userName sw "u-"`), nil).must(t, 200); get(r.body, "totalResults") != float64(0) {
		t.Errorf("refused creations were stored: %s", r.raw)
	}

	// History of 2: the current password and the one before are refused.
	patchPW := func(pw string) resp {
		return e.do("PATCH", "/scim2/Users/"+victim, patchBody(op("replace", "password", pw)))
	}
	patchPW("Good-pass1").checkPolicyError(t, store.RuleHistory)
	patchPW("Good-pass2").must(t, 200)
	patchPW("Good-pass1").checkPolicyError(t, store.RuleHistory)
	patchPW("Good-pass3").must(t, 200)
	patchPW("Good-pass1").must(t, 200)

	// /Me: the user's own change meets the policy too.
	me := basic("victim", "Good-pass1")
	e.do("PATCH", "/scim2/Me", patchBody(op("replace", "password", "weak")), "Authorization", me).checkPolicyError(t, store.RuleMinLength)

	// Bulk operations go through the same checks.
	r := e.do("POST", "/scim2/Bulk", map[string]any{"schemas": []string{SchemaBulkRequest}, "Operations": []any{
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": map[string]any{"schemas": core, "userName": "bulk-weak", "password": "weak"}},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "b", "data": map[string]any{"schemas": core, "userName": "bulk-ok", "password": "Str0ng-enough"}},
	}}).must(t, 200)
	if get(r.body, "Operations", 0, "status") != "400" || get(r.body, "Operations", 0, "response", "scimType") != TypeInvalidValue ||
		!strings.Contains(str0(get(r.body, "Operations", 0, "response", "detail")), store.RuleMinLength) ||
		get(r.body, "Operations", 1, "status") != "201" {
		t.Errorf("bulk: %s", r.raw)
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22").Replace(s)
}

// TestAdminAccountOperations: accountLocked, accountDisabled and forcePasswordReset of the WSO2
// extension, written by an administrator, decide what a password login (connectors/basic) gets.
func TestAdminAccountOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := str0(e.newUser(map[string]any{"userName": "erin", "password": "Erin-pw-1"})["id"])
	a, err := basicauth.New(basicauth.Config{MaxFailures: 5, HashParams: cheap}, basicauth.Deps{Users: e.s, Organizations: e.s})
	if err != nil {
		t.Fatal(err)
	}
	login := func(pw string) connectors.Outcome {
		t.Helper()
		out, err := a.Process(context.Background(), connectors.ProcessInput{
			StepContext: connectors.StepContext{FlowID: "f", TenantDomain: e.org.Handle, Step: 1, IdP: connectors.LocalIdP},
			Params:      map[string]string{basicauth.ParamUsername: "erin", basicauth.ParamPassword: pw}, Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	patch := func(ops ...map[string]any) resp {
		t.Helper()
		return e.do("PATCH", "/scim2/Users/"+id, patchBody(ops...)).must(t, 200)
	}
	wantLogin := func(step string, pw string, reason connectors.Reason) {
		t.Helper()
		out := login(pw)
		switch {
		case reason == "" && out.Status != connectors.StatusSuccess:
			t.Fatalf("%s: %+v, want success", step, out)
		case reason != "" && (out.Status != connectors.StatusFailed || out.Reason != reason):
			t.Fatalf("%s: status %q reason %q, want %q", step, out.Status, out.Reason, reason)
		}
	}
	wantLogin("initially", "Erin-pw-1", "")
	login("wrong")

	// Lock: indefinitely, reason ADMIN_INITIATED, shown in the resource.
	r := patch(op("replace", SchemaWSO2+":accountLocked", true))
	if get(r.body, SchemaWSO2, "accountLocked") != true {
		t.Errorf("after lock: %s", r.raw)
	}
	u, err := e.s.UserByID(t.Context(), e.org.ID, id)
	if err != nil || !u.Locked || !u.LockedUntil.IsZero() {
		t.Fatalf("stored lock: %+v %v", u, err)
	}
	wantLogin("locked", "Erin-pw-1", connectors.ReasonAccountLocked)
	// Unlock: the failure counter starts again.
	r = patch(op("replace", SchemaWSO2, map[string]any{"accountLocked": false}))
	if u, _ := e.s.UserByID(t.Context(), e.org.ID, id); u.Locked || u.FailedLoginAttempts != 0 || get(r.body, SchemaWSO2, "accountLocked") != false {
		t.Errorf("after unlock: %+v %s", u, r.raw)
	}
	wantLogin("unlocked", "Erin-pw-1", "")

	// Disable through accountDisabled (active follows), enable through PUT.
	r = patch(op("replace", SchemaWSO2+":accountDisabled", true))
	if get(r.body, "active") != false || get(r.body, SchemaWSO2, "accountDisabled") != true {
		t.Errorf("after disable: %s", r.raw)
	}
	wantLogin("disabled", "Erin-pw-1", connectors.ReasonAccountDisabled)
	e.do("PUT", "/scim2/Users/"+id, map[string]any{"schemas": []string{SchemaUser, SchemaWSO2}, "userName": "erin",
		SchemaWSO2: map[string]any{"accountDisabled": false}}).must(t, 200)
	wantLogin("enabled", "Erin-pw-1", "")

	// Forced password reset: refused as such (not as disabled) until a new password is set.
	r = patch(op("replace", SchemaWSO2+":forcePasswordReset", true))
	if _, shown := get(r.body, SchemaWSO2).(map[string]any)["forcePasswordReset"]; shown {
		t.Errorf("forcePasswordReset returned: %s", r.raw)
	}
	wantLogin("forced reset", "Erin-pw-1", basicauth.ReasonPasswordResetRequired)
	patch(op("replace", "password", "Erin-pw-2"))
	wantLogin("after the new password", "Erin-pw-2", "")

	// A temporary password and a forced reset in one request: the reset stays.
	patch(op("replace", "password", "Temp-pw-3"), op("replace", SchemaWSO2+":forcePasswordReset", true))
	wantLogin("temporary password", "Temp-pw-3", basicauth.ReasonPasswordResetRequired)
	// Again while the reset is pending: a new temporary password keeps it pending.
	patch(op("replace", "password", "Temp-pw-5"), op("replace", SchemaWSO2+":forcePasswordReset", true))
	wantLogin("second temporary password", "Temp-pw-5", basicauth.ReasonPasswordResetRequired)
	// The user resets it (the scripts' updateUserPassword path writes the same column).
	if err := e.s.SetUserPasswordHash(t.Context(), id, mustHash(t, "Erin-pw-4"), store.Actor{}); err != nil {
		t.Fatal(err)
	}
	wantLogin("reset by the user", "Erin-pw-4", "")

	// Created locked and disabled in one POST.
	c := e.newUser(map[string]any{"schemas": []string{SchemaUser, SchemaWSO2}, "userName": "frank",
		SchemaWSO2: map[string]any{"accountLocked": true, "accountDisabled": true}})
	if get(c, SchemaWSO2, "accountLocked") != true || get(c, "active") != false {
		t.Errorf("created: %v", c)
	}

	// Users cannot administer their own account through /Me.
	me := basic("erin", "Erin-pw-4")
	for _, o := range []map[string]any{
		op("replace", SchemaWSO2+":accountLocked", true),
		op("replace", SchemaWSO2+":accountDisabled", true),
		op("replace", SchemaWSO2+":forcePasswordReset", true),
	} {
		e.do("PATCH", "/scim2/Me", patchBody(o), "Authorization", me).checkError(t, 400, TypeMutability)
	}
}

// TestTenantPaths: /t/{tenant}/scim2 and /o/{org-id}/scim2 address an organization; unknown
// ones, unknown paths and unsupported methods answer SCIM errors.
func TestTenantPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createLocalUser("grace", "grace-pw")
	list := e.do("GET", "/t/carbon.super/scim2/Users?filter="+urlQuery(`userName eq "grace"`), nil).must(t, 200)
	if get(list.body, "totalResults") != float64(1) ||
		!strings.HasPrefix(str0(get(list.body, "Resources", 0, "meta", "location")), "https://id.example.com/t/carbon.super/scim2/Users/") {
		t.Errorf("tenant list: %s", list.raw)
	}
	created := e.do("POST", "/o/"+e.org.ID+"/scim2/Users", map[string]any{"schemas": []string{SchemaUser}, "userName": "henry"}).must(t, 201)
	if loc := created.header.Get("Location"); !strings.HasPrefix(loc, "https://id.example.com/o/"+e.org.ID+"/scim2/Users/") {
		t.Errorf("Location %q", loc)
	}
	e.do("GET", "/t/carbon.super/scim2/ServiceProviderConfig", nil).must(t, 200)
	if r := e.do("GET", "/t/carbon.super/scim2/Users/", nil).must(t, 200); get(r.body, "totalResults") != float64(3) {
		t.Errorf("trailing slash: %s", r.raw)
	}

	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"unknown tenant", "GET", "/t/nowhere.example/scim2/Users", 404},
		{"unknown organization id", "GET", "/o/6f1c4b4e-8a9b-4c7e-9d2a-000000000000/scim2/Users", 404},
		{"malformed organization id", "GET", "/o/not-an-id/scim2/Users", 404},
		{"unknown path", "GET", "/scim2/Widgets", 404},
		{"unknown nested path", "GET", "/scim2/Users/x/y", 404},
		{"unknown path in a tenant", "GET", "/t/carbon.super/scim2/Widgets", 404},
		{"prefix alone", "GET", "/t/carbon.super/scim2/", 404},
		{"method not allowed", "DELETE", "/scim2/ServiceProviderConfig", 405},
		{"method not allowed on a collection", "PUT", "/scim2/Users", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, nil)
			r.checkError(t, tc.status, "")
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Error("no Allow header")
			}
		})
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := password.Hash(pw, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTenantIsolation: a second tenant's path serves that tenant's users, authenticated against
// that tenant.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t)
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e := newEnvWith(t, s)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var acme string
	if err := conn.QueryRow(t.Context(), `INSERT INTO organizations (handle, name) VALUES ('acme.example', 'Acme') RETURNING id`).Scan(&acme); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(t.Context(), store.NewUser{OrgID: acme, Username: "admin", PasswordHash: mustHash(t, "acme-admin-pw")}); err != nil {
		t.Fatal(err)
	}
	acmeAdmin := basic("admin", "acme-admin-pw")
	e.do("POST", "/t/acme.example/scim2/Users", map[string]any{"schemas": []string{SchemaUser}, "userName": "ivan"},
		"Authorization", acmeAdmin).must(t, 201)
	r := e.do("GET", "/t/acme.example/scim2/Users", nil, "Authorization", acmeAdmin).must(t, 200)
	if get(r.body, "totalResults") != float64(2) {
		t.Errorf("acme users: %s", r.raw)
	}
	// The root tenant's administrator is nobody in acme, and ivan is not in the root tenant.
	e.do("GET", "/t/acme.example/scim2/Users", nil).checkError(t, 401, "")
	if r := e.do("GET", "/scim2/Users?filter="+urlQuery(`userName eq "ivan"`), nil).must(t, 200); get(r.body, "totalResults") != float64(0) {
		t.Errorf("ivan visible in the root tenant: %s", r.raw)
	}
	if r := e.do("GET", "/o/"+acme+"/scim2/Users", nil, "Authorization", acmeAdmin).must(t, 200); get(r.body, "totalResults") != float64(2) {
		t.Errorf("acme by id: %s", r.raw)
	}
}
