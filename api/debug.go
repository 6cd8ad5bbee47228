package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// ServeDebug serves Go's profiling endpoints (/debug/pprof/…) on ln until ctx is done. It is
// meant for a loopback address only: profiles reveal memory contents and cost CPU.
func ServeDebug(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Serve's write timeout (a minute) bounds how long a profile or trace may run.
	return Serve(ctx, ln, mux, time.Second, log)
}
