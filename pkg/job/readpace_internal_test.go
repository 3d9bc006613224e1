package job

import (
	"context"
	"sync"
	"testing"

	"github.com/removetag/removetag/pkg/imapi"
)

// countingLimiter counts the waits and throttles it is given.
type countingLimiter struct {
	mu              sync.Mutex
	waits, throttle int
}

func (c *countingLimiter) Wait(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits++
	return nil
}

func (c *countingLimiter) Throttle(float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttle++
}

// TestReadPaceWaitsOnTheShare: in a run on a share (run puts its limiter for
// other calls in the context) the journal's reads wait on that limiter, not
// on the fallback; outside one, on the fallback; a throttle reaches both.
func TestReadPaceWaitsOnTheShare(t *testing.T) {
	fallback, shared := &countingLimiter{}, &countingLimiter{}
	p := &readPace{fallback: fallback}
	inShare := context.WithValue(t.Context(), shareKey{}, imapi.Limiter(shared))
	for range 3 {
		if err := p.Wait(inShare); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.Throttle(0.5)
	if shared.waits != 3 || fallback.waits != 1 {
		t.Errorf("waits: %d on the share, %d on the fallback; want 3 and 1", shared.waits, fallback.waits)
	}
	if shared.throttle != 1 || fallback.throttle != 1 {
		t.Errorf("throttles: %d on the share, %d on the fallback; want one each", shared.throttle, fallback.throttle)
	}
}
