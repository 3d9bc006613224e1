package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
)

// record is the content of a lease object.
type record struct {
	// Holder identifies the holder (random, one per lease).
	Holder string
	// Seq numbers the holder's writes: every write changes the content, and so the ETag.
	Seq int64
	// Rate is the most calls per second the holder uses until its next write.
	Rate float64
	// Quota is the quota the holder shares, for people reading the lease.
	Quota float64
	// Time is the holder's clock at the write.
	Time time.Time
}

// peer is what a holder knows of another lease.
type peer struct {
	etag    string
	changed time.Time // the reader's clock when the ETag was first seen as it is
	rate    float64   // as last read
	known   bool      // rate was read
	gone    bool      // deleted between the listing and the read
}

// Lease is one holder's share of the quota: an [imapi.Limiter] whose rate
// follows the protocol of the package, for one job. Release it when the job ends.
type Lease struct {
	s      *Sharer
	key    string
	holder string
	bucket *imapi.TokenBucket
	stop   chan struct{} // closed by Release: no renewal starts after it
	done   chan struct{} // closed when the renewal under way, if any, is over
	once   sync.Once

	// Owned by Join, then by the renewal loop.
	seq    int64
	peers  map[string]*peer
	listed bool      // the prefix was listed once: the rate follows the leases
	fails  int       // storage errors in a row
	said   float64   // the least the stored lease may say (a failed write may or may not have landed)
	wrote  time.Time // the last write, tried or done

	mu      sync.Mutex           // guards the fields below, read by Rate and Holders
	follows []*imapi.TokenBucket // buckets kept at rate (see Follower)
	rate    float64              // granted, and said in the lease once written
	holders int                  // live holders at the last listing, this one included
	waiting time.Time            // since when the lease has less than its equal share (zero: it does not)
	rephase bool                 // the shares changed at the last listing: draw the next listing's phase
}

// Join takes a lease for one job. It writes the lease, reads the others' and
// sets the rate before it returns: at once to the full quota when no other
// lease is live, else to what the others leave unused. It never fails: when the
// storage cannot be reached the job runs at the full quota (see the package
// documentation). Renewals go on until [Lease.Release]; ctx bounds only the
// first requests.
func (s *Sharer) Join(ctx context.Context) *Lease {
	l := s.join(ctx)
	go l.loop(context.WithoutCancel(ctx))
	return l
}

// join is Join without the renewals: the lease after its first listing.
func (s *Sharer) join(ctx context.Context) *Lease {
	id := newHolderID()
	l := &Lease{
		s:      s,
		key:    s.cfg.Prefix + id + ".json",
		holder: id,
		bucket: imapi.NewTokenBucket(0),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		peers:  map[string]*peer{},
	}
	start := time.Now()
	l.tick(ctx)
	rate, holders := l.Rate(), l.Holders()
	s.cfg.Logger.InfoContext(ctx, "quota lease taken", "lease", l.key, "holders", holders,
		"calls_per_second", round(rate), "quota", s.cfg.Rate, "took", time.Since(start).Round(time.Millisecond).String())
	return l
}

// Share is [Sharer.Join] for a run of the job service (its Quota port): the
// lease as the run's Limiter, a [Lease.Follower] for its other calls, and
// its Release.
func (s *Sharer) Share(ctx context.Context) (lim, beside imapi.Limiter, release func()) {
	l := s.Join(ctx)
	return l, l.Follower(), l.Release
}

// newHolderID returns 16 random hex digits.
func newHolderID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Wait waits for the lease's permission to make one call; see [imapi.Limiter].
func (l *Lease) Wait(ctx context.Context) error { return l.bucket.Wait(ctx) }

// Throttle lets through only a fraction of the lease's rate; see [imapi.Limiter].
// The lease still says its whole rate: the others never take what a throttled
// holder leaves, which errs on the safe side.
func (l *Lease) Throttle(fraction float64) { l.bucket.Throttle(fraction) }

