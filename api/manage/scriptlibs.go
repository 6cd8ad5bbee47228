package manage

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/api/bearer"
	"github.com/keyflow/keyflow/store"
)

// Scopes of the script library API, WSO2's names.
const (
	ScopeLibView   = "internal_functional_lib_view"
	ScopeLibCreate = "internal_functional_lib_create"
	ScopeLibUpdate = "internal_functional_lib_update"
	ScopeLibDelete = "internal_functional_lib_delete"
)

// WSO2's script library error codes (script.library.common.Constants).
var (
	errLibNotFound = Error{Status: http.StatusNotFound, Code: "SCL-60006", Message: "Script library not found.",
		Description: "Script library cannot be found for the provided name."}
	errLibExists = Error{Status: http.StatusConflict, Code: "SCL-60007", Message: "Script library already exist.",
		Description: "Script library already exist for the provided name."}
	errLibName = Error{Status: http.StatusBadRequest, Code: "SCL-60008", Message: "Invalid script library name.",
		Description: "Script library name should include the .js extension."}
	errLibInvalid = Error{Status: http.StatusBadRequest, Code: "SCL-60001", Message: "Invalid script library"}
)

// maxLibraryBody bounds a script library request: the content plus the form around it.
const maxLibraryBody = store.MaxScriptLibrarySize + 64<<10

func (h *Handler) registerScriptLibraries(g *gin.RouterGroup) {
	a := h.libs.auth
	g.GET("", a.Need(ScopeLibView, bearer.Admin), h.listLibraries)
	g.POST("", a.Need(ScopeLibCreate, bearer.Admin), h.createLibrary)
	g.GET("/:name", a.Need(ScopeLibView, bearer.Admin), h.getLibrary)
	g.GET("/:name/content", a.Need(ScopeLibView, bearer.Admin), h.getLibraryContent)
	g.PUT("/:name", a.Need(ScopeLibUpdate, bearer.Admin), h.putLibrary)
	g.DELETE("/:name", a.Need(ScopeLibDelete, bearer.Admin), h.deleteLibrary)
}

func (h *Handler) libSelf(name string) string {
	return h.cfg.BaseURL + Prefix + "/script-libraries/" + url.PathEscape(name)
}

// libraryForm is WSO2's scriptLibraryPOSTRequest / PUTRequest.
type libraryForm struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Content     *string `json:"content"`
}

// readLibrary reads a multipart/form-data body (content as a file or a field) or, as a
// convenience, a JSON one.
func (h *Handler) readLibrary(c *gin.Context) (libraryForm, bool) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxLibraryBody)
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var f libraryForm
	if mt != "multipart/form-data" {
		return f, decode(h.libs, c, &f)
	}
	if err := c.Request.ParseMultipartForm(maxLibraryBody); err != nil {
		fail(h.libs, c, errLibInvalid.With("The body must be multipart/form-data with name, description and content."), nil)
		return f, false
	}
	f.Name, f.Description = c.Request.FormValue("name"), c.Request.FormValue("description")
	if fh, err := c.FormFile("content"); err == nil {
		file, err := fh.Open()
		if err != nil {
			fail(h.libs, c, errLibInvalid.With("The content file cannot be read."), nil)
			return f, false
		}
		defer file.Close()
		b, err := io.ReadAll(io.LimitReader(file, store.MaxScriptLibrarySize+1))
		if err != nil {
			fail(h.libs, c, errLibInvalid.With("The content file cannot be read."), nil)
			return f, false
		}
		s := string(b)
		f.Content = &s
	} else if vs, ok := c.Request.MultipartForm.Value["content"]; ok && len(vs) > 0 {
		f.Content = &vs[0]
	}
	return f, true
}

func checkLibrary(l store.ScriptLibrary) error {
	switch {
	case len(l.Content) > store.MaxScriptLibrarySize:
		return &requestError{errLibInvalid.With("content is larger than 256 KiB.")}
	case !utf8.ValidString(l.Content):
		return &requestError{errLibInvalid.With("content must be UTF-8 JavaScript.")}
	case !utf8.ValidString(l.Description) || utf8.RuneCountInString(l.Description) > 1024:
		return &requestError{errLibInvalid.With("description must be at most 1024 characters.")}
	}
	return nil
}

