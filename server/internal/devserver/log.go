package devserver

import (
	"context"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// Logger adapts a slog.Logger to the Temporal server's logger.
type Logger struct {
	Log   *slog.Logger
	Level slog.Level
}

var (
	_ log.Logger      = Logger{}
	_ log.SLogWrapper = Logger{}
)

func (l Logger) Debug(msg string, tags ...tag.Tag) { l.emit(slog.LevelDebug, msg, tags) }
func (l Logger) Info(msg string, tags ...tag.Tag)  { l.emit(slog.LevelInfo, msg, tags) }
func (l Logger) Warn(msg string, tags ...tag.Tag)  { l.emit(slog.LevelWarn, msg, tags) }
func (l Logger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal are logged as errors: a dev server keeps running.
func (l Logger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l Logger) Panic(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }
func (l Logger) Fatal(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }

// SLog implements log.SLogWrapper.
func (l Logger) SLog() *slog.Logger { return l.Log }

func (l Logger) emit(level slog.Level, msg string, tags []tag.Tag) {
	if level < l.Level || !l.Log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	l.Log.LogAttrs(context.Background(), level, msg, attrs...)
}
