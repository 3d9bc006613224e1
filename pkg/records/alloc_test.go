package records_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/records"
)

// TestProblemOfAllocatesNothingForAValidRecord: the engine and Check judge
// every record with ProblemOf, a million times for a million records; a valid
// one costs no allocation.
func TestProblemOfAllocatesNothingForAValidRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector")
	}
	rec := records.Record{Account: "user-0000001", Tags: []string{"vip"}}
	allocs := testing.AllocsPerRun(100, func() {
		if p, err := records.ProblemOf(nil, 7, rec, nil); p != nil || err != nil {
			t.Fatal(p, err)
		}
	})
	if allocs != 0 {
		t.Errorf("ProblemOf of a valid record: %v allocations, want 0", allocs)
	}
}

// TestCSVDecodingAllocatesLittle: a record of a CSV file costs no allocation
// of its own (its account and tags are carved out of shared blocks), and
// every account and tag read is the one written, across blocks.
func TestCSVDecodingAllocatesLittle(t *testing.T) {
	const n = 20_000
	var b strings.Builder
	b.WriteString("To_Account,Tags\n")
	for i := range n {
		fmt.Fprintf(&b, "a%d-%s,vip,t%d\n", i, strings.Repeat("x", i%20), i%3)
	}
	data := b.String()
	decode := func(check bool) {
		dec, err := records.NewDecoder(strings.NewReader(data), records.DecoderOptions{Format: records.FormatCSV})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			rec, err := dec.Next()
			if err == io.EOF {
				if i != n {
					t.Fatalf("%d records, want %d", i, n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if check {
				want := fmt.Sprintf("a%d-%s", i, strings.Repeat("x", i%20))
				if rec.Account != want || len(rec.Tags) != 2 || rec.Tags[0] != "vip" || rec.Tags[1] != fmt.Sprintf("t%d", i%3) {
					t.Fatalf("record %d: %+v, want account %s and tags [vip t%d]", i, rec, want, i%3)
				}
			}
		}
	}
	decode(true)
	if raceEnabled {
		return
	}
	if perRecord := testing.AllocsPerRun(3, func() { decode(false) }) / n; perRecord > 0.05 {
		t.Errorf("%.3f allocations per record, want at most 0.05", perRecord)
	}
}
