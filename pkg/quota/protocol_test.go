package quota

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// joinSettled makes n holders join 100 ms apart and waits until they share
// the quota equally.
func joinSettled(s *sim, n int) []*simHolder {
	s.t.Helper()
	var hs []*simHolder
	for range n {
		hs = append(hs, s.join())
		s.run(100*time.Millisecond, nil)
	}
	s.settle(10 * time.Second)
	return hs
}

// TestRequestsPerHolderHour: over a simulated hour of n holders at their
// shares, each makes at most twice the storage requests of the protocol
// before issue 18 (every renewal: one write, one listing, one read per other
// holder), and lists often enough to see a departure within 250 ms (beside
// others) or a newcomer within a third of a renewal (alone). Eight holders
// run for six minutes, counted ten times: the listings repeat every renewal,
// and an hour of them takes a minute under the race detector.
func TestRequestsPerHolderHour(t *testing.T) {
	for _, tt := range []struct {
		holders int
		run     time.Duration
	}{{1, time.Hour}, {2, time.Hour}, {3, time.Hour}, {4, time.Hour}, {8, 6 * time.Minute}} {
		n := tt.holders
		t.Run(fmt.Sprintf("holders=%d", n), func(t *testing.T) {
			t.Parallel()
			s := newSim(t)
			hs := joinSettled(s, n)
			for _, h := range hs {
				h.store.reset()
			}
			s.run(tt.run, nil)
			scale := float64(time.Hour) / float64(tt.run)
			const hour = time.Hour
			renewals := float64(hour / s.cfg.Renew)
			before := renewals * float64(1+1+(n-1))
			wantListings := float64(hour / (250 * time.Millisecond))
			if n == 1 {
				wantListings = 3 * renewals
			}
			for i, h := range hs {
				c := h.store
				got := float64(c.total()) * scale
				t.Logf("holder %d: %.0f requests an hour (%.0f writes, %.0f listings, %.0f reads, %.0f deletes): %.2f times the %.0f before",
					i, got, float64(c.puts.Load())*scale, float64(c.lists.Load())*scale, float64(c.gets.Load())*scale,
					float64(c.deletes.Load())*scale, got/before, before)
				// The hour's edges may cut one renewal's requests (2n+2) either way.
				if edge := float64(2*n+2) * scale; got > 2*before+edge {
					t.Errorf("holder %d: %.0f storage requests an hour, more than twice the %.0f before", i, got, before)
				}
				if l := float64(c.lists.Load()) * scale; l < wantListings {
					t.Errorf("holder %d: %.0f listings an hour, want at least %.0f", i, l, wantListings)
				}
				if w := float64(c.puts.Load()) * scale; w < renewals-scale {
					t.Errorf("holder %d: %.0f writes in an hour, want one a renewal (%.0f) to stay alive", i, w, renewals)
				}
			}
			if !s.settled() {
				t.Errorf("after an hour the shares moved: %s", s.rates())
			}
		})
	}
}

// TestLeaveTakenWithin250ms: after one of n holders leaves, at any moment of
// the others' listing cycles, the others use their new equal shares within
// 250 ms: at their first listing after it.
func TestLeaveTakenWithin250ms(t *testing.T) {
	const limit = 250 * time.Millisecond
	for _, n := range []int{2, 3, 4, 6} {
		t.Run(fmt.Sprintf("holders=%d", n), func(t *testing.T) {
			t.Parallel()
			worst := time.Duration(0)
			for phase := range 10 { // the leave at ten moments of the listing cycles
				s := newSim(t)
				hs := joinSettled(s, n)
				s.run(time.Duration(phase)*37*time.Millisecond, nil)
				s.leave(hs[0])
				want := s.cfg.Rate / float64(n-1)
				left, listings := s.clock, map[*simHolder]int{}
				s.run(time.Second, func(h *simHolder) bool {
					if _, done := listings[h]; !done {
						listings[h] = h.listings
						if math.Abs(h.l.Rate()-want) > 1e-9 {
							t.Errorf("phase %d: a survivor at %.2f after its first listing since the leave; want %.2f", phase, h.l.Rate(), want)
						}
					}
					return s.settled()
				})
				took := s.clock.Sub(left)
				worst = max(worst, took)
				if !s.settled() || took > limit {
					t.Errorf("phase %d: the survivors took %v to reach %.2f each (%s)", phase, took, want, s.rates())
				}
			}
			t.Logf("%d holders, one leaves: the others at their new share after %v at most", n, worst)
		})
	}
}

