package devserver

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

func TestServerLoggerFilters(t *testing.T) {
	tests := []struct {
		name     string
		min      slog.Level
		call     func(l *serverLogger)
		wantLine string // "" means nothing is written
	}{
		{name: "debug dropped", min: slog.LevelWarn, call: func(l *serverLogger) { l.Debug("d") }},
		{name: "info dropped", min: slog.LevelWarn, call: func(l *serverLogger) { l.Info("i") }},
		{name: "warn kept with tags", min: slog.LevelWarn,
			call:     func(l *serverLogger) { l.Warn("w", tag.NewStringTag("shard", "1")) },
			wantLine: "level=WARN msg=w component=temporal shard=1"},
		{name: "error kept", min: slog.LevelWarn, call: func(l *serverLogger) { l.Error("e") },
			wantLine: "level=ERROR msg=e"},
		{name: "fatal logged as error, no exit", min: slog.LevelWarn, call: func(l *serverLogger) { l.Fatal("f") },
			wantLine: "level=ERROR msg=f"},
		{name: "expected warning demoted", min: slog.LevelWarn,
			call: func(l *serverLogger) {
				l.Warn("HTTP API port has not been set. Nexus HTTP endpoints will not be available.")
			}},
		{name: "warn dropped while stopping", min: slog.LevelError, call: func(l *serverLogger) { l.Warn("w") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := &serverLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			}))}
			l.level.Set(tt.min)
			tt.call(l)
			got := strings.TrimSpace(buf.String())
			if tt.wantLine == "" {
				if got != "" {
					t.Fatalf("logged %q, want nothing", got)
				}
				return
			}
			if !strings.HasPrefix(got, tt.wantLine) {
				t.Fatalf("logged %q, want prefix %q", got, tt.wantLine)
			}
		})
	}
}
