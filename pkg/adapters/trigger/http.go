package trigger

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/job"
)

// HTTPRequest is a platform-neutral HTTP request (API gateway, function URL).
type HTTPRequest struct {
	// Method is the request's method, in any case.
	Method string
	// Headers with any case of names; they are looked up case-insensitively.
	Headers map[string]string
	// Query holds the query string's parameters, decoded (one value each).
	Query Query
	// Body, already base64-decoded by the adapter.
	Body []byte
	// Timeout, if positive, bounds the job: the gateway's own wait (SCF's
	// API gateway says it in the endpoint-timeout header), less a margin.
	Timeout time.Duration
}

// Statuses of HTTP answers, besides the job's (job.Status).
const (
	// StatusRefused: an HTTP request refused before any work (401, 405, 413, 503).
	StatusRefused job.Status = "refused"
	// StatusError: an HTTP request whose job failed in a way a retry may help
	// (object storage unreachable, the function not configured); see
	// Message. Other triggers return an error instead.
	StatusError job.Status = "error"
)

// decodeBody returns an HTTP event's body: as it is, or base64-decoded when
// the gateway says so (standard or URL alphabet, padded or not).
func decodeBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		return []byte(body), nil
	}
	s := strings.TrimRight(strings.TrimSpace(body), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("the body is marked base64 but is not")
}

// GatewayRequest is an HTTP request as a gateway's event holds it, read
// leniently.
type GatewayRequest struct {
	Method   string
	Headers  Headers
	Query    Query
	Body     Text
	IsBase64 bool
}

// HTTPEvent makes the event of a gateway's request read from payload: name
// and reply are the event's name and Reply (an [HTTPShape]), what says what
// it is in problems. readErr, if not nil, is why the request could not be
// read; the event is then unknown, as it is when the body is marked base64
// but is not, and answered in the same reply shape.
func HTTPEvent(name string, reply Reply, what string, req GatewayRequest, readErr error, payload []byte) Event {
	err := readErr
	var body []byte
	if err == nil {
		body, err = decodeBody(string(req.Body), req.IsBase64)
	}
	if err != nil {
		ev := Unknown(name, what+" that cannot be read ("+err.Error()+")", payload)
		ev.Reply = reply
		return ev
	}
	return Event{Kind: KindHTTP, Reply: reply, Name: name,
		HTTP: HTTPRequest{Method: req.Method, Headers: req.Headers, Query: req.Query, Body: body}}
}

// HTTPResponse is a platform-neutral HTTP answer: a status, headers, and the
// Result that is its JSON body (see encode).
type HTTPResponse struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Headers are set besides Content-Type (Allow, WWW-Authenticate), or nil.
	Headers map[string]string
	// Result is the body.
	Result *job.Result
}

// HTTPReply is an HTTP answer as the platforms' reply shapes carry it.
type HTTPReply struct {
	StatusCode int
	// Headers hold Content-Type: application/json.
	Headers map[string]string
	// Body is the Result's JSON.
	Body string
}

// encode is the one JSON writer of HTTP answers: the Result as the body, with
// a JSON Content-Type.
func (r HTTPResponse) encode() HTTPReply {
	status := r.StatusCode
	body, err := json.Marshal(r.Result)
	if err != nil { // a Result always encodes; say so if not
		status = http.StatusInternalServerError
		body = []byte(`{"Status":"error","Message":"the result could not be encoded"}`)
	}
	headers := maps.Clone(r.Headers)
	if headers == nil {
		headers = map[string]string{}
	}
	headers["Content-Type"] = "application/json"
	return HTTPReply{StatusCode: status, Headers: headers, Body: string(body)}
}

// refusal is the answer to a request refused before any work.
func refusal(status int, msg string) HTTPResponse {
	return HTTPResponse{StatusCode: status, Result: &job.Result{Status: StatusRefused, Message: msg}}
}

// errorResponse is an HTTP answer with a message in a Result of Status "error".
func errorResponse(status int, msg string) HTTPResponse {
	return HTTPResponse{StatusCode: status, Result: &job.Result{Status: StatusError, Message: msg}}
}

// statusOf maps a job's result to its HTTP status: 200 done (or a file
// already done); 202 records pending, continued, or a file in progress
// elsewhere; 400 invalid input or the function's own output; 502 records IM
// refused for good (a fatal refusal leaves the rest pending: 502 too), or a
// job that could not go on.
func statusOf(r *job.Result) int {
	switch r.Status {
	case job.StatusInvalid, job.StatusIgnored:
		return http.StatusBadRequest
	case StatusError:
		return http.StatusBadGateway
	case job.StatusPending:
		if hasFatal(r) {
			return http.StatusBadGateway
		}
		return http.StatusAccepted
	case job.StatusDone:
		if r.Failed > 0 {
			return http.StatusBadGateway
		}
	case job.StatusSkipped:
		if r.Pending > 0 { // in progress elsewhere
			return http.StatusAccepted
		}
	}
	return http.StatusOK
}

// hasFatal reports whether the service refused every call of the run
// (configuration, plan or account problems): sending again will not help.
func hasFatal(r *job.Result) bool {
	if r.StopReason == imapi.StopFatal { // the refused call's records are pending
		return true
	}
	for _, f := range r.Failures {
		if f.Class == imapi.Fatal {
			return true
		}
	}
	return false
}
