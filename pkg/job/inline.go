package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/records"
)

// runInline runs a job document held in memory: the records of an HTTP body,
// a direct payload or a timer message. Invalid input is rejected whole; records
// not done by ctx's deadline come back in PendingUserTags.
func (s *Service) runInline(ctx context.Context, body []byte, trigger string) *Result {
	doc, err := s.decodeInline(body)
	if err != nil {
		return s.rejectInline(err, trigger)
	}
	return s.runRecords(ctx, doc, trigger)
}

// rejectInline is the result of an inline job that could not be decoded, logged.
func (s *Service) rejectInline(err error, trigger string) *Result {
	res := rejected(err)
	s.cfg.Logger.Info("job rejected", "job", "inline", "trigger", trigger, "status", res.Status, "problems", res.ErrorCount)
	return res
}

// runRecords runs the decoded records of an inline job: a removal of the
// listed tags, or, for the job form of accounts alone ("AllTags": true), the
// clearing of every tag of each account.
func (s *Service) runRecords(ctx context.Context, doc *records.Job, trigger string) *Result {
	op := s.operation(doc.AllTags)
	log := s.cfg.Logger.With("job", "inline", "trigger", trigger)
	log.Info("job start", "records", len(doc.Records), "api", op.String())
	src := records.NewSliceSource(doc.Records)
	jr, jlog, jerr := s.inlineRecorder()
	rep, err := s.run(ctx, src, journalOpts(jr, imapi.WithOperation(op))...)
	if err != nil { // a SliceSource does not fail; keep the report anyway
		log.Error("job run failed", "error", err.Error())
	}
	res := &Result{Status: StatusDone, API: op.String(), AllTags: doc.AllTags, Report: *rep}
	rest := src.Rest()
	if !rep.Done() {
		res.Status = StatusPending
		res.PendingUserTags = make([]records.Record, 0, len(rep.PendingRecords)+len(rest))
		res.PendingUserTags = append(append(res.PendingUserTags, rep.PendingRecords...), rest...)
	}
	// Records never read count too: Total is the job's size.
	res.Add(imapi.Counts{Total: int64(len(rest)), Pending: int64(len(rest))})
	res.PendingRecords, res.Resume = nil, nil
	res.Invocation = share(res.Counts, imapi.Counts{})
	s.journalInline(ctx, jr, jlog, jerr, res, log)
	log.Info("job end", append(countAttrs(&res.Report), "status", res.Status, "stopped", rep.Stopped)...)
	return res
}

// ErrTooManyRecords is wrapped by the error of an inline job with more records
// than Config.MaxInlineRecords; it is [records.ErrTooManyRecords].
var ErrTooManyRecords = records.ErrTooManyRecords

// decodeInline reads a job document in either API form, gzip-compressed or not,
// with records.ReadJob, bounding the decompressed size (records are held in
// memory, and a small compressed body may inflate enormously) and the number of
// records (Config.MaxInlineRecords; the error wraps ErrTooManyRecords).
func (s *Service) decodeInline(body []byte) (*records.Job, error) {
	doc, err := records.ReadJob(bytes.NewReader(body), records.JobLimits{MaxBytes: 2 * s.cfg.MaxBodyBytes, MaxRecords: int64(s.cfg.MaxInlineRecords)})
	if errors.Is(err, ErrTooManyRecords) {
		return nil, fmt.Errorf("%w; upload them as a file and send {\"Source\":…} instead", err)
	}
	return doc, err
}

// rejected is the answer to an input that could not be decoded or had invalid records.
func rejected(err error) *Result {
	var bad *records.InvalidInputError
	if errors.As(err, &bad) {
		return &Result{
			Status:     StatusInvalid,
			Message:    fmt.Sprintf("invalid input: %d problem(s) in %d record(s); nothing was sent", bad.Count, bad.Records),
			Report:     imapi.Report{Counts: imapi.Counts{Total: bad.Records, Pending: bad.Records}},
			Errors:     bad.Problems,
			ErrorCount: bad.Count,
		}
	}
	if errors.Is(err, records.ErrInputTooLarge) {
		return invalidResult("the job document is too large once decompressed: " + err.Error())
	}
	return invalidResult(err.Error())
}

// countAttrs returns a report's counts as log attributes.
func countAttrs(r *imapi.Report) []any {
	return []any{
		"total", r.Total, "succeeded", r.Succeeded, "failed", r.Failed, "pending", r.Pending,
		"calls", r.Calls, "retries", r.Retries, "elapsed", time.Duration(r.ElapsedSeconds * float64(time.Second)).Round(time.Millisecond).String(),
	}
}
