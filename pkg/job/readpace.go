package job

import (
	"context"
	"sync"

	"github.com/removetag/removetag/pkg/imapi"
)

// shareKey carries the limiter of a run's share for its other calls
// (job.Quota's beside) in the run's context.
type shareKey struct{}

// readPace paces the journal's reads of one run. In a run on a share of the
// quota they wait on the share's limiter for other calls, at the share's
// rate and changed with it: one read a batch, so that the reads of every run
// of every instance together stay within the quota, as the removals do (the
// get API has its own 100 calls/s, as the removal API has). Elsewhere (no
// quota, the finish phase's merge) they go at Config.JournalLimiter, or 100
// calls/s.
type readPace struct {
	fallback imapi.Limiter
	mu       sync.Mutex
	shared   imapi.Limiter // the share's, at the last wait in one
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
	lim, ok := ctx.Value(shareKey{}).(imapi.Limiter)
	if !ok {
		return p.fallback.Wait(ctx)
	}
	p.mu.Lock()
	p.shared = lim
	p.mu.Unlock()
	return lim.Wait(ctx)
}

// Throttle slows the reads as the limiter in use is told.
func (p *readPace) Throttle(fraction float64) {
	p.mu.Lock()
	shared := p.shared
	p.mu.Unlock()
	if shared != nil {
		shared.Throttle(fraction)
	}
	p.fallback.Throttle(fraction)
}
