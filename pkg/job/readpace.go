package job

import (
	"context"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
)

// shareKey carries a run's share of the quota in its context.
type shareKey struct{}

// readPace paces the journal's reads of one run. In a run on a share of the
// quota they follow the share's rate, a token bucket of their own at it: one
// read a batch, so that the reads of every run of every instance together
// stay within the quota, as the removals do (the get API has its own 100
// calls/s, as the removal API has). Elsewhere (no quota, the
// finish phase's merge) they go at Config.JournalLimiter, or 100 calls/s.
type readPace struct {
	fallback imapi.Limiter
	mu       sync.Mutex
	tb       *imapi.TokenBucket // made at the first wait in a share
	of       follower           // the share tb follows, if it does
}

// follower is a share that keeps buckets of their own at its rate, as it
// changes (quota.Lease): the reads queued on one go on at the new rate.
// A share without it sets its rate on the reads' bucket at each wait.
type follower interface {
	Follower() *imapi.TokenBucket
}

// readPace returns the pace of one run's journal reads.
func (s *Service) readPace() *readPace {
	fb := s.cfg.JournalLimiter
	if fb == nil {
		fb = imapi.NewTokenBucket(imapi.MaxCallsPerSecond)
	}
	return &readPace{fallback: fb}
}

// Wait waits for a read's turn.
func (p *readPace) Wait(ctx context.Context) error {
	if f, ok := ctx.Value(shareKey{}).(follower); ok {
		p.mu.Lock()
		if p.tb == nil || p.of != f {
			p.tb, p.of = f.Follower(), f
		}
		tb := p.tb
		p.mu.Unlock()
		return tb.Wait(ctx) // at the share's rate, changed with it
	}
	share, ok := ctx.Value(shareKey{}).(interface{ Rate() float64 })
	if !ok {
		return p.fallback.Wait(ctx)
	}
	rate := share.Rate()
	for rate <= 0 { // a share not granted yet: the removals wait for it too
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		rate = share.Rate()
	}
	p.mu.Lock()
	if p.tb == nil {
		p.tb = imapi.NewTokenBucket(rate)
	}
	tb := p.tb
	p.mu.Unlock()
	tb.SetRate(rate)
	return tb.Wait(ctx)
}

// Throttle slows the reads as the limiter in use is told.
func (p *readPace) Throttle(fraction float64) {
	p.mu.Lock()
	tb := p.tb
	p.mu.Unlock()
	if tb != nil {
		tb.Throttle(fraction)
	}
	p.fallback.Throttle(fraction)
}
