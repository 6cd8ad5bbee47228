package scim

import (
	"strconv"
	"strings"

	"github.com/keyflow/keyflow/api/scim/filter"
)

// MaxPatchOperations bounds one PATCH request.
const MaxPatchOperations = 100

// patchOp is one operation of a PatchOp request (RFC 7644 §3.5.2).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// applyPatch applies ops, in order, to res (a rendered resource in
// canonical form, modified in place). Any failure is an *Error; the caller
// discards res then, so a PATCH is all or nothing.
func applyPatch(rt *resourceType, res map[string]any, ops []patchOp) *Error {
	if len(ops) == 0 {
		return badRequest(TypeInvalidValue, "Operations is empty")
	}
	if len(ops) > MaxPatchOperations {
		return badRequest(TypeTooMany, "more than %d operations", MaxPatchOperations)
	}
	for i, op := range ops {
		if err := applyOp(rt, res, op); err != nil {
			err.Detail = "operation " + strconv.Itoa(i+1) + ": " + err.Detail
			return err
		}
	}
	return nil
}

func applyOp(rt *resourceType, res map[string]any, op patchOp) *Error {
	kind := strings.ToLower(op.Op)
	switch kind {
	case "add", "replace", "remove":
	default:
		return badRequest(TypeInvalidSyntax, "op must be add, replace or remove")
	}
	path := strings.TrimSpace(op.Path)
	if path == "" {
		if kind == "remove" {
			return badRequest(TypeNoTarget, "remove needs a path")
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return badRequest(TypeInvalidValue, "without a path, value must be an object")
		}
		delete(obj, "schemas")
		val, dropped, err := canonicalize(rt, obj)
		if err != nil {
			return err
		}
		if len(dropped) > 0 {
			return newError(400, TypeMutability, "%s is read-only", dropped[0])
		}
		mergeResource(rt, res, val, kind == "replace")
		return nil
	}
	if ext := rt.ext(path); ext != nil {
		// The whole extension object.
		if kind == "remove" {
			delete(res, ext.ID)
			return nil
		}
		val, dropped, err := canonicalize(rt, map[string]any{ext.ID: op.Value})
		if err != nil {
			return err
		}
		if len(dropped) > 0 {
			return newError(400, TypeMutability, "%s is read-only", dropped[0])
		}
		mergeResource(rt, res, val, kind == "replace")
		return nil
	}
	pp, perr := filter.ParsePath(path)
	if perr != nil {
		return badRequest(TypeInvalidPath, "invalid path: %s", perr.Error())
	}
	t, ok := rt.resolve(pp.Path)
	if !ok {
		return badRequest(TypeInvalidPath, "unknown attribute in path %q", truncate(path))
	}
	if pp.Filter != nil {
		if t.sub != nil || !t.attr.Multi || t.attr.Type != tComplex {
			return badRequest(TypeInvalidPath, "a value filter needs a multi-valued complex attribute")
		}
		if pp.Sub != "" {
			if t.sub = t.attr.sub(pp.Sub); t.sub == nil {
				return badRequest(TypeInvalidPath, "unknown sub-attribute %s.%s", t.attr.Name, pp.Sub)
			}
		}
	}
	a, leaf := t.attr, t.attr
	if t.sub != nil {
		leaf = t.sub
	}
	if a.Mutability == readOnly || leaf.Mutability == readOnly || a.Special == spIgnored {
		return newError(400, TypeMutability, "%s is read-only", path)
	}
	c := container(rt, res, t.schema, kind != "remove")
	if c == nil {
		if pp.Filter != nil {
			return badRequest(TypeNoTarget, "no value matches %q", truncate(path))
		}
		return nil // removing from an absent extension
	}

	if pp.Filter != nil {
		return applyFiltered(c, a, t.sub, pp.Filter, kind, op.Value, false)
	}
	if kind == "remove" {
		if a.Required && t.sub == nil {
			return badRequest(TypeInvalidValue, "%s is required and cannot be removed", a.Name)
		}
		if t.sub == nil && a.Multi && op.Value != nil {
			// Remove the listed values (as Azure AD sends for members).
			return removeValues(c, a, op.Value)
		}
		removeAttr(rt, res, t)
		return nil
	}
	if leaf.Mutability == immutable {
		if _, exists := c[a.Name]; exists && (kind == "replace" || t.sub != nil) {
			return newError(400, TypeMutability, "%s is immutable", path)
		}
	}
	if t.sub != nil {
		v, err := canonSingle(t.sub, op.Value)
		if err != nil {
			return err
		}
		switch cur := c[a.Name].(type) {
		case []any:
			for _, e := range cur {
				if m, ok := e.(map[string]any); ok {
					setOrDelete(m, t.sub.Name, v)
				}
			}
		case map[string]any:
			setOrDelete(cur, t.sub.Name, v)
		default:
			if a.Multi {
				return badRequest(TypeNoTarget, "%s has no values", a.Name)
			}
			if v != nil {
				c[a.Name] = map[string]any{t.sub.Name: v}
			}
		}
		return nil
	}
	v, err := canonValue(a, op.Value)
	if err != nil {
		return err
	}
	setAttr(c, a, v, kind == "replace")
	return nil
}

