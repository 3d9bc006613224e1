package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// fileJob is a stored file that this invocation works on.
type fileJob struct {
	s      *Service
	store  storage.Store
	loc    storage.Location
	region string
	owner  string // this invocation's name in claims
	log    *slog.Logger
	// started is when this invocation took the job on.
	started time.Time

	// cpETag is the checkpoint's ETag as this invocation last read or wrote
	// it, empty if it found none: its next write is conditional on it.
	cpETag string
	// conds are the store's conditional writes, asked once (see conditions).
	conds *storage.Conditions
	// dropParts: the parts of failed records of an older version of the file
	// are removed once the job is claimed.
	dropParts bool
}

// newFileJob opens the file's bucket.
func (s *Service) newFileJob(ctx context.Context, loc storage.Location, region, trigger string) (*fileJob, error) {
	store, err := s.cfg.OpenStore.Open(ctx, loc, region)
	if err != nil {
		return nil, fmt.Errorf("file job %s: open the bucket: %w", loc, err)
	}
	return s.fileJobIn(store, loc, region, trigger), nil
}

// fileJobIn is a file job in a bucket already open.
func (s *Service) fileJobIn(store storage.Store, loc storage.Location, region, trigger string) *fileJob {
	return &fileJob{
		s: s, store: store, loc: loc, region: region, owner: newOwner(), started: time.Now(),
		log: s.cfg.Logger.With("job", "file", "trigger", trigger, "source", loc.String()),
	}
}

// refuseFile returns the answer to a file job refused before its bucket is
// opened (nil if it is not refused).
func (s *Service) refuseFile(loc storage.Location) *Result {
	switch {
	case loc.Key == "" || strings.HasSuffix(loc.Key, "/"):
		return invalidResult(fmt.Sprintf("%s names a bucket or a folder, not a file", loc))
	case strings.HasPrefix(loc.Key, s.cfg.OutputPrefix):
		s.cfg.Logger.Info("object ignored: it is under the output prefix", "source", loc.String(), "prefix", s.cfg.OutputPrefix)
		return &Result{Status: StatusIgnored, Source: loc.String(),
			Message: fmt.Sprintf("objects under the output prefix %q are the function's own output, never processed", s.cfg.OutputPrefix)}
	case s.cfg.OpenStore == nil:
		return invalidResult("file jobs are not configured: no object storage")
	}
	return nil
}

