package scim

import (
	"strings"
	"time"

	"github.com/keyflow/keyflow/api/scim/filter"
	"github.com/keyflow/keyflow/store"
)

// target is a resolved attribute path.
type target struct {
	schema *schema
	attr   *attr
	sub    *attr // nil: the whole attribute
}

// resolve finds a path's attribute: in the schema its URI names, or by
// short name in the core schema, then in the extensions.
func (rt *resourceType) resolve(p filter.Path) (target, bool) {
	var t target
	if p.URI != "" {
		for _, s := range rt.schemas() {
			if strings.EqualFold(s.ID, p.URI) {
				t.schema = s
			}
		}
		if t.schema == nil {
			return t, false
		}
		t.attr = t.schema.attr(p.Attr)
	} else {
		for _, s := range rt.schemas() {
			if a := s.attr(p.Attr); a != nil {
				t.schema, t.attr = s, a
				break
			}
		}
	}
	if t.attr == nil {
		return t, false
	}
	if p.Sub != "" {
		if t.sub = t.attr.sub(p.Sub); t.sub == nil {
			return t, false
		}
	}
	return t, true
}

// elementSet names the store set (for store.FilterAny) of a multi-valued
// complex attribute whose elements the store filters on one by one.
func elementSet(a *attr) (string, bool) {
	switch a.Special {
	case spGroups:
		return store.UserFieldGroups, true
	case spMembers:
		return store.GroupFieldMembers, true
	}
	return "", false
}

// translator turns a parsed filter into a store.Filter for rt.
type translator struct{ rt *resourceType }

func invalidFilter(format string, args ...any) *Error {
	return badRequest(TypeInvalidFilter, format, args...)
}

func (tr translator) expr(e filter.Expr) (store.Filter, *Error) {
	switch e := e.(type) {
	case *filter.Logical:
		l, err := tr.expr(e.Left)
		if err != nil {
			return store.Filter{}, err
		}
		r, err := tr.expr(e.Right)
		if err != nil {
			return store.Filter{}, err
		}
		op := store.FilterOr
		if e.And {
			op = store.FilterAnd
		}
		return store.Filter{Op: op, Sub: []store.Filter{l, r}}, nil
	case *filter.Not:
		x, err := tr.expr(e.X)
		if err != nil {
			return store.Filter{}, err
		}
		return store.Filter{Op: store.FilterNot, Sub: []store.Filter{x}}, nil
	case *filter.Compare:
		t, ok := tr.rt.resolve(e.Path)
		if !ok {
			return store.Filter{}, invalidFilter("unknown attribute %q", e.Path.String())
		}
		return tr.compare(t, e.Op, e.Value)
	case *filter.ValuePath:
		t, ok := tr.rt.resolve(e.Path)
		if !ok || t.sub != nil {
			return store.Filter{}, invalidFilter("unknown attribute %q", e.Path.String())
		}
		if !t.attr.Multi || t.attr.Type != tComplex {
			return store.Filter{}, invalidFilter("%s is not a multi-valued complex attribute", t.attr.Name)
		}
		return tr.valuePath(t.attr, e.Filter)
	}
	return store.Filter{}, invalidFilter("unsupported filter")
}

