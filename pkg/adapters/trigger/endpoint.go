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

// HTTPConfig is how a [Service] answers HTTP requests.
type HTTPConfig struct {
	// Token is the bearer token requests must carry. Empty: HTTP answers 503.
	Token string
	// Tokens, if set, gives the token at run time instead of Token (a secret
	// store, read again after a while: a rotated token is taken without a
	// redeploy). A token that cannot be read is answered 503.
	Tokens TokenSource
	// Timeout, if positive, bounds each HTTP job (and the invocation's own
	// deadline, if sooner), so that the caller gets its answer before the
	// gateway gives up.
	Timeout time.Duration
	// Logger receives the refusals (never a secret); default: discard.
	Logger *slog.Logger
}

// NewService returns the Service of jobs whose HTTP requests are answered
// per cfg: the bearer token first, then the method (POST), then the job
// document, submitted to jobs, whose result or refusal makes the status.
func NewService(jobs Jobs, cfg HTTPConfig) Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &endpoint{Jobs: jobs, cfg: cfg, log: cfg.Logger.With("trigger", string(KindHTTP))}
}

// endpoint is the Service of [NewService].
type endpoint struct {
	Jobs
	cfg HTTPConfig
	log *slog.Logger
}

// HTTP checks the token, then the method, then submits the body; nothing is
// done for a request refused on the way.
func (e *endpoint) HTTP(ctx context.Context, req HTTPRequest) HTTPResponse {
	if e.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
	}
	if resp, ok := e.admit(ctx, req); !ok {
		return resp
	}
	res, err := e.Submit(ctx, req.Body, string(KindHTTP))
	var (
		refused *job.RefusedError
		failed  *job.SourceError
	)
	switch {
	case errors.As(err, &refused):
		if errors.Is(err, job.ErrTooLarge) {
			e.log.Warn("http request refused: body too large", "status", http.StatusRequestEntityTooLarge, "bytes", len(req.Body))
		}
		if errors.Is(err, job.ErrContinuationRefused) {
			return HTTPResponse{StatusCode: http.StatusBadRequest, Result: refused.Result}
		}
		return HTTPResponse{StatusCode: http.StatusRequestEntityTooLarge, Result: refused.Result}
	case errors.As(err, &failed):
		return HTTPResponse{StatusCode: http.StatusBadGateway, Result: &job.Result{Status: job.StatusError,
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
	case !strings.EqualFold(req.Method, http.MethodPost):
		method := Clip(req.Method, 16)
		e.log.Warn("http request refused: method not allowed", "status", http.StatusMethodNotAllowed, "method", method)
		resp = refusal(http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: POST a job document", method))
		resp.Headers = map[string]string{"Allow": http.MethodPost}
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