// startFile starts a file job for an upload event or a {"Source":…} document:
// nothing is done for a version already done or a job in progress; a job left
// behind is taken over.
func (s *Service) startFile(ctx context.Context, loc storage.Location, region, trigger string) (*Result, error) {
	if res := s.refuseFile(loc); res != nil {
		return res, nil
	}
	j, err := s.newFileJob(ctx, loc, region, trigger)
	if err != nil {
		return nil, err
	}
	info, err := j.store.Stat(ctx, loc.Key)
	if errors.Is(err, storage.ErrNotFound) {
		res := invalidResult(fmt.Sprintf("%s: no such object", loc))
		res.Source = loc.String()
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	rep, err := j.loadReport(ctx)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	if rep != nil && rep.ETag == info.ETag {
		j.log.Info("job skipped: this version is done", "etag", info.ETag, "report", j.reportKey())
		return j.skippedDone(rep), nil
	}
	cp, err := j.loadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	restarted := false
	switch {
	case cp != nil && s.busy(cp):
		j.log.Info("job skipped: in progress", "chain", cp.Chain, "etag", cp.ETag, "updated", cp.UpdatedAt)
		res := j.result(cp, StatusSkipped)
		res.Message = fmt.Sprintf("the file is in progress (chain %d, checkpoint updated %s)", cp.Chain, cp.UpdatedAt.Format(time.RFC3339))
		if cp.ETag != info.ETag {
			res.Message += "; the job will see that the file changed and start over"
		}
		return res, nil
	case cp != nil && cp.ETag == info.ETag:
		j.log.Info("taking over a job left behind", "chain", cp.Chain, "handoff", cp.Handoff, "updated", cp.UpdatedAt)
		return j.claimAndRun(ctx, cp)
	case cp != nil:
		restarted = true // a job left behind for an older version
	}
	f, _, err := records.FormatOf(loc.Key)
	if err != nil {
		return j.rejectFormat(ctx, info, err, cp != nil)
	}
	now := time.Now().UTC()
	cp = &Checkpoint{
		Version: checkpointVersion, Source: loc.String(), Region: region, ETag: info.ETag, Format: f.String(),
		Phase: PhaseValidate, Restarted: restarted, Started: now,
	}
	j.dropParts = restarted
	return j.claimAndRun(ctx, cp)
}

// continueFile runs a continuation event: the next invocation of a file's chain.
func (s *Service) continueFile(ctx context.Context, ev ContinueEvent) (*Result, error) {
	loc, err := storage.ParseLocation(ev.Source)
	if err != nil {
		return invalidResult("continuation event: " + err.Error()), nil
	}
	if res := s.refuseFile(loc); res != nil {
		return res, nil
	}
	j, err := s.newFileJob(ctx, loc, ev.Region, "continue")
	if err != nil {
		return nil, err
	}
	if ev.Checkpoint != "" && ev.Checkpoint != j.checkpointKey() {
		return invalidResult(fmt.Sprintf("continuation event: checkpoint %q is not the one of %s (%q)", ev.Checkpoint, loc, j.checkpointKey())), nil
	}
	cp, err := j.loadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", loc, err)
	}
	skip := func(why string) (*Result, error) {
		j.log.Info("continuation skipped: "+why, "chain", ev.Chain)
		res := &Result{Status: StatusSkipped, Source: loc.String(), Chain: ev.Chain, Message: "continuation event skipped: " + why}
		if cp != nil {
			res = j.result(cp, StatusSkipped)
			res.Message = "continuation event skipped: " + why
		}
		return res, nil
	}
	switch {
	case cp == nil:
		return skip("no checkpoint: the job is over")
	case cp.ETag != ev.ETag:
		return skip(fmt.Sprintf("the event is for version %s, the job for %s", ev.ETag, cp.ETag))
	case cp.Chain != ev.Chain:
		return skip(fmt.Sprintf("stale or duplicate event: chain %d, the checkpoint is at %d", ev.Chain, cp.Chain))
	case cp.Owner != "" && s.fresh(cp):
		return skip("another invocation works on it")
	}
	return j.claimAndRun(ctx, cp)
}

// claimAndRun makes this invocation the job's owner and runs one link of its chain.
func (j *fileJob) claimAndRun(ctx context.Context, cp *Checkpoint) (*Result, error) {
	if done, err := j.doneAlready(ctx, cp); err != nil || done != nil {
		return done, err
	}
	ok, err := j.claim(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("file job %s: claim: %w", j.loc, err)
	}
	if !ok {
		j.log.Info("job skipped: another invocation claimed it at the same time", "chain", cp.Chain)
		res := j.result(cp, StatusSkipped)
		res.Message = "another invocation claimed the job at the same time"
		return res, nil
	}
	if j.dropParts {
		if err := j.deleteParts(ctx); err != nil {
			j.log.Warn("could not delete the parts of the older version", "error", err.Error())
		}
	}
	return j.link(ctx, cp)
}

// doneAlready cleans up after a job whose report was written but whose
// checkpoint was left behind (its deletion failed), and says it is done.
func (j *fileJob) doneAlready(ctx context.Context, cp *Checkpoint) (*Result, error) {
	if cp.Invocations == 0 {
		return nil, nil // a new job: startFile looked for the report
	}
	rep, err := j.loadReport(ctx)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", j.loc, err)
	}
	if rep == nil || rep.ETag != cp.ETag {
		return nil, nil
	}
	j.log.Info("job done already: removing the checkpoint left behind", "report", j.reportKey())
	if err := j.deleteState(ctx); err != nil {
		return nil, fmt.Errorf("file job %s: remove the checkpoint left behind: %w", j.loc, err)
	}
	return j.skippedDone(rep), nil
}

