package trigger

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/removetag/removetag/pkg/job"
)

// Reply shapes the answer to an event from its [Outcome]: a value encoded as
// the invocation's JSON answer, or an error for the platform to see (a retry
// may help). The decoder that makes the event chooses it: [ResultReply] (the
// default), an HTTP shape ([HTTPShape]), or answers per item (a queue's
// partial batch response, from Outcome.Done).
type Reply func(Outcome) (any, error)

// Outcome is what an event came to, for its Reply (and the invocation's log
// line). Secrets are redacted from its problem and errors.
type Outcome struct {
	// Kind is the event's.
	Kind Kind
	// Done are the event's requests with what became of each, in order.
	Done []Done
	// HTTP is the answer of an HTTP event.
	HTTP HTTPResponse
	// Problem says why an unknown event is not handled.
	Problem string
	// Err is set when the run failed as a whole (a panic).
	Err error
}

// Done is a request of an event and what became of it: its result, or an
// error where a retry may help (or, for a caller that waits, a refusal).
type Done struct {
	Request
	Result *job.Result
	Err    error
}

// ResultReply answers the event's job.Result: the result of its one
// request, or the results of several summed in one; the error of a request
// (named by its ID) is the invocation's, for the platform to retry.
func ResultReply(o Outcome) (any, error) {
	res, err := o.Result()
	if err != nil {
		return nil, err
	}
	return res, nil
}

// HTTPShape is the Reply of an HTTP event in a platform's shape: the answer
// as [HTTPReply] (the one JSON writer: the Result as the body, with a JSON
// Content-Type), given to shape.
func HTTPShape(shape func(HTTPReply) any) Reply {
	return func(o Outcome) (any, error) { return shape(o.HTTPAnswer().encode()), nil }
}

// Result is the job.Result of the event: the result of its one request, or
// the results of several summed in one (see aggregate); an unknown event's
// is invalid, with the problem. The error joins the errors of the requests,
// each named by its ID: a retry of the whole event is harmless (finished
// objects are skipped).
func (o Outcome) Result() (*job.Result, error) {
	switch {
	case o.Err != nil:
		return nil, o.Err
	case o.Kind == KindUnknown:
		return invalid("event", o.Problem), nil
	case o.Kind == KindHTTP:
		return o.HTTP.Result, nil
	case len(o.Done) == 0 && o.Kind == KindUpload:
		return invalid("event", "the upload event lists no object"), nil
	case len(o.Done) == 0:
		return invalid("event", "the event asks nothing of the function"), nil
	}
	var (
		results []*job.Result
		errs    []error
	)
	for _, d := range o.Done {
		switch {
		case d.Err != nil && d.ID != "":
			errs = append(errs, fmt.Errorf("%s: %w", d.ID, d.Err))
		case d.Err != nil:
			errs = append(errs, d.Err)
		default:
			results = append(results, d.Result)
		}
	}
	switch len(errs) {
	case 0:
		return aggregate(results), nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// HTTPAnswer is the HTTP answer of the event: an HTTP event's, 500 with the
// error after a panic, and for an HTTP event that could not be read (an
// unknown event in an HTTP shape) 400 with the reason.
func (o Outcome) HTTPAnswer() HTTPResponse {
	if o.Kind == KindHTTP && o.Err == nil {
		return o.HTTP
	}
	res, err := o.Result()
	if err != nil {
		return errorResponse(http.StatusInternalServerError, err.Error())
	}
	return HTTPResponse{StatusCode: http.StatusBadRequest, Result: res}
}