// applyFiltered applies an operation to the elements of a multi-valued
// attribute matching f.
func applyFiltered(c map[string]any, a, sub *attr, f filter.Expr, kind string, value any, created bool) *Error {
	list, _ := c[a.Name].([]any)
	var matched []int
	for i, e := range list {
		m, _ := e.(map[string]any)
		ok, err := matchElement(a, f, m)
		if err != nil {
			return err
		}
		if ok {
			matched = append(matched, i)
		}
	}
	if len(matched) == 0 {
		// add or replace of emails[type eq "work"].value when there is no
		// work email yet: create the element the filter describes, as
		// provisioning clients expect.
		if kind != "remove" && !created {
			if elem, ok := elementFromFilter(a, f); ok {
				ce, err := canonSingle(a, elem)
				if err != nil {
					return err
				}
				c[a.Name] = append(list, ce)
				return applyFiltered(c, a, sub, f, kind, value, true)
			}
		}
		return badRequest(TypeNoTarget, "no value of %s matches the filter", a.Name)
	}
	if sub != nil {
		if sub.Mutability == immutable && kind != "remove" {
			return newError(400, TypeMutability, "%s.%s is immutable", a.Name, sub.Name)
		}
		var v any
		if kind != "remove" {
			var err *Error
			if v, err = canonSingle(sub, value); err != nil {
				return err
			}
		}
		for _, i := range matched {
			m, _ := list[i].(map[string]any)
			setOrDelete(m, sub.Name, v)
		}
		return nil
	}
	if kind == "remove" {
		keep := list[:0:0]
		for i, e := range list {
			if !containsInt(matched, i) {
				keep = append(keep, e)
			}
		}
		if len(keep) == 0 {
			delete(c, a.Name)
		} else {
			c[a.Name] = keep
		}
		return nil
	}
	v, err := canonSingle(a, value)
	if err != nil {
		return err
	}
	vm, _ := v.(map[string]any)
	for _, i := range matched {
		if kind == "replace" {
			list[i] = deepCopy(vm)
		} else {
			m, _ := list[i].(map[string]any)
			for k, x := range vm {
				m[k] = x
			}
		}
	}
	return nil
}

// elementFromFilter builds the element an eq-only conjunction describes.
func elementFromFilter(a *attr, f filter.Expr) (map[string]any, bool) {
	elem := map[string]any{}
	var walk func(filter.Expr) bool
	walk = func(e filter.Expr) bool {
		switch e := e.(type) {
		case *filter.Logical:
			return e.And && walk(e.Left) && walk(e.Right)
		case *filter.Compare:
			s := a.sub(e.Path.Attr)
			if e.Op != filter.Eq || s == nil || e.Path.Sub != "" || e.Path.URI != "" || e.Value == nil {
				return false
			}
			elem[s.Name] = e.Value
			return true
		}
		return false
	}
	return elem, walk(f)
}

func containsInt(list []int, i int) bool {
	for _, x := range list {
		if x == i {
			return true
		}
	}
	return false
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
}

// setAttr sets a's value in c: add appends to multi-valued attributes and
// merges complex ones; replace overwrites multi-valued ones.
func setAttr(c map[string]any, a *attr, v any, replace bool) {
	if v == nil {
		if replace {
			delete(c, a.Name)
		}
		return
	}
	switch {
	case a.Multi && !replace:
		cur, _ := c[a.Name].([]any)
		for _, e := range v.([]any) {
			if !containsValue(cur, e) {
				cur = append(cur, e)
			}
		}
		c[a.Name] = cur
	case a.Type == tComplex && !a.Multi:
		cur, _ := c[a.Name].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		for k, x := range v.(map[string]any) {
			cur[k] = x
		}
		c[a.Name] = cur
	default:
		c[a.Name] = v
	}
}

// mergeResource applies a path-less add or replace: each attribute of val
// as if it were the operation's path.
func mergeResource(rt *resourceType, res, val map[string]any, replace bool) {
	for _, s := range rt.schemas() {
		src := val
		if s != rt.Core {
			src, _ = val[s.ID].(map[string]any)
			if src == nil {
				continue
			}
		}
		for _, a := range s.Attrs {
			if v, ok := src[a.Name]; ok {
				setAttr(container(rt, res, s, true), a, v, replace)
			}
		}
	}
}

// removeValues removes the elements of a multi-valued attribute whose
// value equals one of value's.
func removeValues(c map[string]any, a *attr, value any) *Error {
	v, err := canonValue(a, value)
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, e := range asList(v) {
		if m, ok := e.(map[string]any); ok {
			if s, ok := m["value"].(string); ok {
				drop[strings.ToLower(s)] = true
			}
		}
	}
	cur, _ := c[a.Name].([]any)
	keep := cur[:0:0]
	for _, e := range cur {
		m, _ := e.(map[string]any)
		s, _ := m["value"].(string)
		if !drop[strings.ToLower(s)] {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		delete(c, a.Name)
	} else {
		c[a.Name] = keep
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
