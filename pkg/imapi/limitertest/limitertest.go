// Package limitertest checks that an [imapi.Limiter] keeps the contract written on
// that interface: it spaces calls at its rate, lets the first one through at once,
// fails at once, counting nothing, a wait that could not end before its deadline,
// counts nothing for a canceled wait, holds waits while its rate is zero, and
// applies a throttle and a change of rate to the waits under way.
//
// The checks measure time with margins wide enough for a loaded two-core machine
// under -race: they assert lower bounds (no call too early) tightly and upper
// bounds (nothing waited for nothing) loosely.
package limitertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
)

// Factory makes a limiter allowing perSecond calls per second to a caller
// alone. set, if not nil, changes that rate afterwards (0 included); the checks
// that need it are skipped without it.
type Factory func(t *testing.T, perSecond float64) (lim imapi.Limiter, set func(perSecond float64))

// slack is how late a wait may end on a loaded machine and still count as on time.
const slack = 400 * time.Millisecond

// Run checks the contract, each part in its own subtest.
func Run(t *testing.T, f Factory) {
	for _, c := range []struct {
		name  string
		check func(*testing.T, Factory)
	}{
		{"FirstCallAtOnce", firstCallAtOnce},
		{"Spacing", spacing},
		{"ConcurrentWaitersShareTheRate", concurrentWaitersShareTheRate},
		{"OverrunFailsAtOnce", overrunFailsAtOnce},
		{"QueueAheadCountsTowardTheDeadline", queueAheadCountsTowardTheDeadline},
		{"CanceledWaitCountsNothing", canceledWaitCountsNothing},
		{"CanceledBeforeWaiting", canceledBeforeWaiting},
		{"Throttle", throttle},
		{"RaiseAppliesToTheWaitUnderWay", raiseAppliesToTheWaitUnderWay},
		{"ZeroRateHoldsWaits", zeroRateHoldsWaits},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, f) })
	}
}

// firstCallAtOnce checks that the first call of a limiter goes through at once.
func firstCallAtOnce(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 1)
	start := time.Now()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	if d := time.Since(start); d > slack {
		t.Errorf("the first call waited %v at 1 call/s", d)
	}
}

// spacing checks that one caller's calls are spaced at the rate.
func spacing(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 20)
	// 11 calls at 20/s: 10 intervals of 50 ms after the first.
	waitCalls(t, lim, 11, 500*time.Millisecond, "11 calls at 20/s")
}

// concurrentWaitersShareTheRate checks that waiters at once share the rate, none early.
func concurrentWaitersShareTheRate(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 20)
	start := time.Now()
	var wg sync.WaitGroup
	for range 11 {
		wg.Go(func() {
			if err := lim.Wait(t.Context()); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 490*time.Millisecond || d > 500*time.Millisecond+slack {
		t.Errorf("11 waiters at 20/s were through in %v, want 0.5 s", d)
	}
}

// overrunFailsAtOnce checks that a wait that cannot end before its deadline fails at once and counts nothing.
func overrunFailsAtOnce(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 1)
	first := time.Now()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The next call may start 1 s after the first: a deadline 500 ms away cannot be met.
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := lim.Wait(ctx)
	if !errors.Is(err, imapi.ErrWouldOverrun) {
		t.Fatalf("Wait = %v, want ErrWouldOverrun", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("the failing wait took %v: it must fail at once, not at its deadline", d)
	}
	nextAtOneSecond(t, lim, first, "a failed wait")
}

// queueAheadCountsTowardTheDeadline checks that the waiters queued ahead count toward a wait's deadline.
func queueAheadCountsTowardTheDeadline(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 10)
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Five waiters queued ahead take the next 500 ms at 10/s.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if err := lim.Wait(t.Context()); err != nil {
				t.Errorf("queued Wait: %v", err)
			}
		})
	}
	defer wg.Wait()
	time.Sleep(20 * time.Millisecond) // let them queue
	ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := lim.Wait(ctx); !errors.Is(err, imapi.ErrWouldOverrun) {
		t.Fatalf("Wait behind five at 10/s with 250 ms left = %v, want ErrWouldOverrun", err)
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("the failing wait took %v: it must fail at once", d)
	}
}

