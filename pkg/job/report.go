package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/records"
)

// FileReport is the report of a finished file job, stored as JSON at
// {prefix}reports/{key}.report.json in the file's bucket: the whole file,
// across its chain of invocations. Its ETag makes a repeated upload event for
// the same version do nothing.
type FileReport struct {
	// Status is "done" (every record handled; Failed may be above 0) or
	// "invalid" (rejected before any call; see Errors).
	Status Status
	// Source is the file, "s3://bucket/key" or "cos://bucket-appid/key".
	Source string
	// ETag is the version of the file the report is for.
	ETag string
	// Format is the file's format: "csv", "jsonl" or "json".
	Format string `json:",omitempty"`
	// Counts: Total == Succeeded + Failed + Pending; Pending is 0 for a done
	// file, and counts every record of an invalid one (none was sent). Calls and
	// Retries count the calls made for the file.
	imapi.Counts
	// Failures groups the failed records by error.
	Failures []imapi.Failure `json:",omitempty"`
	// Errors lists the first problems of an invalid file; ErrorCount counts all.
	Errors     []records.Problem `json:",omitempty"`
	ErrorCount int               `json:",omitempty"`
	// Restarted is set when the file changed during the job, which started over.
	Restarted bool `json:",omitempty"`
	// Chain is the place of the last invocation in the file's chain: 0 when one
	// invocation did it all.
	Chain int
	// Invocations counts the invocations that worked on the file (takeovers
	// by the sweep and retries included).
	Invocations int
	// FailedKey names the object holding the failed records, one
	// {"To_Account":…,"Tags":[…]} per line, ready to upload again.
	FailedKey string `json:",omitempty"`
	// Message explains an invalid file.
	Message string `json:",omitempty"`
	// Started and Finished bound the job.
	Started  time.Time
	Finished time.Time
}

// finish ends a job whose every record is resolved: the failed records, then
// the report (which marks the version done), then the state is removed. A file
// replaced in the meantime is storage.ErrChanged: the job starts over.
func (j *fileJob) finish(ctx context.Context, cp *Checkpoint) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	info, err := j.store.Stat(bctx, j.loc.Key)
	switch {
	case errors.Is(err, storage.ErrNotFound): // deleted after it was read: report what was done
	case err != nil:
		return nil, fmt.Errorf("look at the file before the report: %w", err)
	case info.ETag != cp.ETag:
		return nil, fmt.Errorf("the file was replaced at the end of the job: %w", storage.ErrChanged)
	}
	if cp.Succeeded+cp.Failed != cp.Total {
		j.log.Error("the counts do not add up", "total", cp.Total, "succeeded", cp.Succeeded, "failed", cp.Failed)
	}
	rep := &FileReport{
		Status: StatusDone, Source: cp.Source, ETag: cp.ETag, Format: cp.Format,
		Counts: cp.counts(), Failures: cp.Failures, Restarted: cp.Restarted,
		Chain: cp.Chain, Invocations: cp.Invocations, Started: cp.Started,
	}
	if len(cp.Parts) > 0 {
		if err := j.putFailed(bctx, cp); err != nil {
			return nil, err
		}
		rep.FailedKey = j.failedKey()
	} else if err := j.store.Delete(bctx, j.failedKey()); err != nil {
		// A failed-records file of an older version would mislead.
		return nil, fmt.Errorf("remove the failed records of an older version: %w", err)
	}
	if err := j.writeReport(bctx, rep); err != nil {
		return nil, err
	}
	if err := j.deleteState(bctx); err != nil {
		j.log.Warn("could not remove the job's state; the sweep removes it", "error", err.Error())
	}
	return j.reportResult(rep, StatusDone), nil
}

// finishInvalid ends a job whose validation found problems: nothing was sent.
func (j *fileJob) finishInvalid(ctx context.Context, cp *Checkpoint) (*Result, error) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	rep := &FileReport{
		Status: StatusInvalid, Source: cp.Source, ETag: cp.ETag, Format: cp.Format,
		Counts: cp.counts(), Errors: cp.Problems, ErrorCount: cp.ProblemCount,
		Restarted: cp.Restarted, Chain: cp.Chain, Invocations: cp.Invocations, Started: cp.Started,
		Message: fmt.Sprintf("invalid file: %d problem(s) in %d record(s); nothing was sent", cp.ProblemCount, cp.Total),
	}
	if err := j.writeReport(bctx, rep); err != nil {
		return nil, err
	}
	if err := j.deleteState(bctx); err != nil {
		j.log.Warn("could not remove the job's state; the sweep removes it", "error", err.Error())
	}
	j.log.Warn("invalid file: nothing sent", "problems", cp.ProblemCount, "records", cp.Total)
	return j.reportResult(rep, StatusInvalid), nil
}

// rejectFormat reports a file whose name gives no known format.
func (j *fileJob) rejectFormat(ctx context.Context, info storage.Info, ferr error, staleState bool) (*Result, error) {
	now := time.Now().UTC()
	rep := &FileReport{
		Status: StatusInvalid, Source: j.loc.String(), ETag: info.ETag,
		Errors: []records.Problem{{Where: "name", Reason: ferr.Error()}}, ErrorCount: 1,
		Message: "invalid file name: " + ferr.Error() + "; nothing was sent", Started: now,
	}
	if err := j.writeReport(ctx, rep); err != nil {
		return nil, err
	}
	if staleState {
		if err := j.deleteState(ctx); err != nil {
			j.log.Warn("could not remove the state of an older version", "error", err.Error())
		}
	}
	j.log.Warn("invalid file name: nothing sent", "error", ferr.Error())
	return j.reportResult(rep, StatusInvalid), nil
}

// writeReport stores the report, stamped now.
func (j *fileJob) writeReport(ctx context.Context, rep *FileReport) error {
	rep.Finished = time.Now().UTC()
	if err := j.putJSON(ctx, j.reportKey(), rep); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// skippedDone is the answer for a version already done.
func (j *fileJob) skippedDone(rep *FileReport) *Result {
	res := j.reportResult(rep, StatusSkipped)
	res.Message = fmt.Sprintf("this version (ETag %s) was done already, %s: see the report", rep.ETag, rep.Finished.Format(time.RFC3339))
	return res
}

// reportResult is a result that tells a stored report.
func (j *fileJob) reportResult(rep *FileReport, status Status) *Result {
	return &Result{
		Status: status, Source: rep.Source, Restarted: rep.Restarted, Chain: rep.Chain,
		Report: imapi.Report{Counts: rep.Counts, Failures: rep.Failures, EndOfInput: rep.Status == StatusDone},
		Errors: rep.Errors, ErrorCount: rep.ErrorCount, Message: rep.Message,
		ReportKey: j.reportKey(), FailedKey: rep.FailedKey,
	}
}

// mustJSON encodes a value that always encodes.
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("job: encode %T: %v", v, err))
	}
	return data
}
