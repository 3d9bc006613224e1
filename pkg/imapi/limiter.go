package imapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrWouldOverrun is wrapped by the error of [Limiter.Wait] when the call it
// waits for could not be allowed before the context's deadline.
var ErrWouldOverrun = errors.New("the rate limiter would not allow the call before the deadline")

// Limiter paces the calls of a run: [Engine.Run] waits on it before every call,
// retries included. [TokenBucket] is the local implementation; package quota
// shares one app-wide rate among instances through object storage.
//
// Every implementation keeps this contract:
//
//   - Wait returns nil when one call may start now, and counts it.
//   - When the earliest time Wait could allow the call is after ctx's deadline,
//     it returns an error wrapping [ErrWouldOverrun] at once, without waiting and
//     without counting a call: the caller stops in time instead of sleeping
//     through its budget.
//   - When ctx ends during the wait, Wait returns (with ctx's error, or one
//     wrapping ErrWouldOverrun if the deadline passed) and counts no call.
//   - A limiter whose rate is zero allows nothing until its rate rises: its
//     waits end when it does or when ctx ends.
//   - Throttle(f) lets through only the fraction f, in (0, 1], of the rate the
//     limiter would otherwise allow; it applies to waits already under way. The
//     engine lowers the fraction when the service answers that calls come too
//     fast and raises it back step by step (see [EngineConfig.SlowDown]).
//
// Implementations are safe for concurrent use.
type Limiter interface {
	Wait(ctx context.Context) error
	Throttle(fraction float64)
}

// TokenBucket is the local [Limiter]. Calls are spaced at the rate, and a
// call the caller was not ready for (a stall of the process, a batch not
// ready) is not lost: the calls may catch up, up to four times the rate,
// as long as no window of about a second holds more calls than the rate
// allows in it (n calls in n intervals, n the calls a second, 1 to 1,000).
// So the service, counting calls a second, never sees more than the rate in
// any second, and a run that stalled for less than a second loses nothing.
// After a second without a call, or a change of the rate, the calls start
// again at even spacing: no burst banks idle time. One waiter at a time
// holds the bucket; the others queue behind it, so no wait scheduled at an
// old rate outlives a change of the rate. A waiter that could not be allowed
// before its deadline, counting the waiters queued ahead of it at the
// current rate, fails at once with [ErrWouldOverrun].
type TokenBucket struct {
	turn   chan struct{} // held by the one waiter that may take the token
	queued atomic.Int64  // waits under way: holding the turn or queued for it

	mu       sync.Mutex
	rate     float64 // calls per second before the throttle
	fraction float64 // of rate let through
	// The last window's calls, oldest at head (a ring), as if evenly spaced
	// before the first or since the last change; empty before any call.
	grants  []time.Time
	head    int
	changed chan struct{} // closed, and replaced, at every change of the effective rate
}

// Window limits: at most maxWindowCalls calls are remembered (a window
// shorter than a second above 1,000 calls a second), and calls catch up at
// most catchUp times as fast as the rate.
const (
	maxWindowCalls = 1000
	catchUp        = 4
)

// NewTokenBucket returns a TokenBucket allowing perSecond calls per second
// (0: none until [TokenBucket.SetRate] raises it). Its first call may start at once.
func NewTokenBucket(perSecond float64) *TokenBucket {
	return &TokenBucket{
		turn:     make(chan struct{}, 1),
		rate:     max(perSecond, 0),
		fraction: 1,
		changed:  make(chan struct{}),
	}
}

// SetRate sets the calls per second before the throttle; negative counts as 0.
// The calls go on at even spacing at the new rate after the last.
func (b *TokenBucket) SetRate(perSecond float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changeLocked(max(perSecond, 0), b.fraction)
}

// Throttle lets through only fraction (clamped to (0, 1]; a tenth of a percent at
// least) of the rate set. See [Limiter].
func (b *TokenBucket) Throttle(fraction float64) {
	if math.IsNaN(fraction) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changeLocked(b.rate, min(max(fraction, 0.001), 1))
}

// currentRate is the calls per second the bucket allows now: the rate set, throttled.
func (b *TokenBucket) currentRate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate * b.fraction
}