// compare translates "attr op value" (op may be pr).
func (tr translator) compare(t target, op filter.Op, v any) (store.Filter, *Error) {
	a := t.attr
	leaf := a
	if t.sub != nil {
		leaf = t.sub
	}
	switch {
	case a.Special == spMeta:
		if t.sub == nil {
			return store.Filter{}, invalidFilter("meta needs a sub-attribute")
		}
		if t.sub.Name == "resourceType" {
			return static(op, tr.rt.Name, true, v, false)
		}
		if t.sub.Field == "" {
			return store.Filter{}, invalidFilter("meta.%s is not filterable", t.sub.Name)
		}
		return leafFilter(t.sub, store.Filter{Field: t.sub.Field}, op, v)
	case a.Special == spDisabled:
		// accountDisabled is "not active".
		f, err := leafFilter(a, store.Filter{Field: store.UserFieldActive}, op, v)
		if err != nil || op == filter.Pr {
			return f, err
		}
		if b, ok := f.Value.(bool); ok {
			f.Value = !b
		}
		return f, nil
	case a.Special == spGroups || a.Special == spMembers:
		field := a.Field
		if t.sub != nil {
			field = t.sub.Field
		}
		if field == "" {
			return store.Filter{}, invalidFilter("%s.%s is not filterable", a.Name, t.sub.Name)
		}
		return leafFilter(leaf, store.Filter{Field: field}, op, v)
	case a.Special != spNone && a.Special != spIgnored:
		if a.Field == "" {
			return store.Filter{}, invalidFilter("%s is not filterable", a.Name)
		}
		return leafFilter(a, store.Filter{Field: a.Field}, op, v)
	case a.Slots != nil:
		var alts []store.Filter
		for _, sl := range a.Slots {
			f, err := tr.slotCompare(a, sl, leaf, op, v)
			if err != nil {
				return store.Filter{}, err
			}
			alts = append(alts, f)
		}
		return store.Filter{Op: store.FilterOr, Sub: alts}, nil
	case a.Claim != "":
		return leafFilter(a, store.Filter{Claim: a.Claim}, op, v)
	case a.Type == tComplex && !a.Multi && t.sub != nil && t.sub.Claim != "":
		return leafFilter(t.sub, store.Filter{Claim: t.sub.Claim}, op, v)
	case a.Type == tComplex && !a.Multi && t.sub == nil && op == filter.Pr:
		var alts []store.Filter
		for _, s := range a.Sub {
			if s.Claim != "" {
				alts = append(alts, store.Filter{Op: store.FilterPresent, Claim: s.Claim})
			}
		}
		return store.Filter{Op: store.FilterOr, Sub: alts}, nil
	}
	return store.Filter{}, invalidFilter("%s is not filterable", t.attr.Name)
}

// slotCompare is a comparison on one slot of a slotted attribute: on its
// value (the claim), or on its fixed type or primary flag.
func (tr translator) slotCompare(a *attr, sl slot, leaf *attr, op filter.Op, v any) (store.Filter, *Error) {
	present := store.Filter{Op: store.FilterPresent, Claim: sl.Claim}
	switch {
	case leaf == a || leaf.Name == "value":
		return leafFilter(a.Sub[0], store.Filter{Claim: sl.Claim}, op, v)
	case leaf.Name == "type":
		f, err := static(op, sl.Type, sl.Type != "", v, false)
		if err != nil {
			return store.Filter{}, err
		}
		return store.Filter{Op: store.FilterAnd, Sub: []store.Filter{f, present}}, nil
	case leaf.Name == "primary":
		f, err := static(op, sl.Primary, true, v, false)
		if err != nil {
			return store.Filter{}, err
		}
		return store.Filter{Op: store.FilterAnd, Sub: []store.Filter{f, present}}, nil
	}
	return store.Filter{}, invalidFilter("%s.%s is not filterable", a.Name, leaf.Name)
}

// valuePath translates attr[filter]. For slotted attributes each slot is
// one element, so the sub-filter is evaluated per slot exactly; for a
// user's groups and a group's members the store tests the whole sub-filter
// on each element (store.FilterAny), so `groups[type eq "indirect" and
// display eq "x"]` needs one group that is both.
func (tr translator) valuePath(a *attr, f filter.Expr) (store.Filter, *Error) {
	if a.Slots == nil {
		x, err := tr.inElement(a, f, nil)
		if err != nil {
			return store.Filter{}, err
		}
		set, ok := elementSet(a)
		if !ok {
			// A role's users and groups: only value is filterable, each
			// comparison an independent "some element" test.
			return x, nil
		}
		return store.Filter{Op: store.FilterAny, Field: set, Sub: []store.Filter{x}}, nil
	}
	var alts []store.Filter
	for _, sl := range a.Slots {
		x, err := tr.inElement(a, f, &sl)
		if err != nil {
			return store.Filter{}, err
		}
		alts = append(alts, x)
	}
	return store.Filter{Op: store.FilterOr, Sub: alts}, nil
}