// link runs one invocation's share of the job.
func (j *fileJob) link(ctx context.Context, cp *Checkpoint) (*Result, error) {
	start := time.Now()
	j.log.Info("job start", "chain", cp.Chain, "phase", cp.Phase, "etag", cp.ETag, "total", cp.Total,
		"succeeded", cp.Succeeded, "failed", cp.Failed, "position", cp.Position.Record)
	claimed := *cp
	res, err := j.work(ctx, cp)
	if errors.Is(err, errClaimLost) {
		return j.lost(ctx, &claimed, cp), nil
	}
	if err != nil {
		bctx, cancel := bookkeeping(ctx)
		defer cancel()
		j.release(bctx, cp)
		j.log.Error("job failed; a retry or the sweep takes it on", "chain", cp.Chain, "error", err.Error())
		return nil, fmt.Errorf("file job %s (chain %d): %w", j.loc, cp.Chain, err)
	}
	res.ElapsedSeconds = time.Since(start).Seconds()
	j.log.Info("job end", append(countAttrs(&res.Report), "status", res.Status, "chain", res.Chain,
		"continued", res.Continued, "restarted", res.Restarted, "message", res.Message)...)
	return res, nil
}

// maxRestarts bounds the restarts of one invocation for a file that keeps changing.
const maxRestarts = 2

// work moves the job through its phases as far as the budget allows.
func (j *fileJob) work(ctx context.Context, cp *Checkpoint) (*Result, error) {
	chain := cp.Chain
	if why, never := j.skipFits(ctx, cp); why != "" {
		if never {
			why += "; no invocation of this length can resume the file: raise the function's timeout, or upload the file uncompressed (it is then resumed at a byte offset)"
			return j.handOn(ctx, cp, chain, false, nil, why)
		}
		j.log.Info("not resuming in this invocation: "+why, "chain", chain)
		return j.handOn(ctx, cp, chain, false, nil, "")
	}
	progress := false
	restarts := 0
	for {
		var err error
		switch cp.Phase {
		case PhaseValidate:
			var advanced, finished bool
			advanced, finished, err = j.validate(ctx, cp)
			progress = progress || advanced
			switch {
			case err != nil:
			case !finished:
				return j.handOn(ctx, cp, chain, progress, nil, "")
			case cp.ProblemCount == 0 && cp.Total == 0:
				cp.addProblems(&records.InvalidInputError{Problems: []records.Problem{{Where: "input", Reason: "the file has no records"}}, Count: 1})
				return j.finishOwned(ctx, cp, j.finishInvalid)
			case cp.ProblemCount > 0:
				return j.finishOwned(ctx, cp, j.finishInvalid)
			default:
				cp.Phase, cp.Position = PhaseSend, records.Position{}
				continue
			}
		case PhaseSend:
			var out *sendOutcome
			out, err = j.send(ctx, cp)
			if err == nil {
				progress = progress || out.progress
				if !out.done {
					return j.handOn(ctx, cp, chain, progress, out.rep, "")
				}
				continue
			}
		case PhaseFinish:
			var res *Result
			res, err = j.finishOwned(ctx, cp, j.finish)
			if err == nil {
				res.Chain = chain
				return res, nil
			}
		default:
			return nil, fmt.Errorf("checkpoint %s: unknown phase %q", j.checkpointKey(), cp.Phase)
		}
		if errors.Is(err, errGone) {
			return j.gone(ctx, cp)
		}
		if !errors.Is(err, storage.ErrChanged) {
			return nil, err
		}
		if err := j.restart(ctx, cp); errors.Is(err, errGone) {
			return j.gone(ctx, cp)
		} else if err != nil {
			return nil, err
		}
		progress = true
		if restarts++; restarts > maxRestarts {
			return j.handOn(ctx, cp, chain, progress, nil, "")
		}
	}
}

// errGone is returned by restart when the file was deleted.
var errGone = errors.New("the file was deleted")

// restart starts the job over for the file's new version.
func (j *fileJob) restart(ctx context.Context, cp *Checkpoint) error {
	info, err := j.store.Stat(ctx, j.loc.Key)
	if errors.Is(err, storage.ErrNotFound) {
		return errGone
	}
	if err != nil {
		return fmt.Errorf("the file changed; look at the new version: %w", err)
	}
	j.log.Warn("the file changed during the job: starting over", "old_etag", cp.ETag, "etag", info.ETag, "chain", cp.Chain)
	*cp = Checkpoint{
		Version: checkpointVersion, Source: cp.Source, Region: cp.Region, ETag: info.ETag, Format: cp.Format,
		Phase: PhaseValidate, Chain: cp.Chain, Invocations: cp.Invocations, Restarted: true,
		Owner: cp.Owner, Started: cp.Started,
	}
	if err := j.deleteParts(ctx); err != nil {
		// Unlisted parts are overwritten or deleted at the end.
		j.log.Warn("could not delete the parts of the older version", "error", err.Error())
	}
	return nil
}

