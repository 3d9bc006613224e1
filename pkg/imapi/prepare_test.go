package imapi_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// outcomeLog keeps what a BeforeSend hook was told, per batch.
type outcomeLog struct {
	mu       sync.Mutex
	prepared int
	done     int
	told     map[string][2]bool // account → applied, known
	sentTags map[string]int     // account → tags on it when prepare read them
}

func (l *outcomeLog) hook(srv *emulator.Server, fail error) func(context.Context, []records.Record) (func(func(string) (bool, bool)), error) {
	return func(_ context.Context, calls []records.Record) (func(func(string) (bool, bool)), error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.prepared++
		for _, c := range calls {
			l.sentTags[c.Account] = len(srv.Tags(c.Account)) // before any call of the batch
		}
		if fail != nil {
			return nil, fail
		}
		return func(applied func(string) (bool, bool)) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.done++
			for _, c := range calls {
				a, k := applied(c.Account)
				l.told[c.Account] = [2]bool{a, k}
			}
		}, nil
	}
}

func TestBeforeSendIsToldEachBatchsOutcome(t *testing.T) {
	fast := imapi.EngineConfig{Concurrency: 1, MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond, SlowDown: time.Millisecond}
	for _, tc := range []struct {
		name               string
		script             []emulator.Fault
		prepErr            error
		succeeded, failed  int64
		pending            int64
		applied, known     bool
		wantDone, wantSent bool
	}{
		{name: "applied", applied: true, known: true, succeeded: 100, wantDone: true, wantSent: true},
		{name: "applied on a retry after a lost answer", script: []emulator.Fault{{Drop: true, Apply: true}},
			applied: true, known: true, succeeded: 100, wantDone: true, wantSent: true},
		{name: "refused by the service: known not applied", script: []emulator.Fault{{Code: 70107}},
			applied: false, known: true, failed: 100, wantDone: true, wantSent: true},
		{name: "answer lost twice: unknown", script: []emulator.Fault{{Drop: true, Apply: true}, {Drop: true}},
			applied: false, known: false, pending: 100, wantDone: true, wantSent: true},
		{name: "refused twice for the rate: known not applied", script: []emulator.Fault{{Code: emulator.CodeRateLimited}, {Code: emulator.CodeRateLimited}},
			applied: false, known: true, pending: 100, wantDone: true, wantSent: true},
		{name: "prepare fails retryably: pending, nothing sent", prepErr: &imapi.APIError{ErrorCode: 91000, ActionStatus: "FAIL"}, pending: 100},
		{name: "prepare fails for good: failed, nothing sent", prepErr: errors.New("journal: broken"), failed: 100},
		{name: "prepare cannot read before the deadline: pending, nothing sent", prepErr: fmt.Errorf("journal: wait to read tags: %w", imapi.ErrWouldOverrun), pending: 100},
		{name: "prepare cut off by a cancel: pending, nothing sent", prepErr: fmt.Errorf("journal: wait to read tags: %w", context.Canceled), pending: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, client := newEmulator(t, emulator.Config{})
			recs := job(srv, 100, 100)
			srv.Script(tc.script...)
			l := &outcomeLog{told: map[string][2]bool{}, sentTags: map[string]int{}}
			rep, err := imapi.NewEngine(client, fast).Run(context.Background(), records.NewSliceSource(recs), imapi.BeforeSend(l.hook(srv, tc.prepErr)))
			if err != nil {
				t.Fatal(err)
			}
			assertBalanced(t, rep)
			if rep.Succeeded != tc.succeeded || rep.Failed != tc.failed || rep.Pending != tc.pending {
				t.Fatalf("report = %s, want %d succeeded, %d failed, %d pending", rep.Summary(), tc.succeeded, tc.failed, tc.pending)
			}
			if l.prepared != 1 {
				t.Fatalf("prepare called %d times for one batch, want once (retries reuse it)", l.prepared)
			}
			if l.sentTags["u0"] != 2 {
				t.Errorf("prepare saw %d tags on u0, want 2: it runs before the batch's first call", l.sentTags["u0"])
			}
			if sent := srv.Stats().Requests > 0; sent != tc.wantSent {
				t.Errorf("calls sent = %v, want %v", sent, tc.wantSent)
			}
			if !tc.wantDone {
				if l.done != 0 {
					t.Errorf("done called %d times, want never (prepare failed)", l.done)
				}
				return
			}
			if l.done != 1 {
				t.Fatalf("done called %d times, want once", l.done)
			}
			if got := l.told["u0"]; got != [2]bool{tc.applied, tc.known} {
				t.Errorf("told applied, known = %v, want %v", got, [2]bool{tc.applied, tc.known})
			}
		})
	}
}

