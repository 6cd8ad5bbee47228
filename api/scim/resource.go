package scim

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A resource is handled as a JSON object (map[string]any) in canonical
// form: attribute names spelled as in the schema, extension attributes in
// an object under the extension's URN, values of the schema's types
// (string, bool, float64, map[string]any, []any). canonicalize brings
// client JSON into that form; the render functions produce it from the
// store; PATCH edits it; the extract functions turn it into store input.

// canonicalize checks a client's resource object against rt and returns it
// in canonical form. readOnly attributes (and sub-attributes) are dropped,
// as RFC 7644 §3.3 and §3.5.1 ask; their names are returned so PATCH can
// refuse them instead. "schemas" is kept as given.
func canonicalize(rt *resourceType, raw map[string]any) (map[string]any, []string, *Error) {
	out := map[string]any{}
	var dropped []string
	for k, v := range raw {
		if strings.EqualFold(k, "schemas") {
			out["schemas"] = v
			continue
		}
		if ext := rt.ext(k); ext != nil {
			obj, ok := v.(map[string]any)
			if !ok {
				if v == nil {
					continue
				}
				return nil, nil, badRequest(TypeInvalidSyntax, "%s must be an object", ext.ID)
			}
			eo := map[string]any{}
			for ek, ev := range obj {
				a := ext.attr(ek)
				if a == nil {
					return nil, nil, badRequest(TypeInvalidSyntax, "unknown attribute %s:%s", ext.ID, ek)
				}
				if a.Mutability == readOnly {
					dropped = append(dropped, ext.ID+":"+a.Name)
					continue
				}
				cv, err := canonValue(a, ev)
				if err != nil {
					return nil, nil, err
				}
				if cv != nil {
					eo[a.Name] = cv
				}
			}
			out[ext.ID] = eo
			continue
		}
		a := rt.Core.attr(k)
		if a == nil {
			return nil, nil, badRequest(TypeInvalidSyntax, "unknown attribute %q", k)
		}
		if a.Mutability == readOnly {
			dropped = append(dropped, a.Name)
			continue
		}
		cv, err := canonValue(a, v)
		if err != nil {
			return nil, nil, err
		}
		if cv != nil {
			out[a.Name] = cv
		}
	}
	return out, dropped, nil
}

// canonValue checks v against a; nil means no value (JSON null, an empty
// array or object).
func canonValue(a *attr, v any) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	if !a.Multi {
		return canonSingle(a, v)
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v} // a lone value where an array belongs
	}
	out := make([]any, 0, len(list))
	for _, e := range list {
		ce, err := canonSingle(a, e)
		if err != nil {
			return nil, err
		}
		if ce != nil && !containsValue(out, ce) {
			out = append(out, ce)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func canonSingle(a *attr, v any) (any, *Error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case tComplex:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, badRequest(TypeInvalidValue, "%s must be an object", a.Name)
		}
		out := map[string]any{}
		for k, sv := range obj {
			s := a.sub(k)
			if s == nil {
				return nil, badRequest(TypeInvalidSyntax, "unknown attribute %s.%s", a.Name, k)
			}
			if s.Mutability == readOnly {
				continue
			}
			cv, err := canonSingle(s, sv)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				out[s.Name] = cv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case tBoolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			// Some provisioning clients (Azure AD) send "True"/"False".
			if p, err := strconv.ParseBool(strings.ToLower(b)); err == nil && (strings.EqualFold(b, "true") || strings.EqualFold(b, "false")) {
				return p, nil
			}
		}
		return nil, badRequest(TypeInvalidValue, "%s must be a boolean", a.Name)
	case tDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, badRequest(TypeInvalidValue, "%s must be a dateTime string", a.Name)
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return nil, badRequest(TypeInvalidValue, "%s must be an xsd:dateTime (RFC 3339)", a.Name)
		}
		return s, nil
	case tInteger, tDecimal:
		f, ok := v.(float64)
		if !ok || (a.Type == tInteger && f != float64(int64(f))) {
			return nil, badRequest(TypeInvalidValue, "%s must be a number", a.Name)
		}
		return f, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, badRequest(TypeInvalidValue, "%s must be a string", a.Name)
	}
	if s == "" {
		return nil, nil
	}
	return s, nil
}

func containsValue(list []any, v any) bool {
	return slices.ContainsFunc(list, func(e any) bool { return reflect.DeepEqual(e, v) })
}

// claimValue renders a claim as a value of a's type.
func claimValue(a *attr, s string) any {
	if a.Type == tBoolean {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil
		}
		return b
	}
	return s
}

