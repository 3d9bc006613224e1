package job

import (
	"context"
	"errors"
	"fmt"
)

// Refusals of [Service.Submit], wrapped by its *[RefusedError]: nothing was done.
var (
	// ErrTooLarge: the document is larger than Config.MaxBodyBytes.
	ErrTooLarge = errors.New("the document is too large")
	// ErrContinuationRefused: a continuation event, which only a direct
	// invocation may carry (a caller outside the function must not steer a chain).
	ErrContinuationRefused = errors.New("continuation events are accepted by direct invocation only")
)

// RefusedError is the error of a document [Service.Submit] did no work on.
type RefusedError struct {
	// Reason is ErrTooLarge, ErrTooManyRecords or ErrContinuationRefused.
	Reason error
	// Result is the answer to give the caller: Status "refused" (too large,
	// too many records) or "invalid" (a continuation), with the reason in
	// Message.
	Result *Result
}

// Error returns the answer's message.
func (e *RefusedError) Error() string { return e.Result.Message }

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Reason }

// SourceError is the error of [Service.Submit] when the file job of a
// {"Source":…} document could not go on (object storage unreachable, …): a
// retry may help.
type SourceError struct {
	// Source is the document's file, as sent.
	Source string
	// Err is what went wrong.
	Err error
}

// Error returns Err's text.
func (e *SourceError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *SourceError) Unwrap() error { return e.Err }

// Submit runs a job document from a caller that waits for the answer (an HTTP
// request; via names it in logs): inline records, or a {"Source":…} document
// whose file job runs within ctx's deadline. A document that is too large,
// holds more records than Config.MaxInlineRecords or is a continuation event
// is refused (*[RefusedError]); a file job that cannot go on is a
// *[SourceError]; bad input is a Result with Status "invalid".
func (s *Service) Submit(ctx context.Context, body []byte, via string) (*Result, error) {
	if n := int64(len(body)); n > s.cfg.MaxBodyBytes {
		return nil, &RefusedError{Reason: ErrTooLarge, Result: &Result{Status: StatusRefused,
			Message: fmt.Sprintf("the body is %d bytes, the limit is %d: upload large jobs as files", n, s.cfg.MaxBodyBytes)}}
	}
	switch p := classify(body); p.kind {
	case kindBad:
		return invalidResult(p.reason), nil
	case kindContinue:
		return nil, &RefusedError{Reason: ErrContinuationRefused, Result: invalidResult(ErrContinuationRefused.Error())}
	case kindSource:
		res, err := s.sourceJob(ctx, p.source, via)
		if err != nil {
			s.cfg.Logger.Error(via+" file job failed", "trigger", via, "source", p.source.Source, "error", err.Error())
			return nil, &SourceError{Source: p.source.Source, Err: err}
		}
		return res, nil
	}
	recs, err := s.decodeInline(body)
	if err != nil {
		res := s.rejectInline(err, via)
		if errors.Is(err, ErrTooManyRecords) {
			res.Status = StatusRefused
			return nil, &RefusedError{Reason: ErrTooManyRecords, Result: res}
		}
		return res, nil
	}
	return s.runRecords(ctx, recs, via), nil
}
