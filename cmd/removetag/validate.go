package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/removetag/removetag/pkg/records"
)

// maxDistinctTags caps the distinct tags a validation pass keeps, to show
// before a run; past it, only that there are more is said.
const maxDistinctTags = 1000

// inventory is what the validation pass saw of the inputs: every record
// counted, a few accounts and the distinct tags, to show before a real run.
type inventory struct {
	records  int64
	first    []string // the first accounts, at most 3
	last     string   // the last account
	tags     []string // the distinct tags, in order of appearance, at most maxDistinctTags
	seen     map[string]bool
	moreTags bool
}

// add notes one valid record.
func (v *inventory) add(rec records.Record) {
	v.records++
	if len(v.first) < 3 {
		v.first = append(v.first, rec.Account)
	}
	v.last = rec.Account
	for _, t := range rec.Tags {
		switch {
		case v.seen[t]:
		case len(v.tags) >= maxDistinctTags:
			v.moreTags = true
		default:
			v.seen[t] = true
			v.tags = append(v.tags, t)
		}
	}
}

// accounts describes the accounts for a confirmation: how many, and some.
func (v *inventory) accounts() string {
	s := fmt.Sprintf("%d records (accounts %s", v.records, join(v.first, ", "))
	if v.records > int64(len(v.first)) {
		if v.records > int64(len(v.first))+1 {
			s += ", …"
		}
		s += ", " + strconv.Quote(v.last)
	}
	return s + ")"
}

// distinctTags describes the tags for a confirmation.
func (v *inventory) distinctTags() string {
	shown := v.tags[:min(len(v.tags), 20)]
	s := fmt.Sprintf("%d distinct tags: %s", len(v.tags), join(shown, ", "))
	if len(v.tags) > len(shown) {
		s += fmt.Sprintf(", … (+%d)", len(v.tags)-len(shown))
	}
	if v.moreTags {
		s = fmt.Sprintf("more than %d distinct tags: %s", maxDistinctTags, join(shown, ", ")) + ", …"
	}
	return s
}

// join quotes each of ss and joins them with sep.
func join(ss []string, sep string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, sep)
}

// tap is a Source that shows each valid record to fn on its way. It passes
// on the decoder's positions and rule (AllTags), not its SkipValid: every
// record is read with Next, to be seen.
type tap struct {
	dec *records.Decoder
	fn  func(records.Record)
}

func (t tap) Next() (records.Record, error) {
	rec, err := t.dec.Next()
	if err == nil {
		t.fn(rec)
	}
	return rec, err
}

func (t tap) Pos() records.Position { return t.dec.Pos() }

func (t tap) AllTags() bool { return t.dec.AllTags() }

// validate checks every input before any call is made, counting each one's
// records (the reports' Total). An invalid input sets its report's Errors; an
// empty one is refused unless allowEmpty.
func validate(inputs []*input, reports []*fileReport, allowEmpty bool) (*inventory, error) {
	inv := &inventory{seen: map[string]bool{}}
	var bad []string
	for i, in := range inputs {
		dec, err := in.decoder(0)
		if err != nil {
			return inv, usageErr("%s: %v", in.name, err)
		}
		n, err := records.Check(tap{dec, inv.add})
		var invalid *records.InvalidInputError
		switch {
		case errors.As(err, &invalid):
			reports[i].Errors = invalid
			msg := fmt.Sprintf("%s: %v", in.name, invalid)
			if strings.Contains(msg, "looks like a header") {
				msg += "\n  (--header skips the first row of a CSV input, --no-header sends it as a record)"
			}
			bad = append(bad, msg)
		case err != nil && !errors.Is(err, io.EOF):
			return inv, usageErr("%s: %v", in.name, err)
		case n == 0 && !allowEmpty:
			bad = append(bad, fmt.Sprintf("%s: no records (nothing, blank lines or a header only): a failed export? Nothing to do; --allow-empty accepts an empty input", in.name))
		case dec.AllTags() && !in.accountsOnly:
			// Clearing every tag is never done unasked, even when a document says so.
			bad = append(bad, fmt.Sprintf(`%s: the document says "AllTags": true, every tag of its accounts: run it with --all-tags to do that`, in.name))
		}
		in.records = n
		reports[i].Total = n
	}
	if len(bad) > 0 {
		return inv, usageErr("%s\ninvalid input: nothing was sent", strings.Join(bad, "\n"))
	}
	return inv, nil
}