func (tr translator) inElement(a *attr, e filter.Expr, sl *slot) (store.Filter, *Error) {
	switch e := e.(type) {
	case *filter.Logical:
		l, err := tr.inElement(a, e.Left, sl)
		if err != nil {
			return store.Filter{}, err
		}
		r, err := tr.inElement(a, e.Right, sl)
		if err != nil {
			return store.Filter{}, err
		}
		op := store.FilterOr
		if e.And {
			op = store.FilterAnd
		}
		return store.Filter{Op: op, Sub: []store.Filter{l, r}}, nil
	case *filter.Not:
		x, err := tr.inElement(a, e.X, sl)
		if err != nil {
			return store.Filter{}, err
		}
		return store.Filter{Op: store.FilterNot, Sub: []store.Filter{x}}, nil
	case *filter.Compare:
		if e.Path.URI != "" || e.Path.Sub != "" {
			return store.Filter{}, invalidFilter("inside %s[...] name sub-attributes of %s only", a.Name, a.Name)
		}
		s := a.sub(e.Path.Attr)
		if s == nil {
			return store.Filter{}, invalidFilter("unknown attribute %s.%s", a.Name, e.Path.Attr)
		}
		if sl != nil {
			return tr.slotCompare(a, *sl, s, e.Op, e.Value)
		}
		return tr.compare(target{attr: a, sub: s}, e.Op, e.Value)
	}
	return store.Filter{}, invalidFilter("unsupported filter inside %s[...]", a.Name)
}

// leafFilter completes base (a Field or Claim) with op and v checked
// against a's type.
func leafFilter(a *attr, base store.Filter, op filter.Op, v any) (store.Filter, *Error) {
	base.CaseExact = a.CaseExact
	if op == filter.Pr {
		base.Op = store.FilterPresent
		return base, nil
	}
	if v == nil {
		// "eq null" asks for an absent value (RFC 7644 §3.4.2.2: unassigned
		// attributes are null).
		pr := base
		pr.Op = store.FilterPresent
		switch op {
		case filter.Eq:
			return store.Filter{Op: store.FilterNot, Sub: []store.Filter{pr}}, nil
		case filter.Ne:
			return pr, nil
		}
		return store.Filter{}, invalidFilter("%s null is not allowed", op)
	}
	base.Op = store.FilterOp(op)
	switch a.Type {
	case tBoolean:
		b, ok := v.(bool)
		if !ok {
			return store.Filter{}, invalidFilter("%s is a boolean", a.Name)
		}
		if op != filter.Eq && op != filter.Ne {
			return store.Filter{}, invalidFilter("%s is a boolean: only eq and ne apply", a.Name)
		}
		if base.Claim != "" {
			base.Value = valueClaim(b)
		} else {
			base.Value = b
		}
	case tDateTime:
		s, ok := v.(string)
		tm, err := time.Parse(time.RFC3339, s)
		if !ok || err != nil {
			return store.Filter{}, invalidFilter("%s is a dateTime: compare it with an RFC 3339 string", a.Name)
		}
		switch op {
		case filter.Co, filter.Sw, filter.Ew:
			return store.Filter{}, invalidFilter("%s is a dateTime: %s does not apply", a.Name, op)
		}
		if base.Claim != "" {
			base.Value = s
		} else {
			base.Value = tm
		}
	default:
		s, ok := v.(string)
		if !ok {
			return store.Filter{}, invalidFilter("%s is a string: quote the value", a.Name)
		}
		base.Value = s
	}
	return base, nil
}

// static evaluates a comparison whose left side is known here (an element
// type, a resource type), giving a constant filter.
func static(op filter.Op, have any, present bool, v any, caseExact bool) (store.Filter, *Error) {
	ok, err := evalScalar(op, have, present, v, caseExact)
	if err != nil {
		return store.Filter{}, err
	}
	if ok {
		return store.Filter{Op: store.FilterTrue}, nil
	}
	return store.Filter{Op: store.FilterFalse}, nil
}

