package imapi_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/imapi/limitertest"
	"github.com/removetag/removetag/pkg/records"
)

// TestTokenBucketContract holds the local limiter to the Limiter contract.
func TestTokenBucketContract(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, perSecond float64) (imapi.Limiter, func(float64)) {
		b := imapi.NewTokenBucket(perSecond)
		return b, b.SetRate
	})
}

// recordingLimiter is a Limiter that counts the waits and keeps the throttles
// it is given, around another limiter.
type recordingLimiter struct {
	next      imapi.Limiter
	mu        sync.Mutex
	waits     int
	throttles []float64
}

func (l *recordingLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	l.waits++
	l.mu.Unlock()
	return l.next.Wait(ctx)
}

func (l *recordingLimiter) Throttle(f float64) {
	l.mu.Lock()
	l.throttles = append(l.throttles, f)
	l.mu.Unlock()
	l.next.Throttle(f)
}

// overrunLimiter refuses every wait at once, as a limiter must when the call
// could not start before the deadline.
type overrunLimiter struct{ waits atomic.Int64 }

func (l *overrunLimiter) Wait(context.Context) error {
	l.waits.Add(1)
	return fmt.Errorf("%w: test", imapi.ErrWouldOverrun)
}

func (l *overrunLimiter) Throttle(float64) {}

// TestEngineWaitsOnTheRunsLimiter checks that a run given a limiter waits on it
// before every call, retries included, not on the engine's own token bucket,
// and that the slow-down throttles that limiter.
func TestEngineWaitsOnTheRunsLimiter(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{Rate: -1})
	recs := job(srv, 3000, 3000) // 30 calls
	// Three rate-limit answers in a row: the third within the slow-down period halves the rate.
	srv.Script(emulator.Fault{Code: emulator.CodeRateLimited}, emulator.Fault{Code: emulator.CodeRateLimited}, emulator.Fault{Code: emulator.CodeRateLimited})
	lim := &recordingLimiter{next: imapi.NewTokenBucket(200)}
	// The engine's own bucket allows 1 call/s: 30 calls on it would take 29 s.
	eng := imapi.NewEngine(client, imapi.EngineConfig{Rate: 1, Concurrency: 1, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond})
	start := time.Now()
	rep, err := eng.Run(t.Context(), records.NewSliceSource(recs), imapi.WithLimiter(lim))
	if err != nil || !rep.Done() {
		t.Fatalf("run: %v, %s", err, rep.Summary())
	}
	assertBalanced(t, rep)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("30 calls took %v: the run waited on the engine's bucket at 1/s", d)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if int64(lim.waits) != rep.Calls || rep.Calls != 33 || rep.Retries != 3 {
		t.Errorf("%d waits for %d calls (%d retries); want one wait per call, 33 calls with 3 retries", lim.waits, rep.Calls, rep.Retries)
	}
	if len(lim.throttles) == 0 || lim.throttles[0] != 0.5 {
		t.Errorf("throttles = %v, want the slow-down to halve the run's limiter first", lim.throttles)
	}
	assertOnlyKeepLeft(t, srv, 3000)
}

// TestEngineStopsWhenAWaitWouldOverrun checks the engine's side of the
// contract: a wait the limiter refuses because it would overrun the deadline
// stops the run at once, for the time budget, with every record accounted for.
func TestEngineStopsWhenAWaitWouldOverrun(t *testing.T) {
	t.Run("refused at once", func(t *testing.T) {
		srv, client := newEmulator(t, emulator.Config{})
		recs := job(srv, 500, 500)
		lim := &overrunLimiter{}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		rep, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(ctx, records.NewSliceSource(recs), imapi.WithLimiter(lim))
		if err != nil {
			t.Fatal(err)
		}
		assertBalanced(t, rep)
		// Every record read is pending (how many were read before the stop varies).
		if rep.Calls != 0 || rep.Pending != rep.Total || rep.Total == 0 ||
			rep.StopReason != imapi.StopDeadline || lim.waits.Load() == 0 {
			t.Errorf("report %s, reason %q, %d waits; want no call, everything read pending, stopped for the deadline", rep.Summary(), rep.StopReason, lim.waits.Load())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the run took %v to stop with a minute of budget left", d)
		}
	})
	t.Run("token bucket", func(t *testing.T) {
		srv, client := newEmulator(t, emulator.Config{})
		recs := job(srv, 1000, 1000) // 10 calls
		// 1 call/s and 3 s: the reserve is 300 ms, so calls start at 0, 1 and 2 s; the
		// next would start at 3 s, past 2.7 s: the wait fails at once, at about 2 s.
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		rep, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(ctx, records.NewSliceSource(recs), imapi.WithLimiter(imapi.NewTokenBucket(1)))
		if err != nil {
			t.Fatal(err)
		}
		assertBalanced(t, rep)
		if rep.Calls != 3 || rep.Succeeded != 300 || rep.StopReason != imapi.StopDeadline {
			t.Errorf("report %s, reason %q; want 3 calls, 300 succeeded, stopped for the deadline", rep.Summary(), rep.StopReason)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("the run ended after %v: the last wait should have failed at once, at about 2 s", d)
		}
	})
}

// TestTokenBucketCatchesUpAStall: a caller that stalls for a while (its
// process descheduled, its batch not ready) gets the calls it missed back,
// and no second of its calls holds more than the rate allows; a caller idle
// for more than a second banks nothing.
func TestTokenBucketCatchesUpAStall(t *testing.T) {
	t.Parallel()
	const rate = 50 // a window of 50 calls a second, one every 20 ms
	b := imapi.NewTokenBucket(rate)
	var times []time.Time
	call := func() {
		t.Helper()
		if err := b.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Now())
	}
	start := time.Now()
	for range 25 {
		call()
	}
	time.Sleep(300 * time.Millisecond) // 15 calls' time without a call
	for time.Since(start) < 1500*time.Millisecond {
		call()
	}
	// At 50 calls a second, 1.5 s holds 75 calls and one; a bucket that lost
	// the stall's would have made 25 + 0.7 s of calls: 60.
	t.Logf("%d calls in 1.5 s at 50/s with a stall of 0.3 s", len(times))
	if len(times) < 68 {
		t.Errorf("%d calls in 1.5 s at 50/s with a stall of 0.3 s: the stall's calls were not caught up", len(times))
	}
	for i := range times {
		n := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < time.Second {
				n++
			}
		}
		// The times are taken after each wait, late on a loaded machine by as
		// much as the process is held back: a few calls' slack. A bucket that
		// banked the stall's calls would show 15 more.
		if n > rate+5 {
			t.Fatalf("%d calls within a second from call %d: at most %d", n, i, rate)
		}
	}

	// Idle for more than a window: the next calls are evenly spaced again.
	time.Sleep(1100 * time.Millisecond)
	call()
	idle := time.Now()
	for range 10 {
		call()
	}
	if d := time.Since(idle); d < 9*20*time.Millisecond {
		t.Errorf("10 calls after an idle second took %v: a burst, want 20 ms apart", d)
	}
}
