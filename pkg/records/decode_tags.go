package records

import (
	"bytes"
	"strings"
)

const (
	// maxInterned caps the tag intern map: most inputs repeat a few tags, and an
	// input of all-different tags must not grow the map without bound.
	maxInterned = 4096
	// slabStrings is how many tag strings one shared backing array holds.
	slabStrings = 256
	// dedupLinear is the tag count up to which duplicates are found by comparing pairs.
	dedupLinear = 16
)

// tagBuilder turns the tag cells of a record into its Tags: de-duplicated in order,
// interned, and carved out of shared backing arrays so that a record costs about one
// allocation (its account) besides a share of a slab.
type tagBuilder struct {
	interned map[string]string
	slab     []string
	seen     map[string]struct{}
}

func newTagBuilder() tagBuilder {
	return tagBuilder{interned: make(map[string]string), seen: make(map[string]struct{})}
}

// build returns the tags of cells, without duplicates. It reorders cells.
func (b *tagBuilder) build(cells [][]byte) []string {
	cells = b.dedup(cells)
	tags := b.alloc(len(cells))
	for i, c := range cells {
		tags[i] = b.intern(c)
	}
	return tags
}

// copyOf returns a copy of tags carved out of the slab.
func (b *tagBuilder) copyOf(tags []string) []string {
	out := b.alloc(len(tags))
	copy(out, tags)
	return out
}

// alloc returns a slice of n strings whose capacity is n.
func (b *tagBuilder) alloc(n int) []string {
	switch {
	case n == 0:
		return nil
	case n > slabStrings/4:
		return make([]string, n)
	case cap(b.slab)-len(b.slab) < n:
		b.slab = make([]string, 0, slabStrings)
	}
	start := len(b.slab)
	b.slab = b.slab[:start+n]
	return b.slab[start : start+n : start+n]
}

// intern returns c as a string, the same string for the same bytes while the map has room.
func (b *tagBuilder) intern(c []byte) string {
	if s, ok := b.interned[string(c)]; ok {
		return s
	}
	s := string(c)
	if len(b.interned) < maxInterned && len(c) <= MaxTagBytes {
		b.interned[s] = s
	}
	return s
}

// dedup removes the repeated cells, keeping the first of each, in place.
func (b *tagBuilder) dedup(cells [][]byte) [][]byte {
	out := cells[:0]
	if len(cells) <= dedupLinear {
	next:
		for _, c := range cells {
			for _, o := range out {
				if bytes.Equal(o, c) {
					continue next
				}
			}
			out = append(out, c)
		}
		return out
	}
	clear(b.seen)
	for _, c := range cells {
		if _, dup := b.seen[string(c)]; dup {
			continue
		}
		b.seen[string(c)] = struct{}{}
		out = append(out, c)
	}
	return out
}

// arenaBlock is the size of one block of a stringArena: some 300 accounts.
const arenaBlock = 4 << 10

// stringArena makes strings out of shared blocks: a record's account costs
// no allocation of its own (a million of them, each garbage a moment later
// in a validation pass, were the decoder's one allocation per record). Each
// block is a strings.Builder's, only ever appended to, so the strings carved
// out of it never change; a block lives as long as any of its strings (who
// keeps an account for long, as FailureGroups does, copies it).
type stringArena struct {
	block strings.Builder
}

// make returns the bytes of c as a string.
func (a *stringArena) make(c []byte) string {
	switch {
	case len(c) == 0:
		return ""
	case len(c) > arenaBlock/8:
		return string(c)
	case a.block.Cap()-a.block.Len() < len(c):
		a.block = strings.Builder{}
		a.block.Grow(arenaBlock)
	}
	start := a.block.Len()
	a.block.Write(c)
	return a.block.String()[start:]
}
