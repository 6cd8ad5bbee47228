package ui

import (
	"slices"
	"strconv"
	"strings"
)

// Lang picks the page language: the first supported tag of OIDC's ui_locales (space-separated,
// in preference order; OIDC Core §3.1.2.1), else of Accept-Language by quality (RFC 9110
// §12.5.4), else Config.DefaultLang. A regional tag falls back to its base language (es-MX → es).
func (r *Renderer) Lang(uiLocales, acceptLanguage string) string {
	for _, tag := range strings.Fields(uiLocales) {
		if l, ok := r.match(tag); ok {
			return l
		}
	}
	for _, tag := range parseAcceptLanguage(acceptLanguage) {
		if l, ok := r.match(tag); ok {
			return l
		}
	}
	return r.cfg.DefaultLang
}

// match maps a BCP 47 tag to a supported language.
func (r *Renderer) match(tag string) (string, bool) {
	tag = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
	if tag == "" {
		return "", false
	}
	if _, ok := r.catalogs[tag]; ok {
		return tag, true
	}
	base, _, _ := strings.Cut(tag, "-")
	if _, ok := r.catalogs[base]; ok {
		return base, true
	}
	return "", false
}

// parseAcceptLanguage returns the tags by descending quality, stable for equal ones; q=0 tags
// and "*" are dropped (the default language covers "*").
func parseAcceptLanguage(h string) []string {
	type entry struct {
		tag string
		q   float64
	}
	var es []entry
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.TrimSpace(tag)
		if tag == "" || tag == "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					f = 0
				}
				q = f
			}
		}
		if q > 0 {
			es = append(es, entry{tag, q})
		}
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.tag
	}
	return out
}

// translator looks keys up in one language with English as the fallback.
type translator struct {
	lang string
	cat  map[string]string
	en   map[string]string
}

func (r *Renderer) translator(lang string) translator {
	l, ok := r.match(lang)
	if !ok {
		l = r.cfg.DefaultLang
	}
	return translator{lang: l, cat: r.catalogs[l], en: r.catalogs["en"]}
}

// lookup returns the translation of key, if any catalog has it.
func (t translator) lookup(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	if s, ok := t.cat[key]; ok {
		return s, true
	}
	s, ok := t.en[key]
	return s, ok
}

// T translates key, substituting {name} placeholders from vars. A missing key renders as the
// key itself, which tests catch; New already checked every catalog against English.
func (t translator) T(key string, vars map[string]string) string {
	s, ok := t.lookup(key)
	if !ok {
		return key
	}
	return substitute(s, vars)
}

func substitute(s string, vars map[string]string) string {
	if len(vars) == 0 || !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		name := s[i+1 : i+j]
		b.WriteString(s[:i])
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+j+1])
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}
