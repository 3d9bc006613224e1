package imapi

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"github.com/removetag/removetag/pkg/records"
)

func TestBatchMergesAccounts(t *testing.T) {
	tests := []struct {
		name       string
		recs       []records.Record
		wantCalls  []records.Record
		wantRefuse int // index of the first record that does not fit, -1 if all do
	}{
		{
			name:       "distinct accounts",
			recs:       []records.Record{{Account: "a", Tags: []string{"x"}}, {Account: "b", Tags: []string{"y"}}},
			wantCalls:  []records.Record{{Account: "a", Tags: []string{"x"}}, {Account: "b", Tags: []string{"y"}}},
			wantRefuse: -1,
		},
		{
			name:       "same account twice: union of tags, order kept",
			recs:       []records.Record{{Account: "a", Tags: []string{"x", "y"}}, {Account: "b", Tags: []string{"z"}}, {Account: "a", Tags: []string{"y", "w"}}},
			wantCalls:  []records.Record{{Account: "a", Tags: []string{"x", "y", "w"}}, {Account: "b", Tags: []string{"z"}}},
			wantRefuse: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBatch(0, records.Position{}, nil)
			for i, r := range tt.recs {
				if !b.fits(r) {
					if i != tt.wantRefuse {
						t.Fatalf("record %d refused", i)
					}
					return
				}
				b.add(r, nil)
			}
			if fmt.Sprint(b.calls) != fmt.Sprint(tt.wantCalls) {
				t.Errorf("calls = %v, want %v", b.calls, tt.wantCalls)
			}
			if len(b.entries) != len(tt.recs) {
				t.Errorf("entries = %d, want %d", len(b.entries), len(tt.recs))
			}
		})
	}
}

func TestBatchDoesNotMutateInput(t *testing.T) {
	first := records.Record{Account: "a", Tags: make([]string, 1, 10)}
	first.Tags[0] = "x"
	b := newBatch(0, records.Position{}, nil)
	b.add(first, nil)
	if !b.fits(records.Record{Account: "a", Tags: []string{"z"}}) {
		t.Fatal("a second tag for the account does not fit")
	}
	if got := first.Tags[:cap(first.Tags)][1]; got != "" {
		t.Fatalf("fits wrote %q into the input record's backing array", got)
	}
	b.add(records.Record{Account: "a", Tags: []string{"y"}}, nil)
	if got := first.Tags[:cap(first.Tags)][1]; got != "" {
		t.Fatalf("merging wrote %q into the input record's backing array", got)
	}
	if len(b.calls[0].Tags) != 2 {
		t.Fatalf("merged tags = %v", b.calls[0].Tags)
	}
}

func TestBatchLimits(t *testing.T) {
	b := newBatch(0, records.Position{}, nil)
	for i := range MaxAccountsPerCall {
		r := records.Record{Account: fmt.Sprintf("u%d", i), Tags: []string{"t"}}
		if !b.fits(r) {
			t.Fatalf("account %d refused", i)
		}
		b.add(r, nil)
	}
	if b.fits(records.Record{Account: "new", Tags: []string{"t"}}) {
		t.Error("a 101st account fits")
	}
	if !b.fits(records.Record{Account: "u5", Tags: []string{"t2"}}) {
		t.Error("a known account with a new tag does not fit")
	}

	many := make([]string, records.MaxTagsPerRecord)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	b = newBatch(0, records.Position{}, nil)
	b.add(records.Record{Account: "a", Tags: many}, nil)
	if !b.fits(records.Record{Account: "a", Tags: many[:5]}) {
		t.Error("tags already held do not fit")
	}
	if b.fits(records.Record{Account: "a", Tags: []string{"extra"}}) {
		t.Error("a 101st tag for one account fits")
	}
}

func TestSignerCachesAndRenews(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := &signer{appID: 1400000001, key: "k", admin: "administrator", ttl: time.Hour, now: clock}
	first, _, err := s.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := tencentyun.VerifyUserSig(1400000001, "k", "administrator", first, time.Now()); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if again, _, _ := s.get(context.Background()); again != first {
		t.Error("signature not reused")
	}
	now = now.Add(50 * time.Minute) // 10 min before expiry: outside the 6-minute margin
	if again, _, _ := s.get(context.Background()); again != first {
		t.Error("signature renewed too early")
	}
	now = now.Add(5 * time.Minute)
	if _, _, err := s.get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.signed.Load(); got != 2 {
		t.Errorf("signed %d times, want 2 (renewed near expiry)", got)
	}
	// renew(old) after another caller renewed returns the new one without signing again.
	s.sig = "replaced-by-another-caller"
	if got, _ := s.renew(first); got != s.sig || s.signed.Load() != 2 {
		t.Error("renew of a stale signature signed again")
	}
}