// TestJoinGetsItsShare: a job joining n holders at their shares gets its
// equal share once each of the others has listed once (a listing interval,
// at most: 250 ms beside three or more) and it has listed once more (at the
// fast listing of a holder waiting for room); meanwhile it uses only what the
// others leave unused (the sim's checks).
func TestJoinGetsItsShare(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("holders=%d", n), func(t *testing.T) {
			t.Parallel()
			limit := max(DefaultRenew/time.Duration(n+2), DefaultRenew/maxListings) + DefaultRenew/waitListings
			if n >= 3 && limit > 250*time.Millisecond {
				t.Fatalf("the bound %v beside %d holders is over 250 ms", limit, n)
			}
			worst := time.Duration(0)
			for phase := range 10 {
				s := newSim(t)
				joinSettled(s, n)
				s.run(time.Duration(phase)*41*time.Millisecond, nil)
				j := s.join()
				if r := j.l.Rate(); r != 0 {
					t.Fatalf("phase %d: joined at %.2f beside holders using the whole quota", phase, r)
				}
				took := s.settle(time.Second)
				worst = max(worst, took)
				if took > limit {
					t.Errorf("phase %d: the newcomer took %v to reach its share; want at most %v", phase, took, limit)
				}
			}
			t.Logf("joining %d holders: an equal share after %v at most (bound %v)", n, worst, limit)
		})
	}
}

// TestSafeAcrossJoinsAndLeaves: over five simulated minutes of jobs joining,
// leaving and killed at random, the holders never use more than the quota
// together, and no lease says less than its holder uses (checked after every
// listing); once the changes stop, they share it equally.
func TestSafeAcrossJoinsAndLeaves(t *testing.T) {
	s := newSim(t)
	rnd := rand.New(rand.NewPCG(18, 2026))
	joins, leaves, kills := 0, 0, 0
	for s.clock.Before(newSim(t).clock.Add(5 * time.Minute)) {
		switch k := rnd.IntN(10); {
		case len(s.holders) < 6 && (k < 5 || len(s.holders) == 0):
			s.join()
			joins++
		case k < 9:
			s.leave(s.holders[rnd.IntN(len(s.holders))])
			leaves++
		default:
			s.kill(s.holders[rnd.IntN(len(s.holders))])
			kills++
		}
		s.run(time.Duration(rnd.IntN(2000))*time.Millisecond, nil)
	}
	if len(s.holders) == 0 {
		s.join()
	}
	// Leases of killed holders count until they expire in the others' listings.
	s.settle(s.cfg.Expiry + time.Second)
	t.Logf("%d joins, %d leaves, %d killed; %d holders at the end", joins, leaves, kills, len(s.holders))
	if joins < 50 || leaves < 30 || kills < 5 {
		t.Errorf("the schedule has too few changes to show anything: %d joins, %d leaves, %d killed", joins, leaves, kills)
	}
}

// TestKilledHolderExpires: a killed holder's share goes to the survivor once
// its lease has gone unchanged for Expiry in the survivor's own listings: not
// before Expiry less a renewal after the kill (its last write may be that
// old), and at the first listing after Expiry from its last write.
func TestKilledHolderExpires(t *testing.T) {
	s := newSim(t)
	hs := joinSettled(s, 2)
	s.run(300*time.Millisecond, nil)
	victim, survivor := hs[0], hs[1]
	lastWrite := victim.l.wrote
	s.kill(victim)
	killed := s.clock
	s.run(10*time.Second, func(*simHolder) bool { return survivor.l.Rate() == s.cfg.Rate })
	took := s.clock.Sub(killed)
	if survivor.l.Rate() != s.cfg.Rate {
		t.Fatalf("the survivor still at %.2f 10 s after the kill", survivor.l.Rate())
	}
	if took < s.cfg.Expiry-s.cfg.Renew {
		t.Errorf("the survivor took the share %v after the kill, before the lease could expire", took)
	}
	if limit := lastWrite.Add(s.cfg.Expiry + survivor.l.interval(s.clock)).Sub(killed); took > limit {
		t.Errorf("the survivor took the share %v after the kill; want within %v", took, limit)
	}
}

// TestStorageErrorsNeverRaise: a holder that cannot list, or cannot write,
// keeps its share when another leaves, and takes the freed share at its first
// listing once the storage answers again.
func TestStorageErrorsNeverRaise(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(c *counting, on bool)
	}{
		{"listings fail", func(c *counting, on bool) { c.blind.Store(on) }},
		{"writes fail", func(c *counting, on bool) { c.dead.Store(on) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t)
			hs := joinSettled(s, 2)
			gone, h := hs[0], hs[1]
			tt.fail(h.store, true)
			s.leave(gone)
			s.run(2*time.Second, func(*simHolder) bool { return h.l.Rate() != 50 })
			if r := h.l.Rate(); r != 50 {
				t.Fatalf("during the outage the rate moved to %.2f; want the last known 50", r)
			}
			tt.fail(h.store, false)
			before := h.listings
			s.run(time.Second, func(*simHolder) bool { return h.l.Rate() == s.cfg.Rate })
			if r, l := h.l.Rate(), h.listings-before; r != s.cfg.Rate || l > 1 {
				t.Errorf("after the outage: rate %.2f after %d listings; want the whole quota at the first", r, l)
			}
		})
	}
}
