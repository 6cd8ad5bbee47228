package governance_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/keyflow/keyflow/api/bearer/bearertest"
	"github.com/keyflow/keyflow/api/governance"
	"github.com/keyflow/keyflow/store"
	"github.com/keyflow/keyflow/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	s    *store.Store
	conn *pgx.Conn
	org  store.Organization
	h    http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	url := storetest.URL(t)
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(t.Context()) })
	org, err := s.EnsureRootOrganization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.CreateUser(ctx, store.NewUser{OrgID: org.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{governance.ScopeView, governance.ScopeUpdate, governance.ScopeUserList}
	toks := bearertest.Tokens{
		"admin":      {Subject: admin.ID, ClientID: "console", Scopes: all},
		"admin-view": {Subject: admin.ID, ClientID: "console", Scopes: []string{governance.ScopeView}},
		"alice":      {Subject: alice.ID, ClientID: "console", Scopes: all},
		"app":        {Subject: "m2m", ClientID: "m2m", ClientOnly: true, Scopes: all},
	}
	h, err := governance.New(governance.Config{Store: governance.StoreTx{Store: s}, Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	h.Register(r)
	return &env{s: s, conn: conn, org: org, h: r}
}

func (e *env) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd *bytes.Reader
	if body == nil {
		rd = bytes.NewReader(nil)
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

var (
	catPW     = governance.ID(governance.CategoryPasswordPolicies)
	catAcct   = governance.ID(governance.CategoryAccountManagement)
	conPolicy = governance.ID(governance.ConnectorPasswordPolicy)
	conHist   = governance.ID(governance.ConnectorPasswordHistory)
	conExpiry = governance.ID(governance.ConnectorPasswordExpiry)
	conIdle   = governance.ID(governance.ConnectorIdleAccounts)
)

func connectorPath(cat, con string) string {
	return governance.PathGovernance + "/" + cat + "/connectors/" + con
}

func props(c governance.Connector) map[string]string {
	out := map[string]string{}
	for _, p := range c.Properties {
		out[p.Name] = p.Value
	}
	return out
}

func TestGovernanceConnectors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// WSO2's ids: base64url of the names.
	if catPW != "UGFzc3dvcmQgUG9saWNpZXM" || conHist != "cGFzc3dvcmRIaXN0b3J5" {
		t.Errorf("ids %s %s", catPW, conHist)
	}
	code, body := e.do(t, "GET", governance.PathGovernance, "admin", nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	cats := decode[[]governance.CategorySummary](t, body)
	if len(cats) != 2 || cats[0].ID != catPW || len(cats[0].Connectors) != 3 ||
		cats[0].Connectors[0].Self != connectorPath(catPW, conHist) {
		t.Errorf("categories: %s", body)
	}

	code, body = e.do(t, "GET", connectorPath(catPW, conPolicy), "admin", nil)
	if code != 200 {
		t.Fatalf("get: %d %s", code, body)
	}
	c := decode[governance.Connector](t, body)
	if c.Name != "passwordPolicy" || c.Category != "Password Policies" || props(c)["passwordPolicy.enable"] != "false" ||
		props(c)["passwordPolicy.min.length"] != "0" {
		t.Errorf("connector: %s", body)
	}

	patch := func(cat, con string, kv ...string) (int, []byte) {
		var ps []governance.Property
		for i := 0; i+1 < len(kv); i += 2 {
			ps = append(ps, governance.Property{Name: kv[i], Value: kv[i+1]})
		}
		return e.do(t, "PATCH", connectorPath(cat, con), "admin", governance.PatchRequest{Operation: "UPDATE", Properties: ps})
	}
	for _, p := range []struct {
		cat, con string
		kv       []string
	}{
		{catPW, conPolicy, []string{"passwordPolicy.enable", "true", "passwordPolicy.min.length", "10", "passwordPolicy.max.length", "64",
			"passwordPolicy.min.upperCase", "1", "passwordPolicy.min.numbers", "2", "passwordPolicy.pattern", `^\S+$`,
			"passwordPolicy.errorMsg", "No spaces."}},
		{catPW, conHist, []string{"passwordHistory.enable", "true", "passwordHistory.count", "5"}},
		{catPW, conExpiry, []string{"passwordExpiry.enablePasswordExpiry", "true", "passwordExpiry.passwordExpiryInDays", "45"}},
		{catAcct, conIdle, []string{"suspension.notification.enable", "true", "suspension.notification.account.disable.delay", "90"}},
	} {
		if code, body := patch(p.cat, p.con, p.kv...); code != 200 {
			t.Fatalf("patch %s: %d %s", p.kv[0], code, body)
		}
	}
	got, err := e.s.PasswordPolicy(t.Context(), e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.UpdatedAt = time.Time{}
	want := store.PasswordPolicy{Enabled: true, MinLength: 10, MaxLength: 64, MinUpper: 1, MinDigits: 2, Pattern: `^\S+$`,
		ErrorMessage: "No spaces.", HistoryEnabled: true, HistoryCount: 5, ExpiryEnabled: true, MaxAgeDays: 45,
		IdleEnabled: true, IdleDisableDays: 90}
	if got != want {
		t.Errorf("stored %+v\nwant %+v", got, want)
	}
	// Switching a connector off keeps its values.
	if code, body := patch(catPW, conHist, "passwordHistory.enable", "false"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	code, body = e.do(t, "GET", governance.PathGovernance+"/"+catPW, "admin", nil)
	cat := decode[governance.Category](t, body)
	if code != 200 || len(cat.Connectors) != 3 || props(cat.Connectors[0])["passwordHistory.enable"] != "false" ||
		props(cat.Connectors[0])["passwordHistory.count"] != "5" {
		t.Errorf("category: %d %s", code, body)
	}
	var n int
	if err := e.conn.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE action = $1`, store.AuditPasswordPolicyUpdate).Scan(&n); err != nil || n != 5 {
		t.Errorf("%d audit events (%v), want 5", n, err)
	}

	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no token", "GET", governance.PathGovernance, "", nil, 401, "IDG-10001"},
		{"not an administrator", "GET", governance.PathGovernance, "alice", nil, 403, "IDG-10002"},
		{"view scope cannot update", "PATCH", connectorPath(catPW, conHist), "admin-view",
			governance.PatchRequest{Operation: "UPDATE", Properties: []governance.Property{{Name: "passwordHistory.count", Value: "1"}}}, 403, "IDG-10002"},
		{"unknown category", "GET", governance.PathGovernance + "/bm9wZQ", "admin", nil, 404, "IDG-50008"},
		{"unknown connector", "GET", connectorPath(catPW, conIdle), "admin", nil, 404, "IDG-50009"},
		{"unknown property", "PATCH", connectorPath(catPW, conHist), "admin",
			governance.PatchRequest{Operation: "UPDATE", Properties: []governance.Property{{Name: "passwordPolicy.min.length", Value: "1"}}}, 400, "IDG-50010"},
		{"not a number", "PATCH", connectorPath(catPW, conHist), "admin",
			governance.PatchRequest{Operation: "UPDATE", Properties: []governance.Property{{Name: "passwordHistory.count", Value: "many"}}}, 400, "IDG-50010"},
		{"inconsistent policy", "PATCH", connectorPath(catPW, conPolicy), "admin",
			governance.PatchRequest{Operation: "UPDATE", Properties: []governance.Property{{Name: "passwordPolicy.max.length", Value: "5"}}}, 400, "IDG-50010"},
		{"look-ahead pattern", "PATCH", connectorPath(catPW, conPolicy), "admin",
			governance.PatchRequest{Operation: "UPDATE", Properties: []governance.Property{{Name: "passwordPolicy.pattern", Value: `^(?=.*\d).*$`}}}, 400, "IDG-50010"},
		{"wrong operation", "PATCH", connectorPath(catPW, conHist), "admin", map[string]any{"operation": "DELETE"}, 400, "IDG-50010"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(t, tc.method, tc.path, tc.token, tc.body)
			got := decode[governance.Error](t, body)
			if code != tc.status || got.Code != tc.code || got.Message == "" || got.Description == "" {
				t.Errorf("%d %s, want %d %s", code, body, tc.status, tc.code)
			}
		})
	}
	// Refused updates changed nothing.
	after, err := e.s.PasswordPolicy(t.Context(), e.org.ID)
	if err != nil || after.MaxLength != 64 || after.Pattern != `^\S+$` {
		t.Errorf("after refusals: %+v %v", after, err)
	}
}

func TestInactiveUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	mk := func(name, created, lastLogin string) string {
		t.Helper()
		u, err := e.s.CreateUser(ctx, store.NewUser{OrgID: e.org.ID, Username: name})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := time.Parse(time.DateOnly, created)
		if _, err := e.conn.Exec(ctx, `UPDATE users SET created_at = $2 WHERE id = $1`, u.ID, c); err != nil {
			t.Fatal(err)
		}
		if lastLogin != "" {
			l, _ := time.Parse(time.DateOnly, lastLogin)
			if err := e.s.RecordLoginSuccess(ctx, u.ID, l.Add(12*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	// admin and alice were created today and never logged in.
	idle1 := mk("idle-since-2023", "2022-01-01", "2023-03-01")
	idle2 := mk("never-logged-in", "2023-06-01", "")
	_ = mk("active", "2022-01-01", "2024-02-01")
	ancient := mk("ancient", "2015-01-01", "2016-01-01")
	if _, err := e.s.ChangeAccount(ctx, store.AccountChange{OrgID: e.org.ID, UserID: ancient, Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	query := func(q string) []string {
		t.Helper()
		code, body := e.do(t, "GET", governance.PathIdle+"?"+q, "admin", nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		var ids []string
		for _, u := range decode[[]governance.InactiveUser](t, body) {
			if u.UserStoreDomain != "PRIMARY" || u.Username == "" {
				t.Errorf("item %+v", u)
			}
			ids = append(ids, u.UserID)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"inactiveAfter=2024-01-01", sorted(idle1, idle2, ancient)},
		{"inactiveAfter=2024-01-01&excludeBefore=2020-01-01", sorted(idle1, idle2)},
		{"inactiveAfter=2023-04-01", sorted(idle1, ancient)},
		{"inactiveAfter=2024-01-01&filter=isDisabled%20eq%20true", []string{ancient}},
		{"inactiveAfter=2024-01-01&filter=isDisabled%20eq%20false", sorted(idle1, idle2)},
		{"inactiveAfter=2010-01-01", nil},
	} {
		if got := query(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.q, got, tc.want)
		}
	}
	for _, q := range []string{"", "inactiveAfter=yesterday", "inactiveAfter=2024-01-01&excludeBefore=2025-01-01",
		"inactiveAfter=2024-01-01&filter=username%20eq%20x"} {
		code, body := e.do(t, "GET", governance.PathIdle+"?"+q, "admin", nil)
		if code != 400 || !strings.HasPrefix(decode[governance.Error](t, body).Code, "IAI-") {
			t.Errorf("%q: %d %s", q, code, body)
		}
	}
	if code, _ := e.do(t, "GET", governance.PathIdle+"?inactiveAfter=2024-01-01", "alice", nil); code != 403 {
		t.Errorf("non-admin: %d", code)
	}
	if code, _ := e.do(t, "GET", governance.PathIdle+"?inactiveAfter=2024-01-01", "app", nil); code != 200 {
		t.Errorf("client acting for itself: %d", code)
	}
}

func ptr[T any](v T) *T { return &v }
