package scripting_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/fake"
	"github.com/keyflow/keyflow/scripting"
)

// evalAfterStep1 runs expr in step 1's onSuccess and returns String(expr) via selectedAcr.
func evalAfterStep1(t *testing.T, e *env, expr string, result func(*scripting.StepNode, int) scripting.StepResult, mod ...func(*scripting.Setup)) string {
	t.Helper()
	s := e.open(`function onLoginRequest(context){ executeStep(1,{onSuccess: function(context){
		context.selectedAcr = String(`+expr+`);
	}}); }`, twoSteps(), mod...)
	if fail := (&driver{t: t, result: result}).run(s); fail != nil {
		t.Fatalf("%s: %s", expr, fail.Reason)
	}
	return s.SelectedACR()
}

func TestContextObject(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"ip", `context.request.ip`, "192.168.1.7"},
		{"header", `context.request.headers['user-agent']`, "test-agent"},
		{"param is an array", `context.request.params.scenario[0] + context.request.params.scenario.length`, "s11"},
		{"missing param", `context.request.params.nope`, "undefined"},
		{"cookie object", `context.request.cookies.lang.value + context.request.cookies.lang.name`, "enlang"},
		{"service provider", `context.serviceProviderName`, "pickup"},
		{"tenant", `context.tenantDomain`, "carbon.super"},
		{"requested acr", `context.requestedAcr.join(',')`, "acr2,acr1"},
		{"step idp", `context.steps[1].idp`, "LOCAL"},
		{"step authenticator", `context.steps[1].authenticator`, "BasicAuthenticator"},
		{"step options", `context.steps[2].options[0].authenticator + '@' + context.steps[2].options[0].idp`, "totp@LOCAL"},
		{"step that has not run", `context.steps[2].subject + ':' + context.steps[2].idp`, "null:null"},
		{"unconfigured step", `context.steps[5]`, "undefined"},
		{"current step", `context.currentStep.authenticator`, "BasicAuthenticator"},
		{"current known subject", `context.currentKnownSubject.username`, "alice"},
		{"unknown member", `context.nothing`, "undefined"},
		{"read-only member ignores writes", `(context.tenantDomain = 'x', context.tenantDomain)`, "carbon.super"},
		{"selectedAcr reads back", `(context.selectedAcr = 'gold', context.selectedAcr)`, "gold"},
		{"retry", `context.retry`, "false"},
		{"endpointParams persists", `(context.endpointParams.k = 'v', context.endpointParams.k)`, "v"},
		{"no failed user", `context.lastLoginFailedUser`, "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			got := evalAfterStep1(t, e, tc.expr, nil, func(s *scripting.Setup) { s.RequestedACR = []string{"acr2", "acr1"} })
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestContextBeforeAndAfterFailure(t *testing.T) {
	e := newEnv(t)
	s := e.open(`function onLoginRequest(context){
		before = String(context.currentKnownSubject) + String(context.currentStep);
		executeStep(1, {onFail: function(context){
			context.selectedAcr = before + ':' + context.lastLoginFailedUser.username + ':' + context.steps[1].subject;
			executeStep(1);
		}});
	}`, twoSteps())
	if fail := (&driver{t: t, result: failOn(1, 1)}).run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if got := s.SelectedACR(); got != "nullnull:alice:null" {
		t.Errorf("got %q", got)
	}
}

func TestSelectedAcrDelete(t *testing.T) {
	tests := []struct{ name, stmt string }{
		{"delete", `delete context.selectedAcr;`},
		{"null", `context.selectedAcr = null;`},
		{"undefined", `context.selectedAcr = undefined;`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newEnv(t).open(`function onLoginRequest(context){ executeStep(1,{onSuccess: function(context){
				context.selectedAcr = 'x'; `+tc.stmt+` }}); }`, twoSteps())
			if fail := (&driver{t: t}).run(s); fail != nil {
				t.Fatal(fail.Reason)
			}
			if got := s.SelectedACR(); got != "" {
				t.Errorf("selectedAcr %q, want cleared", got)
			}
		})
	}
}