// TestBeforeSendPreparesNoFurtherThanItSends runs a journaled run (prepare
// taking a read's time) that stops at its deadline in the middle of a long
// input: the batches prepared and never sent — reads made for nothing — are a
// few, not the run's workers' worth (about 90 before the read-ahead was
// bounded), and every record read but not sent stays pending.
func TestBeforeSendPreparesNoFurtherThanItSends(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1, Latency: 5 * time.Millisecond})
	recs := job(srv, 100_000, 100_000)
	var prepared atomic.Int64
	hook := func(ctx context.Context, _ []records.Record) (func(func(string) (bool, bool)), error) {
		select { // a read of the batch's accounts, then its write ahead
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		prepared.Add(1)
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	eng := imapi.NewEngine(client, imapi.EngineConfig{Rate: 200, Reserve: 300 * time.Millisecond})
	rep, err := eng.Run(ctx, records.NewSliceSource(recs), imapi.BeforeSend(hook))
	if err != nil {
		t.Fatal(err)
	}
	assertBalanced(t, rep)
	if rep.Done() || rep.Pending == 0 {
		t.Fatalf("the run did not stop at its deadline: %s", rep.Summary())
	}
	calls := srv.Stats().Requests
	if calls == 0 {
		t.Fatalf("nothing sent: %s", rep.Summary())
	}
	// Each batch sent is one call (no faults); a prepared batch not sent was read for nothing.
	if wasted := prepared.Load() - calls; wasted < 0 || wasted > 10 {
		t.Errorf("%d batches prepared for %d calls: %d read for nothing, want at most 10", prepared.Load(), calls, wasted)
	}
	t.Logf("%d prepared, %d sent: %s", prepared.Load(), calls, rep.Summary())
}

// TestBeforeSendPreparesInOrder: batches are prepared in about the order
// they were read, however many workers wait to prepare one: a batch passed
// over for long would keep every batch done after it in the run's memory,
// and hold the resume position back.
func TestBeforeSendPreparesInOrder(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1})
	recs := job(srv, 60_000, 60_000)
	var mu sync.Mutex
	var order []int // the first account's number of each batch, as prepared
	hook := func(ctx context.Context, calls []records.Record) (func(func(string) (bool, bool)), error) {
		var n int
		fmt.Sscanf(calls[0].Account, "u%d", &n)
		mu.Lock()
		order = append(order, n)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // a read and a write ahead
		return nil, nil
	}
	eng := imapi.NewEngine(client, imapi.EngineConfig{Rate: 1000})
	rep, err := eng.Run(context.Background(), records.NewSliceSource(recs), imapi.BeforeSend(hook))
	if err != nil || !rep.Done() {
		t.Fatalf("run: %v, %s", err, rep.Summary())
	}
	// A batch may be overtaken by those the workers took at about the same
	// time (3 × 48 of them), never by more.
	worst := 0
	for i, n := range order {
		if late := i - n/imapi.MaxAccountsPerCall; late > worst {
			worst = late
		}
	}
	if worst > 3*48 {
		t.Errorf("a batch was prepared %d places after its turn in the input", worst)
	}
	t.Logf("%d batches; the latest prepared %d places late", len(order), worst)
}
