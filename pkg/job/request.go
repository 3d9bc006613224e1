package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/removetag/removetag/pkg/job/storage"
)

// Request is what the driving side asks of the service: one job, and the
// name of the trigger it came by, for logs. [Submit], [Direct], [Timer] and
// [Upload] make one; [Service.Handle] runs it.
type Request struct {
	// Kind says what is asked, and which fields hold it.
	Kind RequestKind
	// Via names the trigger in logs ("http", "timer", …); "" is Kind's name.
	Via string
	// Document is the job document of RequestSubmit and RequestDirect (a
	// direct payload may also be a continuation event), and the message of
	// RequestTimer (empty: the sweep).
	Document []byte
	// Object is the uploaded object of RequestUpload, the file (or bucket,
	// or folder) of RequestStatus, the file of RequestCancel.
	Object storage.Location
	// Region is the region the upload event named (COS: a short code such
	// as "gz"), or "" for the function's own.
	Region string
}

// RequestKind says what a [Request] asks.
type RequestKind string

// The kinds of [Request].
const (
	// RequestSubmit: a job document from a caller that waits for the answer
	// (an HTTP request). A document that is too large, holds more records
	// than Config.MaxInlineRecords or is a continuation event is refused (a
	// *[RefusedError]).
	RequestSubmit RequestKind = "submit"
	// RequestDirect: a direct invocation's payload, a job document or a
	// continuation event.
	RequestDirect RequestKind = "direct"
	// RequestTimer: a schedule's message, a job document, or empty for the
	// sweep, which continues every checkpoint left behind in Config.Buckets.
	RequestTimer RequestKind = "timer"
	// RequestUpload: an uploaded object, streamed and run, with checkpoints
	// and continuations when the budget runs out.
	RequestUpload RequestKind = "upload"
	// RequestStatus: the file jobs of Object (see [Inspect]), told in the
	// result's Summaries (Status "listed"). Nothing is written.
	RequestStatus RequestKind = "status"
	// RequestCancel: stop the file job of Object (see [Cancel] and
	// [Jobs.Cancel]); Via says who asks.
	RequestCancel RequestKind = "cancel"
)

// Submit is the request of a job document from a caller that waits for the
// answer; via names the trigger in logs ("http").
func Submit(document []byte, via string) Request {
	return Request{Kind: RequestSubmit, Via: via, Document: document}
}

// Direct is the request of a direct invocation's payload.
func Direct(payload []byte) Request { return Request{Kind: RequestDirect, Document: payload} }

// Timer is the request of a schedule's message ("": the sweep).
func Timer(message string) Request { return Request{Kind: RequestTimer, Document: []byte(message)} }

// Upload is the request of an uploaded object; region is the event's, or "".
func Upload(loc storage.Location, region string) Request {
	return Request{Kind: RequestUpload, Object: loc, Region: region}
}

// Inspect is the request of the status of file jobs: of the one job of
// loc's file, of every job under loc's folder (a key ending in "/"), of
// every job of loc's bucket (no key), or, for the zero Location, of every
// job of Config.Buckets.
func Inspect(loc storage.Location, via string) Request {
	return Request{Kind: RequestStatus, Via: via, Object: loc}
}

// Cancel is the request to stop the file job of loc's file; via says who
// asks ("http", …), in logs, the cancel marker and the report.
func Cancel(loc storage.Location, via string) Request {
	return Request{Kind: RequestCancel, Via: via, Object: loc}
}

// via returns the trigger's name for logs.
func (r Request) via() string {
	if r.Via != "" {
		return r.Via
	}
	return string(r.Kind)
}

// Handle runs a request and returns its result. Bad input is a Result with
// Status "invalid"; the error is non-nil where a retry may help (object
// storage unreachable: for the file job of a {"Source":…} or {"Undo":…} document, a
// *[SourceError]) and, for a caller that waits, when the document is refused
// (a *[RefusedError]: nothing was done).
func (s *Service) Handle(ctx context.Context, req Request) (*Result, error) {
	switch req.Kind {
	case RequestTimer:
		if len(bytes.TrimSpace(req.Document)) == 0 {
			return s.sweep(ctx)
		}
		return s.document(ctx, req)
	case RequestSubmit, RequestDirect:
		return s.document(ctx, req)
	case RequestUpload:
		return s.startFile(ctx, KindRemoval, req.Object, req.Region, req.via())
	case RequestStatus:
		return s.status(ctx, req.Object)
	case RequestCancel:
		return s.cancel(ctx, req.Object, req.via())
	}
	return nil, fmt.Errorf("job: a request of unknown kind %q", req.Kind)
}

