package scf

import (
	"context"
	"io"
	"log/slog"

	"github.com/tencentyun/scf-go-lib/functioncontext"
)

// NewLogHandler returns a JSON slog handler writing to w (SCF sends a
// function's standard output to its logs), adding the invocation's request id
// as "requestId" to records logged with its context.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return &requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})}
}

// RequestID returns the request id of ctx's invocation, or "" outside one.
func RequestID(ctx context.Context) string {
	if fc, ok := functioncontext.FromContext(ctx); ok {
		return fc.RequestID
	}
	return ""
}

// requestIDHandler adds the invocation's request id to each record.
type requestIDHandler struct{ slog.Handler }

// Handle adds the request id of ctx's invocation, if any.
func (h *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("requestId", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps adding the request id.
func (h *requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps adding the request id.
func (h *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h.Handler.WithGroup(name)}
}
