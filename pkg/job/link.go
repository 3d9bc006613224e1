package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
)

// link is one invocation's share of a file job's chain: its place in the
// chain, and what it learnt on the way, for the hand-on at its end.
type link struct {
	// chain is the invocation's place in the chain, as it claimed the job.
	chain int
	// progress: records were checked or resolved, or the job started over.
	progress bool
	// stopped is the report of the send pass that stopped before the end of
	// the file, if the link ends with one.
	stopped *imapi.Report
	// base is the job's counts the link's own are measured from: the
	// checkpoint's as it was claimed, none once the job started over.
	base imapi.Counts
}

// claimAndRun makes this invocation the job's owner and runs one link of its chain.
func (j *fileJob) claimAndRun(ctx context.Context, cp *Checkpoint) (*Result, error) {
	if done, err := j.doneAlready(ctx, cp); err != nil || done != nil {
		return done, err
	}
	ok, err := j.st.claim(ctx, cp)
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
		if err := j.st.deleteParts(ctx); err != nil {
			j.log.Warn("could not delete the parts of the older version", "error", err.Error())
		}
	}
	return j.runLink(ctx, cp)
}

// doneAlready cleans up after a job whose report was written but whose
// checkpoint was left behind (its deletion failed), and says it is done.
func (j *fileJob) doneAlready(ctx context.Context, cp *Checkpoint) (*Result, error) {
	if cp.Invocations == 0 {
		return nil, nil // a new job: startFile looked for the report
	}
	rep, err := j.st.doneReport(ctx, cp.ETag)
	if err != nil {
		return nil, fmt.Errorf("file job %s: %w", j.loc, err)
	}
	if rep == nil || !rep.ends(cp.Modified) {
		return nil, nil
	}
	j.log.Info("job done already: removing the checkpoint left behind", "report", j.st.keys.report())
	if err := j.st.remove(ctx); err != nil {
		return nil, fmt.Errorf("file job %s: remove the checkpoint left behind: %w", j.loc, err)
	}
	return j.skippedDone(rep), nil
}

// runLink runs one invocation's share of the job, claimed: a link that fails
// releases the job, one that lost it to another invocation stops (see lost).
func (j *fileJob) runLink(ctx context.Context, cp *Checkpoint) (*Result, error) {
	start := time.Now()
	j.log.Info("job start", "chain", cp.Chain, "phase", cp.Phase, "etag", cp.ETag, "total", cp.Total,
		"succeeded", cp.Succeeded, "failed", cp.Failed, "position", cp.Position.Record)
	claimed := *cp
	defer j.closeOwnLog()
	l := &link{chain: cp.Chain, base: cp.counts()}
	res, err := j.workWatched(ctx, cp, l)
	if errors.Is(err, errClaimLost) {
		return j.lost(ctx, &claimed, cp), nil
	}
	if err != nil {
		bctx, cancel := bookkeeping(ctx)
		defer cancel()
		j.st.release(bctx)
		j.log.Error("job failed; a retry or the sweep takes it on", "chain", cp.Chain, "error", err.Error())
		return nil, fmt.Errorf("file job %s (chain %d): %w", j.loc, cp.Chain, err)
	}
	res.ElapsedSeconds = time.Since(start).Seconds()
	res.Invocation = share(res.Counts, l.base)
	j.log.Info("job end", append(countAttrs(&res.Report), "status", res.Status, "chain", res.Chain,
		"continued", res.Continued, "restarted", res.Restarted, "message", res.Message)...)
	return res, nil
}

// maxRestarts bounds the restarts of one invocation for a file that keeps changing.
const maxRestarts = 2

// work moves the job through its phases as far as the budget allows, and
// ends the link l: the job handed on, or finished. A phase that finds the
// file changed starts the job over; one that finds it deleted ends it.
func (j *fileJob) work(ctx context.Context, cp *Checkpoint, l *link) (*Result, error) {
	if why, never := j.skipFits(ctx, cp); never {
		why += "; no invocation of this length can resume the file: raise the function's timeout, or upload the file uncompressed (it is then resumed at a byte offset)"
		return j.handOn(ctx, cp, l, why)
	} else if why != "" {
		j.log.Info("not resuming in this invocation: "+why, "chain", l.chain)
		return j.handOn(ctx, cp, l, "")
	}
	for restarts := 0; ; {
		var err error
		switch cp.Phase {
		case PhaseValidate:
			var v verdict
			if v, err = j.validate(ctx, cp, l); err == nil {
				switch v {
				case verdictUnfinished:
					return j.handOn(ctx, cp, l, "")
				case verdictInvalid:
					return j.finishInvalid(ctx, cp)
				}
				continue // valid: on to the send phase
			}
		case PhaseSend:
			var done bool
			if done, err = j.send(ctx, cp, l); err == nil {
				if !done {
					return j.handOn(ctx, cp, l, "")
				}
				continue // on to the finish phase
			}
		case PhaseFinish:
			var res *Result
			if res, err = j.finish(ctx, cp, l); err == nil {
				res.Chain = l.chain
				return res, nil
			}
			if errors.Is(err, errMergeUnfinished) {
				return j.handOn(ctx, cp, l, "")
			}
		default:
			return nil, fmt.Errorf("checkpoint %s: unknown phase %q", j.st.keys.checkpoint(), cp.Phase)
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
		l.progress, l.base = true, imapi.Counts{}
		if restarts++; restarts > maxRestarts {
			return j.handOn(ctx, cp, l, "")
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
		Version: checkpointVersion, Source: cp.Source, Region: cp.Region, ETag: info.ETag, Modified: info.Modified, Format: cp.Format,
		Phase: PhaseValidate, Chain: cp.Chain, Invocations: cp.Invocations, Restarted: true,
		Owner: cp.Owner, Started: cp.Started,
	}
	if err := j.st.deleteParts(ctx); err != nil {
		// Unlisted parts are overwritten or deleted at the end.
		j.log.Warn("could not delete the parts of the older version", "error", err.Error())
	}
	return nil
}

// gone ends a job whose file was deleted while it ran.
func (j *fileJob) gone(ctx context.Context, cp *Checkpoint) (*Result, error) {
	if err := j.st.remove(ctx); err != nil {
		return nil, fmt.Errorf("remove the state of a deleted file: %w", err)
	}
	res := j.result(cp, StatusSkipped)
	res.Message = "the file was deleted during the job: nothing more to do; its state is removed"
	j.log.Warn("the file was deleted during the job", "chain", cp.Chain)
	return res, nil
}

// lost answers for an invocation that learnt, at a write of the checkpoint,
// that another invocation took the job over. It stops there: it writes no
// checkpoint, hands nothing on and writes no report, so the job's counts are
// the owner's alone. The records this invocation resolved since its claim are
// read and sent again by the owner (removal is idempotent) and counted once,
// there; the parts of failed records it wrote, which no checkpoint lists, are
// removed. The answer counts the job as this invocation claimed it.
func (j *fileJob) lost(ctx context.Context, claimed, cp *Checkpoint) *Result {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	for _, key := range cp.Parts {
		if !slices.Contains(claimed.Parts, key) {
			if err := j.store.Delete(bctx, key); err != nil {
				j.log.Warn("could not remove a part of failed records no checkpoint lists", "part", key, "error", err.Error())
			}
		}
	}
	j.log.Warn("job lost: another invocation took it over; this one stops, its work since the claim is redone and counted there",
		"chain", claimed.Chain)
	res := j.result(claimed, StatusSkipped)
	res.Message = "another invocation took the job over while this one worked on it: this one stopped; " +
		"the owner sends the records handled since then again and counts them once"
	return res
}
