package records_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

func TestSpansAdd(t *testing.T) {
	sp := func(from, to int64) records.Span { return records.Span{From: from, To: to} }
	tests := []struct {
		name string
		set  records.Spans
		add  records.Span
		want records.Spans
	}{
		{"into nothing", nil, sp(3, 5), records.Spans{sp(3, 5)}},
		{"empty span", records.Spans{sp(3, 5)}, sp(7, 7), records.Spans{sp(3, 5)}},
		{"after, apart", records.Spans{sp(3, 5)}, sp(6, 8), records.Spans{sp(3, 5), sp(6, 8)}},
		{"after, touching", records.Spans{sp(3, 5)}, sp(5, 8), records.Spans{sp(3, 8)}},
		{"before, apart", records.Spans{sp(3, 5)}, sp(0, 2), records.Spans{sp(0, 2), sp(3, 5)}},
		{"before, touching", records.Spans{sp(3, 5)}, sp(0, 3), records.Spans{sp(0, 5)}},
		{"between", records.Spans{sp(0, 2), sp(8, 9)}, sp(4, 6), records.Spans{sp(0, 2), sp(4, 6), sp(8, 9)}},
		{"fills a gap", records.Spans{sp(0, 2), sp(4, 6)}, sp(2, 4), records.Spans{sp(0, 6)}},
		{"inside", records.Spans{sp(0, 10)}, sp(2, 4), records.Spans{sp(0, 10)}},
		{"over several", records.Spans{sp(0, 2), sp(3, 4), sp(5, 6), sp(9, 12)}, sp(1, 9), records.Spans{sp(0, 12)}},
		{"over several, apart after", records.Spans{sp(0, 2), sp(3, 4), sp(9, 12)}, sp(1, 8), records.Spans{sp(0, 8), sp(9, 12)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(tt.set).Add(tt.add)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%v.Add(%v) = %v, want %v", tt.set, tt.add, got, tt.want)
			}
			if err := got.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSpansAgainstBitmap adds random spans and checks the set, its length,
// Contains and Split against a bitmap of the same records.
func TestSpansAgainstBitmap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var set records.Spans
		var bits [120]bool
		for range rng.IntN(12) {
			from := rng.Int64N(110)
			to := from + rng.Int64N(10)
			set = set.Add(records.Span{From: from, To: to})
			for i := from; i < to; i++ {
				bits[i] = true
			}
		}
		if err := set.Check(); err != nil {
			t.Fatalf("round %d: %v: %v", round, set, err)
		}
		var n int64
		for i, b := range bits {
			if b {
				n++
			}
			if set.Contains(int64(i)) != b {
				t.Fatalf("round %d: %v.Contains(%d) = %v", round, set, i, !b)
			}
		}
		if set.Len() != n {
			t.Fatalf("round %d: %v.Len() = %d, want %d", round, set, set.Len(), n)
		}
		at := rng.Int64N(120)
		before, after := set.Split(at)
		if before.Check() != nil || after.Check() != nil || before.Len()+after.Len() != n {
			t.Fatalf("round %d: %v.Split(%d) = %v, %v", round, set, at, before, after)
		}
		for i := range int64(120) {
			if before.Contains(i) != (bits[i] && i < at) || after.Contains(i) != (bits[i] && i >= at) {
				t.Fatalf("round %d: %v.Split(%d) = %v, %v: wrong at %d", round, set, at, before, after, i)
			}
		}
	}
}

func TestSpansCheck(t *testing.T) {
	sp := func(from, to int64) records.Span { return records.Span{From: from, To: to} }
	tests := []struct {
		name string
		set  records.Spans
		ok   bool
	}{
		{"none", nil, true},
		{"sorted, apart", records.Spans{sp(0, 2), sp(3, 4)}, true},
		{"touching", records.Spans{sp(0, 2), sp(2, 4)}, false},
		{"overlapping", records.Spans{sp(0, 3), sp(2, 4)}, false},
		{"unsorted", records.Spans{sp(5, 6), sp(0, 2)}, false},
		{"empty span", records.Spans{sp(2, 2)}, false},
		{"backwards", records.Spans{sp(4, 2)}, false},
		{"negative", records.Spans{sp(-1, 2)}, false},
	}
	for _, tt := range tests {
		if err := tt.set.Check(); (err == nil) != tt.ok {
			t.Errorf("%s: %v.Check() = %v", tt.name, tt.set, err)
		}
	}
}
