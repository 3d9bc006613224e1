package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/removetag/removetag/pkg/job/storage"

	"github.com/removetag/removetag/pkg/records"
)

// The finish phase: a job ends with its report, written only by the
// invocation that still owns the job (see state.confirm).

// finish ends a job whose every record is resolved: the journal, the failed
// records, then the report (which marks the version done), then the state is
// removed. A file replaced in the meantime is storage.ErrChanged: the job
// starts over. A journal whose merge does not fit in the invocation is
// errMergeUnfinished: the phase is handed on (see mergeJournal).
func (j *fileJob) finish(ctx context.Context, cp *Checkpoint, l *link) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := j.st.confirm(bctx); err != nil {
		return nil, err
	}
	info, err := j.store.Stat(bctx, j.loc.Key)
	switch {
	case errors.Is(err, storage.ErrNotFound): // deleted after it was read: report what was done
	case err != nil:
		return nil, fmt.Errorf("look at the file before the report: %w", err)
	case info.ETag != cp.ETag:
		return nil, fmt.Errorf("the file was replaced at the end of the job: %w", storage.ErrChanged)
	}
	if c := cp.counts(); c.Succeeded+c.Failed != c.Total {
		j.log.Error("the counts do not add up", "total", c.Total, "succeeded", c.Succeeded, "failed", c.Failed)
	}
	// The journal first: its merge may not fit (errMergeUnfinished hands the
	// phase on), and takes its own time, so the rest has a bookkeeping
	// budget of its own after it.
	journalKey, changes, logs, err := j.mergeJournal(ctx, l)
	if err != nil {
		return nil, err
	}
	bctx, cancel = bookkeeping(ctx)
	defer cancel()
	rep := &FileReport{
		Kind:   j.reportKind(),
		Status: StatusDone, Source: cp.Source, ETag: cp.ETag, Modified: cp.Modified, Format: cp.Format, API: j.op(cp).String(),
		Counts: cp.counts(), Failures: cp.Failures, Restarted: cp.Restarted,
		Chain: cp.Chain, Invocations: cp.Invocations, Started: cp.Started,
	}
	if len(cp.Parts) > 0 {
		if err := j.putFailed(bctx, cp); err != nil {
			return nil, err
		}
		rep.FailedKey = j.st.keys.failed()
	} else if err := j.store.Delete(bctx, j.st.keys.failed()); err != nil {
		// A failed-records file of an older version would mislead.
		return nil, fmt.Errorf("remove the failed records of an older version: %w", err)
	}
	rep.JournalKey, rep.Changes = journalKey, changes
	if err := j.st.writeReport(bctx, rep); err != nil {
		return nil, err
	}
	j.dropLogs(bctx, logs)
	if err := j.st.remove(bctx); err != nil {
		j.log.Warn("could not remove the job's state; the sweep removes it", "error", err.Error())
	}
	return j.reportResult(rep, StatusDone), nil
}

// finishInvalid ends a job whose validation found problems: nothing was sent.
func (j *fileJob) finishInvalid(ctx context.Context, cp *Checkpoint) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := j.st.confirm(bctx); err != nil {
		return nil, err
	}
	rep := &FileReport{
		Kind:   j.reportKind(),
		Status: StatusInvalid, Source: cp.Source, ETag: cp.ETag, Modified: cp.Modified, Format: cp.Format,
		Counts: cp.counts(), Errors: cp.Problems, ErrorCount: cp.ProblemCount,
		Restarted: cp.Restarted, Chain: cp.Chain, Invocations: cp.Invocations, Started: cp.Started,
		Message: fmt.Sprintf("invalid file: %d problem(s) in %d record(s); nothing was sent", cp.ProblemCount, cp.Total),
	}
	if err := j.st.writeReport(bctx, rep); err != nil {
		return nil, err
	}
	if err := j.st.remove(bctx); err != nil {
		j.log.Warn("could not remove the job's state; the sweep removes it", "error", err.Error())
	}
	j.log.Warn("invalid file: nothing sent", "problems", cp.ProblemCount, "records", cp.Total)
	return j.reportResult(rep, StatusInvalid), nil
}

// rejectFormat reports a file whose name gives no known format.
func (j *fileJob) rejectFormat(ctx context.Context, info storage.Info, ferr error, staleState bool) (*Result, error) {
	now := time.Now().UTC()
	rep := &FileReport{
		Kind:   j.reportKind(),
		Status: StatusInvalid, Source: j.loc.String(), ETag: info.ETag, Modified: info.Modified,
		Errors: []records.Problem{{Where: "name", Reason: ferr.Error()}}, ErrorCount: 1,
		Message: "invalid file name: " + ferr.Error() + "; nothing was sent", Started: now,
	}
	if err := j.st.writeReport(ctx, rep); err != nil {
		return nil, err
	}
	if staleState {
		if err := j.st.remove(ctx); err != nil {
			j.log.Warn("could not remove the state of an older version", "error", err.Error())
		}
	}
	j.log.Warn("invalid file name: nothing sent", "error", ferr.Error())
	return j.reportResult(rep, StatusInvalid), nil
}
