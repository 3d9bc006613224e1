package trigger

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/job"
)

// Service is the one port from the driving side into the application: a
// job request in, a result or a typed refusal (job.RefusedError,
// job.SourceError) out. *job.Service implements it.
type Service interface {
	// Handle runs a request; see job.Service.Handle.
	Handle(ctx context.Context, req job.Request) (*job.Result, error)
}

var _ Service = (*job.Service)(nil)

// App is what a [Dispatcher] runs events on: the service, and the HTTP
// semantics in front of it.
type App struct {
	// Service runs every request.
	Service Service
	// HTTP answers an HTTP request (see [NewHTTP]); nil: as NewHTTP does
	// without a token (503).
	HTTP func(ctx context.Context, req HTTPRequest) HTTPResponse
	// Meter, if set, measures every invocation (see [Meter]).
	Meter Meter
}

// Meter measures the invocations a [Dispatcher] runs: the seam of the
// platforms' metrics (package metrics). Begin is called before an event
// runs and returns the context to run it in (where the meter can count what
// the run does, e.g. the calls its engine's imapi.Observer is told of); End
// is called with that context once the event has run, with its outcome and
// its duration. Both are called once per invocation, End even after a panic;
// they must be safe for concurrent use.
type Meter interface {
	Begin(ctx context.Context, ev Event) context.Context
	End(ctx context.Context, ev Event, o Outcome, elapsed time.Duration)
}

// NewApp returns the App of svc, its HTTP requests answered per cfg.
func NewApp(svc Service, cfg HTTPConfig) App {
	return App{Service: svc, HTTP: NewHTTP(svc, cfg)}
}

// Lazy returns an App that builds the real one with build when first
// needed and keeps it. While build fails, each request is answered with the
// error (HTTP: 500 with it in the body; the others return it, so that the
// platform shows it), the error is logged, and the next request tries again:
// a platform that applies the environment per invocation (SCF) or a fixed
// setting then takes effect without a restart. The error must hold no secret
// (errors of wiring.Load never do). Call [Prepare] at start to build early
// (and log the error once at start).
func Lazy(build func() (App, error), logger *slog.Logger) App {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &lazy{build: build, logger: logger}
	return App{Service: l, HTTP: l.serveHTTP, Meter: lazyMeter{l}}
}

// Prepare builds a [Lazy] App now, and reports the error, if any. For any
// other App it does nothing.
func Prepare(app App) error {
	if l, ok := app.Service.(*lazy); ok {
		_, err := l.get(context.Background())
		return err
	}
	return nil
}

// lazy is the Service of [Lazy].
type lazy struct {
	build  func() (App, error)
	logger *slog.Logger

	mu    sync.Mutex
	built *App
}

// get returns the App, built now if it is not yet.
func (l *lazy) get(ctx context.Context) (*App, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.built != nil {
		return l.built, nil
	}
	app, err := l.build()
	if err != nil {
		l.logger.ErrorContext(ctx, "the function is not configured: every invocation answers this error until it is fixed", "error", err.Error())
		return nil, err
	}
	if app.HTTP == nil {
		app.HTTP = NewHTTP(app.Service, HTTPConfig{})
	}
	l.built = &app
	return l.built, nil
}

// current returns the App if it is built, else nil: it builds nothing.
func (l *lazy) current() *App {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.built
}

// lazyMeter is the Meter of [Lazy]: the built App's, once there is one. It
// never builds (an invocation that builds the App, or fails to, goes
// unmeasured), so that a failing build is not tried twice an invocation.
type lazyMeter struct{ l *lazy }

// begunKey holds, in the context lazyMeter.Begin returns, the Meter that began.
type begunKey struct{}

// Begin begins the built App's measure, if any.
func (m lazyMeter) Begin(ctx context.Context, ev Event) context.Context {
	if app := m.l.current(); app != nil && app.Meter != nil {
		return context.WithValue(app.Meter.Begin(ctx, ev), begunKey{}, app.Meter)
	}
	return ctx
}

// End ends the measure Begin began, if any.
func (m lazyMeter) End(ctx context.Context, ev Event, o Outcome, elapsed time.Duration) {
	if began, ok := ctx.Value(begunKey{}).(Meter); ok {
		began.End(ctx, ev, o, elapsed)
	}
}

// Handle runs the request on the App's service, or returns the build error.
func (l *lazy) Handle(ctx context.Context, req job.Request) (*job.Result, error) {
	app, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return app.Service.Handle(ctx, req)
}

// serveHTTP answers the request with the App's HTTP semantics, or 500 with
// the build error.
func (l *lazy) serveHTTP(ctx context.Context, req HTTPRequest) HTTPResponse {
	app, err := l.get(ctx)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, "the function cannot run: "+err.Error())
	}
	return app.HTTP(ctx, req)
}
