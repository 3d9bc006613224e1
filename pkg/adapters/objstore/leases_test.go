package objstore_test

// The quota lease protocol (package quota) over both stores, through the
// local stand-in: join, leave, a killed holder, clocks that disagree, storage
// errors; and a lease held to the imapi.Limiter contract.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/adapters/objstore"
	"github.com/removetag/removetag/pkg/adapters/objstore/memstore"
	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/limitertest"
	"github.com/removetag/removetag/pkg/job/storage"
	"github.com/removetag/removetag/pkg/quota"
)

// Protocol timings of these tests: four times faster than the defaults (1 s, 3 s),
// with the same proportions.
const (
	leaseRenew  = 250 * time.Millisecond
	leaseExpiry = 750 * time.Millisecond
	leasePrefix = "removetag/quota/"
	leaseQuota  = 100.0
)

// killable is a quota.Store that stops writing and deleting once killed, as a
// killed process does: its lease stays as it last wrote it.
type killable struct {
	quota.Store
	dead atomic.Bool
}

var errKilled = errors.New("the holder was killed")

func (k *killable) Put(ctx context.Context, key string, data []byte) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.Store.Put(ctx, key, data)
}

func (k *killable) Delete(ctx context.Context, key string) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.Store.Delete(ctx, key)
}

// leaseWorld is one bucket of one backend holding leases.
type leaseWorld struct {
	t     *testing.T
	store storage.Store
	srv   *memstore.Server
}

func newLeaseWorld(t *testing.T, newStore func(t *testing.T) (storage.Store, *memstore.Server)) *leaseWorld {
	s, srv := newStore(t)
	return &leaseWorld{t: t, store: s, srv: srv}
}

