package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

type health struct {
	checks  []Check
	worker  *Check
	timeout time.Duration
}

// live answers as long as the process serves HTTP.
func (h *health) live(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyResponse is the body of /readyz: each dependency with "ok" or the reason it failed.
type readyResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// ready runs every check concurrently; any failure makes the answer 503 and names the failing
// dependency.
func (h *health) ready(c *gin.Context) {
	checks := h.checks
	if h.worker != nil && c.Query("worker") == "1" {
		checks = append(checks[:len(checks):len(checks)], *h.worker)
	}
	res := readyResponse{Status: "ok", Checks: make(map[string]string, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chk := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Request.Context(), h.timeout)
			defer cancel()
			msg := "ok"
			if err := chk.Probe(ctx); err != nil {
				msg = "unavailable: " + err.Error()
			}
			mu.Lock()
			res.Checks[chk.Name] = msg
			if msg != "ok" {
				res.Status = "unavailable"
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	code := http.StatusOK
	if res.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	c.JSON(code, res)
}
