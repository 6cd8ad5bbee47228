package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Bulk (RFC 7644 §3.7).
const (
	SchemaBulkRequest  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	SchemaBulkResponse = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	// MaxBulkOperations is ServiceProviderConfig's bulk.maxOperations.
	MaxBulkOperations = 100
)

type bulkOp struct {
	Method  string `json:"method"`
	BulkID  string `json:"bulkId"`
	Version string `json:"version"`
	Path    string `json:"path"`
	Data    any    `json:"data"`
}

type bulkRequest struct {
	Schemas      []string `json:"schemas"`
	FailOnErrors int      `json:"failOnErrors"`
	Operations   []bulkOp `json:"Operations"`
}

type principalCtxKey struct{}

// innerEngine routes Bulk operations to the ordinary handlers, with the
// Bulk request's principal; nothing outside reaches it.
func (h *Handler) innerEngine() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { h.fail(c, notFound("endpoint", truncate(c.Request.URL.Path))) })
	r.NoMethod(func(c *gin.Context) { h.fail(c, newError(http.StatusMethodNotAllowed, "", "method not allowed here")) })
	g := r.Group("", func(c *gin.Context) {
		c.Set(principalKey, c.Request.Context().Value(principalCtxKey{}).(principal))
		c.Next()
	})
	h.registerResources(g)
	return r
}

// bulk runs the operations in order, each as its own request (and
// transaction): RFC 7644 bulk requests are not atomic. bulkId references
// ("bulkId:x" in a path or anywhere in data) resolve to the ids of
// resources created by earlier operations of the same request.
func (h *Handler) bulk(c *gin.Context) {
	var br bulkRequest
	if err := h.readJSON(c, &br); err != nil {
		h.fail(c, err)
		return
	}
	if len(br.Schemas) != 1 || br.Schemas[0] != SchemaBulkRequest {
		h.fail(c, badRequest(TypeInvalidSyntax, "schemas must be [%q]", SchemaBulkRequest))
		return
	}
	if len(br.Operations) > MaxBulkOperations {
		h.fail(c, newError(http.StatusRequestEntityTooLarge, TypeTooMany, "more than %d operations", MaxBulkOperations))
		return
	}
	ctx := context.WithValue(c.Request.Context(), principalCtxKey{}, h.principal(c))
	ids := map[string]string{}
	var results []any
	errs := 0
	for _, op := range br.Operations {
		if br.FailOnErrors > 0 && errs >= br.FailOnErrors {
			break
		}
		res := h.bulkOne(ctx, c, op, ids)
		if st, _ := strconv.Atoi(res["status"].(string)); st >= 400 {
			errs++
		}
		results = append(results, res)
	}
	h.write(c, http.StatusOK, map[string]any{"schemas": []string{SchemaBulkResponse}, "Operations": results})
}

func (h *Handler) bulkOne(ctx context.Context, c *gin.Context, op bulkOp, ids map[string]string) map[string]any {
	method := strings.ToUpper(op.Method)
	out := map[string]any{"method": method}
	if op.BulkID != "" {
		out["bulkId"] = op.BulkID
	}
	fail := func(e *Error) map[string]any {
		out["status"] = strconv.Itoa(e.Status)
		out["response"] = e.body()
		return out
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return fail(badRequest(TypeInvalidSyntax, "method must be POST, PUT, PATCH or DELETE"))
	}
	if method == http.MethodPost && op.BulkID == "" {
		return fail(badRequest(TypeInvalidSyntax, "POST operations need a bulkId"))
	}
	path, ok := resolveBulkIDs(op.Path, ids).(string)
	if !ok || !(strings.HasPrefix(path, "/Users") || strings.HasPrefix(path, "/Groups")) || strings.Contains(path, "?") {
		return fail(badRequest(TypeInvalidPath, "path must name /Users or /Groups"))
	}
	if strings.Contains(path, "bulkId:") {
		return fail(newError(http.StatusConflict, TypeInvalidValue, "unresolved bulkId reference in path"))
	}
	var body []byte
	if method != http.MethodDelete {
		data := resolveBulkIDs(op.Data, ids)
		if unresolved(data) {
			return fail(newError(http.StatusConflict, TypeInvalidValue, "unresolved bulkId reference in data"))
		}
		var err error
		if body, err = json.Marshal(data); err != nil {
			return fail(badRequest(TypeInvalidSyntax, "data is not JSON"))
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return fail(badRequest(TypeInvalidPath, "invalid path"))
	}
	req.Host, req.TLS = c.Request.Host, c.Request.TLS
	req.Header.Set("Content-Type", MediaType)
	if op.Version != "" {
		req.Header.Set("If-Match", op.Version)
	}
	w := httptest.NewRecorder()
	h.inner.ServeHTTP(w, req)
	out["status"] = strconv.Itoa(w.Code)
	if loc := w.Header().Get("Location"); loc != "" {
		out["location"] = loc
	} else if method != http.MethodPost && w.Code < 300 {
		out["location"] = h.base(c) + path
	}
	if v := w.Header().Get("ETag"); v != "" {
		out["version"] = v
	}
	if w.Code >= 400 {
		var e map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		out["response"] = e
	} else if method == http.MethodPost {
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &created)
		ids[op.BulkID] = created.ID
	}
	return out
}

// resolveBulkIDs replaces "bulkId:x" references with created ids.
func resolveBulkIDs(v any, ids map[string]string) any {
	switch x := v.(type) {
	case string:
		if i := strings.Index(x, "bulkId:"); i >= 0 {
			ref := x[i+len("bulkId:"):]
			if j := strings.IndexByte(ref, '/'); j >= 0 {
				ref = ref[:j]
			}
			if id, ok := ids[ref]; ok {
				return strings.Replace(x, "bulkId:"+ref, id, 1)
			}
		}
		return x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = resolveBulkIDs(e, ids)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = resolveBulkIDs(e, ids)
		}
		return l
	}
	return v
}

func unresolved(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.HasPrefix(x, "bulkId:")
	case map[string]any:
		for _, e := range x {
			if unresolved(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if unresolved(e) {
				return true
			}
		}
	}
	return false
}
