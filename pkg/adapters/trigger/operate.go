package trigger

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// The admin's requests on deployed jobs, beside POST's job documents:
//
//	GET    ?source=s3://bucket/key     the status of the file's job (404: none)
//	GET    ?source=s3://bucket/folder/ the status of the jobs of the files under the folder
//	GET    ?source=s3://bucket         the status of every job of the bucket
//	GET                                the status of every job of REMOVETAG_BUCKETS
//	DELETE ?source=s3://bucket/key     cancel the file's job (200 ended, 202 stopping, 409 nothing to cancel)
//
// (cos://bucket-appid/… alike). The answer is the service's job.Result: its
// Summaries tell each job.

// allowMethods are the methods the endpoint answers, for Allow.
const allowMethods = "GET, POST, DELETE"

// allowed reports whether the endpoint answers the method.
func allowed(method string) bool {
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		if strings.EqualFold(method, m) {
			return true
		}
	}
	return false
}

// operate answers a GET (status) or a DELETE (cancel), admitted.
func (e *endpoint) operate(ctx context.Context, req HTTPRequest) HTTPResponse {
	src := sourceParam(req.Query)
	var loc storage.Location
	if src != "" {
		var err error
		if loc, err = storage.ParseLocation(src); err != nil {
			return HTTPResponse{StatusCode: http.StatusBadRequest, Result: &job.Result{Status: job.StatusInvalid, Message: "source: " + err.Error()}}
		}
	}
	file := loc.Key != "" && !strings.HasSuffix(loc.Key, "/")
	cancel := strings.EqualFold(req.Method, http.MethodDelete)
	if cancel && !file {
		return HTTPResponse{StatusCode: http.StatusBadRequest, Result: &job.Result{Status: job.StatusInvalid,
			Message: "DELETE cancels the job of one file: name it, ?source=s3://bucket/key or ?source=cos://bucket-appid/key"}}
	}
	r := job.Inspect(loc, string(KindHTTP))
	if cancel {
		r = job.Cancel(loc, string(KindHTTP))
	}
	res, err := e.svc.Handle(ctx, r)
	if err != nil {
		return errorResponse(http.StatusBadGateway, fmt.Sprintf("%s could not be done, try again: %v", r.Kind, err))
	}
	e.log.Info("http "+string(r.Kind), "source", src, "result", res.Status)
	return HTTPResponse{StatusCode: operationStatus(res, file), Result: res}
}

// sourceParam returns the query's source, URL-decoded if it came encoded.
func sourceParam(q Query) string {
	s := strings.TrimSpace(q["source"])
	if !strings.Contains(s, "://") && strings.Contains(s, "%") {
		if d, err := url.QueryUnescape(s); err == nil {
			s = d
		}
	}
	return s
}

// operationStatus maps the result of a status or cancel request to its HTTP
// status: 200 listed or canceled, 404 a file with no job, 202 a cancel the
// job is to act on, 409 nothing to cancel, 400 a request that names no file
// or bucket the function handles.
func operationStatus(res *job.Result, file bool) int {
	switch res.Status {
	case job.StatusListed:
		if file && len(res.Summaries) == 0 {
			return http.StatusNotFound
		}
		return http.StatusOK
	case job.StatusCanceled:
		return http.StatusOK
	case job.StatusPending:
		return http.StatusAccepted
	case job.StatusSkipped:
		return http.StatusConflict
	}
	return statusOf(res)
}
