package trigger

import (
	"context"
	"log/slog"
	"time"

	"github.com/removetag/removetag/pkg/job"
)

// log writes the invocation's one line: the trigger and event, then for an
// HTTP event its status and result, for any other the result or the error.
func (d *Dispatcher) log(ctx context.Context, ev Event, o Outcome, elapsed time.Duration) {
	attrs := []slog.Attr{slog.String("trigger", string(ev.Kind)), slog.String("event", ev.Name)}
	objs := ev.Objects()
	if ev.Kind == KindUpload {
		attrs = append(attrs, slog.Int("objects", len(objs)))
	} else if len(ev.Requests) > 1 {
		attrs = append(attrs, slog.Int("requests", len(ev.Requests)))
	}
	level := slog.LevelInfo
	if ev.Kind == KindHTTP {
		resp := o.HTTPAnswer()
		attrs = append(attrs, slog.Int("httpStatus", resp.StatusCode))
		if resp.Result != nil {
			attrs = append(attrs, resultAttrs(resp.Result)...)
		}
		if resp.StatusCode >= 500 {
			level = slog.LevelError
		} else if resp.StatusCode >= 400 {
			level = slog.LevelWarn
		}
	} else if res, err := o.Result(); err != nil {
		level = slog.LevelError
		if len(objs) == 1 {
			attrs = append(attrs, slog.String("source", objs[0].Location.String()))
		}
		attrs = append(attrs, slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, resultAttrs(res)...)
		if res.Status == job.StatusInvalid {
			level = slog.LevelWarn
		}
	}
	attrs = append(attrs, slog.Int64("durationMs", elapsed.Milliseconds()))
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