// Rate is the calls per second the lease grants now (before any throttle).
func (l *Lease) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Follower returns a token bucket of its own that goes at the lease's rate,
// changed when it changes, waits already queued on it included: the pace of
// another API's calls made beside the removals, one for each (the journal's
// reads: the get API has its own quota, shared as the removal API's is).
// A bucket set to the rate at each wait instead would let the waits queued
// on it go on at the old rate: after a share rose from 50 to 100 calls/s,
// 96 reads queued at 50 held the removals at 50 for two seconds
// (BenchmarkQuota, a short second job, 2 December 2026). It stops with
// the lease (rate zero at Release).
func (l *Lease) Follower() *imapi.TokenBucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := imapi.NewTokenBucket(l.rate)
	l.follows = append(l.follows, b)
	return b
}

// Holders is the number of live holders, this one included, at the last
// listing (1 before any).
func (l *Lease) Holders() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.holders, 1)
}

// Key is the lease's object key.
func (l *Lease) Key() string { return l.key }

// Release ends the renewals and deletes the lease: the other holders take its
// share at their next listing. Waits after Release are held (rate zero) until
// their context ends. Release may be called more than once.
//
// A renewal under way is let finish (each of its requests is bounded by
// opTimeout), not canceled: a write canceled by the client may still be
// applied by the store, after the delete, and leave a lease that says a rate
// nobody uses, which every new holder would count until it expires. (A write
// that outlasts its own timeout can still land late; that leftover counts for
// at most Expiry+Skew after its last write, and is then deleted as dead.)
func (l *Lease) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.setRate(0)
		ctx, cancel := context.WithTimeout(context.Background(), l.opTimeout())
		defer cancel()
		if err := l.s.cfg.Store.Delete(ctx, l.key); err != nil {
			l.s.cfg.Logger.Warn("quota lease not deleted: the others count it until it expires",
				"lease", l.key, "expiry", l.s.cfg.Expiry.String(), "error", err.Error())
			return
		}
		l.s.cfg.Logger.Info("quota lease released", "lease", l.key, "writes", l.seq)
	})
}

// loop lists the leases and renews this one until Release, at the times of
// [Lease.next].
func (l *Lease) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTimer(l.next(l.s.now()))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.tick(ctx)
		t.Reset(l.next(l.s.now()))
	}
}

