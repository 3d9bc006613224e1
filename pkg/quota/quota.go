// Package quota shares one app-wide call rate among any number of jobs in any
// number of processes, through leases kept in object storage: no service to run
// beside the bucket the jobs already use.
//
// # The protocol
//
// Every job that sends calls holds a lease: a small object under the prefix
// ({prefix}{holder id}.json) saying who holds it, a renewal number, the holder's
// clock and the rate it uses. The holder lists the prefix several times a
// second, reads the leases whose ETag changed since its last listing, and
// sets its rate to
//
//	min(quota / live holders, quota − the rates the other live holders use)
//
// so that every holder gets an equal share, and a job that has just joined takes
// only what the others leave unused until they have seen it and made room. It
// writes its lease when that rate changes, and again about every second
// (Config.Renew) to stay alive. A holder lowers its rate before it says so in
// its lease, and says so before it raises it, so that what the leases say is
// never below what is used.
//
//   - Joining: write a lease using nothing, list, compute the rate, write it, send.
//     A job that finds no other lease starts at the full quota after these three
//     requests (tens of milliseconds), without waiting for a renewal. Beside
//     others it waits for room: each of them sees the new lease at its next
//     listing and lowers its rate; while it has less than its equal share, the
//     newcomer lists 40 times a renewal (every 25 ms; for at most Config.Expiry)
//     and takes the room as soon as it is made.
//   - Leaving: delete the lease; the others see it gone at their next listing,
//     at most 250 ms later, and take its share after one write.
//   - A killed holder: its lease stops changing. A lease counts as live while its
//     ETag changed within Config.Expiry (3 s) of the reader's own listings:
//     liveness is judged by what each reader observes on its own clock, so the
//     holders' clocks need not agree. Only a lease seen for the first time is
//     judged by the clock it carries: one written more than Expiry + Config.Skew
//     ago (default 10 s of skew tolerated) is a leftover and does not count (if
//     it changes later, it does). Readers delete leases dead for a while.
//   - Storage errors never stop a job, and never raise a holder's rate: a failed
//     listing or read keeps the last known rate (an unreadable new lease counts
//     as using its equal share), a failed write does not raise it (and may have
//     landed: the lease is written again at the next listing). A job that
//     cannot join at all (no lease written or listed) runs at the full quota, as
//     it would without coordination, relies on the engine's slow-down on
//     rate-limit answers, and tries to join again at every renewal.
//
// Two jobs that join within one storage round trip of each other may both see
// no other lease and both start at the full quota, until their next listing;
// the engine's slow-down covers such moments.
//
// # What it costs, and how fast shares move
//
// Shares move at listings, and listings are storage requests, billed. The
// listing interval is what keeps each holder within twice the requests of the
// protocol before it (issue 18), which listed once a renewal: beside n−1
// others, that protocol made n+1 requests a renewal (a write, a listing, a
// read of each other lease, renewed meanwhile); this one keeps the write and
// the reads and spends the rest, n+2 requests, on listings. So a holder lists
//
//	n+2 times a renewal, at most 8 (every 333 ms alone, 250 ms beside one
//	other, 200 ms beside two, 167 ms beside three, 125 ms beside five or more)
//
// and a departure is seen within 250 ms whenever there is anyone to see it.
// A newcomer gets its share once every other holder has listed once and it
// has listed once more (plus a few round trips): within 250 ms beside three or
// more holders; beside two within 275 ms, beside one within 358 ms (about 140
// and 180 ms on average). The lone holder's budget, four requests a second,
// affords three listings; 250 ms there would need about five, nearly three times the
// requests before. No quota is lost while a newcomer waits: the others use it
// until they make room. Listing faster while waiting costs a newcomer a few
// listings once, not per hour.
//
// After a listing that changed the shares, the next one comes after a random
// part of an interval, never more: holders would otherwise list in step with
// the change that set their phase, and a job whose share lasted a whole number
// of intervals would end just after the others' listing, its share unused for
// a whole interval instead of half of one on average.
package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// Defaults of [Config].
const (
	DefaultRenew  = time.Second
	DefaultExpiry = 3 * time.Second
	DefaultSkew   = 10 * time.Second
)

// ErrNotFound is wrapped by the error of [Store.Get] for a missing key.
var ErrNotFound = errors.New("lease not found")

// Object is a listed lease: its key and ETag.
type Object struct {
	Key  string
	ETag string
}

// Store is the storage the leases live in: one bucket. Implementations are safe
// for concurrent use.
type Store interface {
	// Put stores data under key, replacing what is there.
	Put(ctx context.Context, key string, data []byte) error
	// List returns every object whose key starts with prefix.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Get returns an object's content and ETag; a missing key is an error
	// wrapping ErrNotFound.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Config configures a [Sharer].
type Config struct {
	// Store holds the leases. Required.
	Store Store
	// Prefix is where the leases live, e.g. "removetag/quota/". Required; it
	// must end in "/" and hold nothing but leases.
	Prefix string
	// Rate is the quota shared by every holder, in calls per second. Required.
	Rate float64
	// Renew is how often a holder writes its lease to stay alive; default 1 s.
	// It lists the others' several times a renewal (see the package
	// documentation).
	Renew time.Duration
	// Expiry is how long a lease may go unchanged, as its reader observes, and
	// still count; default 3 s. It must exceed Renew plus a storage round trip.
	Expiry time.Duration
	// Skew is how far a holder's clock may be behind its reader's for a lease seen
	// for the first time to count; default 10 s.
	Skew time.Duration
	// Logger receives joins, departures and storage errors; default: discard.
	Logger *slog.Logger
}

// Sharer hands out leases on the quota. It is safe for concurrent use; each
// [Sharer.Join] is one holder.
type Sharer struct {
	cfg  Config
	now  func() time.Time // the holders' clock: time.Now but in tests
	rand func() float64   // in [0, 1): rand.Float64 but in tests
}

// New checks cfg and returns a Sharer.
func New(cfg Config) (*Sharer, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("quota: Config.Store is required")
	case cfg.Prefix == "" || !strings.HasSuffix(cfg.Prefix, "/") || strings.HasPrefix(cfg.Prefix, "/"):
		return nil, fmt.Errorf("quota: Config.Prefix %q: want a key prefix ending in a slash, such as removetag/quota/", cfg.Prefix)
	case !(cfg.Rate > 0):
		return nil, fmt.Errorf("quota: Config.Rate %v: want a positive number of calls per second", cfg.Rate)
	}
	if cfg.Renew <= 0 {
		cfg.Renew = DefaultRenew
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Expiry <= cfg.Renew {
		return nil, fmt.Errorf("quota: Config.Expiry %v must exceed Config.Renew %v", cfg.Expiry, cfg.Renew)
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sharer{cfg: cfg, now: time.Now, rand: rand.Float64}, nil
}

// Rate is the quota the Sharer shares.
func (s *Sharer) Rate() float64 { return s.cfg.Rate }

// share is the rate a holder may use when the other live holders use others:
// an equal share of quota among them all, and no more than they leave unused.
func share(quota float64, others []float64) float64 {
	used := 0.0
	for _, r := range others {
		used += r
	}
	fair := quota / float64(len(others)+1)
	return max(min(fair, quota-used), 0)
}
