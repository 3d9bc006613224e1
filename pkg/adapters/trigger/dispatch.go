// Package trigger is the one platform skeleton of the function: a platform
// adapter (pkg/adapters/scf, pkg/adapters/awslambda) gives a [Platform] — how
// it reads its events — and a [Handler] runs every invocation the same way:
// decode → run → reply.
//
//   - The adapter tells a platform event's kind by its shape ([Probe]) and
//     makes an [Event] of it: what the event asks, in neutral terms (its
//     [Request]s of the service, or an HTTP request), and how its answer is
//     shaped ([Reply]: the job.Result, an HTTP shape, answers per item).
//     Unknown events say what arrived ([Unknown]); a Records notification is
//     routed by its records' source ([Records]), upload notifications share
//     [Uploads], gateways' HTTP requests [HTTPEvent].
//   - A [Dispatcher] runs the Event on an [App]: each request on the one port
//     into the application ([Service], *job.Service in production), an HTTP
//     request through the HTTP semantics ([NewHTTP]: bearer token, method,
//     one timeout, the status of a result or refusal, one JSON writer); one
//     recover and one log line per invocation, secrets kept out of its
//     errors.
//   - [Lazy] builds the App on the first invocation, and while the
//     configuration is wrong answers every invocation with the error instead
//     of crashing (retrying at the next one).
package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

// Dispatcher runs events on an [App], with one log line per invocation
// (trigger, result, counts, duration) and, with the App's Meter, its
// measure; secrets kept out of logs and errors, and panics turned into
// errors. It is safe for concurrent use.
type Dispatcher struct {
	app     App
	logger  *slog.Logger
	secrets func() []string
}

// NewDispatcher returns a Dispatcher running events on app (an App without
// HTTP answers HTTP requests as [NewHTTP] does without a token: 503). logger
// may be nil (no logs); secrets, if not nil, lists the values to redact from
// returned errors (logs are redacted by the logger's handler, see
// [redact.NewHandler]).
func NewDispatcher(app App, logger *slog.Logger, secrets func() []string) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if secrets == nil {
		secrets = func() []string { return nil }
	}
	if app.HTTP == nil {
		app.HTTP = NewHTTP(app.Service, HTTPConfig{})
	}
	return &Dispatcher{app: app, logger: logger, secrets: secrets}
}

// Run runs an event: an HTTP request through the App's HTTP semantics, every
// other event's requests one after another on its Service (an error of one
// does not stop the others; skipped ones are not run). It never fails: what
// went wrong is in the Outcome, for the event's Reply.
func (d *Dispatcher) Run(ctx context.Context, ev Event) (o Outcome) {
	start := time.Now()
	o.Kind = ev.Kind
	if d.app.Meter != nil {
		ctx = d.app.Meter.Begin(ctx, ev)
	}
	defer func() {
		if p := recover(); p != nil {
			o.Err = d.redact(d.panicked(ctx, p))
		}
		elapsed := time.Since(start)
		d.log(ctx, ev, o, elapsed)
		if d.app.Meter != nil {
			d.app.Meter.End(ctx, ev, o, elapsed)
		}
	}()
	switch ev.Kind {
	case KindHTTP:
		o.HTTP = d.app.HTTP(ctx, ev.HTTP)
	case KindUnknown:
		o.Problem = redact.String(ev.Problem, d.secrets())
	default:
		o.Done = make([]Done, 0, len(ev.Requests))
		for _, r := range ev.Requests {
			o.Done = append(o.Done, d.request(ctx, r))
		}
	}
	return o
}

// request runs one request of an event, unless it is skipped.
func (d *Dispatcher) request(ctx context.Context, r Request) Done {
	if r.Skip != "" {
		return Done{Request: r, Result: &job.Result{Status: job.StatusIgnored, Source: r.ID, Message: r.Skip}}
	}
	res, err := d.app.Service.Handle(ctx, r.Job)
	return Done{Request: r, Result: res, Err: d.redact(err)}
}

// redact returns err with the secrets removed from its text (nil for nil).
func (d *Dispatcher) redact(err error) error {
	if err == nil {
		return nil
	}
	if msg := redact.String(err.Error(), d.secrets()); msg != err.Error() {
		return &redactedError{msg: msg, err: err}
	}
	return err
}

// invalid is the result of an event the function does not handle.
func invalid(where, reason string) *job.Result {
	return &job.Result{
		Status:     job.StatusInvalid,
		Message:    reason,
		Errors:     []records.Problem{{Where: where, Reason: reason}},
		ErrorCount: 1,
	}
}

// panicked logs a panic with its stack and makes it an error.
func (d *Dispatcher) panicked(ctx context.Context, p any) error {
	d.logger.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return fmt.Errorf("internal error: %v", p)
}

// redactedError is an error whose text had secrets removed; it unwraps to the
// original error.
type redactedError struct {
	msg string
	err error
}

// Error returns the redacted text.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.err }