// next is the time until the next listing: an interval, or after a change of
// the shares a random part of one. Without it, holders list in step with the
// change that set their phase, and a job whose share lasts a whole number of
// intervals (100 calls at 50 a second: 2 s, 8 intervals of 250 ms) ends just
// after the others' listing every time, its share unused for a whole interval
// instead of half of one on average. The draw only shortens an interval.
func (l *Lease) next(now time.Time) time.Duration {
	every := l.interval(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rephase {
		l.rephase = false
		every = time.Duration(float64(every) * (1 - l.s.rand())) // in (0, every]
	}
	return every
}

// interval is the time from one listing to the next: see the package
// documentation (What it costs). Before a first listing, a renewal: the holder
// tries again to join.
func (l *Lease) interval(now time.Time) time.Duration {
	cfg := l.s.cfg
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.listed {
		return cfg.Renew
	}
	every := max(cfg.Renew/time.Duration(l.holders+2), cfg.Renew/maxListings)
	if !l.waiting.IsZero() && now.Sub(l.waiting) < cfg.Expiry {
		every = min(every, cfg.Renew/waitListings)
	}
	return every
}

// Listings per renewal: at most maxListings in any case, waitListings while a
// holder waits for room (see the package documentation).
const (
	maxListings  = 8
	waitListings = 40
)

// opTimeout bounds each storage request.
func (l *Lease) opTimeout() time.Duration { return 2 * l.s.cfg.Renew }

// tick is one listing: list the leases, read those that changed and set the
// rate, writing the lease when the rate changes or its renewal is due. A
// lower rate is set before it is written, a higher one only once written.
func (l *Lease) tick(ctx context.Context) {
	cfg := l.s.cfg
	if !l.listed {
		// The first the others see of this holder: what it uses now (nothing,
		// when joining).
		_ = l.write(ctx, l.Rate())
	}
	now := l.s.now()
	objs, err := l.list(ctx)
	if err != nil {
		l.listFailed(ctx, err, now)
		return
	}
	others, partial := l.observe(ctx, objs, now)
	want := share(cfg.Rate, others)
	cur := l.Rate()
	if partial && l.listed {
		want = min(want, cur) // never more than the last known share on missing information
	}
	fair := cfg.Rate / float64(len(others)+1)
	l.mu.Lock()
	l.rephase = l.listed && (l.holders != len(others)+1 || want != cur)
	l.listed, l.holders = true, len(others)+1
	switch {
	case want >= fair*0.999:
		l.waiting = time.Time{}
	case l.waiting.IsZero():
		l.waiting = now
	}
	l.mu.Unlock()
	l.apply(ctx, cur, want, now)
	if want != cur {
		cfg.Logger.DebugContext(ctx, "quota share", "lease", l.key, "holders", len(others)+1, "calls_per_second", round(l.Rate()))
	}
}

// apply moves the rate from cur to want: lower at once, then said; said, then
// higher. The lease is written when it may say something else than want, or
// when its renewal is due.
func (l *Lease) apply(ctx context.Context, cur, want float64, now time.Time) {
	if want < cur {
		l.setRate(want)
	}
	if want != l.said || l.due(now) {
		if err := l.write(ctx, want); err != nil {
			return // a higher rate is not taken before the lease says so
		}
	}
	if want > cur {
		l.setRate(want)
	}
}

// due reports whether the lease's renewal is due: at the listing nearest to
// Renew after the last write.
func (l *Lease) due(now time.Time) bool {
	return now.Sub(l.wrote) >= l.s.cfg.Renew-l.interval(now)/2
}

// listFailed handles a failed listing: a holder that never listed and uses
// nothing runs as without coordination; one that did keeps its rate and its
// lease alive.
func (l *Lease) listFailed(ctx context.Context, err error, now time.Time) {
	cfg := l.s.cfg
	switch {
	case !l.listed && l.Rate() == 0:
		// Cannot join: run as without coordination, and say so if the lease
		// can be written.
		_ = l.write(ctx, cfg.Rate)
		l.setRate(cfg.Rate)
		cfg.Logger.WarnContext(ctx, "quota: cannot read the leases; running at the full quota, as without coordination",
			"prefix", cfg.Prefix, "calls_per_second", cfg.Rate, "error", err.Error())
	case l.listed && (l.said < l.Rate() || l.due(now)):
		_ = l.write(ctx, l.Rate()) // stay alive at the last known rate
	}
}

// setRate sets the rate granted.
func (l *Lease) setRate(r float64) {
	l.mu.Lock()
	l.rate = r
	follows := l.follows
	l.mu.Unlock()
	l.bucket.SetRate(r)
	for _, b := range follows {
		b.SetRate(r)
	}
}

// write stores the lease saying rate. A failed write may still land: the
// lease is then known to say at least the lower of rate and what it said.
func (l *Lease) write(ctx context.Context, rate float64) error {
	l.seq++
	now := l.s.now()
	data, err := json.Marshal(record{Holder: l.holder, Seq: l.seq, Rate: rate, Quota: l.s.cfg.Rate, Time: now.UTC()})
	if err != nil {
		return fmt.Errorf("quota: encode the lease: %w", err) // cannot happen: plain fields
	}
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	l.wrote = now
	if err := l.noteError(ctx, "write the lease", l.s.cfg.Store.Put(octx, l.key, data)); err != nil {
		l.said = min(l.said, rate)
		return err
	}
	l.said = rate
	return nil
}

// list lists the prefix.
func (l *Lease) list(ctx context.Context) ([]Object, error) {
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	objs, err := l.s.cfg.Store.List(octx, l.s.cfg.Prefix)
	return objs, l.noteError(ctx, "list the leases", err)
}

// noteError logs the first storage error of a run of them and every tenth
// after it, and the recovery; it returns err.
func (l *Lease) noteError(ctx context.Context, what string, err error) error {
	log := l.s.cfg.Logger
	switch {
	case err == nil && l.fails > 0:
		log.InfoContext(ctx, "quota: storage answers again", "lease", l.key, "failures", l.fails)
		l.fails = 0
	case err != nil:
		if l.fails%10 == 0 {
			log.WarnContext(ctx, "quota: storage error; the job goes on at its last known share", "lease", l.key,
				"operation", what, "failures_in_a_row", l.fails+1, "error", err.Error())
		}
		l.fails++
	}
	return err
}

// observe updates what the holder knows of the listed leases, reading those
// that are new or changed, deletes long-dead ones, and returns the rates the
// live others use (an unknown one counts as its equal share). partial is set
// when a lease could not be read.
func (l *Lease) observe(ctx context.Context, objs []Object, now time.Time) (others []float64, partial bool) {
	cfg := l.s.cfg
	listed := make(map[string]bool, len(objs))
	var toRead []string
	for _, o := range objs {
		if o.Key == l.key {
			continue
		}
		listed[o.Key] = true
		p := l.peers[o.Key]
		switch {
		case p == nil:
			l.peers[o.Key] = &peer{etag: o.ETag, changed: now}
			toRead = append(toRead, o.Key)
		case p.etag != o.ETag:
			p.etag, p.changed, p.gone = o.ETag, now, false
			toRead = append(toRead, o.Key)
		case !p.known:
			toRead = append(toRead, o.Key)
		}
	}
	for k := range l.peers {
		if !listed[k] {
			delete(l.peers, k)
		}
	}
	if l.read(ctx, toRead, now) {
		partial = true
	}

	var unknown int
	for k, p := range l.peers {
		age := now.Sub(p.changed)
		switch {
		case p.gone:
		case age < cfg.Expiry:
			if p.known {
				others = append(others, p.rate)
			} else {
				unknown++
			}
		case age >= 4*cfg.Expiry:
			l.remove(ctx, k) // dead for a while: a killed holder's leftover
		}
	}
	fair := cfg.Rate / float64(len(others)+unknown+1)
	for range unknown {
		others = append(others, fair)
	}
	return others, partial
}

// read reads the leases keys, at once, into their peers; it reports whether
// one could not be read.
func (l *Lease) read(ctx context.Context, keys []string, now time.Time) (failed bool) {
	if len(keys) == 0 {
		return false
	}
	type result struct {
		key  string
		rec  record
		err  error
		bad  bool
		gone bool
	}
	results := make([]result, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			octx, cancel := context.WithTimeout(ctx, l.opTimeout())
			defer cancel()
			res := result{key: k}
			data, _, err := l.s.cfg.Store.Get(octx, k)
			switch {
			case errors.Is(err, ErrNotFound):
				res.gone = true
			case err != nil:
				res.err = err
			default:
				res.bad = json.Unmarshal(data, &res.rec) != nil || res.rec.Holder == "" || res.rec.Rate < 0
			}
			results[i] = res
		})
	}
	wg.Wait()
	wall := l.s.now()
	for _, res := range results {
		p := l.peers[res.key]
		switch {
		case res.gone:
			p.gone = true
		case res.err != nil:
			failed = true
			_ = l.noteError(ctx, "read a lease", res.err)
		case res.bad:
			// Not a lease this code wrote: it counts, as its equal share.
			l.s.cfg.Logger.WarnContext(ctx, "quota: an object under the prefix is not a lease", "key", res.key)
		default:
			first := !p.known
			p.rate, p.known = res.rec.Rate, true
			// A lease seen for the first time and written long ago, by its own
			// clock, is a leftover: dead now, alive again if it changes.
			if first && p.changed.Equal(now) && wall.Sub(res.rec.Time) > l.s.cfg.Expiry+l.s.cfg.Skew {
				p.changed = now.Add(-l.s.cfg.Expiry)
			}
		}
	}
	return failed
}

// remove deletes a dead lease, best effort.
func (l *Lease) remove(ctx context.Context, key string) {
	octx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	if err := l.s.cfg.Store.Delete(octx, key); err != nil {
		_ = l.noteError(ctx, "delete a dead lease", err)
		return
	}
	delete(l.peers, key)
	l.s.cfg.Logger.InfoContext(ctx, "quota: deleted a dead lease", "key", key)
}

// round rounds a rate for logs.
func round(r float64) float64 { return float64(int64(r*100+0.5)) / 100 }
