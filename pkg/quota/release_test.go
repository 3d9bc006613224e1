package quota

import (
	"context"
	"sync"
	"testing"
	"time"
)

// lateStore is an in-memory Store whose writes, once held, behave as a remote
// store's can: a write the client gives up on (its context canceled) is still
// applied when the store gets to it.
type lateStore struct {
	*memStore
	hold    bool          // hold the next write until unhold is closed
	entered chan struct{} // closed when the held write arrives
	unhold  chan struct{}
	applied sync.WaitGroup // writes given up on by the client, still to be applied
}

func (s *lateStore) Put(ctx context.Context, key string, data []byte) error {
	s.mu.Lock()
	hold := s.hold
	s.hold = false
	s.mu.Unlock()
	if !hold {
		return s.memStore.Put(ctx, key, data)
	}
	close(s.entered)
	select {
	case <-s.unhold:
		return s.memStore.Put(ctx, key, data)
	case <-ctx.Done():
		s.applied.Add(1)
		go func() {
			defer s.applied.Done()
			<-s.unhold
			_ = s.memStore.Put(context.Background(), key, data)
		}()
		return ctx.Err()
	}
}

// TestReleaseLeavesNoLease: a lease released while a renewal's write is under
// way is gone from the store afterwards. Were the write canceled, the store
// could apply it after the delete, and every holder joining later would count
// a rate nobody uses until the leftover expired.
func TestReleaseLeavesNoLease(t *testing.T) {
	store := &lateStore{memStore: newMemStore(), entered: make(chan struct{}), unhold: make(chan struct{})}
	s, err := New(Config{Store: store, Prefix: "leases/", Rate: 100, Renew: 200 * time.Millisecond}) // each request may take 400 ms
	if err != nil {
		t.Fatal(err)
	}
	l := s.Join(t.Context())
	store.mu.Lock()
	store.hold = true // the next renewal's write
	store.mu.Unlock()
	select {
	case <-store.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no renewal wrote the lease within 10 s")
	}
	released := make(chan struct{})
	go func() {
		l.Release()
		close(released)
	}()
	time.Sleep(50 * time.Millisecond) // Release is under way while the write is held, well within its 400 ms
	close(store.unhold)
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("Release did not return within 10 s of the write's end")
	}
	store.applied.Wait()
	if objs, _ := store.List(t.Context(), "leases/"); len(objs) != 0 {
		t.Errorf("after Release the store holds %v: a write of the released lease landed after its delete", objs)
	}
}
