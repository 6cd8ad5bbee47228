package manage_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

func multipartLibrary(t *testing.T, fields map[string]string, content string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if content != "" {
		f, err := w.CreateFormFile("content", "lib.js")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), &buf
}

func TestScriptLibraries(t *testing.T) {
	e := newEnv(t)
	libs := base + "/script-libraries"
	const js = "var risk = function (ctx) { return 1; };"
	ct, body := multipartLibrary(t, map[string]string{"name": "risk.js", "description": "risk helpers"}, js)
	r := e.do(t, http.MethodPost, libs, adminBasic, ct, body)
	want(t, "create", r, http.StatusCreated, "")
	if loc := r.header.Get("Location"); loc != "https://id.example.com/api/server/v1/script-libraries/risk.js" {
		t.Errorf("Location %q", loc)
	}
	ct, body = multipartLibrary(t, map[string]string{"name": "risk.js"}, js)
	want(t, "duplicate", e.do(t, http.MethodPost, libs, adminToken, ct, body), http.StatusConflict, "SCL-60007")
	ct, body = multipartLibrary(t, map[string]string{"name": "risk"}, js)
	want(t, "no .js", e.do(t, http.MethodPost, libs, adminToken, ct, body), http.StatusBadRequest, "SCL-60008")
	ct, body = multipartLibrary(t, map[string]string{"name": "empty.js"}, "")
	want(t, "no content", e.do(t, http.MethodPost, libs, adminToken, ct, body), http.StatusBadRequest, "SCL-60001")
	want(t, "json create", e.call(t, http.MethodPost, libs, adminToken, `{"name": "util.js", "content": "var u = 1;"}`),
		http.StatusCreated, "")

	r = e.call(t, http.MethodGet, libs+"?limit=1", adminToken, "")
	want(t, "list", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"totalResults":2`) || !strings.Contains(r.body, `"name":"risk.js"`) ||
		strings.Contains(r.body, "util.js") {
		t.Errorf("list %s", r.body)
	}
	r = e.call(t, http.MethodGet, libs+"/risk.js", adminToken, "")
	want(t, "get", r, http.StatusOK, "")
	if !strings.Contains(r.body, `"content-ref":"https://id.example.com/api/server/v1/script-libraries/risk.js/content"`) {
		t.Errorf("get %s", r.body)
	}
	r = e.call(t, http.MethodGet, libs+"/risk.js/content", adminToken, "")
	want(t, "content", r, http.StatusOK, "")
	if r.body != js {
		t.Errorf("content %q", r.body)
	}
	ct, body = multipartLibrary(t, map[string]string{"description": "v2"}, "var risk = 2;")
	want(t, "update", e.do(t, http.MethodPut, libs+"/risk.js", adminToken, ct, body), http.StatusOK, "")
	lib, err := e.s.ScriptLibrary(t.Context(), e.org.ID, "risk.js")
	if err != nil || lib.Content != "var risk = 2;" || lib.Description != "v2" {
		t.Errorf("stored after update %+v, %v", lib, err)
	}
	ct, body = multipartLibrary(t, map[string]string{"description": "v3"}, "x")
	want(t, "update missing", e.do(t, http.MethodPut, libs+"/nope.js", adminToken, ct, body), http.StatusNotFound, "SCL-60006")
	want(t, "delete", e.call(t, http.MethodDelete, libs+"/risk.js", adminToken, ""), http.StatusNoContent, "")
	want(t, "get deleted", e.call(t, http.MethodGet, libs+"/risk.js", adminToken, ""), http.StatusNotFound, "SCL-60006")

	events, raw := e.audit(t, "script_library.")
	if len(events) != 4 || strings.Contains(raw, "var risk") {
		t.Fatalf("script library events (want 4, no content): %s", raw)
	}
	if c := events[3]; c.Actor.Type != "user" || c.Target.ID != "risk.js" || !strings.Contains(string(c.After), `"contentBytes":40`) {
		t.Errorf("create event %+v %s", c, c.After)
	}
}
