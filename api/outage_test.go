package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
)

type routesFunc func(gin.IRouter)

func (f routesFunc) Register(r gin.IRouter) { f(r) }

// TestOutage: while the guarded dependency is down, a handler's 500 (an error or a panic) becomes
// a 503 with Retry-After and a body that says nothing about the failure; while it is up, a 500
// stays a 500 with its body; other answers are untouched.
func TestOutage(t *testing.T) {
	var down atomic.Bool
	dep := Check{Name: "postgres", Probe: func(context.Context) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	routes := routesFunc(func(r gin.IRouter) {
		r.GET("/fail", func(c *gin.Context) {
			c.JSON(http.StatusInternalServerError, gin.H{"error": "server_error", "detail": "dial tcp: connection refused"})
		})
		r.GET("/panic", func(*gin.Context) { panic("store exploded") })
		r.GET("/ok", func(c *gin.Context) { c.String(http.StatusOK, "fine") })
		r.GET("/bad", func(c *gin.Context) { c.String(http.StatusBadRequest, "bad input") })
	})
	srv, _ := newTestServer(t, Config{Routes: []Routes{routes}, Outage: &dep})

	down.Store(true)
	for _, path := range []string{"/fail", "/panic"} {
		resp, body := get(t, srv.URL+path, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(string(body), "temporarily_unavailable") || strings.Contains(string(body), "refused") ||
			strings.Contains(string(body), "exploded") {
			t.Errorf("%s while down: %d %s (Retry-After %q)", path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	if resp, body := get(t, srv.URL+"/ok", nil); resp.StatusCode != http.StatusOK || string(body) != "fine" {
		t.Errorf("/ok while down: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, srv.URL+"/bad", nil); resp.StatusCode != http.StatusBadRequest || string(body) != "bad input" {
		t.Errorf("/bad while down: %d %s", resp.StatusCode, body)
	}

	down.Store(false)
	resp, body := get(t, srv.URL+"/fail", nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "server_error") {
		t.Errorf("/fail while up: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.URL+"/panic", nil); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("/panic while up: %d", resp.StatusCode)
	}
}
