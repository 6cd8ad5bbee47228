package wsfed

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/api/authn"
	"github.com/keyflow/keyflow/store"
)

// TestSignOutFanOut: wsignout1.0 from one relying party ends the session and sends the
// session's other WS-Federation relying party a wsignoutcleanup1.0 image request, then goes
// on to wreply; wsignoutcleanup1.0 ends the session and notifies no one (no loops).
func TestSignOutFanOut(t *testing.T) {
	e := newEnv(t)
	e.newRP(nil)
	app2, err := e.st.CreateApplication(t.Context(), store.NewApplication{Application: store.Application{OrgID: e.org.ID, Name: "crm"}})
	if err != nil {
		t.Fatal(err)
	}
	e.newRP(func(rp *store.WSFedRelyingParty) {
		rp.ApplicationID, rp.Realm = app2.ID, "urn:crm"
		rp.ReplyURLs, rp.LogoutReplyURL = []string{"https://crm.example.com/signin"}, "https://crm.example.com/cleanup?x=1"
	})
	start := func(t *testing.T) (string, store.SSOSession) {
		token, s := e.newSession(t)
		for _, r := range []string{realm, "urn:crm"} {
			if err := e.st.AddSSOParticipant(t.Context(), s.ID, store.SSOParticipant{Protocol: ProtocolWSFed, RelyingParty: r}, fixedNow); err != nil {
				t.Fatal(err)
			}
		}
		return token, s
	}
	tests := []struct {
		name      string
		query     url.Values
		status    int
		images    []string
		notImages []string
	}{
		{"sign-out from the portal", url.Values{"wa": {"wsignout1.0"}, "wtrealm": {realm}, "wreply": {reply}}, http.StatusOK,
			[]string{`<img src="https://crm.example.com/cleanup?wa=wsignoutcleanup1.0&amp;x=1"`, `href="` + reply + `"`},
			[]string{"portal.example.com/bye?wa"}},
		{"cleanup notifies no one", url.Values{"wa": {"wsignoutcleanup1.0"}}, http.StatusOK, nil, []string{"<img"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token, s := start(t)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+PathPassiveSTS+"?"+tc.query.Encode(), nil)
			req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: token})
			resp, body := e.do(req)
			if resp.StatusCode != tc.status {
				t.Fatalf("= %d:\n%s", resp.StatusCode, body)
			}
			for _, want := range tc.images {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s:\n%s", want, body)
				}
			}
			for _, not := range tc.notImages {
				if strings.Contains(body, not) {
					t.Errorf("page has %s:\n%s", not, body)
				}
			}
			if len(tc.images) > 0 {
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "img-src https://crm.example.com") || !strings.Contains(csp, "script-src 'sha256-") {
					t.Errorf("CSP = %q", csp)
				}
			} else if ct := resp.Header.Get("Content-Type"); ct != "image/gif" {
				t.Errorf("cleanup Content-Type = %q", ct)
			}
			if _, err := e.st.SSOSessionByID(t.Context(), s.ID, fixedNow); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session not ended: %v", err)
			}
		})
	}
}