// gone ends a job whose file was deleted while it ran.
func (j *fileJob) gone(ctx context.Context, cp *Checkpoint) (*Result, error) {
	if err := j.deleteState(ctx); err != nil {
		return nil, fmt.Errorf("remove the state of a deleted file: %w", err)
	}
	res := j.result(cp, StatusSkipped)
	res.Message = "the file was deleted during the job: nothing more to do; its state is removed"
	j.log.Warn("the file was deleted during the job", "chain", cp.Chain)
	return res, nil
}

// handOn saves the checkpoint and hands the rest of the job on: to a new
// invocation, or, when that cannot or should not be done (sweep says why, if the
// caller knows), to the timer sweep.
func (j *fileJob) handOn(ctx context.Context, cp *Checkpoint, chain int, progress bool, rep *imapi.Report, sweep string) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	res := j.result(cp, StatusPending)
	res.Chain = chain
	if rep != nil {
		res.Stopped, res.StopReason, res.PendingErrors = rep.Stopped, rep.StopReason, rep.PendingErrors
	}
	next := cp.Chain + 1
	if progress {
		cp.Idle = 0
	} else {
		cp.Idle++
	}
	why := sweep
	switch {
	case why != "":
	case cp.Idle >= maxIdle:
		why = fmt.Sprintf("%d invocations in a row could do no record", cp.Idle)
		if rep != nil && rep.Stopped != "" {
			why += " (last: " + rep.Stopped + ")"
		}
	case rep != nil && !budgetStop(rep.StopReason):
		why = "the run stopped: " + rep.Stopped
	case next > j.s.cfg.MaxChain:
		why = fmt.Sprintf("the continuation chain reached its limit (%d invocations)", j.s.cfg.MaxChain)
	case j.s.cfg.Invoker == nil:
		why = "no self-invocation is configured"
	}
	// Should the checkpoint not be saved, the job is released as it is, at
	// this invocation's chain number: a retry of its event goes on from there.
	fail := func(err error) (*Result, error) {
		cp.Chain = chain
		return nil, err
	}
	cp.Chain, cp.Owner = next, ""
	if why != "" {
		cp.Handoff, cp.Note = HandoffSweep, why
		if err := j.saveCheckpoint(bctx, cp); err != nil {
			return fail(err)
		}
		res.Message = why + "; the timer sweep continues the job once its checkpoint is " + j.s.cfg.SweepAfter.String() + " old"
		j.log.Warn("job left for the sweep", "chain", chain, "reason", why)
		return res, nil
	}
	cp.Handoff = HandoffInvoked
	if err := j.saveCheckpoint(bctx, cp); err != nil {
		return fail(err)
	}
	ev := ContinueEvent{Source: cp.Source, Region: cp.Region, Checkpoint: j.checkpointKey(), ETag: cp.ETag, Chain: next}
	if err := j.s.cfg.Invoker.InvokeAsync(bctx, ev.Payload()); err != nil {
		j.log.Error("self-invocation failed: the sweep will continue the job", "chain", next, "error", err.Error())
		cp.Handoff, cp.Note = HandoffSweep, "self-invocation failed: "+err.Error()
		if err := j.saveCheckpoint(bctx, cp); err != nil {
			j.log.Warn("could not note the failed self-invocation", "error", err.Error())
		}
		res.Message = "the rest could not be handed to a new invocation (" + err.Error() + "); the timer sweep continues the job"
		return res, nil
	}
	res.Continued = true
	return res, nil
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

// result describes the job as the checkpoint has it.
func (j *fileJob) result(cp *Checkpoint, status Status) *Result {
	return &Result{
		Status: status, Source: j.loc.String(), Chain: cp.Chain, Restarted: cp.Restarted,
		Report:        imapi.Report{Counts: cp.counts(), Failures: cp.Failures},
		CheckpointKey: j.checkpointKey(),
	}
}

// bookkeeping returns a context for saving the job's state after the run: the
// run keeps back some time for it, but it must not be cut short by a
// cancellation that stopped the run.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
}
