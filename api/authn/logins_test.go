package authn

import (
	"strconv"
	"testing"

	"github.com/keyflow/keyflow/api/oauth2/op"
)

// TestStateCache: a remembered state comes back as a fresh copy each time, and the cache keeps
// at most stateCacheSize states (the others fall back to the workflow's memo).
func TestStateCache(t *testing.T) {
	var c stateCache
	c.put("flow-1", &LoginState{Protocol: "oidc", OAuth2: &op.AuthorizeRequest{ClientID: "web", State: "s1"}, RelyingParty: "web"})
	got, ok := c.get("flow-1")
	if !ok || got.OAuth2 == nil || got.OAuth2.ClientID != "web" || got.OAuth2.State != "s1" || got.RelyingParty != "web" {
		t.Fatalf("get = %+v, %v", got, ok)
	}
	got.OAuth2.State = "changed"
	if again, _ := c.get("flow-1"); again.OAuth2.State != "s1" {
		t.Fatal("a reader's change reached the cache")
	}
	if _, ok := c.get("flow-2"); ok {
		t.Fatal("an unknown flow was found")
	}
	for i := range stateCacheSize + 10 {
		c.put("f"+strconv.Itoa(i), &LoginState{Protocol: "saml"})
	}
	if n := len(c.entries); n > stateCacheSize {
		t.Fatalf("%d entries, want at most %d", n, stateCacheSize)
	}
	if _, ok := c.get("f" + strconv.Itoa(stateCacheSize+9)); !ok {
		t.Fatal("the newest state was evicted")
	}
}