// Refusals of a caller's document (RequestSubmit), wrapped by its
// *[RefusedError]: nothing was done.
var (
	// ErrTooLarge: the document is larger than Config.MaxBodyBytes.
	ErrTooLarge = errors.New("the document is too large")
	// ErrContinuationRefused: a continuation event, which only a direct
	// invocation may carry (a caller outside the function must not steer a chain).
	ErrContinuationRefused = errors.New("continuation events are accepted by direct invocation only")
)

// RefusedError is the error of a document a caller that waits sent, on which
// [Service.Handle] did no work.
type RefusedError struct {
	// Reason is ErrTooLarge, ErrTooManyRecords or ErrContinuationRefused.
	Reason error
	// Result is the answer to give the caller: Status "invalid", with the
	// reason in Message (and, for too many records, in Errors). An HTTP
	// answer says "refused" for a document too large or with too many
	// records (413).
	Result *Result
}

// Error returns the answer's message.
func (e *RefusedError) Error() string { return e.Result.Message }

// Unwrap returns the reason.
func (e *RefusedError) Unwrap() error { return e.Reason }

// SourceError is the error of [Service.Handle] when the file job of a
// {"Source":…} or {"Undo":…} document could not go on (object storage unreachable, …): a
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

// document runs a job document: inline records, a {"Source":…} file job, an
// {"Undo":…} one, or
// a continuation event. A caller that waits (RequestSubmit) has its document
// refused where a direct payload or a timer's message is rejected as invalid
// (too large, too many records) or run (a continuation).
func (s *Service) document(ctx context.Context, req Request) (*Result, error) {
	doc, via, waits := req.Document, req.via(), req.Kind == RequestSubmit
	if n := int64(len(doc)); n > s.cfg.MaxBodyBytes {
		if waits {
			return nil, &RefusedError{Reason: ErrTooLarge, Result: &Result{Status: StatusInvalid,
				Message: fmt.Sprintf("the body is %d bytes, the limit is %d: upload large jobs as files", n, s.cfg.MaxBodyBytes)}}
		}
		return invalidResult(fmt.Sprintf("the payload is %d bytes, the limit is %d", n, s.cfg.MaxBodyBytes)), nil
	}
	switch p := classify(doc); p.kind {
	case kindBad:
		return invalidResult(p.reason), nil
	case kindContinue:
		if waits {
			return nil, &RefusedError{Reason: ErrContinuationRefused, Result: invalidResult(ErrContinuationRefused.Error())}
		}
		return s.continueFile(ctx, p.cont)
	case kindSource:
		return s.sourceJob(ctx, KindRemoval, p.source, via, waits)
	case kindUndo:
		return s.sourceJob(ctx, KindUndo, p.source, via, waits)
	}
	job, err := s.decodeInline(doc)
	if err != nil {
		res := s.rejectInline(err, via)
		if waits && errors.Is(err, ErrTooManyRecords) {
			return nil, &RefusedError{Reason: ErrTooManyRecords, Result: res}
		}
		return res, nil
	}
	return s.runRecords(ctx, job, via), nil
}

// sourceJob runs the file job of a {"Source":…} document (removal) or of an
// {"Undo":…} one; a file job that cannot go on is a *SourceError (logged for
// a caller that waits: its answer is all it sees).
func (s *Service) sourceJob(ctx context.Context, kind Kind, doc sourceDoc, via string, waits bool) (*Result, error) {
	loc, err := storage.ParseLocation(doc.Source)
	if err != nil {
		return invalidResult(err.Error()), nil
	}
	res, err := s.startFile(ctx, kind, loc, doc.Region, via)
	if err != nil {
		if waits {
			s.cfg.Logger.Error(via+" file job failed", "trigger", via, "source", doc.Source, "error", err.Error())
		}
		return nil, &SourceError{Source: doc.Source, Err: err}
	}
	return res, nil
}
