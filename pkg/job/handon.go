package job

import (
	"context"
	"fmt"

	"github.com/removetag/removetag/pkg/imapi"
)

// handOn saves the checkpoint and hands the rest of the job on: to a new
// invocation, or, when that cannot or should not be done (sweep says why, if
// the caller knows; else see sweepReason), to the timer sweep.
//
// Should the checkpoint not be saved, the job is left as it is, at this
// invocation's chain number, for the caller to release: a retry of its event
// goes on from there.
func (j *fileJob) handOn(ctx context.Context, cp *Checkpoint, l *link, sweep string) (*Result, error) {
	if j.canceled(cp) != nil {
		return j.endCanceled(ctx, cp)
	}
	return j.passOn(ctx, cp, l, sweep)
}

// passOn is handOn's work: the checkpoint saved, the rest handed on. A job
// canceled whose end did not fit (its journal's merge) is passed on so: the
// next invocation sees the marker and ends it.
func (j *fileJob) passOn(ctx context.Context, cp *Checkpoint, l *link, sweep string) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	res := j.result(cp, StatusPending)
	res.Chain = l.chain
	if l.stopped != nil {
		res.Stopped, res.StopReason, res.PendingErrors = l.stopped.Stopped, l.stopped.StopReason, l.stopped.PendingErrors
	}
	if l.progress {
		cp.Idle = 0
	} else {
		cp.Idle++
	}
	next := cp.Chain + 1
	why := sweep
	if why == "" {
		why = j.sweepReason(l, cp.Idle, next)
	}
	err := j.st.update(bctx, func(cp *Checkpoint) {
		cp.Chain, cp.Owner = next, ""
		if why != "" {
			cp.Handoff, cp.Note = HandoffSweep, why
		} else {
			cp.Handoff = HandoffInvoked
		}
	})
	if err != nil {
		cp.Chain = l.chain
		return nil, err
	}
	if why != "" {
		res.Message = why + "; the timer sweep continues the job once its checkpoint is " + j.s.cfg.SweepAfter.String() + " old"
		j.log.Warn("job left for the sweep", "chain", l.chain, "reason", why)
		return res, nil
	}
	if err := j.s.cfg.Invoker.InvokeAsync(bctx, j.continueEvent(cp, next).Payload()); err != nil {
		j.log.Error("self-invocation failed: the sweep will continue the job", "chain", next, "error", err.Error())
		note := "self-invocation failed: " + err.Error()
		if err := j.st.update(bctx, func(cp *Checkpoint) { cp.Handoff, cp.Note = HandoffSweep, note }); err != nil {
			j.log.Warn("could not note the failed self-invocation", "error", err.Error())
		}
		res.Message = "the rest could not be handed to a new invocation (" + err.Error() + "); the timer sweep continues the job"
		return res, nil
	}
	res.Continued = true
	return res, nil
}

// sweepReason says why the rest of the job, after idle invocations in a row
// that could do no record, to go on at place next of the chain, is left to
// the timer sweep rather than handed to a new invocation; "" if it is not.
func (j *fileJob) sweepReason(l *link, idle, next int) string {
	switch {
	case idle >= maxIdle:
		why := fmt.Sprintf("%d invocations in a row could do no record", idle)
		if l.stopped != nil && l.stopped.Stopped != "" {
			why += " (last: " + l.stopped.Stopped + ")"
		}
		return why
	case l.stopped != nil && !budgetStop(l.stopped.StopReason):
		return "the run stopped: " + l.stopped.Stopped
	case next > j.s.cfg.MaxChain:
		return fmt.Sprintf("the continuation chain reached its limit (%d invocations)", j.s.cfg.MaxChain)
	case j.s.cfg.Invoker == nil:
		return "no self-invocation is configured"
	}
	return ""
}

// maxIdle is how many invocations in a row may do no record before the job
// is left to the sweep: a budget too small for one call, or a service that
// answers nothing in time, is not retried at once without end.
const maxIdle = 3

// budgetStop reports whether a run stopped for its time budget (the next
// invocation goes on) rather than for a fatal error or an unavailable
// service (left for the sweep, which comes back later).
func budgetStop(reason imapi.StopReason) bool {
	return reason == "" || reason == imapi.StopDeadline || reason == imapi.StopCanceled
}
