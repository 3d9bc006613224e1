package imapi

import (
	"context"
	"errors"
	"time"

	"github.com/removetag/removetag/pkg/records"
)

// BeforeSend makes the run hand each batch to prepare before the batch's first
// call, and tell the function prepare returns how the batch ended: the seam of
// a journal of the tags a run really removes (package journal), which reads the
// accounts' tags and writes them ahead before they are removed.
//
// prepare is called by the worker that then sends the batch, before it waits
// for its turn on the run's Limiter, so the read of one batch goes on beside
// the calls of the others and the removals stay paced by the Limiter alone.
// The run prepares only as many batches ahead as keep one ready at each turn,
// and near its deadline only those whose turn can come in time (see
// readAhead): a batch prepared is sent unless the run is stopped otherwise. calls are the
// batch's distinct accounts with their tags merged, as they will be sent; they
// must not be changed. An error from prepare keeps the batch from being sent:
// one that says the run is stopping ([ErrWouldOverrun], its context canceled)
// leaves the batch pending; any other is classed like a call's ([Classify]):
// retryable leaves the batch pending, fatal stops the run as a configuration
// refusal does, anything else fails the batch's records with it.
//
// done, if not nil, is called once, when the batch's outcome in this run is
// final, with applied: for each account of calls, whether the service applied
// the call to it (applied) and whether that is known (known). An account is
// known not applied when every call sent for it was refused by an answer of
// the service (or none was sent), its own ErrorList element included; a call
// that timed out, was cut off or got an HTTP error may have been applied, so
// such an account is not known unless a later call of the batch succeeded for
// it. An answer OK with an ErrorList applied the call to every account it did
// not list.
func BeforeSend(prepare func(ctx context.Context, calls []records.Record) (done func(applied func(account string) (applied, known bool)), err error)) RunOption {
	return func(r *run) { r.prepare = prepare }
}

// prepareFunc and doneFunc are BeforeSend's functions.
type (
	prepareFunc = func(ctx context.Context, calls []records.Record) (doneFunc, error)
	doneFunc    = func(applied func(account string) (applied, known bool))
)

// prepared runs the run's prepare for b, if any, once the read-ahead lets it;
// false if b is not to be sent (its outcome is set). A prepared batch holds
// its place in the read-ahead until its first turn (see process).
func (r *run) prepared(b *batch) bool {
	if r.prepare == nil {
		return true
	}
	ok, stop := r.ahead.enter(r)
	if !ok {
		if stop {
			r.stop(StopDeadline, "time budget used up")
		}
		return false // pending, not read
	}
	began := time.Now()
	done, err := r.prepare(r.callCtx, b.calls)
	r.ahead.prepared(time.Since(began))
	b.done = done
	if err == nil {
		b.heldSince = time.Now()
		return true
	}
	r.ahead.leave(false, 0)
	b.err = err
	if !stopping(r, err) {
		r.cfg.Logger.WarnContext(r.ctx, "batch not sent: its preparation failed",
			"class", Classify(err).String(), "accounts", len(b.calls), "error", err.Error())
	}
	switch {
	case stopping(r, err):
		b.outcome = pending
	case Classify(err) == Retryable:
		b.outcome = pending
	case Classify(err) == Fatal:
		b.outcome, b.refused = pending, true
		r.abort(StopFatal, "fatal error before sending: "+err.Error())
	default:
		b.outcome = failed
	}
	return false
}

// stopping reports whether prepare's error says the run is stopping rather
// than the batch is wrong: its limiter would not allow a read before the
// deadline, or the run's context ended (a cancel). The batch then stays
// pending, as a call that could not start does.
func stopping(r *run, err error) bool {
	return errors.Is(err, ErrWouldOverrun) || errors.Is(err, context.Canceled) || r.callCtx.Err() != nil
}

// noteAttempt remembers whether a call of b may have been applied without the
// client knowing: any answer but the service's own refusal.
func (b *batch) noteAttempt(err error) {
	var ae *APIError
	if err != nil && !errors.As(err, &ae) {
		b.uncertain = true
	}
}

// finished tells the batch's done, if any, its outcome.
func (b *batch) finished() {
	if b.done == nil {
		return
	}
	done := b.done
	b.done = nil
	done(func(account string) (bool, bool) {
		// An account an answer's ErrorList resolved apart: applied if the
		// answer did not list it; not applied if it did, known so unless an
		// earlier call of the batch may have been applied unseen.
		if a, ok := b.accts[account]; ok {
			return a.outcome == succeeded, a.outcome == succeeded || !b.uncertain
		}
		ok := b.outcome == succeeded
		return ok, ok || !b.uncertain
	})
}
