package manage_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/keyflow/keyflow/store"
)

func id(uri string) string { return base64.RawURLEncoding.EncodeToString([]byte(uri)) }

func TestClaimDialectsAndClaims(t *testing.T) {
	e := newEnv(t)
	dialects := base + "/claim-dialects"

	var ds []struct{ ID, DialectURI string }
	r := e.call(t, http.MethodGet, dialects, adminToken, "")
	want(t, "list dialects", r, http.StatusOK, "")
	r.json(t, &ds)
	found := map[string]string{}
	for _, d := range ds {
		found[d.DialectURI] = d.ID
	}
	if found[store.LocalDialect] != "local" || found["http://wso2.org/oidc/claim"] != id("http://wso2.org/oidc/claim") {
		t.Errorf("dialects %+v", ds)
	}
	want(t, "paging", e.call(t, http.MethodGet, dialects+"?limit=5", adminToken, ""), http.StatusNotImplemented, "CMT-50022")

	// Local claims.
	locals := dialects + "/local/claims"
	r = e.call(t, http.MethodGet, locals+"/"+id("http://wso2.org/claims/emailaddress"), adminToken, "")
	want(t, "seeded email", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"displayName":"Email"`) || !strings.Contains(r.body, `"dialectURI":"http://wso2.org/claims"`) {
		t.Errorf("email claim %s", r.body)
	}
	shoe := `{"claimURI": "http://wso2.org/claims/shoeSize", "displayName": "Shoe size", "description": "EU",
		"displayOrder": 7, "supportedByDefault": true, "regEx": "^[0-9]+$",
		"attributeMapping": [{"mappedAttribute": "shoeSize", "userstore": "PRIMARY"}]}`
	r = e.call(t, http.MethodPost, locals, adminToken, shoe)
	want(t, "create local", r, http.StatusCreated, "")
	shoeID := id("http://wso2.org/claims/shoeSize")
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/claim-dialects/local/claims/"+shoeID) {
		t.Errorf("Location %q", loc)
	}
	want(t, "duplicate local", e.call(t, http.MethodPost, locals, adminToken, shoe), http.StatusConflict, "CMT-50039")
	for _, tt := range []struct{ name, body, code string }{
		{"no uri", `{"displayName": "x", "attributeMapping": [{"mappedAttribute": "x", "userstore": "PRIMARY"}]}`, "CMT-50029"},
		{"no display name", `{"claimURI": "http://wso2.org/claims/x", "attributeMapping": [{"mappedAttribute": "x", "userstore": "PRIMARY"}]}`, "CMT-60003"},
		{"no mapping", `{"claimURI": "http://wso2.org/claims/x", "displayName": "x"}`, "CMT-60006"},
		{"no userstore", `{"claimURI": "http://wso2.org/claims/x", "displayName": "x", "attributeMapping": [{"mappedAttribute": "x"}]}`, "CMT-60005"},
		{"malformed", `{"claimURI": 1}`, "CMT-50037"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want(t, tt.name, e.call(t, http.MethodPost, locals, adminToken, tt.body), http.StatusBadRequest, tt.code)
		})
	}
	r = e.call(t, http.MethodPut, locals+"/"+shoeID, adminToken, strings.Replace(shoe, `"EU"`, `"EU sizes"`, 1))
	want(t, "update local", r, http.StatusOK, "")
	want(t, "rename local", e.call(t, http.MethodPut, locals+"/"+shoeID, adminToken,
		strings.Replace(shoe, "shoeSize\"", "hatSize\"", 1)), http.StatusConflict, "CMT-50021")
	want(t, "update missing", e.call(t, http.MethodPut, locals+"/"+id("http://wso2.org/claims/nope"), adminToken,
		strings.Replace(shoe, "shoeSize\"", "nope\"", 1)), http.StatusNotFound, "CMT-50019")

	// A dialect of our own with an external claim.
	want(t, "create dialect", e.call(t, http.MethodPost, dialects, adminToken, `{"dialectURI": "urn:example:shop"}`), http.StatusCreated, "")
	want(t, "duplicate dialect", e.call(t, http.MethodPost, dialects, adminToken, `{"dialectURI": "urn:example:shop"}`), http.StatusConflict, "CMT-50053")
	want(t, "empty dialect", e.call(t, http.MethodPost, dialects, adminToken, `{"dialectURI": ""}`), http.StatusBadRequest, "CMT-50028")
	shop := dialects + "/" + id("urn:example:shop")
	want(t, "get dialect", e.call(t, http.MethodGet, shop, adminToken, ""), http.StatusOK, "")
	r = e.call(t, http.MethodPost, shop+"/claims", adminToken, `{"claimURI": "shoe", "mappedLocalClaimURI": "http://wso2.org/claims/shoeSize"}`)
	want(t, "create external", r, http.StatusCreated, "")
	want(t, "duplicate external", e.call(t, http.MethodPost, shop+"/claims", adminToken,
		`{"claimURI": "shoe", "mappedLocalClaimURI": "http://wso2.org/claims/shoeSize"}`), http.StatusConflict, "CMT-50038")
	want(t, "unknown local", e.call(t, http.MethodPost, shop+"/claims", adminToken,
		`{"claimURI": "hat", "mappedLocalClaimURI": "http://wso2.org/claims/hatSize"}`), http.StatusBadRequest, "CMT-50036")
	want(t, "no mapped local", e.call(t, http.MethodPost, shop+"/claims", adminToken, `{"claimURI": "hat"}`),
		http.StatusBadRequest, "CMT-50035")
	want(t, "unknown dialect", e.call(t, http.MethodPost, dialects+"/"+id("urn:none")+"/claims", adminToken,
		`{"claimURI": "hat", "mappedLocalClaimURI": "http://wso2.org/claims/shoeSize"}`), http.StatusNotFound, "CMT-50016")
	r = e.call(t, http.MethodGet, shop+"/claims/"+id("shoe"), adminToken, "")
	want(t, "get external", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"claimDialectURI":"urn:example:shop"`) || !strings.Contains(r.body, `"id":"`+id("shoe")+`"`) {
		t.Errorf("external claim %s", r.body)
	}
	want(t, "remap external", e.call(t, http.MethodPut, shop+"/claims/"+id("shoe"), adminToken,
		`{"claimURI": "shoe", "mappedLocalClaimURI": "http://wso2.org/claims/country"}`), http.StatusOK, "")
	want(t, "rename external", e.call(t, http.MethodPut, shop+"/claims/"+id("shoe"), adminToken,
		`{"claimURI": "boot", "mappedLocalClaimURI": "http://wso2.org/claims/country"}`), http.StatusConflict, "CMT-50020")
	want(t, "remap back", e.call(t, http.MethodPut, shop+"/claims/"+id("shoe"), adminToken,
		`{"claimURI": "shoe", "mappedLocalClaimURI": "http://wso2.org/claims/shoeSize"}`), http.StatusOK, "")

	// Renaming the dialect carries its claims along.
	want(t, "rename dialect", e.call(t, http.MethodPut, shop, adminToken, `{"dialectURI": "urn:example:store"}`), http.StatusOK, "")
	want(t, "old name gone", e.call(t, http.MethodGet, shop, adminToken, ""), http.StatusNotFound, "CMT-50016")
	want(t, "rename to a taken URI", e.call(t, http.MethodPut, dialects+"/"+id("urn:example:store"), adminToken,
		`{"dialectURI": "http://wso2.org/oidc/claim"}`), http.StatusConflict, "CMT-50053")
	want(t, "rename back", e.call(t, http.MethodPut, dialects+"/"+id("urn:example:store"), adminToken,
		`{"dialectURI": "urn:example:shop"}`), http.StatusOK, "")

	// A mapped local claim cannot be deleted (WSO2: 400 CMT-50031).
	want(t, "delete mapped local", e.call(t, http.MethodDelete, locals+"/"+shoeID, adminToken, ""), http.StatusBadRequest, "CMT-50031")
	want(t, "delete local dialect", e.call(t, http.MethodDelete, dialects+"/local", adminToken, ""), http.StatusBadRequest, "CMT-50033")
	want(t, "delete external", e.call(t, http.MethodDelete, shop+"/claims/"+id("shoe"), adminToken, ""), http.StatusNoContent, "")
	want(t, "get deleted external", e.call(t, http.MethodGet, shop+"/claims/"+id("shoe"), adminToken, ""), http.StatusNotFound, "CMT-50018")
	want(t, "delete dialect", e.call(t, http.MethodDelete, shop, adminToken, ""), http.StatusNoContent, "")
	want(t, "get deleted dialect", e.call(t, http.MethodGet, shop, adminToken, ""), http.StatusNotFound, "CMT-50016")
	want(t, "delete local", e.call(t, http.MethodDelete, locals+"/"+shoeID, adminToken, ""), http.StatusNoContent, "")
	want(t, "delete local again", e.call(t, http.MethodDelete, locals+"/"+shoeID, adminToken, ""), http.StatusNotFound, "CMT-50019")

	events, _ := e.audit(t, "local_claim.")
	if len(events) != 3 || events[0].Action != store.AuditLocalClaimDelete || events[2].Action != store.AuditLocalClaimCreate {
		t.Fatalf("local claim events %+v", events)
	}
	if u := events[1]; !strings.Contains(string(u.Before), `"description":"EU"`) || !strings.Contains(string(u.After), `"description":"EU sizes"`) {
		t.Errorf("update event before %s after %s", u.Before, u.After)
	}
	if events, _ := e.audit(t, "external_claim."); len(events) != 4 {
		t.Errorf("%d external claim events, want 4 (create, 2 updates, delete)", len(events))
	}
	if events, _ := e.audit(t, "claim_dialect."); len(events) != 4 {
		t.Errorf("%d dialect events, want 4 (create, 2 renames, delete)", len(events))
	}
}