// sharer is one process sharing the quota, on its own view of the bucket.
func (w *leaseWorld) sharer(st quota.Store) *quota.Sharer {
	w.t.Helper()
	if st == nil {
		st = objstore.Leases(w.store)
	}
	s, err := quota.New(quota.Config{Store: st, Prefix: leasePrefix, Rate: leaseQuota, Renew: leaseRenew, Expiry: leaseExpiry})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// join takes a lease, released when the test ends.
func (w *leaseWorld) join(s *quota.Sharer) *quota.Lease {
	w.t.Helper()
	l := s.Join(w.t.Context())
	w.t.Cleanup(l.Release)
	return l
}

// leases lists the lease objects.
func (w *leaseWorld) leases() []string {
	w.t.Helper()
	infos, err := w.store.List(context.Background(), leasePrefix)
	if err != nil {
		w.t.Fatal(err)
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	return keys
}

// said reads what a lease says: its rate.
func (w *leaseWorld) said(key string) float64 {
	w.t.Helper()
	body, _, err := w.store.Open(context.Background(), key, 0, "")
	if err != nil {
		w.t.Fatal(err)
	}
	defer body.Close()
	var rec struct{ Rate float64 }
	if err := json.NewDecoder(body).Decode(&rec); err != nil {
		w.t.Fatal(err)
	}
	return rec.Rate
}

// writeLease stores a lease as another holder would: rate at clock time at.
func (w *leaseWorld) writeLease(holder string, seq int64, rate float64, at time.Time) error {
	data := fmt.Sprintf(`{"Holder":%q,"Seq":%d,"Rate":%g,"Quota":100,"Time":%q}`, holder, seq, rate, at.UTC().Format(time.RFC3339Nano))
	return w.store.Put(context.Background(), leasePrefix+holder+".json", strings.NewReader(data), "application/json")
}

// watchSum samples the sum of the leases' rates until stop is called, which
// returns the highest sum seen.
func watchSum(leases ...*quota.Lease) (stop func() float64) {
	var (
		mu   sync.Mutex
		high float64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for {
			sum := 0.0
			for _, l := range leases {
				sum += l.Rate()
			}
			mu.Lock()
			high = max(high, sum)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return high
	}
}

// eventually waits up to within for cond, and fails the test with what otherwise.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func rates(leases ...*quota.Lease) string {
	var s []string
	for _, l := range leases {
		s = append(s, fmt.Sprintf("%.2f", l.Rate()))
	}
	return strings.Join(s, " ")
}

func near(a, b float64) bool { return a > b-0.01 && a < b+0.01 }

func TestLeases(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("JoinAlone", func(t *testing.T) {
				t.Parallel()
				w := newLeaseWorld(t, b.newStore)
				start := time.Now()
				l := w.join(w.sharer(nil))
				took := time.Since(start)
				if l.Rate() != leaseQuota || l.Holders() != 1 {
					t.Errorf("alone: rate %v, %d holders; want the whole quota at once", l.Rate(), l.Holders())
				}
				// Three requests to the stand-in, no renewal waited for.
				if took > leaseRenew {
					t.Errorf("joining took %v, a renewal is %v: a lone job must not wait", took, leaseRenew)
				}
				if keys := w.leases(); len(keys) != 1 || keys[0] != l.Key() || w.said(l.Key()) != leaseQuota {
					t.Errorf("leases %v: want this one, saying the whole quota", keys)
				}
			})
			t.Run("JoinAndLeave", func(t *testing.T) {
				t.Parallel()
				w := newLeaseWorld(t, b.newStore)
				var ls []*quota.Lease
				stop := func() float64 { return 0 }
				for i, wantEach := range []float64{100, 50, 100.0 / 3, 25} {
					l := w.join(w.sharer(nil))
					// A newcomer sends only within what the others leave unused:
					// nothing, unless they saw its lease and made room before
					// its first listing (they list several times a renewal),
					// and never more than its equal share.
					if i > 0 {
						sum := l.Rate()
						for _, o := range ls {
							sum += o.Rate()
						}
						if l.Rate() > wantEach+0.01 || sum > leaseQuota+0.01 {
							t.Errorf("holder %d joined at %v beside holders at %s: over its share or the quota", i+1, l.Rate(), rates(ls...))
						}
					}
					stop()
					ls = append(ls, l)
					stop = watchSum(ls...)
					took := eventually(t, 3*time.Second, fmt.Sprintf("%d holders at %.2f each (rates %s)", len(ls), wantEach, rates(ls...)), func() bool {
						for _, l := range ls {
							if !near(l.Rate(), wantEach) {
								return false
							}
						}
						return true
					})
					t.Logf("%d holders: equal shares after %v", len(ls), took.Round(time.Millisecond))
				}
				// Leaving: the lease is gone at once, the others take its share at their next listing.
				for len(ls) > 1 {
					gone := ls[0]
					gone.Release()
					ls = ls[1:]
					for _, k := range w.leases() {
						if k == gone.Key() {
							t.Fatalf("lease %s still stored after Release", k)
						}
					}
					wantEach := leaseQuota / float64(len(ls))
					took := eventually(t, 2*leaseRenew+time.Second, fmt.Sprintf("%d holders at %.2f (rates %s)", len(ls), wantEach, rates(ls...)), func() bool {
						for _, l := range ls {
							if !near(l.Rate(), wantEach) {
								return false
							}
						}
						return true
					})
					t.Logf("a holder left: %d at %.2f after %v", len(ls), wantEach, took.Round(time.Millisecond))
				}
				if high := stop(); high > leaseQuota+0.01 {
					t.Errorf("the holders together were granted %.2f calls/s at one moment; the quota is %v", high, leaseQuota)
				}
			})
			t.Run("KilledHolder", func(t *testing.T) {
				t.Parallel()
				w := newLeaseWorld(t, b.newStore)
				victimStore := &killable{Store: objstore.Leases(w.store)}
				victim := w.join(w.sharer(victimStore))
				l := w.join(w.sharer(nil))
				eventually(t, 3*time.Second, "two holders at 50 (rates "+rates(victim, l)+")", func() bool {
					return near(victim.Rate(), 50) && near(l.Rate(), 50)
				})
				victimStore.dead.Store(true) // no more writes, no delete
				killed := time.Now()
				took := eventually(t, leaseExpiry+3*leaseRenew+time.Second, "the survivor takes the whole quota (rate "+rates(l)+")", func() bool {
					return near(l.Rate(), leaseQuota)
				})
				if took < leaseExpiry-leaseRenew {
					t.Errorf("the survivor took the killed holder's share after %v, before its lease could expire (%v)", took, leaseExpiry)
				}
				t.Logf("killed holder's share taken after %v", took.Round(time.Millisecond))
				// Dead for a while, the leftover is deleted by its reader.
				eventually(t, 4*leaseExpiry+3*leaseRenew+time.Second, "the dead lease deleted", func() bool {
					return !strings.Contains(strings.Join(w.leases(), " "), victim.Key())
				})
				t.Logf("dead lease deleted %v after the kill", time.Since(killed).Round(time.Millisecond))
			})
			t.Run("LeftoverLease", func(t *testing.T) {
				t.Parallel()
				w := newLeaseWorld(t, b.newStore)
				// A lease its holder wrote a minute ago, by its clock, and never renewed.
				if err := w.writeLease("leftover", 7, 100, time.Now().Add(-time.Minute)); err != nil {
					t.Fatal(err)
				}
				l := w.join(w.sharer(nil))
				if l.Rate() != leaseQuota {
					t.Errorf("beside a leftover lease a minute old: rate %v, want the whole quota at once", l.Rate())
				}
			})
			t.Run("ClocksDisagree", func(t *testing.T) {
				t.Parallel()
				w := newLeaseWorld(t, b.newStore)
				// Two holders that renew every renewal, one with a clock 5 s slow (within
				// the tolerance), one 5 minutes slow: both count, the second from the
				// moment its lease is seen to change.
				for _, h := range []struct {
					name string
					skew time.Duration
				}{{"slow-5s", 5 * time.Second}, {"slow-5m", 5 * time.Minute}} {
					ctx, cancel := context.WithCancel(context.Background())
					var wg sync.WaitGroup
					t.Cleanup(func() { cancel(); wg.Wait() })
					wg.Go(func() {
						for seq := int64(1); ctx.Err() == nil; seq++ {
							if err := w.writeLease(h.name, seq, 25, time.Now().Add(-h.skew)); err != nil {
								t.Error(err)
								return
							}
							select {
							case <-ctx.Done():
							case <-time.After(leaseRenew):
							}
						}
					})
				}
				time.Sleep(50 * time.Millisecond) // both written once
				l := w.join(w.sharer(nil))
				if l.Rate() > 75.01 {
					t.Errorf("joined at %v beside a live holder using 25 with a clock 5 s slow", l.Rate())
				}
				eventually(t, 2*leaseExpiry, "three holders at a third (rate "+rates(l)+")", func() bool {
					return near(l.Rate(), 100.0/3)
				})
			})
			t.Run("StorageErrors", func(t *testing.T) {
				t.Parallel()
				w := newLeaseWorld(t, b.newStore)
				// Storage down at the start: the job is not stopped, it runs as
				// without coordination, and joins once the storage answers.
				w.srv.FailNext(1_000_000, http.StatusServiceUnavailable)
				start := time.Now()
				a := w.join(w.sharer(nil))
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("Join took %v with the storage down", took)
				}
				if a.Rate() != leaseQuota {
					t.Errorf("storage down at the join: rate %v, want the whole quota, as without coordination", a.Rate())
				}
				if err := a.Wait(t.Context()); err != nil {
					t.Errorf("Wait with the storage down: %v", err)
				}
				w.srv.FailNext(0, 0)
				eventually(t, 3*leaseRenew+time.Second, "the lease written once the storage answers", func() bool {
					return len(w.leases()) == 1
				})
				bl := w.join(w.sharer(nil))
				eventually(t, 3*time.Second, "two holders at 50 (rates "+rates(a, bl)+")", func() bool {
					return near(a.Rate(), 50) && near(bl.Rate(), 50)
				})

				// Storage down while both run: neither stops, neither takes more than
				// its last known share; a departure during the outage goes unseen
				// until the storage answers again.
				stop := watchSum(a, bl)
				w.srv.FailNext(1_000_000, http.StatusInternalServerError)
				var lowest atomic.Int64
				lowest.Store(1000)
				sampler := watchLow(bl, &lowest)
				time.Sleep(2 * leaseRenew)
				a.Release() // its delete fails: the lease expires instead
				time.Sleep(leaseExpiry + 2*leaseRenew)
				if got := bl.Rate(); !near(got, 50) {
					t.Errorf("during the outage: rate %v, want the last known 50", got)
				}
				w.srv.FailNext(0, 0)
				eventually(t, leaseExpiry+3*leaseRenew+time.Second, "the whole quota once the storage answers (rate "+rates(bl)+")", func() bool {
					return near(bl.Rate(), leaseQuota)
				})
				sampler()
				if high := stop(); high > leaseQuota+0.01 {
					t.Errorf("granted %.2f calls/s together during the outage; the quota is %v", high, leaseQuota)
				}
				if low := lowest.Load(); low < 50 {
					t.Errorf("the rate fell to %d during the outage: storage errors must not stop or slow a job", low)
				}
			})
		})
	}
}

// watchLow keeps the lowest rate of l, in whole calls/s, until the returned
// function is called.
func watchLow(l *quota.Lease, low *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if r := int64(l.Rate() + 0.5); r < low.Load() {
				low.Store(r)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// TestLeaseLimiterContract holds a lease, alone in its bucket, to the
// imapi.Limiter contract: it is the limiter a run waits on.
func TestLeaseLimiterContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			limitertest.Run(t, func(t *testing.T, perSecond float64) (imapi.Limiter, func(float64)) {
				w := newLeaseWorld(t, b.newStore)
				s, err := quota.New(quota.Config{Store: objstore.Leases(w.store), Prefix: leasePrefix, Rate: perSecond})
				if err != nil {
					t.Fatal(err)
				}
				l := s.Join(t.Context())
				t.Cleanup(l.Release)
				return l, nil
			})
		})
	}
}
