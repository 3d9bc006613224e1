package trigger

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/removetag/removetag/pkg/job"
	"github.com/removetag/removetag/pkg/job/storage"
)

// Jobs is the application service as the adapters use it; *job.Service
// implements it.
type Jobs interface {
	// Submit runs a job document from a caller that waits for the answer; see
	// job.Service.Submit for its typed refusals.
	Submit(ctx context.Context, body []byte, via string) (*job.Result, error)
	// Direct runs a direct invocation's payload: a job document or a continuation.
	Direct(ctx context.Context, payload []byte) (*job.Result, error)
	// Timer runs a schedule's message: a job document, or "" for the sweep.
	Timer(ctx context.Context, message string) (*job.Result, error)
	// ObjectCreated runs an uploaded object; region is the event's, or "".
	ObjectCreated(ctx context.Context, loc storage.Location, region string) (*job.Result, error)
}

var _ Jobs = (*job.Service)(nil)

// Service is what a [Dispatcher] runs events on: the jobs, and HTTP requests
// answered with their HTTP semantics. [NewService] makes one of a [Jobs];
// [Lazy] builds one when first needed, and answers with the error while it
// cannot.
type Service interface {
	// HTTP answers an HTTP trigger's request.
	HTTP(ctx context.Context, req HTTPRequest) HTTPResponse
	// Direct runs a direct invocation's payload: a job document or a continuation.
	Direct(ctx context.Context, payload []byte) (*job.Result, error)
	// Timer runs a schedule's message: a job document, or "" for the sweep.
	Timer(ctx context.Context, message string) (*job.Result, error)
	// ObjectCreated runs an uploaded object; region is the event's, or "".
	ObjectCreated(ctx context.Context, loc storage.Location, region string) (*job.Result, error)
}

// unavailable is a Service that does nothing and answers every request
// with err: HTTP requests with 500 and the error in the body, the others by
// returning it, so that the platform shows it. err must hold no secret
// (errors of wiring.Load never do).
type unavailable struct{ err error }

// HTTP answers 500 with the error in a Result body.
func (u unavailable) HTTP(context.Context, HTTPRequest) HTTPResponse {
	return errorResponse(http.StatusInternalServerError, "the function cannot run: "+u.err.Error())
}

// Direct returns the error.
func (u unavailable) Direct(context.Context, []byte) (*job.Result, error) { return nil, u.err }

// Timer returns the error.
func (u unavailable) Timer(context.Context, string) (*job.Result, error) { return nil, u.err }

// ObjectCreated returns the error.
func (u unavailable) ObjectCreated(context.Context, storage.Location, string) (*job.Result, error) {
	return nil, u.err
}

// Lazy returns a Service that builds the real one with build when first
// needed and keeps it. While build fails, each request is answered with the
// error (HTTP: 500 with it in the body; the others return it, so that the
// platform shows it), the error is logged, and the next request tries again:
// a platform that applies the environment per invocation (SCF) or a fixed
// setting then takes effect without a restart. Call [Prepare] at start to
// build early (and log the error once at start).
func Lazy(build func() (Service, error), logger *slog.Logger) Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &lazyService{build: build, logger: logger}
}

// Prepare builds a [Lazy] service now, and reports the error, if any. For
// any other Service it does nothing.
func Prepare(s Service) error {
	if l, ok := s.(*lazyService); ok {
		_, err := l.get(context.Background())
		return err
	}
	return nil
}

// lazyService is the Service of [Lazy].
type lazyService struct {
	build  func() (Service, error)
	logger *slog.Logger

	mu  sync.Mutex
	svc Service
}

// get returns the service, built now if it is not yet.
func (l *lazyService) get(ctx context.Context) (Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.svc != nil {
		return l.svc, nil
	}
	svc, err := l.build()
	if err != nil {
		l.logger.ErrorContext(ctx, "the function is not configured: every invocation answers this error until it is fixed", "error", err.Error())
		return nil, err
	}
	l.svc = svc
	return svc, nil
}

// current returns the service, or an unavailable one with the build error.
func (l *lazyService) current(ctx context.Context) Service {
	svc, err := l.get(ctx)
	if err != nil {
		return unavailable{err}
	}
	return svc
}

// HTTP answers the request on the service, or as an unavailable Service.
func (l *lazyService) HTTP(ctx context.Context, req HTTPRequest) HTTPResponse {
	return l.current(ctx).HTTP(ctx, req)
}

// Direct runs the payload on the service, or returns the build error.
func (l *lazyService) Direct(ctx context.Context, payload []byte) (*job.Result, error) {
	return l.current(ctx).Direct(ctx, payload)
}

// Timer runs the message on the service, or returns the build error.
func (l *lazyService) Timer(ctx context.Context, message string) (*job.Result, error) {
	return l.current(ctx).Timer(ctx, message)
}

// ObjectCreated runs the object on the service, or returns the build error.
func (l *lazyService) ObjectCreated(ctx context.Context, loc storage.Location, region string) (*job.Result, error) {
	return l.current(ctx).ObjectCreated(ctx, loc, region)
}
