package devserver

import (
	"context"
	"log/slog"
	"strings"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts Temporal's tag-based log.Logger to slog and drops
// records below level. It deliberately implements neither log.WithLogger nor
// log.SLogWrapper: the server then prepends tags lazily (nothing is formatted
// for the many records that are dropped) and cannot bypass the level filter by
// extracting the slog.Logger.
type serverLogger struct {
	log   *slog.Logger
	level slog.LevelVar
}

var _ log.Logger = (*serverLogger)(nil)

func (l *serverLogger) Debug(msg string, tags ...tag.Tag) { l.emit(slog.LevelDebug, msg, tags) }
func (l *serverLogger) Info(msg string, tags ...tag.Tag)  { l.emit(slog.LevelInfo, msg, tags) }
func (l *serverLogger) Warn(msg string, tags ...tag.Tag) {
	level := slog.LevelWarn
	if expectedWarning(msg) {
		level = slog.LevelInfo
	}
	l.emit(level, msg, tags)
}
func (l *serverLogger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal only log: an embedded server must never panic or
// exit the host process on its own.
func (l *serverLogger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l *serverLogger) Panic(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }
func (l *serverLogger) Fatal(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }

func (l *serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < l.level.Level() || !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags)+1)
	attrs = append(attrs, slog.String("component", "temporal"))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

// expectedWarning reports whether msg is a warning every embedded start emits
// by design. Such warnings are demoted to INFO (and so dropped) so that a WARN
// from the embedded server means something.
func expectedWarning(msg string) bool {
	// We leave the frontend's HTTP API (and with it Nexus over HTTP) off on purpose.
	return strings.HasPrefix(msg, "HTTP API port has not been set")
}
