package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed locales/*.json
var localeFS embed.FS

// Config configures a Renderer. The zero value is usable.
type Config struct {
	// AssetsPath is the URL prefix under which the front-end mounts Assets (with
	// http.StripPrefix); pages link the stylesheet and the passkey script below it.
	// Default "/ui/assets". Must be root-relative.
	AssetsPath string
	// DefaultLang is the language used when neither ui_locales nor Accept-Language name a
	// supported one. Default "en"; must have a catalog.
	DefaultLang string
	// ProductName is shown when a page's Branding has no Name. Default "Keyflow".
	ProductName string
}

// Renderer renders the server-side pages. It is safe for concurrent use: everything is parsed
// in New and read-only afterwards.
type Renderer struct {
	cfg      Config
	pages    map[string]*template.Template
	catalogs map[string]map[string]string
	langs    []string // supported languages, sorted
	assets   fs.FS
}

// Page template names, one file each under templates/, each executed through layout.html.
const (
	pageLogin   = "login"
	pageError   = "error"
	pageConsent = "consent"
	pageLogout  = "logout"
	pageDevice  = "device"
	// pageSelectAccount is the account chooser of prompt=select_account.
	pageSelectAccount = "select_account"
)

// New parses every template and catalog and checks that every catalog has the keys English has,
// so a missing translation or a template typo fails start-up.
func New(cfg Config) (*Renderer, error) {
	if cfg.AssetsPath == "" {
		cfg.AssetsPath = "/ui/assets"
	}
	if !strings.HasPrefix(cfg.AssetsPath, "/") || strings.HasPrefix(cfg.AssetsPath, "//") {
		return nil, fmt.Errorf("ui: AssetsPath %q must be root-relative", cfg.AssetsPath)
	}
	cfg.AssetsPath = strings.TrimRight(cfg.AssetsPath, "/")
	if cfg.DefaultLang == "" {
		cfg.DefaultLang = "en"
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "Keyflow"
	}
	r := &Renderer{cfg: cfg, pages: map[string]*template.Template{}}
	var err error
	if r.catalogs, err = loadCatalogs(); err != nil {
		return nil, err
	}
	for l := range r.catalogs {
		r.langs = append(r.langs, l)
	}
	slices.Sort(r.langs)
	if _, ok := r.catalogs[cfg.DefaultLang]; !ok {
		return nil, fmt.Errorf("ui: no catalog for DefaultLang %q (have %v)", cfg.DefaultLang, r.langs)
	}
	for _, p := range []string{pageLogin, pageError, pageConsent, pageLogout, pageDevice, pageSelectAccount} {
		t, err := template.New(p).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", p, err)
		}
		r.pages[p] = t
	}
	if r.assets, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, fmt.Errorf("ui: assets: %w", err)
	}
	return r, nil
}

func loadCatalogs() (map[string]map[string]string, error) {
	files, err := fs.Glob(localeFS, "locales/*.json")
	if err != nil {
		return nil, fmt.Errorf("ui: catalogs: %w", err)
	}
	out := make(map[string]map[string]string, len(files))
	for _, f := range files {
		raw, err := localeFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ui: catalog %s: %w", f, err)
		}
		var c map[string]string
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("ui: catalog %s: %w", f, err)
		}
		out[strings.TrimSuffix(path.Base(f), ".json")] = c
	}
	en, ok := out["en"]
	if !ok {
		return nil, errors.New("ui: no English catalog")
	}
	for l, c := range out {
		for k := range en {
			if _, ok := c[k]; !ok {
				return nil, fmt.Errorf("ui: catalog %s lacks key %q", l, k)
			}
		}
		if _, ok := c["lang.name"]; !ok {
			return nil, fmt.Errorf("ui: catalog %s lacks lang.name", l)
		}
	}
	return out, nil
}

// Languages returns the supported language tags, sorted.
func (r *Renderer) Languages() []string { return slices.Clone(r.langs) }

// Assets serves the embedded stylesheet and passkey script. Mount it with http.StripPrefix at
// Config.AssetsPath.
func (r *Renderer) Assets() http.Handler {
	files := http.FileServerFS(r.assets)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/") {
			// No directory listings.
			http.NotFound(w, req)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, req)
	})
}

// render executes a page into a buffer first, so a failing template never leaves half a page
// on the wire.
func (r *Renderer) render(w io.Writer, page string, data any) error {
	var buf bytes.Buffer
	if err := r.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("ui: render %s: %w", page, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("ui: write %s: %w", page, err)
	}
	return nil
}