func TestUserObject(t *testing.T) {
	federated := func(n *scripting.StepNode, run int) scripting.StepResult {
		return scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: "GoogleOIDCAuthenticator", IdP: "Google",
			User: &connectors.User{Username: "fed@gmail.com", IdP: "Google",
				Claims:       map[string]string{"http://wso2.org/claims/groups": "staff,admins"},
				RemoteClaims: map[string]string{"email": "fed@gmail.com", "groups": "x"}}}
	}
	secondary := func(n *scripting.StepNode, run int) scripting.StepResult {
		return scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: "BasicAuthenticator", IdP: "LOCAL",
			User: &connectors.User{Username: "carol", UserStoreDomain: "LDAP", IdP: "LOCAL", Groups: []string{"LDAP/managers", "PRIMARY/x"}}}
	}
	u := `context.currentKnownSubject`
	tests := []struct {
		name   string
		expr   string
		result func(*scripting.StepNode, int) scripting.StepResult
		want   string
	}{
		{"username", u + `.username`, nil, "alice"},
		{"user store", u + `.userStoreDomain`, nil, "PRIMARY"},
		{"tenant", u + `.tenantDomain`, nil, "carbon.super"},
		{"identifier defaults to username", u + `.identifier`, nil, "alice"},
		{"unique id", u + `.uniqueId`, nil, "id-alice"},
		{"roles from the directory", u + `.roles.join(',')`, nil, "admin,everyone"},
		{"local claim read", u + `.localClaims['http://wso2.org/claims/emailaddress']`, nil, "alice@example.com"},
		{"missing local claim is null", u + `.localClaims['http://wso2.org/claims/none']`, nil, "null"},
		{"runtime claim", `(` + u + `.claims['http://x/c'] = 5, ` + u + `.claims['http://x/c'])`, nil, "5"},
		{"username is writable", `(` + u + `.username = 'alice2', context.steps[1].subject.username)`, nil, "alice2"},
		{"hasRole", `hasRole(` + u + `, 'admin') + ',' + hasRole(` + u + `, 'Admin')`, nil, "true,false"},
		{"hasAnyOfTheRoles", `hasAnyOfTheRoles(` + u + `, ['x', 'everyone']) + ',' + hasAnyOfTheRoles(` + u + `, ['x'])`, nil, "true,false"},
		{"isAnyOfTheRolesAssignedToUser", `isAnyOfTheRolesAssignedToUser(` + u + `, ['admin'])`, nil, "true"},
		{"hasAnyOfTheRolesV2 strips Internal/", `hasAnyOfTheRolesV2(context, ['approver']) + ',' + hasAnyOfTheRolesV2(context, ['Internal/approver']) + ',' + hasAnyOfTheRolesV2(context, ['admin'])`, nil, "true,true,false"},
		{"isMemberOfAnyOfGroups", `isMemberOfAnyOfGroups(` + u + `, ['manager', 'employee']) + ',' + isMemberOfAnyOfGroups(` + u + `, ['manager'])`, nil, "true,false"},
		{"groups of a secondary store are qualified", `isMemberOfAnyOfGroups(` + u + `, ['managers']) + ',' + isMemberOfAnyOfGroups(` + u + `, ['x']) + ',' + isMemberOfAnyOfGroups(` + u + `, ['PRIMARY/x'])`, secondary, "true,false,true"},
		{"federated: no local roles", `hasRole(` + u + `, 'admin') + ',' + hasAnyOfTheRoles(` + u + `, ['admin']) + ',' + ` + u + `.roles.length + ',' + hasAnyOfTheRolesV2(context, ['approver'])`, federated, "false,false,0,false"},
		{"federated: groups from the mapped claim", `isMemberOfAnyOfGroups(` + u + `, ['admins'])`, federated, "true"},
		{"federated: remote claims", u + `.remoteClaims.email`, federated, "fed@gmail.com"},
		{"federated: local claims are the mapped attributes", u + `.localClaims['http://wso2.org/claims/groups']`, federated, "staff,admins"},
		{"federated: idp", `context.steps[1].idp`, federated, "Google"},
		{"masked value", `getMaskedValue(` + u + `.username)`, nil, "a***e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if got := evalAfterStep1(t, e, tc.expr, tc.result); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestLocalClaimWritePersists(t *testing.T) {
	e := newEnv(t)
	s := e.open(`function onLoginRequest(context){ executeStep(1,{onSuccess: function(context){
		var user = context.steps[1].subject;
		user.localClaims['`+fake.FailedAttemptsClaim+`'] = 0;
		user.claims['http://wso2.org/claims/runtime'] = 'yes';
	}}); }`, twoSteps())
	if fail := (&driver{t: t}).run(s); fail != nil {
		t.Fatal(fail.Reason)
	}
	if got := e.dir.Claim("alice", fake.FailedAttemptsClaim); got != "0" {
		t.Errorf("stored claim %q, want \"0\"", got)
	}
	if got := s.RuntimeClaims(s.Subject())["http://wso2.org/claims/runtime"]; got != "yes" {
		t.Errorf("runtime claim %q", got)
	}
}

func TestSelectAcrFrom(t *testing.T) {
	tests := []struct {
		name      string
		requested []string
		want      string
	}{
		{"single match", []string{"acr2"}, "acr2"},
		{"script preference wins", []string{"acr3", "acr1"}, "acr1"},
		{"nothing requested", nil, "null"},
		{"no match", []string{"gold"}, "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			got := evalAfterStep1(t, e, `selectAcrFrom(context, ['acr1', 'acr2', 'acr3'])`, nil,
				func(s *scripting.Setup) { s.RequestedACR = tc.requested })
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUtilityFunctions(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	jwt := enc([]byte(`{"alg":"RS256","kid":"k1"}`)) + "." + enc([]byte(`{"sub":"alice","amr":["pwd"],"n":3}`)) + ".sig"
	tests := []struct {
		name, expr, want string
	}{
		{"masked short", `getMaskedValue('ab')`, "ab"},
		{"masked", `getMaskedValue('alice@example.com')`, "a***************m"},
		{"masked null", `getMaskedValue(null)`, "null"},
		{"decoded payload string", `getValueFromDecodedAssertion('` + jwt + `', 'sub', true)`, "alice"},
		{"decoded payload array", `getValueFromDecodedAssertion('` + jwt + `', 'amr', true)`, `["pwd"]`},
		{"decoded header", `getValueFromDecodedAssertion('` + jwt + `', 'kid', false)`, "k1"},
		{"decoded missing", `getValueFromDecodedAssertion('` + jwt + `', 'x', true)`, ""},
		{"decoded garbage", `getValueFromDecodedAssertion('garbage', 'x', true)`, ""},
		{"filterAuthenticators", `JSON.stringify(filterAuthenticators([{idp: 'LOCAL', authenticator: 'BasicAuthenticator'}, {idp: 'LOCAL', authenticator: 'FIDOAuthenticator'}, {idp: 'Google', authenticator: 'GoogleOIDCAuthenticator'}], 'FIDOAuthenticator'))`,
			`{"0":{"authenticator":"BasicAuthenticator"},"1":{"idp":"Google"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := evalAfterStep1(t, newEnv(t), tc.expr, nil); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

// TestWSO2FunctionFixtures runs WSO2's own unit-test scripts unchanged and asserts what WSO2's
// harness asserts: the function's result lands in context.selectedAcr.
func TestWSO2FunctionFixtures(t *testing.T) {
	tests := []struct {
		file   string
		user   string
		roles  []string
		groups []string
		want   string
	}{
		{"unittest-user-hasRole-test-sp.js", "jack", []string{"admin"}, nil, "true"},
		{"unittest-user-hasRole-test-sp.js", "jack", []string{"manager"}, nil, "false"},
		{"unittest-user-hasAnyOfTheRoles-test-sp.js", "jack", []string{"manager"}, nil, "true"},
		{"unittest-user-hasAnyOfTheRoles-test-sp.js", "jack", []string{"guest"}, nil, "false"},
		{"unittest-user-isMemberOfAnyOfGroups-test-sp.js", "jack", nil, []string{"students"}, "true"},
		{"unittest-user-isMemberOfAnyOfGroups-test-sp.js", "jack", nil, []string{"parents"}, "false"},
		{"unittest-utils-get-masked-value-sp.js", "johnjoe", nil, nil, "j*****e"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.want, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "fixtures", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			e.cfg.Directory = fake.NewDirectory(fake.UserRecord{User: connectors.User{Username: tc.user,
				Roles: tc.roles, Groups: tc.groups}})
			s := e.open(string(src), twoSteps())
			d := &driver{t: t, result: func(n *scripting.StepNode, _ int) scripting.StepResult {
				return scripting.StepResult{Status: connectors.StatusSuccess, Authenticator: "BasicAuthenticator", IdP: "LOCAL",
					User: &connectors.User{Username: tc.user,
						UserStoreDomain: "PRIMARY", IdP: "LOCAL"}}
			}}
			if fail := d.run(s); fail != nil {
				t.Fatal(fail.Reason)
			}
			if got := s.SelectedACR(); got != tc.want {
				t.Errorf("selectedAcr %q, want %q", got, tc.want)
			}
		})
	}
}
