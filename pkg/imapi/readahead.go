package imapi

import (
	"context"
	"sync"
	"time"
)

// readAhead bounds how far a run prepares batches ahead of their turn on the
// limiter (see BeforeSend). A batch is prepared (a journal reads its accounts'
// tags and writes them ahead) before it waits for its turn, so that the
// preparation of some goes on while others are sent; but a batch prepared and
// never sent — the run stopped at its deadline first — cost a read for
// nothing, and one prepared long before its turn holds its worker and its
// memory. So the run holds just enough batches prepared or in preparation to
// have one ready at each turn:
//
//   - The bound starts at four, grows by a quarter whenever a batch gets its
//     turn at once (the limiter may have waited for it: the preparations
//     lag), and shrinks by one whenever a batch waited more than eight turns'
//     time for its turn. Once the limiter's pace is known it is never below
//     the turns that a preparation's time and a quarter more cover at that
//     pace (moving averages of each), plus four; at most twice the run's
//     concurrency.
//   - Near the deadline, a batch is prepared only if its turn can come in time
//     for its call: after the preparation's time, and after the turns of the
//     batches held ahead of it. One that cannot waits for those ahead; if none
//     is, the run stops there (the time budget is used up), and the batch
//     stays pending without having been read.
type readAhead struct {
	mu    sync.Mutex
	cond  sync.Cond
	held  int // batches in preparation, or prepared and not yet given their first turn
	limit int // held's bound, adjusted as the run goes
	max   int
	lead  time.Duration // moving average of a preparation's time
	gap   time.Duration // moving average of the time between two turns of the limiter
	last  time.Time     // the last first turn

	// Batches enter in the order they come to the gate: each takes a ticket,
	// and only the oldest waiting may enter. (Woken all at once, the waiters
	// would race for each place, and one could lose for a long time: the
	// batches done after it, which the run keeps until the batches before
	// them are resolved, piled up — 12 MB after 20 s — and its records held
	// the resume position back.)
	tickets, serving int64
}

// Read-ahead bounds: aheadStart is the bound before the first turns (a run
// whose limiter gives it none, waiting for its share of a quota, reads no
// more than that), aheadFloor the least, aheadQueue the batches prepared and
// waiting for their turn above which it shrinks.
const (
	aheadStart = 4
	aheadFloor = 2
	aheadQueue = 8
)

// newReadAhead returns the read-ahead of a run of concurrency calls in
// flight: its bound goes up to twice that.
func newReadAhead(ctx context.Context, concurrency int) *readAhead {
	a := &readAhead{max: max(2*concurrency, aheadStart)}
	a.limit = aheadStart
	a.cond.L = &a.mu
	context.AfterFunc(ctx, a.wake)
	return a
}

// wake wakes the batches waiting to be prepared, to look at the run again.
func (a *readAhead) wake() {
	if a == nil {
		return
	}
	// Taken and given back so that no waiter between its look and its wait
	// misses the broadcast.
	a.mu.Lock()
	a.mu.Unlock() //nolint:staticcheck // an empty critical section on purpose
	a.cond.Broadcast()
}

// enter waits until a batch may be prepared; false if it is not to be (the
// run stops, or the batch's turn could not come in time: then stop is true
// when no batch is held ahead whose turn would stop the run instead).
func (a *readAhead) enter(r *run) (ok, stop bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ticket := a.tickets
	a.tickets++
	// The oldest waiter, leaving, lets the next one look.
	next := func() {
		a.serving++
		a.cond.Broadcast()
	}
	for {
		if r.halted() {
			if ticket == a.serving {
				next()
			}
			return false, false
		}
		if ticket == a.serving {
			switch {
			case !a.fits(r) && a.held == 0:
				next()
				return false, true
			case !a.fits(r):
			case a.held < a.limit:
				a.held++
				next()
				return true, false
			}
		}
		a.cond.Wait()
	}
}

// fits reports whether a batch prepared now could have its turn in time for
// its call (a.mu held).
func (a *readAhead) fits(r *run) bool {
	if r.stopAt.IsZero() || a.gap == 0 && a.lead == 0 {
		return true
	}
	turn := time.Now().Add(max(a.lead, time.Duration(a.held+1)*a.gap))
	return !turn.Add(r.callEstimate()).After(r.stopAt)
}

// prepared notes how long a preparation took.
func (a *readAhead) prepared(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lead = movingAverage(a.lead, d)
}

// leave gives back the place of a batch at its first turn (turn: it got one,
// after waiting wait for it) or when it will have none.
func (a *readAhead) leave(turn bool, wait time.Duration) {
	a.mu.Lock()
	a.held--
	if turn {
		now := time.Now()
		// Only a turn the batch waited for tells the limiter's pace: one
		// given at once may have come late, after the limiter waited.
		if wait > time.Millisecond && !a.last.IsZero() {
			a.gap = movingAverage(a.gap, max(now.Sub(a.last), 0))
		}
		a.last = now
		switch {
		case wait < max(a.gap/2, time.Millisecond):
			a.limit += max(1, a.limit/4)
		case wait > aheadQueue*a.gap:
			a.limit--
		}
		floor := aheadFloor
		if a.gap > 0 {
			floor = int(a.lead*5/4/a.gap) + aheadQueue/2
		}
		a.limit = min(max(a.limit, floor), a.max)
	}
	a.mu.Unlock()
	a.cond.Broadcast()
}

// movingAverage moves avg an eighth of the way to d (to d if avg is zero).
func movingAverage(avg, d time.Duration) time.Duration {
	if avg == 0 {
		return d
	}
	return avg + (d-avg)/8
}