// evalScalar evaluates "have op v" in Go, with SCIM's semantics: strings
// ignore case unless caseExact; booleans allow eq and ne only.
func evalScalar(op filter.Op, have any, present bool, v any, caseExact bool) (bool, *Error) {
	if op == filter.Pr {
		return present, nil
	}
	if v == nil {
		switch op {
		case filter.Eq:
			return !present, nil
		case filter.Ne:
			return present, nil
		}
		return false, invalidFilter("%s null is not allowed", op)
	}
	if !present {
		return op == filter.Ne, nil
	}
	switch h := have.(type) {
	case bool:
		b, ok := v.(bool)
		if !ok || (op != filter.Eq && op != filter.Ne) {
			return false, invalidFilter("a boolean compares with eq or ne and true or false")
		}
		return (h == b) == (op == filter.Eq), nil
	case string:
		s, ok := v.(string)
		if !ok {
			return false, invalidFilter("a string compares with a quoted value")
		}
		if !caseExact {
			h, s = strings.ToLower(h), strings.ToLower(s)
		}
		switch op {
		case filter.Eq:
			return h == s, nil
		case filter.Ne:
			return h != s, nil
		case filter.Co:
			return strings.Contains(h, s), nil
		case filter.Sw:
			return strings.HasPrefix(h, s), nil
		case filter.Ew:
			return strings.HasSuffix(h, s), nil
		case filter.Gt:
			return h > s, nil
		case filter.Ge:
			return h >= s, nil
		case filter.Lt:
			return h < s, nil
		case filter.Le:
			return h <= s, nil
		}
	case float64:
		f, ok := v.(float64)
		if !ok {
			return false, invalidFilter("a number compares with a number")
		}
		switch op {
		case filter.Eq:
			return h == f, nil
		case filter.Ne:
			return h != f, nil
		case filter.Gt:
			return h > f, nil
		case filter.Ge:
			return h >= f, nil
		case filter.Lt:
			return h < f, nil
		case filter.Le:
			return h <= f, nil
		}
		return false, invalidFilter("%s does not apply to numbers", op)
	}
	return false, invalidFilter("cannot compare with %s", op)
}

// matchElement evaluates a value filter against one element of a
// multi-valued complex attribute (PATCH paths).
func matchElement(a *attr, e filter.Expr, elem map[string]any) (bool, *Error) {
	switch e := e.(type) {
	case *filter.Logical:
		l, err := matchElement(a, e.Left, elem)
		if err != nil {
			return false, err
		}
		r, err := matchElement(a, e.Right, elem)
		if err != nil {
			return false, err
		}
		if e.And {
			return l && r, nil
		}
		return l || r, nil
	case *filter.Not:
		x, err := matchElement(a, e.X, elem)
		return !x, err
	case *filter.Compare:
		if e.Path.URI != "" || e.Path.Sub != "" {
			return false, invalidFilter("inside %s[...] name sub-attributes of %s only", a.Name, a.Name)
		}
		s := a.sub(e.Path.Attr)
		if s == nil {
			return false, invalidFilter("unknown attribute %s.%s", a.Name, e.Path.Attr)
		}
		have, present := elem[s.Name]
		if s.Type == tBoolean && !present {
			have, present = false, true // an absent primary is false
		}
		return evalScalar(e.Op, have, present, e.Value, s.CaseExact)
	}
	return false, invalidFilter("unsupported filter inside %s[...]", a.Name)
}

// sortKey resolves sortBy to a store field or claim.
func (rt *resourceType) sortKey(sortBy string) (field, claim string, err *Error) {
	p, perr := filter.ParsePath(sortBy)
	if perr != nil || p.Filter != nil {
		return "", "", badRequest(TypeInvalidValue, "sortBy: invalid attribute path")
	}
	t, ok := rt.resolve(p.Path)
	if !ok {
		return "", "", badRequest(TypeInvalidValue, "sortBy: unknown attribute %q", sortBy)
	}
	leaf := t.attr
	if t.sub != nil {
		leaf = t.sub
	}
	switch {
	case leaf.Claim != "":
		return "", leaf.Claim, nil
	case t.attr.Slots != nil && (t.sub == nil || t.sub.Name == "value"):
		return "", t.attr.Slots[0].Claim, nil
	case leaf.Field != "" && !t.attr.Multi:
		return leaf.Field, "", nil
	}
	return "", "", badRequest(TypeInvalidValue, "sortBy: %s is not sortable", sortBy)
}