// canceledWaitCountsNothing checks that a wait canceled while it waits counts no call.
func canceledWaitCountsNothing(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 1)
	first := time.Now()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := lim.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Wait = %v, want context.Canceled", err)
	}
	nextAtOneSecond(t, lim, first, "a canceled wait")
}

// canceledBeforeWaiting checks that a wait on a canceled context fails.
func canceledBeforeWaiting(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 100)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := lim.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a canceled context = %v, want context.Canceled", err)
	}
}

// throttle checks that a throttle slows the calls, and lifting it restores the rate.
func throttle(t *testing.T, f Factory) {
	t.Parallel()
	lim, _ := f(t, 100)
	lim.Throttle(0.1) // 10 calls/s
	waitCalls(t, lim, 6, 500*time.Millisecond, "6 calls at 100/s throttled to a tenth")
	lim.Throttle(1)
	waitCalls(t, lim, 11, 100*time.Millisecond, "11 calls at 100/s after the throttle was lifted")
}

// raiseAppliesToTheWaitUnderWay checks that a higher rate shortens a wait under way.
func raiseAppliesToTheWaitUnderWay(t *testing.T, f Factory) {
	lim, set := f(t, 0.5)
	if set == nil {
		t.Skip("the limiter's rate cannot be set")
	}
	t.Parallel()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { set(50) })
	start := time.Now()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Due 2 s after the first at 0.5/s; at 50/s from 100 ms on, at about 120 ms.
	if d := time.Since(start); d > 100*time.Millisecond+slack {
		t.Errorf("the wait under way ended %v after it began; the rate rose to 50/s after 100 ms", d)
	}
}

// zeroRateHoldsWaits checks that a rate of zero holds waits until their deadline or a new rate.
func zeroRateHoldsWaits(t *testing.T, f Factory) {
	lim, set := f(t, 10)
	if set == nil {
		t.Skip("the limiter's rate cannot be set")
	}
	t.Parallel()
	set(0)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := lim.Wait(ctx); !errors.Is(err, imapi.ErrWouldOverrun) {
		t.Fatalf("Wait at rate 0 until the deadline = %v, want ErrWouldOverrun", err)
	}
	if d := time.Since(start); d < 290*time.Millisecond {
		t.Errorf("a wait at rate 0 ended after %v, before its deadline", d)
	}
	time.AfterFunc(200*time.Millisecond, func() { set(10) })
	start = time.Now()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 190*time.Millisecond || d > 200*time.Millisecond+slack {
		t.Errorf("a wait at rate 0 ended %v after it began; the rate rose after 200 ms", d)
	}
}

// waitCalls waits for n calls and checks that they took want: not less (by
// 2%), not much more.
func waitCalls(t *testing.T, lim imapi.Limiter, n int, want time.Duration, what string) {
	t.Helper()
	start := time.Now()
	for i := range n {
		if err := lim.Wait(t.Context()); err != nil {
			t.Fatalf("%s: Wait %d: %v", what, i, err)
		}
	}
	if d := time.Since(start); d < want*98/100 || d > want+slack {
		t.Errorf("%s took %v, want %v", what, d, want)
	}
}

// nextAtOneSecond waits for a call on a limiter at 1 call/s whose last call
// was allowed at first, after a wait that must not have counted (what): the
// call is due 1 s after first, not 2 s.
func nextAtOneSecond(t *testing.T, lim imapi.Limiter, first time.Time, what string) {
	t.Helper()
	if err := lim.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(first); d < 950*time.Millisecond || d > time.Second+slack {
		t.Errorf("the call after %s started %v after the one before, want 1 s: the wait counted a call", what, d)
	}
}
