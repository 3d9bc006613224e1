package trigger

import (
	"context"
	"log/slog"
	"time"

	"github.com/removetag/removetag/pkg/job"
)

// logRun writes the invocation's line.
func (d *Dispatcher) logRun(ctx context.Context, ev Event, res *job.Result, err error, elapsed time.Duration) {
	attrs := []slog.Attr{slog.String("trigger", string(ev.Kind)), slog.String("event", ev.Name)}
	if ev.Kind == KindUpload {
		attrs = append(attrs, slog.Int("objects", len(ev.Objects)))
	}
	level := slog.LevelInfo
	switch {
	case err != nil:
		level = slog.LevelError
		if len(ev.Objects) == 1 {
			attrs = append(attrs, slog.String("source", ev.Objects[0].Location.String()))
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	case res != nil:
		attrs = append(attrs, resultAttrs(res)...)
		if res.Status == job.StatusInvalid {
			level = slog.LevelWarn
		}
	}
	attrs = append(attrs, slog.Int64("durationMs", elapsed.Milliseconds()))
	d.logger.LogAttrs(ctx, level, "invocation", attrs...)
}

// logHTTP writes the invocation's line for an HTTP event.
func (d *Dispatcher) logHTTP(ctx context.Context, ev Event, resp HTTPResponse, elapsed time.Duration) {
	attrs := []slog.Attr{
		slog.String("trigger", string(ev.Kind)), slog.String("event", ev.Name),
		slog.Int("httpStatus", resp.StatusCode),
	}
	if resp.Result != nil {
		attrs = append(attrs, resultAttrs(resp.Result)...)
	}
	attrs = append(attrs, slog.Int64("durationMs", elapsed.Milliseconds()))
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	} else if resp.StatusCode >= 400 {
		level = slog.LevelWarn
	}
	d.logger.LogAttrs(ctx, level, "invocation", attrs...)
}

// resultAttrs are a result's status, counts and, where set, its source,
// continuation and message.
func resultAttrs(r *job.Result) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("status", string(r.Status)),
		slog.Int64("total", r.Total),
		slog.Int64("succeeded", r.Succeeded),
		slog.Int64("failed", r.Failed),
		slog.Int64("pending", r.Pending),
		slog.Int64("calls", r.Calls),
	}
	if r.Source != "" {
		attrs = append(attrs, slog.String("source", r.Source))
	}
	if r.Continued {
		attrs = append(attrs, slog.Bool("continued", true), slog.Int("chain", r.Chain))
	}
	if r.Message != "" {
		attrs = append(attrs, slog.String("message", Clip(r.Message, maxLogMessage)))
	}
	return attrs
}

// maxLogMessage bounds a result's message in a log line.
const maxLogMessage = 300