// changeLocked moves to a new rate and fraction and, if the effective rate
// changed, wakes the waiter and starts the window again, evenly spaced at
// the new rate up to the last call.
func (b *TokenBucket) changeLocked(rate, fraction float64) {
	old := b.rate * b.fraction
	b.rate, b.fraction = rate, fraction
	if b.rate*b.fraction != old {
		if len(b.grants) > 0 {
			b.evenLocked(b.lastLocked())
		}
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

// windowCalls is how many calls the window of the effective rate r holds.
func windowCalls(r float64) int {
	return int(min(max(math.Floor(r), 1), maxWindowCalls))
}

// evenLocked makes the window's calls evenly spaced at the current rate,
// the last at last. At a zero rate it keeps the last alone.
func (b *TokenBucket) evenLocked(last time.Time) {
	r := b.rate * b.fraction
	if r <= 0 {
		b.grants, b.head = append(b.grants[:0], last), 0
		return
	}
	n := windowCalls(r)
	iv := secondsDuration(1 / r)
	if cap(b.grants) < n {
		b.grants = make([]time.Time, n)
	}
	b.grants, b.head = b.grants[:n], 0
	for i := range n {
		b.grants[i] = last.Add(-time.Duration(n-1-i) * iv)
	}
}

// lastLocked is the time of the last call (the window is not empty).
func (b *TokenBucket) lastLocked() time.Time {
	return b.grants[(b.head+len(b.grants)-1)%len(b.grants)]
}

// nextLocked returns when the next call may start (now if it may), and false
// when the rate is zero: then nothing is allowed.
func (b *TokenBucket) nextLocked(now time.Time) (time.Time, bool) {
	r := b.rate * b.fraction
	switch {
	case r <= 0:
		return time.Time{}, false
	case len(b.grants) == 0:
		return now, true
	}
	iv := 1 / r
	last := b.lastLocked()
	at := last.Add(secondsDuration(iv / catchUp))
	// The window holds windowCalls(r) calls: changeLocked made it so at the
	// rate's last change, grantLocked keeps it so.
	n := len(b.grants)
	at = later(at, b.grants[b.head].Add(secondsDuration(float64(n)*iv)))
	return later(at, now), true
}

// grantLocked counts a call starting at now. After a window's time without
// a call, the window starts again evenly spaced: idle time is not banked.
func (b *TokenBucket) grantLocked(now time.Time) {
	r := b.rate * b.fraction
	n := windowCalls(r)
	if len(b.grants) != n || now.Sub(b.lastLocked()) >= secondsDuration(float64(n)/r) {
		b.evenLocked(now)
		return
	}
	b.grants[b.head] = now
	b.head = (b.head + 1) % n
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// secondsDuration converts seconds to a Duration, saturating.
func secondsDuration(s float64) time.Duration {
	if s >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}

// Wait waits for the token. See [Limiter] for the contract.
func (b *TokenBucket) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return waitError(ctx, err)
	}
	deadline, hasDeadline := ctx.Deadline()
	ahead := b.queued.Add(1) - 1
	defer b.queued.Add(-1)
	if hasDeadline && ahead > 0 {
		// The waiters ahead take a token each first.
		if at, ok := b.estimate(ahead); ok && at.After(deadline) {
			return fmt.Errorf("%w: %d calls are queued ahead, the next free slot is in %v, the deadline in %v",
				ErrWouldOverrun, ahead, time.Until(at).Round(time.Millisecond), time.Until(deadline).Round(time.Millisecond))
		}
	}
	select {
	case b.turn <- struct{}{}:
		defer func() { <-b.turn }()
	case <-ctx.Done():
		return waitError(ctx, ctx.Err())
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := time.Now()
		b.mu.Lock()
		at, ok := b.nextLocked(now)
		changed := b.changed
		if ok && !at.After(now) {
			b.grantLocked(now)
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		if ok && hasDeadline && at.After(deadline) {
			return fmt.Errorf("%w: the next call may start in %v, the deadline is in %v",
				ErrWouldOverrun, at.Sub(now).Round(time.Millisecond), deadline.Sub(now).Round(time.Millisecond))
		}
		var tick <-chan time.Time
		if ok {
			if timer == nil {
				timer = time.NewTimer(at.Sub(now))
			} else {
				timer.Reset(at.Sub(now))
			}
			tick = timer.C
		}
		select {
		case <-tick:
		case <-changed: // the rate moved: schedule again
		case <-ctx.Done():
			return waitError(ctx, ctx.Err())
		}
	}
}

// estimate is when the token after n more calls would be there at the current rate.
func (b *TokenBucket) estimate(n int64) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	at, ok := b.nextLocked(now)
	if !ok {
		return time.Time{}, false
	}
	return at.Add(secondsDuration(float64(n) / (b.rate * b.fraction))), true
}

// waitError is the error of a wait ended by its context: one wrapping
// ErrWouldOverrun when the deadline passed.
func waitError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrWouldOverrun, err)
	}
	return err
}