// valueClaim is claimValue's inverse.
func valueClaim(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// renderClaims fills the claim-backed attributes of schema s into obj.
func renderClaims(s *schema, claims map[string]string, obj map[string]any) {
	for _, a := range s.Attrs {
		switch {
		case a.Claim != "":
			if v, ok := claims[a.Claim]; ok && v != "" {
				if cv := claimValue(a, v); cv != nil {
					obj[a.Name] = cv
				}
			}
		case a.Slots != nil:
			var elems []any
			for _, sl := range a.Slots {
				v := claims[sl.Claim]
				if v == "" {
					continue
				}
				e := map[string]any{"value": v}
				if sl.Type != "" {
					e["type"] = sl.Type
				}
				if sl.Primary {
					e["primary"] = true
				}
				elems = append(elems, e)
			}
			if elems != nil {
				obj[a.Name] = elems
			}
		case a.Type == tComplex && !a.Multi && a.Special == spNone:
			sub := map[string]any{}
			for _, sa := range a.Sub {
				if v := claims[sa.Claim]; sa.Claim != "" && v != "" {
					sub[sa.Name] = claimValue(sa, v)
				}
			}
			if len(sub) > 0 {
				obj[a.Name] = sub
			}
		}
	}
}

// extractClaims turns the claim-backed attributes of obj (canonical, of
// schema s) into claims, adding to out.
func extractClaims(s *schema, obj map[string]any, out map[string]string) *Error {
	for _, a := range s.Attrs {
		v, ok := obj[a.Name]
		if !ok || a.Mutability == readOnly {
			continue
		}
		switch {
		case a.Claim != "":
			out[a.Claim] = valueClaim(v)
		case a.Slots != nil:
			if err := extractSlots(a, v, out); err != nil {
				return err
			}
		case a.Type == tComplex && !a.Multi && a.Special == spNone:
			m, _ := v.(map[string]any)
			for _, sa := range a.Sub {
				if sv, ok := m[sa.Name]; ok && sa.Claim != "" {
					out[sa.Claim] = valueClaim(sv)
				}
			}
		}
	}
	return nil
}

// extractSlots places each element of a slotted attribute in its claim:
// the primary element (or an untyped one) in the primary slot where there
// is one, others by type. Two elements for one slot, or a type with no
// slot, are invalidValue.
func extractSlots(a *attr, v any, out map[string]string) *Error {
	list, _ := v.([]any)
	used := map[string]bool{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		value, _ := m["value"].(string)
		if value == "" {
			return badRequest(TypeInvalidValue, "every element of %s needs a value", a.Name)
		}
		typ, _ := m["type"].(string)
		primary, _ := m["primary"].(bool)
		var target *slot
		if primary || typ == "" {
			for i := range a.Slots {
				if a.Slots[i].Primary {
					target = &a.Slots[i]
					break
				}
			}
		}
		if target == nil && typ != "" {
			for i := range a.Slots {
				if !a.Slots[i].Primary && strings.EqualFold(a.Slots[i].Type, typ) {
					target = &a.Slots[i]
					break
				}
			}
		}
		if target == nil && typ == "" {
			target = &a.Slots[0]
		}
		if target == nil {
			var types []string
			for _, sl := range a.Slots {
				if sl.Type != "" {
					types = append(types, sl.Type)
				}
			}
			return badRequest(TypeInvalidValue, "%s of type %q are not supported (supported: %s)", a.Name, typ, strings.Join(types, ", "))
		}
		if used[target.Claim] {
			return badRequest(TypeInvalidValue, "%s may hold one value per type and one primary value", a.Name)
		}
		used[target.Claim] = true
		out[target.Claim] = value
	}
	return nil
}

// schemasOf lists the schema URNs a rendered resource uses.
func schemasOf(rt *resourceType, obj map[string]any) []any {
	out := []any{rt.Core.ID}
	for _, e := range rt.Exts {
		if m, ok := obj[e.ID].(map[string]any); ok && len(m) > 0 {
			out = append(out, e.ID)
		}
	}
	return out
}

// checkSchemas validates a request's "schemas": it must list the core
// schema and no schema the resource type does not have.
func checkSchemas(rt *resourceType, v any) *Error {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return badRequest(TypeInvalidSyntax, "schemas must list %s", rt.Core.ID)
	}
	core := false
	for _, s := range list {
		u, _ := s.(string)
		switch {
		case strings.EqualFold(u, rt.Core.ID):
			core = true
		case rt.ext(u) == nil:
			return badRequest(TypeInvalidSyntax, "unknown schema %q", u)
		}
	}
	if !core {
		return badRequest(TypeInvalidSyntax, "schemas must list %s", rt.Core.ID)
	}
	return nil
}

// deepCopy copies a canonical JSON value.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}
