package ui

import "net/url"

// base is what layout.html needs on every page.
type base struct {
	tr        translator
	Lang      string
	Title     string
	Brand     brand
	Assets    string
	Languages []langLink
}

// langLink is one entry of the language switch.
type langLink struct {
	Tag     string
	Name    string
	URL     string
	Current bool
}

// T translates key in the page language; args are name/value pairs for {name} placeholders.
func (b base) T(key string, args ...string) string {
	var vars map[string]string
	if len(args) > 1 {
		vars = make(map[string]string, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			vars[args[i]] = args[i+1]
		}
	}
	return b.tr.T(key, vars)
}

// newBase builds the layout data. switchURL is the page's own URL; the language switch links
// to it with ui_locales set, and is left out when switchURL is empty or unsafe.
func (r *Renderer) newBase(lang string, b Branding, titleKey, switchURL string) base {
	tr := r.translator(lang)
	out := base{tr: tr, Lang: tr.lang, Brand: r.brand(b), Assets: r.cfg.AssetsPath}
	out.Title = tr.T(titleKey, nil)
	if switchURL == "" || !safeURL(switchURL) {
		return out
	}
	u, err := url.Parse(switchURL)
	if err != nil {
		return out
	}
	for _, l := range r.langs {
		q := u.Query()
		q.Set("ui_locales", l)
		lu := *u
		lu.RawQuery = q.Encode()
		out.Languages = append(out.Languages, langLink{Tag: l, Name: r.catalogs[l]["lang.name"],
			URL: lu.String(), Current: l == tr.lang})
	}
	return out
}
