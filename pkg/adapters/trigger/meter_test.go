package trigger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job"
)

// meterKey marks the context a testMeter's Begin returns.
type meterKey struct{}

// testMeter records what it is told of each invocation.
type testMeter struct {
	mu    sync.Mutex
	begun []trigger.Kind
	ended []metered
}

// metered is one End: the event's kind, whether its context is Begin's, the outcome.
type metered struct {
	kind    trigger.Kind
	fromCtx bool
	o       trigger.Outcome
	elapsed time.Duration
}

func (m *testMeter) Begin(ctx context.Context, ev trigger.Event) context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.begun = append(m.begun, ev.Kind)
	return context.WithValue(ctx, meterKey{}, ev.Kind)
}

func (m *testMeter) End(ctx context.Context, ev trigger.Event, o trigger.Outcome, elapsed time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended = append(m.ended, metered{kind: ev.Kind, fromCtx: ctx.Value(meterKey{}) == ev.Kind, o: o, elapsed: elapsed})
}

// seenCtx is a service that notes whether its context is the meter's.
type seenCtx struct{ metered []bool }

func (s *seenCtx) Handle(ctx context.Context, req job.Request) (*job.Result, error) {
	s.metered = append(s.metered, ctx.Value(meterKey{}) != nil)
	if string(req.Document) == "panic" {
		panic("boom")
	}
	return &job.Result{Status: job.StatusDone, Source: string(req.Document)}, nil
}

// TestMeter: the App's Meter begins and ends every invocation, the service
// runs in Begin's context, End sees the outcome (a panic's too); a Lazy App
// forwards to the built App's Meter, and measures nothing before it is built.
func TestMeter(t *testing.T) {
	svc, m := &seenCtx{}, &testMeter{}
	d := trigger.NewDispatcher(trigger.App{Service: svc, Meter: m}, nil, nil)
	d.Run(context.Background(), trigger.Event{Kind: trigger.KindTimer, Requests: []trigger.Request{{Job: job.Timer("a")}}})
	d.Run(context.Background(), trigger.Event{Kind: trigger.KindDirect, Requests: []trigger.Request{{Job: job.Direct([]byte("panic"))}}})
	d.Run(context.Background(), trigger.Event{Kind: trigger.KindUnknown, Problem: "what"})
	if len(m.begun) != 3 || len(m.ended) != 3 {
		t.Fatalf("%d begun, %d ended; want 3 each", len(m.begun), len(m.ended))
	}
	for i, e := range m.ended {
		if !e.fromCtx || e.kind != m.begun[i] || e.elapsed <= 0 {
			t.Errorf("end %d: %+v; want Begin's context, the event's kind, a duration", i, e)
		}
	}
	if len(svc.metered) != 2 || !svc.metered[0] || !svc.metered[1] {
		t.Errorf("the service ran in the meter's context: %v", svc.metered)
	}
	if res, err := m.ended[0].o.Result(); err != nil || res.Source != "a" {
		t.Errorf("the first outcome: %v, %+v", err, res)
	}
	if m.ended[1].o.Err == nil {
		t.Error("the panic's outcome has no error")
	}

	builds, built := 0, &testMeter{}
	fail := true
	l := trigger.Lazy(func() (trigger.App, error) {
		builds++
		if fail {
			return trigger.App{}, context.DeadlineExceeded
		}
		return trigger.App{Service: &seenCtx{}, Meter: built}, nil
	}, nil)
	ld := trigger.NewDispatcher(l, nil, nil)
	ev := trigger.Event{Kind: trigger.KindTimer, Requests: []trigger.Request{{Job: job.Timer("b")}}}
	ld.Run(context.Background(), ev) // the build fails: nothing measured, one build
	fail = false
	ld.Run(context.Background(), ev) // builds within the run: not measured
	ld.Run(context.Background(), ev) // measured
	if builds != 2 || len(built.begun) != 1 || len(built.ended) != 1 || !built.ended[0].fromCtx {
		t.Errorf("lazy: %d builds, %d begun, %d ended; want 2, 1, 1", builds, len(built.begun), len(built.ended))
	}
}