// pacer is the engine's slow-down on rate-limit answers, around the limiter a
// run waits on: it throttles the limiter when the answers keep coming and lifts
// the throttle step by step after.
type pacer struct {
	lim      Limiter
	slowDown time.Duration

	mu        sync.Mutex
	fraction  float64 // the throttle set on lim
	refused   times   // the rate-limit answers within slowDown
	answered  times   // the successes and rate-limit answers within slowDown
	slowUntil time.Time
	lastCut   time.Time
}

// times holds the times of events within a span, oldest first.
type times struct {
	at   []time.Time
	head int // at[:head] are past the span
}

// add notes an event at now and forgets those a span or more before it.
func (t *times) add(now time.Time, span time.Duration) {
	t.at = append(t.at, now)
	for t.head < len(t.at) && now.Sub(t.at[t.head]) >= span {
		t.head++
	}
	if t.head > len(t.at)/2 { // reuse the slice's room
		t.at = t.at[:copy(t.at, t.at[t.head:])]
		t.head = 0
	}
}

// len counts the events noted within the span.
func (t *times) len() int { return len(t.at) - t.head }

func newPacer(lim Limiter, slowDown time.Duration) *pacer {
	return &pacer{lim: lim, slowDown: slowDown, fraction: 1}
}

// Throttle floor and steps of the slow-down.
const (
	minFraction  = 0.1      // never below a tenth of the rate
	recoverStep  = 1.0 / 50 // raised by a fiftieth per successful call
	fractionFull = 1.0
	// sustainedAnswers and sustainedShare say when rate-limit answers within
	// the slow-down period mean the quota is used by others for real: at least
	// sustainedAnswers of them, and at least sustainedShare of the period's
	// answers. Fewer are noise: a client that paces at exactly the quota has
	// a call refused now and then when the network delays one and not the next
	// (measured: 0.1 to 0.5% of calls through the runtimes on a busy machine),
	// a few together when its calls catch up after a stall (BenchmarkScale,
	// 2 December 2026: six refused within 200 ms of 200 calls in the period,
	// 3 %, then a halved rate that cost a second), and halving the rate for
	// that costs more than the calls retried. Another caller that takes a
	// part p of the quota has about p of the calls refused: sustained from 5 %.
	sustainedAnswers = 3
	sustainedShare   = 0.05
)

// onRateLimit reacts to a rate-limit answer and reports whether it cut the rate.
// Every answer opens (or prolongs) a slow-down period, during which the rate is
// not raised; answers that keep coming (sustainedAnswers within the period,
// and sustainedShare of the period's answers) mean the quota is shared for
// real: the rate is halved, at most once per half period (so the answers of
// calls already in flight do not count twice), and never below a tenth.
func (p *pacer) onRateLimit(now time.Time) (cut bool, fraction float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slowUntil = now.Add(p.slowDown)
	p.refused.add(now, p.slowDown)
	p.answered.add(now, p.slowDown)
	n := p.refused.len()
	if n < sustainedAnswers || float64(n) < sustainedShare*float64(p.answered.len()) || now.Sub(p.lastCut) < p.slowDown/2 {
		return false, p.fraction
	}
	p.lastCut = now
	p.fraction = max(p.fraction/2, minFraction)
	p.lim.Throttle(p.fraction)
	return true, p.fraction
}

// onSuccess notes a successful answer, and raises a lowered rate a step once
// the slow-down period is over.
func (p *pacer) onSuccess(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answered.add(now, p.slowDown)
	if p.fraction >= fractionFull || now.Before(p.slowUntil) {
		return
	}
	p.fraction = min(p.fraction+recoverStep, fractionFull)
	p.lim.Throttle(p.fraction)
}
