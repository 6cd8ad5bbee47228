package manage_test

import (
	"net/http"
	"strings"
	"testing"
)

type keyList struct {
	Keys []struct {
		KID, Alg, Status string
		PublicKey        map[string]any `json:"publicKey"`
	} `json:"keys"`
}

func (k keyList) current(alg string) string {
	for _, key := range k.Keys {
		if key.Alg == alg && key.Status == "current" {
			return key.KID
		}
	}
	return ""
}

func TestSigningKeys(t *testing.T) {
	e := newEnv(t)
	var before keyList
	r := e.call(t, http.MethodGet, base+"/keys", viewerToken, "")
	want(t, "list", r, http.StatusOK, "")
	r.json(t, &before)
	if len(before.Keys) != 2 || before.current("ES256") == "" {
		t.Fatalf("keys %s", r.body)
	}
	for _, k := range before.Keys {
		if _, private := k.PublicKey["d"]; private || k.PublicKey["kty"] != "EC" {
			t.Errorf("key %s publishes %v", k.KID, k.PublicKey)
		}
	}
	if strings.Contains(r.body, "kek1") || strings.Contains(r.body, "privateKey") {
		t.Errorf("list shows private material: %s", r.body)
	}
	want(t, "viewer cannot rotate", e.call(t, http.MethodPost, base+"/keys/rotate", viewerToken, `{"alg":"ES256"}`),
		http.StatusForbidden, "KSS-60403")
	want(t, "unknown alg", e.call(t, http.MethodPost, base+"/keys/rotate", adminToken, `{"alg":"HS256"}`),
		http.StatusBadRequest, "KSS-60003")
	r = e.call(t, http.MethodPost, base+"/keys/rotate", adminBasic, `{"alg":"ES256"}`)
	want(t, "rotate", r, http.StatusOK, "")
	var after keyList
	r.json(t, &after)
	if len(after.Keys) != 3 || after.current("ES256") == before.current("ES256") {
		t.Errorf("after rotation %s", r.body)
	}
	events, _ := e.audit(t, "signing_keys.rotate_request")
	if len(events) != 1 || events[0].Actor.Type != "user" || events[0].Target.ID != "ES256" {
		t.Errorf("rotation events %+v", events)
	}
	want(t, "no SAML certificate yet", e.call(t, http.MethodGet, base+"/keystores/certs/public", adminToken, ""),
		http.StatusNotFound, "KSS-60002")
}
