package job

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// serveHTTP checks the token first, then the method, the size and the input,
// then runs the job. Nothing is done for a request refused on the way.
func (s *Service) serveHTTP(ctx context.Context, req HTTPRequest) HTTPResponse {
	log := s.cfg.Logger.With("trigger", "http")
	token := s.cfg.HTTPToken
	if s.cfg.Tokens != nil {
		var err error
		if token, err = s.cfg.Tokens.HTTPToken(ctx); err != nil {
			log.Error("http request refused: the token cannot be read", "status", http.StatusServiceUnavailable, "error", err.Error())
			return answer(http.StatusServiceUnavailable, &Result{Status: StatusRefused,
				Message: "the HTTP token cannot be read now (" + err.Error() + "); try again later"})
		}
	}
	if token == "" {
		log.Warn("http request refused: no token configured", "status", http.StatusServiceUnavailable)
		return answer(http.StatusServiceUnavailable, &Result{Status: StatusRefused,
			Message: "HTTP triggers are disabled: no token is configured (REMOVETAG_HTTP_TOKEN)"})
	}
	if !authorized(req.Headers, token) {
		log.Warn("http request refused: missing or wrong bearer token", "status", http.StatusUnauthorized)
		resp := answer(http.StatusUnauthorized, &Result{Status: StatusRefused,
			Message: "missing or wrong token: send Authorization: Bearer <token>"})
		resp.Headers["WWW-Authenticate"] = `Bearer realm="removetag"`
		return resp
	}
	if !strings.EqualFold(req.Method, http.MethodPost) {
		log.Warn("http request refused: method not allowed", "status", http.StatusMethodNotAllowed, "method", clip(req.Method, 16))
		resp := answer(http.StatusMethodNotAllowed, &Result{Status: StatusRefused,
			Message: fmt.Sprintf("method %s not allowed: POST a job document", clip(req.Method, 16))})
		resp.Headers["Allow"] = http.MethodPost
		return resp
	}
	if n := int64(len(req.Body)); n > s.cfg.MaxBodyBytes {
		log.Warn("http request refused: body too large", "status", http.StatusRequestEntityTooLarge, "bytes", n)
		return answer(http.StatusRequestEntityTooLarge, &Result{Status: StatusRefused,
			Message: fmt.Sprintf("the body is %d bytes, the limit is %d: upload large jobs as files", n, s.cfg.MaxBodyBytes)})
	}

	var res *Result
	switch p := classify(req.Body); p.kind {
	case kindBad:
		res = invalidResult(p.reason)
	case kindContinue:
		res = invalidResult("continuation events are accepted by direct invocation only")
	case kindSource:
		var err error
		res, err = s.sourceJob(ctx, p.source, "http")
		if err != nil {
			log.Error("http file job failed", "source", p.source.Source, "error", err.Error())
			res = &Result{Status: StatusError, Source: p.source.Source, Message: "the job could not go on, try again: " + err.Error()}
		}
	default:
		recs, err := s.decodeInline(req.Body)
		if err != nil {
			res = s.rejectInline(err, "http")
			if errors.Is(err, ErrTooManyRecords) {
				res.Status = StatusRefused
				return answer(http.StatusRequestEntityTooLarge, res)
			}
			break
		}
		res = s.runRecords(ctx, recs, "http")
	}
	return answer(httpStatus(res), res)
}

// authorized reports whether the headers carry "Authorization: Bearer <token>". The comparison takes the same time whatever the
// token sent, its length included.
func authorized(headers map[string]string, token string) bool {
	value, ok := header(headers, "Authorization")
	if !ok {
		return false
	}
	scheme, sent, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(sent)))
	want := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// header looks a header up by name, in any case.
func header(headers map[string]string, name string) (string, bool) {
	if v, ok := headers[name]; ok {
		return v, true
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// httpStatus maps a result to its HTTP status.
func httpStatus(r *Result) int {
	switch r.Status {
	case StatusInvalid, StatusIgnored:
		return http.StatusBadRequest
	case StatusError:
		return http.StatusBadGateway
	case StatusPending:
		if hasFatal(r) {
			return http.StatusBadGateway
		}
		return http.StatusAccepted
	case StatusDone:
		if r.Failed > 0 {
			return http.StatusBadGateway
		}
	case StatusSkipped:
		if r.Pending > 0 { // in progress elsewhere
			return http.StatusAccepted
		}
	}
	return http.StatusOK
}

// hasFatal reports whether the service refused every call of the run
// (configuration, plan or account problems): sending again will not help.
func hasFatal(r *Result) bool {
	for _, f := range r.Failures {
		if f.Class == "fatal" {
			return true
		}
	}
	return false
}

// answer makes an HTTP answer with the result as its JSON body.
func answer(status int, r *Result) HTTPResponse {
	body, err := json.Marshal(r)
	if err != nil { // a Result always encodes; say so if not
		status = http.StatusInternalServerError
		body = []byte(`{"Status":"error","Message":"the result could not be encoded"}`)
	}
	return HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       body,
	}
}

// clip shortens a string taken from a request for logs and answers.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
