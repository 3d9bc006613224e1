package quota

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStore is an in-memory Store whose ETags are the content's MD5, as an
// object store's are for a plain upload.
type memStore struct {
	mu   sync.Mutex
	objs map[string]stored
}

type stored struct {
	data []byte
	etag string
}

func newMemStore() *memStore { return &memStore{objs: map[string]stored{}} }

func (s *memStore) Put(_ context.Context, key string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = stored{data: data, etag: etag(data)}
	return nil
}

func (s *memStore) List(_ context.Context, prefix string) ([]Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Object
	for k, v := range s.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, Object{Key: k, ETag: v.etag})
		}
	}
	return out, nil
}

func (s *memStore) Get(_ context.Context, key string) ([]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.objs[key]
	if !ok {
		return nil, "", ErrNotFound
	}
	return v.data, v.etag, nil
}

func (s *memStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs, key)
	return nil
}

func etag(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

// said is the rate the stored lease key says, and whether there is one.
func (s *memStore) said(t *testing.T, key string) (float64, bool) {
	t.Helper()
	data, _, err := s.Get(context.Background(), key)
	if err != nil {
		return 0, false
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("lease %s: %v", key, err)
	}
	return rec.Rate, true
}

// counting is one holder's view of the store, counting its requests.
type counting struct {
	Store
	puts, lists, gets, deletes atomic.Int64
	dead                       atomic.Bool // writes fail (a killed holder's view, or an outage)
	blind                      atomic.Bool // listings fail
}

func (c *counting) Put(ctx context.Context, key string, data []byte) error {
	c.puts.Add(1)
	if c.dead.Load() {
		return fmt.Errorf("killed")
	}
	return c.Store.Put(ctx, key, data)
}

func (c *counting) List(ctx context.Context, prefix string) ([]Object, error) {
	c.lists.Add(1)
	if c.blind.Load() {
		return nil, fmt.Errorf("listing refused")
	}
	return c.Store.List(ctx, prefix)
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, string, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.Store.Delete(ctx, key)
}

func (c *counting) total() int64 {
	return c.puts.Load() + c.lists.Load() + c.gets.Load() + c.deletes.Load()
}

func (c *counting) reset() {
	c.puts.Store(0)
	c.lists.Store(0)
	c.gets.Store(0)
	c.deletes.Store(0)
}

// sim runs holders on one store and one simulated clock, without their
// renewal goroutines: each holder lists when its interval says, and a listing
// takes no simulated time, so that the outcomes do not depend on the machine's
// speed. After every listing it checks the protocol's safety: the holders
// together use no more than the quota, and each lease says at least what its
// holder uses.
type sim struct {
	t       *testing.T
	store   *memStore
	cfg     Config
	clock   time.Time
	rnd     *rand.Rand // the holders' draws of a listing's phase
	holders []*simHolder
}

// simHolder is one job's lease in a sim.
type simHolder struct {
	l        *Lease
	store    *counting
	next     time.Time // of its next listing
	listings int       // since the start
	killed   bool      // no longer lists (and its writes fail)
}

// Protocol timings of the simulations: the defaults.
func newSim(t *testing.T) *sim {
	return &sim{
		t:     t,
		store: newMemStore(),
		cfg:   Config{Prefix: "leases/", Rate: 100, Renew: DefaultRenew, Expiry: DefaultExpiry},
		clock: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		rnd:   rand.New(rand.NewPCG(18, 1)),
	}
}

func (s *sim) now() time.Time { return s.clock }

// join makes one more holder join now.
func (s *sim) join() *simHolder {
	s.t.Helper()
	c := &counting{Store: s.store}
	cfg := s.cfg
	cfg.Store = c
	sh, err := New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	sh.now, sh.rand = s.now, s.rnd.Float64
	h := &simHolder{store: c, l: sh.join(s.t.Context())}
	h.listings = 1
	h.next = s.clock.Add(h.l.next(s.clock))
	s.holders = append(s.holders, h)
	s.check()
	return h
}

// leave releases h's lease now.
func (s *sim) leave(h *simHolder) {
	close(h.l.done) // no renewal goroutine to wait for
	h.l.Release()
	s.holders = deleteHolder(s.holders, h)
	s.check()
}

// kill stops h as a killed process stops: no more listings, writes or deletes.
func (s *sim) kill(h *simHolder) {
	h.killed = true
	h.store.dead.Store(true)
	s.holders = deleteHolder(s.holders, h)
}

func deleteHolder(hs []*simHolder, h *simHolder) []*simHolder {
	out := hs[:0]
	for _, o := range hs {
		if o != h {
			out = append(out, o)
		}
	}
	return out
}

// run runs the listings due within d from now, in the order of their times,
// calling after (if not nil) after each one; it stops early when after
// returns true.
func (s *sim) run(d time.Duration, after func(h *simHolder) bool) {
	s.t.Helper()
	end := s.clock.Add(d)
	for {
		var h *simHolder
		for _, o := range s.holders {
			if h == nil || o.next.Before(h.next) {
				h = o
			}
		}
		if h == nil || h.next.After(end) {
			s.clock = end
			return
		}
		s.clock = h.next
		h.l.tick(s.t.Context())
		h.listings++
		h.next = s.clock.Add(h.l.next(s.clock))
		s.check()
		if after != nil && after(h) {
			return
		}
	}
}

// check fails the test when the holders use more than the quota together, or
// a lease says less than its holder uses.
func (s *sim) check() {
	s.t.Helper()
	sum := 0.0
	for _, h := range s.holders {
		used := h.l.Rate()
		sum += used
		if said, ok := s.store.said(s.t, h.l.Key()); said < used-1e-9 {
			s.t.Fatalf("at %v a holder uses %.2f calls/s and its lease says %.2f (stored: %v)", s.clock.Format(time.StampMilli), used, said, ok)
		}
	}
	if sum > s.cfg.Rate+1e-9 {
		s.t.Fatalf("at %v the holders use %.2f calls/s together (%s); the quota is %v", s.clock.Format(time.StampMilli), sum, s.rates(), s.cfg.Rate)
	}
}

// settled reports whether every holder uses its equal share.
func (s *sim) settled() bool {
	for _, h := range s.holders {
		if math.Abs(h.l.Rate()-s.cfg.Rate/float64(len(s.holders))) > 1e-9 {
			return false
		}
	}
	return true
}

func (s *sim) rates() string {
	var r []string
	for _, h := range s.holders {
		r = append(r, fmt.Sprintf("%.2f", h.l.Rate()))
	}
	return strings.Join(r, " ")
}

// settle runs until every holder has its equal share, within limit.
func (s *sim) settle(limit time.Duration) time.Duration {
	s.t.Helper()
	start := s.clock
	if s.settled() {
		return 0
	}
	s.run(limit, func(*simHolder) bool { return s.settled() })
	if !s.settled() {
		s.t.Fatalf("%d holders not at equal shares %v after the change: %s", len(s.holders), limit, s.rates())
	}
	return s.clock.Sub(start)
}
