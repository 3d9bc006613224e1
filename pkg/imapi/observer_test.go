package imapi_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// recorder is an Observer that keeps every outcome it is told.
type recorder struct {
	mu    sync.Mutex
	calls []imapi.CallOutcome
}

var _ imapi.Observer = (*recorder)(nil)

func (r *recorder) ObserveCall(_ context.Context, c imapi.CallOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) outcomes() []imapi.CallOutcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// fault is what an observer is told of a failed call, without its latency and size.
type fault struct {
	class       imapi.Class
	code        int
	status      int
	rateLimited bool
}

// TestObserverSeesEveryCall runs the engine against the emulator with three
// scripted faults and checks what its observer was told: as many calls and
// retries as the report counts, the faults with their class, code, status and
// rate flag, a latency for every call, and the records of the calls that
// succeeded adding up to the records that succeeded.
func TestObserverSeesEveryCall(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Latency: time.Millisecond})
	recs := job(srv, 450, 300)                          // 150 accounts twice: the calls carry fewer accounts than records
	recs = append(recs, records.Record{Account: "bad"}) // invalid: never sent, never observed
	srv.Script(emulator.Fault{Code: emulator.CodeRateLimited}, emulator.Fault{HTTPStatus: 502}, emulator.Fault{Code: emulator.CodeInternal})
	obs := &recorder{}
	engine := imapi.NewEngine(client, imapi.EngineConfig{Concurrency: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Observer: obs})
	rep, err := engine.Run(context.Background(), records.NewSliceSource(recs))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if !rep.Done() || rep.Succeeded != 450 || rep.Failed != 1 || rep.Retries != 3 {
		t.Fatalf("report = %s, want 450 succeeded, the invalid record failed, 3 retries", rep.Summary())
	}

	calls := obs.outcomes()
	var (
		retries, sent int64
		faults        []fault
	)
	for _, c := range calls {
		if c.Operation != imapi.AllMemberPush.RemoveTag() || c.Latency <= 0 || c.Accounts < 1 || c.Accounts > imapi.MaxAccountsPerCall || c.Records < c.Accounts || c.Attempt < 1 {
			t.Errorf("observed %+v: want im_remove_tag, a latency, 1 to 100 accounts, at least as many records, an attempt", c)
		}
		if c.Attempt > 1 {
			retries++
		}
		if c.Class == "" {
			sent += int64(c.Records)
			continue
		}
		faults = append(faults, fault{c.Class, c.ErrorCode, c.HTTPStatus, c.RateLimited})
	}
	if int64(len(calls)) != rep.Calls || retries != rep.Retries {
		t.Errorf("observed %d calls, %d retries; the report counts %d and %d", len(calls), retries, rep.Calls, rep.Retries)
	}
	if sent != rep.Succeeded {
		t.Errorf("the calls that succeeded sent %d records, %d succeeded", sent, rep.Succeeded)
	}
	want := []fault{
		{imapi.Retryable, 0, 502, false},
		{imapi.Retryable, emulator.CodeRateLimited, 0, true},
		{imapi.Retryable, emulator.CodeInternal, 0, false},
	}
	sortFaults := func(a, b fault) int { return a.code*1000 + a.status - (b.code*1000 + b.status) }
	slices.SortFunc(faults, sortFaults)
	slices.SortFunc(want, sortFaults)
	if !slices.Equal(faults, want) {
		t.Errorf("faults observed = %+v, want %+v", faults, want)
	}
}

// TestObserverPerRun checks that a run's own observer replaces the engine's
// for that run, and that the operation it is told is the run's.
func TestObserverPerRun(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := job(srv, 150, 150)
	engineObs, runObs := &recorder{}, &recorder{}
	engine := imapi.NewEngine(client, imapi.EngineConfig{Observer: engineObs})
	rep, err := engine.Run(context.Background(), records.NewSliceSource(recs), imapi.WithOperation(imapi.AllMemberPush.AddTag(false)), imapi.WithObserver(runObs))
	if err != nil || !rep.Done() {
		t.Fatalf("run: %v, %s", err, rep.Summary())
	}
	got := runObs.outcomes()
	if len(engineObs.outcomes()) != 0 || int64(len(got)) != rep.Calls || rep.Calls != 2 {
		t.Fatalf("engine's observer told %d calls, the run's %d; the run made %d (want 2, told the run's only)",
			len(engineObs.outcomes()), len(got), rep.Calls)
	}
	for _, c := range got {
		if c.Operation != imapi.AllMemberPush.AddTag(false) || c.Class != "" {
			t.Errorf("observed %+v, want a successful im_add_tag call", c)
		}
	}
	if _, err := engine.Run(context.Background(), records.NewSliceSource(recs)); err != nil {
		t.Fatal(err)
	}
	if n := len(engineObs.outcomes()); n != 2 {
		t.Errorf("engine's observer told %d calls of a run without its own, want 2", n)
	}
	if n := len(runObs.outcomes()); n != 2 {
		t.Errorf("the first run's observer told %d calls after it ended, want its 2", n)
	}
}
