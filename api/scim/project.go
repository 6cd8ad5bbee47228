package scim

import (
	"strings"

	"github.com/keyflow/keyflow/api/scim/filter"
)

// projection is the attributes/excludedAttributes of a request (RFC 7644
// §3.4.2.5). Unknown attribute names are ignored, as most servers do.
type projection struct {
	include []target
	exclude []target
}

func parseAttrList(rt *resourceType, list []string) ([]target, *Error) {
	var out []target
	for _, item := range list {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if ext := rt.ext(item); ext != nil {
			for _, a := range ext.Attrs {
				out = append(out, target{schema: ext, attr: a})
			}
			continue
		}
		p, err := filter.ParsePath(item)
		if err != nil || p.Filter != nil {
			return nil, badRequest(TypeInvalidValue, "invalid attribute name %q", truncate(item))
		}
		if t, ok := rt.resolve(p.Path); ok {
			out = append(out, t)
		}
	}
	return out, nil
}

func newProjection(rt *resourceType, attributes, excluded []string) (projection, *Error) {
	var p projection
	var err *Error
	if p.include, err = parseAttrList(rt, attributes); err != nil {
		return p, err
	}
	if len(attributes) > 0 && len(p.include) == 0 {
		// Only unknown names: return the always-returned attributes.
		p.include = []target{}
	}
	if len(attributes) == 0 {
		p.include = nil
	}
	p.exclude, err = parseAttrList(rt, excluded)
	return p, err
}

// apply returns the projected copy of a rendered resource.
func (p projection) apply(rt *resourceType, res map[string]any) map[string]any {
	var out map[string]any
	if p.include != nil {
		out = map[string]any{}
		for _, s := range rt.schemas() {
			for _, a := range s.Attrs {
				if a.Returned == retAlways {
					copyAttr(res, out, target{schema: s, attr: a})
				}
			}
		}
		for _, t := range p.include {
			copyAttr(res, out, t)
		}
	} else {
		out = deepCopy(res).(map[string]any)
		for _, t := range p.exclude {
			if t.attr.Returned == retAlways || (t.sub != nil && t.sub.Returned == retAlways) {
				continue
			}
			removeAttr(rt, out, t)
		}
	}
	out["schemas"] = schemasOf(rt, out)
	return out
}

func container(rt *resourceType, res map[string]any, s *schema, create bool) map[string]any {
	if s == rt.Core {
		return res
	}
	m, ok := res[s.ID].(map[string]any)
	if !ok && create {
		m = map[string]any{}
		res[s.ID] = m
	}
	return m
}

func copyAttr(from, to map[string]any, t target) {
	src := from
	dst := to
	if t.schema != nil && t.schema.ID != SchemaUser && t.schema.ID != SchemaGroup {
		src, _ = from[t.schema.ID].(map[string]any)
		if src == nil {
			return
		}
		if dst, _ = to[t.schema.ID].(map[string]any); dst == nil {
			dst = map[string]any{}
			to[t.schema.ID] = dst
		}
	}
	v, ok := src[t.attr.Name]
	if !ok {
		return
	}
	if t.sub == nil {
		dst[t.attr.Name] = deepCopy(v)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		sv, ok := x[t.sub.Name]
		if !ok {
			return
		}
		m, _ := dst[t.attr.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			dst[t.attr.Name] = m
		}
		m[t.sub.Name] = deepCopy(sv)
	case []any:
		// Merge with what an earlier item copied (emails.value, emails.type).
		prev, _ := dst[t.attr.Name].([]any)
		list := make([]any, len(x))
		for i, e := range x {
			m := map[string]any{}
			if i < len(prev) {
				m, _ = prev[i].(map[string]any)
			}
			if em, ok := e.(map[string]any); ok {
				if sv, ok := em[t.sub.Name]; ok {
					m[t.sub.Name] = deepCopy(sv)
				}
			}
			list[i] = m
		}
		dst[t.attr.Name] = list
	}
}

func removeAttr(rt *resourceType, res map[string]any, t target) {
	c := container(rt, res, t.schema, false)
	if c == nil {
		return
	}
	if t.sub == nil {
		delete(c, t.attr.Name)
	} else {
		switch x := c[t.attr.Name].(type) {
		case map[string]any:
			delete(x, t.sub.Name)
			if len(x) == 0 {
				delete(c, t.attr.Name)
			}
		case []any:
			for _, e := range x {
				if m, ok := e.(map[string]any); ok {
					delete(m, t.sub.Name)
				}
			}
		}
	}
	if t.schema != rt.Core && len(c) == 0 {
		delete(res, t.schema.ID)
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