func (h *Handler) libErr(c *gin.Context, err error) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		fail(h.libs, c, re.e, nil)
	case errors.Is(err, store.ErrConflict):
		fail(h.libs, c, errLibExists, nil)
	case errors.Is(err, store.ErrNotFound):
		fail(h.libs, c, errLibNotFound, nil)
	default:
		fail(h.libs, c, h.libs.server, err)
	}
}

func (h *Handler) createLibrary(c *gin.Context) {
	f, ok := h.readLibrary(c)
	if !ok {
		return
	}
	name := strings.TrimSpace(f.Name)
	if name == "" || !strings.HasSuffix(name, ".js") || len(name) == len(".js") || !utf8.ValidString(name) ||
		utf8.RuneCountInString(name) > 255 || strings.ContainsAny(name, "/\\") ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		fail(h.libs, c, errLibName, nil)
		return
	}
	if f.Content == nil {
		fail(h.libs, c, errLibInvalid.With("content is required."), nil)
		return
	}
	l := store.ScriptLibrary{OrgID: orgID(c), Name: name, Description: f.Description, Content: *f.Content}
	if err := checkLibrary(l); err != nil {
		h.libErr(c, err)
		return
	}
	if _, err := h.cfg.Store.CreateScriptLibraryBy(c.Request.Context(), l, actor(c)); err != nil {
		h.libErr(c, err)
		return
	}
	c.Header("Location", h.libSelf(name))
	c.Status(http.StatusCreated)
}

func (h *Handler) listLibraries(c *gin.Context) {
	limit, offset, ok := page(h.libs, c)
	if !ok {
		return
	}
	all, err := h.cfg.Store.ScriptLibraries(c.Request.Context(), orgID(c))
	if err != nil {
		fail(h.libs, c, h.libs.server, err)
		return
	}
	type item struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Self        string `json:"self"`
	}
	items := []item{}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		items = append(items, item{Name: all[i].Name, Description: all[i].Description, Self: h.libSelf(all[i].Name)})
	}
	c.JSON(http.StatusOK, gin.H{"totalResults": len(all), "startIndex": offset + 1, "count": len(items),
		"links": h.pageLinks(c, "/script-libraries", limit, offset, len(items), len(all)), "scriptLibraries": items})
}

func (h *Handler) library(c *gin.Context) (store.ScriptLibrary, bool) {
	l, err := h.cfg.Store.ScriptLibrary(c.Request.Context(), orgID(c), c.Param("name"))
	if err != nil {
		h.libErr(c, err)
		return l, false
	}
	return l, true
}

func (h *Handler) getLibrary(c *gin.Context) {
	l, ok := h.library(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": l.Name, "description": l.Description, "content-ref": h.libSelf(l.Name) + "/content"})
}

func (h *Handler) getLibraryContent(c *gin.Context) {
	l, ok := h.library(c)
	if !ok {
		return
	}
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": l.Name}))
	c.Data(http.StatusOK, "application/octet-stream", []byte(l.Content))
}

func (h *Handler) putLibrary(c *gin.Context) {
	f, ok := h.readLibrary(c)
	if !ok {
		return
	}
	if f.Content == nil {
		fail(h.libs, c, errLibInvalid.With("content is required."), nil)
		return
	}
	name := c.Param("name")
	l := store.ScriptLibrary{OrgID: orgID(c), Name: name, Description: f.Description, Content: *f.Content}
	if err := checkLibrary(l); err != nil {
		h.libErr(c, err)
		return
	}
	if _, err := h.cfg.Store.UpdateScriptLibraryBy(c.Request.Context(), l, actor(c)); err != nil {
		h.libErr(c, err)
		return
	}
	c.Header("Location", h.libSelf(name))
	c.Status(http.StatusOK)
}

func (h *Handler) deleteLibrary(c *gin.Context) {
	if err := h.cfg.Store.DeleteScriptLibraryBy(c.Request.Context(), orgID(c), c.Param("name"), actor(c)); err != nil {
		h.libErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
