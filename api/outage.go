package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// outageBody is the answer during an outage of a dependency, in OAuth2's error format (RFC 6749
// §4.1.2.1 defines temporarily_unavailable).
var outageBody, _ = json.Marshal(map[string]string{"error": "temporarily_unavailable",
	"error_description": "The service is temporarily unavailable; retry shortly."})

// outage turns a handler's 500 into a clean 503 with Retry-After when dep (PostgreSQL) does not
// answer at that moment: clients then know to retry, and the response says nothing about the
// failure. Other responses pass through untouched; a 500 while dep is healthy stays a 500.
func outage(dep Check, timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := &outageWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()
		c.Writer = w.ResponseWriter
		if !w.held {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), timeout)
		err := dep.Probe(ctx)
		cancel()
		if err != nil {
			h := w.ResponseWriter.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			h.Set("Retry-After", "1")
			h.Del("Content-Length")
			w.ResponseWriter.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.ResponseWriter.Write(outageBody)
			return
		}
		w.ResponseWriter.WriteHeader(http.StatusInternalServerError)
		_, _ = w.ResponseWriter.Write(w.body)
	}
}

// outageWriter holds back a 500 (status and body) until the middleware decides what to send.
type outageWriter struct {
	gin.ResponseWriter
	held bool
	body []byte
}

func (w *outageWriter) WriteHeader(code int) {
	if code == http.StatusInternalServerError && !w.ResponseWriter.Written() {
		w.held = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *outageWriter) WriteHeaderNow() {
	if w.held {
		return
	}
	w.ResponseWriter.WriteHeaderNow()
}

func (w *outageWriter) Write(b []byte) (int, error) {
	if w.held {
		w.body = append(w.body, b...)
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *outageWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *outageWriter) Status() int {
	if w.held {
		return http.StatusInternalServerError
	}
	return w.ResponseWriter.Status()
}

func (w *outageWriter) Written() bool { return w.held || w.ResponseWriter.Written() }
