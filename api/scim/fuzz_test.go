package scim

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/keyflow/keyflow/api/scim/filter"
	"github.com/keyflow/keyflow/store"
)

// sampleUser is a rendered user with values in every kind of attribute.
func sampleUser() (*Handler, map[string]any) {
	h := &Handler{user: userResource(), group: groupResource()}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := userView{
		user: store.User{ID: "6f1c4b4e-8a9b-4c7e-9d2a-000000000001", Username: "bjensen", Domain: store.DefaultDomain, CreatedAt: now, UpdatedAt: now},
		claims: map[string]string{
			"http://wso2.org/claims/givenname": "Barbara", "http://wso2.org/claims/emailaddress": "b@example.com",
			"http://wso2.org/claims/emails.work": "w@example.com", "http://wso2.org/claims/mobile": "+1",
			"http://wso2.org/claims/employeeNumber": "7", "http://wso2.org/claims/country": "DK",
		},
		groups: []store.Membership{{Group: store.Group{ID: "g1", Name: "Staff", Domain: store.DefaultDomain}, Direct: true}},
		roles:  []store.RoleRef{{ID: "r1", Name: "admin"}},
	}
	return h, h.renderUser("https://x/scim2", v)
}

// FuzzPatch applies arbitrary operations to a user: the result is either
// a valid user (extractable) or an *Error with a 4xx status, never a panic.
func FuzzPatch(f *testing.F) {
	seeds := []struct{ op, path, value string }{
		{"add", `emails[type eq "home"].value`, `"h@example.com"`},
		{"replace", `emails[type eq "work"]`, `{"value":"x@y","type":"work"}`},
		{"remove", `emails[value co "example"]`, ``},
		{"replace", ``, `{"name":{"familyName":"J"},"active":"False"}`},
		{"add", `name.givenName`, `"B"`},
		{"remove", `members`, `[{"value":"x"}]`},
		{"replace", SchemaEnterprise + `:manager.value`, `"m"`},
		{"add", SchemaWSO2, `{"country":"NO"}`},
		{"replace", `phoneNumbers[type eq "mobile" or primary eq true].type`, `"work"`},
		{"Replace", `userName`, `7`},
		{"remove", `groups`, ``},
		{"add", `emails`, `[{"value":"a"},{"value":"a"}]`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.path, s.value)
	}
	f.Fuzz(func(t *testing.T, op, path, value string) {
		h, res := sampleUser()
		var v any
		if value != "" {
			if json.Unmarshal([]byte(value), &v) != nil {
				return
			}
		}
		err := applyPatch(h.user, res, []patchOp{{Op: op, Path: path, Value: v}})
		if err == nil {
			_, err = h.extractUser(res)
		}
		if err != nil && (err.Status < 400 || err.Status >= 500 || err.Detail == "") {
			t.Fatalf("op %q path %q value %q: %+v", op, path, value, err)
		}
		// A rendered resource stays JSON.
		if _, jerr := json.Marshal(res); jerr != nil {
			t.Fatalf("result not JSON: %v", jerr)
		}
	})
}

// FuzzFilter translates arbitrary filters for users and groups: either a
// store.Filter or an invalidFilter error, never a panic.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "a"`, `emails[type eq "work" and not (value co "x")]`, `meta.created gt "2020-01-01T00:00:00Z"`,
		`active eq true or groups.display sw "a"`, `name pr and title eq null`, SchemaEnterprise + `:manager.value eq "m"`,
		`members[value eq "x"] or displayName ew "s"`, `emails.primary eq true`, `phoneNumbers.type ne "fax"`,
		`members[type eq "Group" and not (display eq "x")]`, `members.type pr`, `not (members.type ne "User")`,
		`groups[type eq "indirect" and display eq "x"]`, `groups.type eq "direct"`, `groups[not (type pr) or value eq null]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := filter.Parse(s)
		if err != nil {
			return
		}
		for _, rt := range []*resourceType{userResource(), groupResource()} {
			_, serr := translator{rt: rt}.expr(e)
			if serr != nil && (serr.Status != 400 || serr.ScimType != TypeInvalidFilter) {
				t.Fatalf("%q: %+v", s, serr)
			}
		}
	})
}

func TestToError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   int
		scimType string
	}{
		{"scim error", badRequest(TypeInvalidValue, "x"), 400, TypeInvalidValue},
		{"wrapped not found", errors.Join(errors.New("ctx"), store.ErrNotFound), 404, ""},
		{"conflict", store.ErrConflict, 409, TypeUniqueness},
		{"anything else", errors.New("boom"), 500, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := toError(tc.err)
			if e.Status != tc.status || e.ScimType != tc.scimType {
				t.Errorf("toError = %+v", e)
			}
			if tc.status == 500 && e.Detail != "internal error" {
				t.Errorf("500 detail leaks: %q", e.Detail)
			}
		})
	}
}
