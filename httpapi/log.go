package httpapi

import (
	"context"
	"log/slog"
)

// NewLogHandler returns a slog.Handler that adds the request id of the
// record's context as the attribute request_id to every record, then passes
// it to inner. Log with the *Context methods (InfoContext, …) to get it.
// The handler is safe for concurrent use if inner is.
func NewLogHandler(inner slog.Handler) slog.Handler {
	if h, ok := inner.(*logHandler); ok {
		return h
	}
	return &logHandler{inner: inner}
}

type logHandler struct {
	inner slog.Handler
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if ctx != nil {
		if id := RequestIDFromContext(ctx); id != "" {
			rec = rec.Clone()
			rec.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.inner.Handle(ctx, rec)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{inner: h.inner.WithAttrs(attrs)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{inner: h.inner.WithGroup(name)}
}
