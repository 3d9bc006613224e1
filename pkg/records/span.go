package records

import (
	"cmp"
	"fmt"
	"slices"
)

// Span is the records of an input from index From up to, not including, To,
// indices as [Position].Record counts them.
type Span struct {
	From int64 `json:"From"`
	To   int64 `json:"To"`
}

// Len is the number of records in the span.
func (s Span) Len() int64 { return s.To - s.From }

// Spans is a set of record indices: sorted spans, none empty, none touching
// another. A resumed input keeps, beside its Position, the spans after it whose
// records are done, so that a reader can go past them; the zero value is the
// empty set.
type Spans []Span

// Add returns the set with the span's records added, merged with the spans
// it touches. Like append, it may reuse the array of s: clone s first to keep
// it. An empty span adds nothing.
func (s Spans) Add(sp Span) Spans {
	if sp.Len() <= 0 {
		return s
	}
	// Spans are mostly added in order: look at the last one first.
	if n := len(s); n == 0 || s[n-1].To < sp.From {
		return append(s, sp)
	}
	// i: the first span that ends at or after sp's start (touching it or beyond);
	// j: the first span that starts after sp's end.
	i, _ := slices.BinarySearchFunc(s, sp.From, func(e Span, from int64) int { return cmp.Compare(e.To, from) })
	j, _ := slices.BinarySearchFunc(s[i:], sp.To+1, func(e Span, to int64) int { return cmp.Compare(e.From, to) })
	j += i
	if i == j {
		return slices.Insert(s, i, sp)
	}
	merged := Span{From: min(s[i].From, sp.From), To: max(s[j-1].To, sp.To)}
	s[i] = merged
	return slices.Delete(s, i+1, j)
}

// Len is the number of records in the set.
func (s Spans) Len() int64 {
	var n int64
	for _, sp := range s {
		n += sp.Len()
	}
	return n
}

// Contains reports whether record index i is in the set.
func (s Spans) Contains(i int64) bool {
	// k: the first span that ends after i.
	k, _ := slices.BinarySearchFunc(s, i, func(e Span, i int64) int { return cmp.Compare(e.To, i+1) })
	return k < len(s) && s[k].From <= i
}

// Split returns the set's records before index i and those at or after it, as
// two new sets (s is not changed).
func (s Spans) Split(i int64) (before, after Spans) {
	for _, sp := range s {
		switch {
		case sp.To <= i:
			before = append(before, sp)
		case sp.From >= i:
			after = append(after, sp)
		default:
			before = append(before, Span{From: sp.From, To: i})
			after = append(after, Span{From: i, To: sp.To})
		}
	}
	return before, after
}

// Check says why s is not a set of spans (unsorted, overlapping or touching,
// an empty span, a negative index), if it is not: for spans read from storage.
func (s Spans) Check() error {
	for k, sp := range s {
		switch {
		case sp.From < 0 || sp.Len() <= 0:
			return fmt.Errorf("span %d [%d, %d) is empty or negative", k, sp.From, sp.To)
		case k > 0 && s[k-1].To >= sp.From:
			return fmt.Errorf("span %d [%d, %d) does not come after span %d [%d, %d)", k, sp.From, sp.To, k-1, s[k-1].From, s[k-1].To)
		}
	}
	return nil
}
