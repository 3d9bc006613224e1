package quota

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
)

// TestFollowerTakesARiseAtOnce: waits queued on a lease's follower at 10
// calls a second (40 of them: 4 s at that rate) go on at the new rate as soon
// as the lease's rises to 1,000, without a new wait to carry the rate; and
// the follower stops with the lease.
func TestFollowerTakesARiseAtOnce(t *testing.T) {
	l := &Lease{bucket: imapi.NewTokenBucket(10), rate: 10}
	f := l.Follower()
	start := time.Now()
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if err := f.Wait(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	l.setRate(1000)
	wg.Wait()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("40 waits took %v: the queued waits went on at the old rate (4 s)", took)
	}
	if l.Follower(); len(l.follows) != 2 {
		t.Fatalf("%d followers, want 2", len(l.follows))
	}
	l.setRate(0)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := f.Wait(ctx); err == nil {
		t.Error("a wait on the follower of a lease at rate zero was let through")
	}
}
