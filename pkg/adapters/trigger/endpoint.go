package trigger

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/removetag/removetag/pkg/job"
)

// TokenSource gives the bearer token HTTP requests must carry.
type TokenSource interface {
	// HTTPToken returns the current token ("" for none: HTTP is off), or an
	// error that names where it could not be read, never a value.
	HTTPToken(ctx context.Context) (string, error)
}

// HTTPConfig is how [NewHTTP] answers HTTP requests.
type HTTPConfig struct {
	// Token is the bearer token requests must carry. Empty: HTTP answers 503.
	Token string
	// Tokens, if set, gives the token at run time instead of Token (a secret
	// store, read again after a while: a rotated token is taken without a
	// redeploy). A token that cannot be read is answered 503.
	Tokens TokenSource
	// Timeout, if positive, bounds each HTTP job (and the request's own
	// Timeout and the invocation's deadline, if sooner), so that the caller
	// gets its answer before the gateway gives up.
	Timeout time.Duration
	// Logger receives the refusals (never a secret); default: discard.
	Logger *slog.Logger
}

// NewHTTP returns the HTTP semantics in front of svc, per cfg: the bearer
// token first, then the method, then what it asks: POST a job document,
// submitted to svc (a job.Submit request), whose result or refusal makes the
// status; GET the status of file jobs (job.Inspect), DELETE to cancel one
// (job.Cancel), both named by the query's source (see operate.go). Nothing
// is done for a request refused on the way. The job runs within one timeout:
// the sooner of cfg.Timeout and the request's.
func NewHTTP(svc Service, cfg HTTPConfig) func(context.Context, HTTPRequest) HTTPResponse {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &endpoint{svc: svc, cfg: cfg, log: cfg.Logger.With("trigger", string(KindHTTP))}
	return e.serve
}

// endpoint is the HTTP semantics of [NewHTTP].
type endpoint struct {
	svc Service
	cfg HTTPConfig
	log *slog.Logger
}

// serve checks the token, then the method, then submits the body or asks
// for the status or the cancel of a job.
func (e *endpoint) serve(ctx context.Context, req HTTPRequest) HTTPResponse {
	if limit := e.timeout(req); limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	if resp, ok := e.admit(ctx, req); !ok {
		return resp
	}
	if !strings.EqualFold(req.Method, http.MethodPost) {
		return e.operate(ctx, req)
	}
	res, err := e.svc.Handle(ctx, job.Submit(req.Body, string(KindHTTP)))
	return e.answer(res, err, len(req.Body))
}

// timeout is the sooner of the configured and the request's timeouts (0:
// none).
func (e *endpoint) timeout(req HTTPRequest) time.Duration {
	limit := e.cfg.Timeout
	if req.Timeout > 0 && (limit <= 0 || req.Timeout < limit) {
		limit = req.Timeout
	}
	return limit
}

// answer is the HTTP answer of a submitted job: the status of its result, or
// of its refusal.
func (e *endpoint) answer(res *job.Result, err error, bodyBytes int) HTTPResponse {
	var (
		refused *job.RefusedError
		failed  *job.SourceError
	)
	switch {
	case errors.As(err, &refused):
		if errors.Is(err, job.ErrContinuationRefused) {
			return HTTPResponse{StatusCode: http.StatusBadRequest, Result: refused.Result}
		}
		if errors.Is(err, job.ErrTooLarge) {
			e.log.Warn("http request refused: body too large", "status", http.StatusRequestEntityTooLarge, "bytes", bodyBytes)
		}
		body := *refused.Result
		body.Status = StatusRefused
		return HTTPResponse{StatusCode: http.StatusRequestEntityTooLarge, Result: &body}
	case errors.As(err, &failed):
		return HTTPResponse{StatusCode: http.StatusBadGateway, Result: &job.Result{Status: StatusError,
			Source: failed.Source, Message: "the job could not go on, try again: " + err.Error()}}
	case err != nil:
		return errorResponse(http.StatusBadGateway, "the job could not go on, try again: "+err.Error())
	}
	return HTTPResponse{StatusCode: statusOf(res), Result: res}
}

// admit checks the token, then the method; ok is false with the answer of a
// refused request.
func (e *endpoint) admit(ctx context.Context, req HTTPRequest) (resp HTTPResponse, ok bool) {
	token := e.cfg.Token
	if e.cfg.Tokens != nil {
		var err error
		if token, err = e.cfg.Tokens.HTTPToken(ctx); err != nil {
			e.log.Error("http request refused: the token cannot be read", "status", http.StatusServiceUnavailable, "error", err.Error())
			return refusal(http.StatusServiceUnavailable, "the HTTP token cannot be read now ("+err.Error()+"); try again later"), false
		}
	}
	switch {
	case token == "":
		e.log.Warn("http request refused: no token configured", "status", http.StatusServiceUnavailable)
		return refusal(http.StatusServiceUnavailable, "HTTP triggers are disabled: no token is configured (REMOVETAG_HTTP_TOKEN)"), false
	case !authorized(req.Headers, token):
		e.log.Warn("http request refused: missing or wrong bearer token", "status", http.StatusUnauthorized)
		resp = refusal(http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token>")
		resp.Headers = map[string]string{"WWW-Authenticate": `Bearer realm="removetag"`}
		return resp, false
	case !allowed(req.Method):
		method := Clip(req.Method, 16)
		e.log.Warn("http request refused: method not allowed", "status", http.StatusMethodNotAllowed, "method", method)
		resp = refusal(http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: POST a job document, GET the status of jobs (?source=…), DELETE to cancel one (?source=…)", method))
		resp.Headers = map[string]string{"Allow": allowMethods}
		return resp, false
	}
	return HTTPResponse{}, true
}

// authorized reports whether the headers carry "Authorization: Bearer
// <token>". The comparison takes the same time whatever the token sent, its
// length included.
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