func TestSignerConcurrentUse(t *testing.T) {
	s := &signer{appID: 1400000001, key: "k", admin: "administrator", ttl: time.Hour, now: time.Now}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, _, err := s.get(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := s.signed.Load(); got != 1 {
		t.Errorf("signed %d times under concurrency, want 1", got)
	}
}

func TestPacerSlowsDownAndRecovers(t *testing.T) {
	b := NewTokenBucket(100)
	p := newPacer(b, 40*time.Millisecond)
	now := time.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	steps := []struct {
		name    string
		at      time.Duration
		success bool
		want    float64 // calls per second after the step
	}{
		{"an isolated rate-limit answer: retry at the same rate", 0, false, 100},
		{"a second one within the period: still noise", 5 * time.Millisecond, false, 100},
		{"a third within the period: the quota is shared", 8 * time.Millisecond, false, 50},
		{"another within the cool-down: no second cut", 10 * time.Millisecond, false, 50},
		{"success within the slow-down period: no recovery", 15 * time.Millisecond, true, 50},
		{"past the cool-down, within the period", 30 * time.Millisecond, false, 25},
		{"two within the period", 50 * time.Millisecond, false, 25},
		{"three within the period again", 55 * time.Millisecond, false, 12.5},
		{"the floor: a tenth", 80 * time.Millisecond, false, 10},
		{"two within the period", 100 * time.Millisecond, false, 10},
		{"never below the floor", 105 * time.Millisecond, false, 10},
		{"success after the period: a fiftieth back", 150 * time.Millisecond, true, 12},
		{"one answer after a long calm: noise again", 400 * time.Millisecond, false, 12},
	}
	for _, s := range steps {
		if s.success {
			p.onSuccess(at(s.at))
		} else {
			p.onRateLimit(at(s.at))
		}
		if got := b.currentRate(); math.Abs(got-s.want) > 1e-9 {
			t.Fatalf("%s: rate %v, want %v", s.name, got, s.want)
		}
	}
	for range 100 {
		p.onSuccess(at(time.Second))
	}
	if got := b.currentRate(); got != 100 {
		t.Errorf("rate after recovery = %v, want 100", got)
	}
}

// TestPacerTellsNoiseFromSharing: a few rate-limit answers among many
// successes (calls catching up after a stall, each a few ms early) are
// retried at the same rate; answers that are a part of the period's calls
// (another caller on the quota) halve it.
func TestPacerTellsNoiseFromSharing(t *testing.T) {
	const period = 2 * time.Second
	for _, tt := range []struct {
		name      string
		successes int     // at 100 a second before the answers
		refused   int     // then these, 10 ms apart
		between   int     // successes after each of them
		want      float64 // calls per second after
		stale     bool    // the successes are a period before the answers
	}{
		{name: "three in a row, nothing else", refused: 3, want: 50},
		{name: "six of two hundred after a stall (3 %)", successes: 200, refused: 6, want: 100},
		{name: "ten of two hundred (5 %)", successes: 200, refused: 10, want: 50},
		{name: "another caller takes half", successes: 10, refused: 3, between: 1, want: 50},
		{name: "one refused in twenty, sustained", successes: 190, refused: 10, between: 19, want: 50},
		{name: "one in forty: retried", successes: 160, refused: 5, between: 39, want: 100},
		{name: "old successes no longer count", successes: 200, refused: 3, want: 50, stale: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := NewTokenBucket(100)
			p := newPacer(b, period)
			at := time.Now()
			for range tt.successes {
				p.onSuccess(at)
				at = at.Add(10 * time.Millisecond)
			}
			if tt.stale {
				at = at.Add(period)
			}
			for range tt.refused {
				p.onRateLimit(at)
				at = at.Add(10 * time.Millisecond)
				for range tt.between {
					p.onSuccess(at)
					at = at.Add(10 * time.Millisecond)
				}
			}
			if got := b.currentRate(); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("rate %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoffBounded(t *testing.T) {
	r := &run{cfg: EngineConfig{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	for attempt := 1; attempt < 70; attempt++ {
		d := r.backoff(attempt)
		want := min(100*time.Millisecond<<min(attempt-1, 20), time.Second)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, want/2, want)
		}
	}
}
