// Package trigger is the one platform skeleton of the function: a platform
// adapter (pkg/adapters/scf, pkg/adapters/awslambda) gives a [Platform] —
// how it reads its events and how it shapes each kind of reply — and a
// [Handler] runs every invocation the same way: decode → run → reply.
//
//   - The adapter tells a platform event's kind by its shape ([Probe]) and
//     makes an [Event] of it: what the event asks, in neutral terms ([Kind]),
//     and the shape of the answer the platform expects ([ReplyKind]). Unknown
//     events say what arrived ([Unknown]); upload notifications share
//     [Uploads], gateways' HTTP requests [HTTPEvent].
//   - A [Dispatcher] runs the Event on a [Service]: one log line per
//     invocation, secrets kept out of returned errors, panics turned into
//     errors, the results of several objects of an upload summed in one.
//   - [NewService] puts the HTTP semantics (bearer token, method, status of a
//     result or refusal, one JSON writer) in front of the job service ([Jobs],
//     *job.Service in production).
//   - [Lazy] builds the Service on the first invocation, and while the
//     configuration is wrong answers every invocation with the error instead
//     of crashing (retrying at the next one).
package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/removetag/removetag/internal/redact"
	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/records"
)

// Dispatcher runs events on a [Service], with one log line per invocation
// (trigger, result, counts, duration), secrets kept out of logs and errors,
// and panics turned into errors. It is safe for concurrent use.
type Dispatcher struct {
	svc     Service
	logger  *slog.Logger
	secrets func() []string
}

// NewDispatcher returns a Dispatcher. logger may be nil (no logs); secrets,
// if not nil, lists the values to redact from returned errors (logs are
// redacted by the logger's handler, see [redact.NewHandler]).
func NewDispatcher(svc Service, logger *slog.Logger, secrets func() []string) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if secrets == nil {
		secrets = func() []string { return nil }
	}
	return &Dispatcher{svc: svc, logger: logger, secrets: secrets}
}

// HTTP runs an HTTP event and returns the answer. An event of another kind
// (an HTTP event that could not be read: KindUnknown) is answered 400 with
// the reason.
func (d *Dispatcher) HTTP(ctx context.Context, ev Event) (resp HTTPResponse) {
	if ev.Kind != KindHTTP {
		res, err := d.Run(ctx, ev)
		if err != nil {
			return errorResponse(http.StatusInternalServerError, err.Error())
		}
		return HTTPResponse{StatusCode: http.StatusBadRequest, Result: res}
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err := d.panicked(ctx, p)
			resp = errorResponse(http.StatusInternalServerError, err.Error())
		}
		d.logHTTP(ctx, ev, resp, time.Since(start))
	}()
	if ev.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ev.Timeout)
		defer cancel()
	}
	return d.svc.HTTP(ctx, ev.HTTP)
}

// Run runs a non-HTTP event and returns its result. The error is non-nil only
// where a platform retry can help; bad input and unknown events are results
// with Status "invalid".
func (d *Dispatcher) Run(ctx context.Context, ev Event) (res *job.Result, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, d.panicked(ctx, p)
		}
		if err != nil {
			if msg := redact.String(err.Error(), d.secrets()); msg != err.Error() {
				err = &redactedError{msg: msg, err: err}
			}
		}
		d.logRun(ctx, ev, res, err, time.Since(start))
	}()
	switch ev.Kind {
	case KindTimer:
		return d.svc.Timer(ctx, ev.Message)
	case KindUpload:
		return d.objects(ctx, ev.Objects)
	case KindDirect:
		return d.svc.Direct(ctx, ev.Payload)
	case KindHTTP:
		return nil, errors.New("an HTTP event must go through Dispatcher.HTTP")
	}
	return invalid("event", redact.String(ev.Problem, d.secrets())), nil
}

// objects runs every object of an upload event, one after another; an error
// of one does not stop the others. A retry of the whole event is harmless:
// finished objects are skipped.
func (d *Dispatcher) objects(ctx context.Context, objs []Object) (*job.Result, error) {
	if len(objs) == 0 {
		return invalid("event", "the upload event lists no object"), nil
	}
	var (
		results []*job.Result
		errs    []error
	)
	for _, o := range objs {
		if o.Skip != "" {
			results = append(results, &job.Result{Status: job.StatusIgnored, Source: o.Location.String(), Message: o.Skip})
			continue
		}
		r, err := d.svc.ObjectCreated(ctx, o.Location, o.Region)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.Location, err))
			continue
		}
		results = append(results, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return aggregate(results), nil
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
